//! The Engine API's JWT: a 32-byte shared secret and an HS256 token minted fresh for every
//! request.
//!
//! The EL accepts an `iat` within ±60 s of its clock; a cached token breaks after a minute of
//! skew, so none is cached. Minting costs a few microseconds (one HMAC-SHA256).

use crate::error::ClientError;
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    crypto::{CryptoProvider, rust_crypto},
};
use serde::Serialize;
use std::{
    fmt,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

/// The 32-byte secret shared with an execution client. Its `Debug` prints nothing of it and
/// it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; 32]);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl JwtSecret {
    /// The spec's format: 64 hex characters, optionally prefixed with `0x`, trailing
    /// whitespace (a final newline) allowed.
    pub fn from_hex(text: &str) -> Result<Self, ClientError> {
        Self::parse(text).map_err(|problem| ClientError::JwtSecret { path: None, problem })
    }

    /// Read the secret from a file in the spec's format. Errors name the file and the
    /// problem, never the content.
    pub fn from_file(path: &Path) -> Result<Self, ClientError> {
        let err = |problem: String| ClientError::JwtSecret { path: Some(path.into()), problem };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::parse(&text).map_err(err)
    }

    /// A secret from raw bytes (tests and fixtures).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The secret's bytes, e.g. to configure the execution client side in a test.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_end();
        let hex_part = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        if hex_part.len() != 64 {
            return Err(format!(
                "expected 64 hex characters (optionally prefixed with 0x), found {} characters",
                hex_part.chars().count()
            ));
        }
        if let Some(pos) = hex_part.find(|c: char| !c.is_ascii_hexdigit()) {
            return Err(format!("character {} is not a hex digit", pos + 1));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|e| format!("not hex: {e}"))?;
        Ok(Self(bytes))
    }
}

/// The claims of an Engine API token: `iat` is required; `id` (who we are) and `clv` (our
/// client version) are optional and omitted when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Claims {
    /// Issued-at, seconds since the Unix epoch.
    pub iat: u64,
    /// Identifies this consensus client to the EL.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// This consensus client's version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clv: Option<String>,
}

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
        // jsonwebtoken picks its crypto backend per process; naming ours explicitly keeps
        // signing working when another crate in the same binary enables a second backend
        // (the automatic choice then panics). An `Err` means a backend is already installed,
        // which is just as good.
        let _ = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);
        Self {
            key: EncodingKey::from_secret(&secret.0),
            header: Header::new(Algorithm::HS256),
            id,
            clv,
        }
    }

    /// A token issued now.
    pub fn token(&self) -> Result<String, ClientError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.token_at(now)
    }

    /// A token issued at `iat` (seconds since the Unix epoch).
    pub fn token_at(&self, iat: u64) -> Result<String, ClientError> {
        let claims = Claims { iat, id: self.id.clone(), clv: self.clv.clone() };
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

    const HEX: &str = "0x4242424242424242424242424242424242424242424242424242424242424242";

    /// Every format the spec allows parses to the same secret.
    #[test]
    fn accepts_the_spec_formats() {
        let want = JwtSecret::from_bytes([0x42; 32]);
        assert_eq!(JwtSecret::from_hex(HEX).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&HEX[2..]).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&format!("{HEX}\n")).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&format!("{}  \r\n", &HEX[2..])).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&HEX.to_uppercase().replace("0X", "0x")).unwrap(), want);
    }

    /// Bad secrets fail with a message that names the problem and the file, and never
    /// echoes the content.
    #[test]
    fn bad_secrets_are_clear_errors() {
        let short = JwtSecret::from_hex("0xabcd").unwrap_err().to_string();
        assert!(
            short.contains("expected 64 hex characters") && short.contains("found 4"),
            "{short}"
        );
        let mut bad = "7".repeat(64);
        bad.replace_range(9..10, "z");
        let not_hex = JwtSecret::from_hex(&bad).unwrap_err().to_string();
        assert!(not_hex.contains("character 10 is not a hex digit"), "{not_hex}");
        assert!(!not_hex.contains("777"), "the secret leaked: {not_hex}");
        assert!(JwtSecret::from_hex(&format!(" {}", &HEX[2..])).is_err(), "leading space");

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.hex");
        let e = JwtSecret::from_file(&missing).unwrap_err().to_string();
        assert!(e.contains("absent.hex") && e.contains("cannot read"), "{e}");
        let file = dir.path().join("jwt.hex");
        std::fs::write(&file, "cafe\n").unwrap();
        let e = JwtSecret::from_file(&file).unwrap_err().to_string();
        assert!(e.contains("jwt.hex") && e.contains("found 4 characters"), "{e}");
        std::fs::write(&file, format!("{HEX}\n")).unwrap();
        assert_eq!(JwtSecret::from_file(&file).unwrap(), JwtSecret::from_bytes([0x42; 32]));
    }

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
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let claims: Claims =
            jsonwebtoken::dangerous::insecure_decode(auth.token().unwrap()).unwrap().claims;
        assert!(claims.iat.abs_diff(now) <= 2, "iat {} vs now {now}", claims.iat);
    }
}
