//! Fixtures: JWT secret files in every format clients must (or must not) accept, a
//! geth-style genesis builder, and funded development keys with a transfer signer.

pub mod genesis;
pub mod jwt_files;
pub mod keys;

pub use genesis::GenesisBuilder;
pub use jwt_files::JwtFiles;
pub use keys::{DEV_PRIVATE_KEYS, Transfer, dev_signer, dev_signers, sign_transfer};
