//! The Engine API's JWT: a 32-byte shared secret and an HS256 token minted fresh for every
//! request.
//!
//! The EL accepts an `iat` within ±60 s of its clock; a cached token breaks after a minute of
//! skew, so none is cached. Minting costs a few microseconds (one HMAC-SHA256).

use crate::error::ClientError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::fmt;

pub use engine_types::jwt::{Claims, JwtSecret, JwtSecretError, JwtSecretProblem, unix_now};

/// Mints HS256 tokens with a fresh `iat`.
#[derive(Clone)]
pub struct JwtAuth {
    key: EncodingKey,
    header: Header,
    id: Option<String>,
    clv: Option<String>,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("secret", &"<redacted>")
            .field("id", &self.id)
            .field("clv", &self.clv)
            .finish()
    }
}

impl JwtAuth {
    /// Tokens signed with `secret`, carrying the optional `id` and `clv` claims.
    pub fn new(secret: &JwtSecret, id: Option<String>, clv: Option<String>) -> Self {
        Self {
            // Picks jsonwebtoken's crypto backend once per process (see
            // `engine_types::jwt::ensure_crypto_provider`).
            key: secret.encoding_key(),
            header: Header::new(Algorithm::HS256),
            id,
            clv,
        }
    }

    /// A token issued now.
    pub fn token(&self) -> Result<String, ClientError> {
        self.token_at(unix_now())
    }

    /// A token issued at `iat` (seconds since the Unix epoch).
    pub fn token_at(&self, iat: u64) -> Result<String, ClientError> {
        let claims = Claims { iat: Some(iat), id: self.id.clone(), clv: self.clv.clone() };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| ClientError::JwtSecret {
            path: None,
            problem: format!("cannot sign a token: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    /// Debug output of the secret and the signer shows nothing of the secret.
    #[test]
    fn debug_hides_the_secret() {
        let s = JwtSecret::from_bytes([0xab; 32]);
        let auth = JwtAuth::new(&s, Some("alys".into()), None);
        for text in [format!("{s:?}"), format!("{auth:?}")] {
            assert!(!text.to_lowercase().contains("abab") && !text.contains("171"), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }

    /// Tokens verify under HS256 with the same secret, carry the given `iat`, and include
    /// `id`/`clv` only when set.
    #[test]
    fn tokens_carry_the_claims() {
        let s = JwtSecret::from_bytes([7; 32]);
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let decode = |t: &str| {
            jsonwebtoken::decode::<serde_json::Value>(t, &DecodingKey::from_secret(&[7; 32]), &v)
                .unwrap()
        };
        let bare = JwtAuth::new(&s, None, None).token_at(1_700_000_000).unwrap();
        let data = decode(&bare);
        assert_eq!(data.header.alg, Algorithm::HS256);
        assert_eq!(data.claims, serde_json::json!({"iat": 1_700_000_000u64}));
        let full =
            JwtAuth::new(&s, Some("alys-1".into()), Some("v0.1".into())).token_at(5).unwrap();
        assert_eq!(
            decode(&full).claims,
            serde_json::json!({"iat": 5, "id": "alys-1", "clv": "v0.1"})
        );
        let wrong = jsonwebtoken::decode::<serde_json::Value>(
            &bare,
            &DecodingKey::from_secret(&[8; 32]),
            &v,
        );
        assert!(wrong.is_err(), "a different secret must not verify");
    }

    /// A fresh token's `iat` is the current time, not a cached one.
    #[test]
    fn token_iat_is_now() {
        let auth = JwtAuth::new(&JwtSecret::from_bytes([1; 32]), None, None);
        let now = unix_now();
        let claims: Claims =
            jsonwebtoken::dangerous::insecure_decode(auth.token().unwrap()).unwrap().claims;
        let iat = claims.iat.unwrap();
        assert!(iat.abs_diff(now) <= 2, "iat {iat} vs now {now}");
    }
}
