//! The Engine API's JWT authentication, seen from the server side: the secret, the check an
//! execution client applies to every request on its engine port, and token minting for tests
//! (including the bad tokens a test needs: `alg: none`, stale `iat`, wrong secret).
//!
//! The rules live once, in `engine_types::jwt` (shared with the client that mints the
//! tokens); this module re-exports them where the test doubles and their users look.

pub use engine_types::jwt::{
    Claims, IAT_WINDOW_SECS, JwtMintError, JwtRejection, JwtSecret, JwtSecretError,
    JwtSecretProblem, mint_alg_none, unix_now,
};
