//! Fixtures: JWT secret files in every format clients must (or must not) accept, and, from
//! engine-devnet, the geth-style genesis builder and the funded development keys with a
//! transfer signer.

pub mod jwt_files;

pub use engine_devnet::{GenesisBuilder, keys};
pub use jwt_files::JwtFiles;
pub use keys::{DEV_PRIVATE_KEYS, Transfer, dev_signer, dev_signers, sign_transfer};
