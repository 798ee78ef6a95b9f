//! The Engine API's JWT authentication, seen from the server side: the secret, the check an
//! execution client applies to every request on its engine port, and token minting for tests
//! (including the bad tokens a test needs: `alg: none`, stale `iat`, wrong secret).
//!
//! The rules, exactly as the spec states them: HS256 only, `alg: none` refused, `iat`
//! required and within ±60 s of the server's clock, `id` and `clv` optional, any other claim
//! ignored. A request that fails any of them gets HTTP 401.

use crate::error::TestkitError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    path::Path,
    sync::Once,
    time::{SystemTime, UNIX_EPOCH},
};

/// How far `iat` may be from the server's clock, in seconds (spec: ±60 s).
pub const IAT_WINDOW_SECS: u64 = 60;

/// A 32-byte Engine API JWT secret. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; 32]);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl JwtSecret {
    /// A fresh random secret.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The secret made of these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parse 64 hex characters, with an optional `0x` and surrounding whitespace (the file
    /// format every execution client accepts).
    pub fn from_hex(text: &str) -> Result<Self, TestkitError> {
        let trimmed = text.trim();
        let hex_part = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        if hex_part.len() != 64 {
            return Err(TestkitError::JwtSecret(format!(
                "expected 64 hex characters, found {}",
                hex_part.len()
            )));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|e| TestkitError::JwtSecret(format!("not hex: {e}")))?;
        Ok(Self(bytes))
    }

    /// Read a secret file (see [`from_hex`](Self::from_hex) for the accepted format).
    pub fn from_file(path: &Path) -> Result<Self, TestkitError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TestkitError::io(format!("read JWT secret {}", path.display()), e))?;
        Self::from_hex(&text)
    }

    /// The 64 lowercase hex characters, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A fresh HS256 token with `iat` = now, as a well-behaved client sends it.
    pub fn mint(&self) -> Result<String, TestkitError> {
        self.mint_claims(&Claims::issued_at(unix_now()))
    }

    /// An HS256 token with these claims (e.g. a stale `iat`, or `id`/`clv`).
    pub fn mint_claims(&self, claims: &Claims) -> Result<String, TestkitError> {
        self.mint_with(Algorithm::HS256, claims)
    }

    /// A token signed with another HMAC algorithm (HS384, HS512), which the spec forbids.
    pub fn mint_with(&self, alg: Algorithm, claims: &Claims) -> Result<String, TestkitError> {
        ensure_crypto_provider();
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(&self.0))
            .map_err(|e| TestkitError::JwtMint(e.to_string()))
    }

    /// Check an `Authorization` header value against this secret at time `now` (unix
    /// seconds), exactly as an execution client does.
    pub fn validate(&self, authorization: Option<&str>, now: u64) -> Result<Claims, JwtRejection> {
        let value = authorization.ok_or(JwtRejection::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(JwtRejection::NotBearer)?
            .trim();
        ensure_crypto_provider();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtRejection::Malformed(format!("header: {e}")))?;
        if header.alg != Algorithm::HS256 {
            return Err(JwtRejection::Algorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // The spec's only time rule is the ±60 s window on `iat`, checked below; `exp` is
        // optional and `aud` is not used.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let data =
            jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&self.0), &validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtRejection::Signature,
                    _ => JwtRejection::Malformed(e.to_string()),
                })?;
        let iat = data.claims.iat.ok_or(JwtRejection::MissingIat)?;
        if iat.abs_diff(now) > IAT_WINDOW_SECS {
            return Err(JwtRejection::Stale { iat, now });
        }
        Ok(data.claims)
    }
}

/// The claims of an Engine API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issued-at, unix seconds; required by the spec (optional here so that its absence is
    /// reported as such rather than as a parse error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Optional identifier of the consensus client instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional client version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clv: Option<String>,
}

impl Claims {
    /// Claims with just `iat`.
    pub const fn issued_at(iat: u64) -> Self {
        Self { iat: Some(iat), id: None, clv: None }
    }
}

/// Why a request was refused authentication (answered with HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtRejection {
    /// No `Authorization` header.
    #[error("missing token")]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("authorization header is not a bearer token")]
    NotBearer,
    /// The token could not be decoded (including `alg: none`, which is not an algorithm).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Signed with an algorithm other than HS256.
    #[error("algorithm {0} is not HS256")]
    Algorithm(String),
    /// The signature does not match the secret.
    #[error("signature does not match the secret")]
    Signature,
    /// No `iat` claim.
    #[error("missing iat claim")]
    MissingIat,
    /// `iat` is more than 60 s from the server's clock.
    #[error("stale token: iat {iat} is more than 60 s from now ({now})")]
    Stale {
        /// The token's issued-at.
        iat: u64,
        /// The server's clock.
        now: u64,
    },
}

/// An unsigned token with `alg: none`, which every execution client must refuse.
pub fn mint_alg_none(claims: &Claims) -> String {
    // Serializing a struct of integers and strings cannot fail.
    let body = serde_json::to_vec(claims).unwrap_or_default();
    format!("{}.{}.", base64url(br#"{"alg":"none","typ":"JWT"}"#), base64url(&body))
}

/// The current unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Select the pure-Rust crypto backend of jsonwebtoken for the process.
///
/// jsonwebtoken 11 picks its backend from crate features and panics when it finds both; a
/// test binary may unify this crate's `rust_crypto` with another crate's `aws_lc_rs`, so the
/// choice is made explicitly. If something else installed a provider first, that one stays.
fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _already_installed =
            jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    });
}

/// Unpadded base64url (RFC 4648 §5), the encoding of JWT segments.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    /// A fresh HS256 token passes, with id and clv carried through.
    #[test]
    fn fresh_token_is_accepted() {
        let s = JwtSecret::random();
        let now = unix_now();
        let claims = Claims { iat: Some(now), id: Some("cl".into()), clv: Some("v1".into()) };
        let token = s.mint_claims(&claims).unwrap();
        assert_eq!(s.validate(Some(&bearer(&token)), now).unwrap(), claims);
        // Exactly at the edge of the window is still accepted.
        assert!(s.validate(Some(&bearer(&token)), now + IAT_WINDOW_SECS).is_ok());
    }

    /// Every spec rule refuses what it should.
    #[test]
    fn bad_tokens_are_rejected() {
        let s = JwtSecret::random();
        let now = 1_700_000_000;
        let ok = |c: &Claims| bearer(&s.mint_claims(c).unwrap());
        assert_eq!(s.validate(None, now), Err(JwtRejection::Missing));
        assert_eq!(s.validate(Some("Basic abc"), now), Err(JwtRejection::NotBearer));
        let stale = ok(&Claims::issued_at(now - 61));
        assert_eq!(s.validate(Some(&stale), now), Err(JwtRejection::Stale { iat: now - 61, now }));
        let future = ok(&Claims::issued_at(now + 61));
        assert!(matches!(s.validate(Some(&future), now), Err(JwtRejection::Stale { .. })));
        let no_iat = ok(&Claims { iat: None, id: None, clv: None });
        assert_eq!(s.validate(Some(&no_iat), now), Err(JwtRejection::MissingIat));
        let other = bearer(&JwtSecret::random().mint_claims(&Claims::issued_at(now)).unwrap());
        assert_eq!(s.validate(Some(&other), now), Err(JwtRejection::Signature));
        let hs384 = bearer(&s.mint_with(Algorithm::HS384, &Claims::issued_at(now)).unwrap());
        assert_eq!(s.validate(Some(&hs384), now), Err(JwtRejection::Algorithm("HS384".into())));
        let none = bearer(&mint_alg_none(&Claims::issued_at(now)));
        assert!(matches!(s.validate(Some(&none), now), Err(JwtRejection::Malformed(_))));
    }

    /// Secret files are read in every format clients accept, and bad ones are named.
    #[test]
    fn secret_hex_formats() {
        let s = JwtSecret::from_bytes([0xab; 32]);
        let hex = s.to_hex();
        assert_eq!(JwtSecret::from_hex(&hex).unwrap(), s);
        assert_eq!(JwtSecret::from_hex(&format!("0x{hex}\n")).unwrap(), s);
        let short = JwtSecret::from_hex("abcd").unwrap_err().to_string();
        assert!(short.contains("64 hex characters, found 4"), "{short}");
        assert!(JwtSecret::from_hex(&"zz".repeat(32)).unwrap_err().to_string().contains("not hex"));
        assert_eq!(format!("{s:?}"), "JwtSecret(<redacted>)");
    }

    /// The base64url encoder matches RFC 4648 test vectors (unpadded).
    #[test]
    fn base64url_vectors() {
        for (input, out) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
        ] {
            assert_eq!(base64url(input.as_bytes()), out);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
