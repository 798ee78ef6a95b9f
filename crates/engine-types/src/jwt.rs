//! The Engine API's JWT, in one place for both sides of the wire: the 32-byte secret in the
//! spec's file format, token minting for consensus clients, and the exact check an execution
//! client applies (used by the testkit's mock and devnet ELs).
//!
//! The rules, as the spec states them: HS256 only, `alg: none` refused, `iat` required and
//! within ±60 s of the server's clock, `id` and `clv` optional, any other claim ignored. The
//! secret file holds 64 hex characters, optionally prefixed with `0x`, with trailing
//! whitespace allowed. Tokens are minted fresh for every request: a cached token breaks
//! after a minute of clock skew.
//!
//! Secret hygiene: a secret file is read through a fixed buffer of
//! [`MAX_SECRET_FILE_BYTES`] + 1 bytes, so a huge file (or `/dev/zero`) is refused after at
//! most that many bytes, never read whole; [`JwtSecret`] never shows its bytes in `Debug`,
//! has no `Display`, and overwrites them with zeros when dropped, as does the buffer the file
//! was read into. [`readable_by_others`] tells a caller when to warn about a file's
//! permissions (this crate does not log).
//!
//! Behind the `jwt` feature, so that a crate taking only the types does not build
//! jsonwebtoken.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    fs::{File, Metadata},
    io::{ErrorKind, Read},
    path::{Path, PathBuf},
    sync::Once,
    time::{SystemTime, UNIX_EPOCH},
};
use zeroize::Zeroize;

/// How far `iat` may be from the server's clock, in seconds (spec: ±60 s).
pub const IAT_WINDOW_SECS: u64 = 60;

/// The largest secret file accepted, in bytes. A secret is 64 hex characters, an optional
/// `0x` and some trailing whitespace: anything near this size is not a secret file.
pub const MAX_SECRET_FILE_BYTES: usize = 4096;

/// A 32-byte Engine API JWT secret. Its `Debug` never shows the bytes, it has no `Display`,
/// and its bytes are overwritten with zeros when it is dropped (each clone wipes its own).
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; 32]);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl Drop for JwtSecret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

/// Overwrites the secret with zeros (volatile writes the optimizer cannot drop as dead
/// stores, from the `zeroize` crate); [`Drop`] does this. Copies the compiler made earlier
/// (moves, registers) are out of reach: this is hygiene, not a guarantee.
impl Zeroize for JwtSecret {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// What is wrong with a JWT secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtSecretProblem {
    /// There is no file at the path.
    #[error("cannot read: no such file")]
    Missing,
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Unreadable(String),
    /// Not 64 hex characters after an optional `0x`.
    #[error("expected 64 hex characters (optionally prefixed with 0x), found {0} characters")]
    WrongLength(usize),
    /// A character (1-based position) is not a hex digit.
    #[error("character {0} is not a hex digit")]
    NotHex(usize),
    /// The file holds more than [`MAX_SECRET_FILE_BYTES`]; reading stopped there.
    #[error(
        "the file is larger than {limit} bytes, far more than a secret (64 hex characters); is it the right file?"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// A JWT secret that cannot be used. The message names the file (when there is one) and the
/// problem, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JWT secret{}: {problem}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
pub struct JwtSecretError {
    /// The file the secret was read from, if any.
    pub path: Option<PathBuf>,
    /// What is wrong.
    pub problem: JwtSecretProblem,
}

/// A token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign a JWT: {0}")]
pub struct JwtMintError(pub String);

impl JwtSecret {
    /// A fresh random secret.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The secret made of these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without `0x` (the file format).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse the spec's format: 64 hex characters, optionally prefixed with `0x`, trailing
    /// whitespace (a final newline) allowed.
    pub fn from_hex(text: &str) -> Result<Self, JwtSecretError> {
        Self::parse(text).map_err(|problem| JwtSecretError { path: None, problem })
    }

    /// Read a secret file in the spec's format. Errors name the file and the problem, never
    /// the content. At most [`MAX_SECRET_FILE_BYTES`] + 1 bytes are read: a larger file is
    /// [`JwtSecretProblem::TooLarge`].
    pub fn from_file(path: &Path) -> Result<Self, JwtSecretError> {
        Self::from_file_with_metadata(path).map(|(secret, _)| secret)
    }

    /// [`from_file`](Self::from_file), also returning the metadata of the file that was read
    /// (taken from the open file, so it describes what was read even if the path is replaced
    /// meanwhile): its length, times and, on unix, its mode (see [`readable_by_others`]).
    pub fn from_file_with_metadata(path: &Path) -> Result<(Self, Metadata), JwtSecretError> {
        let err = |problem| JwtSecretError { path: Some(path.into()), problem };
        let unreadable = |e: std::io::Error| err(JwtSecretProblem::Unreadable(e.to_string()));
        let mut file = File::open(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => err(JwtSecretProblem::Missing),
            _ => unreadable(e),
        })?;
        let metadata = file.metadata().map_err(unreadable)?;
        // A fixed buffer one byte larger than the limit: filling it proves the file too large
        // without reading (or allocating for) the rest, whatever the file claims or is.
        let mut buf = [0u8; MAX_SECRET_FILE_BYTES + 1];
        let read = read_up_to(&mut file, &mut buf);
        let parsed = match read {
            Ok(n) if n > MAX_SECRET_FILE_BYTES => {
                Err(JwtSecretProblem::TooLarge { limit: MAX_SECRET_FILE_BYTES })
            }
            Ok(n) => match std::str::from_utf8(&buf[..n]) {
                Ok(text) => Self::parse(text),
                Err(e) => Err(JwtSecretProblem::Unreadable(format!(
                    "not text: byte {} is not valid UTF-8",
                    e.valid_up_to() + 1
                ))),
            },
            Err(e) => Err(JwtSecretProblem::Unreadable(e.to_string())),
        };
        buf.zeroize();
        parsed.map(|secret| (secret, metadata)).map_err(err)
    }

    fn parse(text: &str) -> Result<Self, JwtSecretProblem> {
        let trimmed = text.trim_end();
        let hex_part = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        if hex_part.len() != 64 {
            return Err(JwtSecretProblem::WrongLength(hex_part.chars().count()));
        }
        if let Some(pos) = hex_part.find(|c: char| !c.is_ascii_hexdigit()) {
            return Err(JwtSecretProblem::NotHex(pos + 1));
        }
        let mut bytes = [0u8; 32];
        // 64 ASCII hex digits, checked above, always decode into 32 bytes.
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|_| JwtSecretProblem::WrongLength(hex_part.len()))?;
        let secret = Self(bytes);
        // `[u8; 32]` is `Copy`: the local is a second copy of the secret.
        bytes.zeroize();
        Ok(secret)
    }

    /// A key for signing many tokens with this secret (cheaper than [`mint`](Self::mint)
    /// per request when the key is kept).
    pub fn encoding_key(&self) -> EncodingKey {
        ensure_crypto_provider();
        EncodingKey::from_secret(&self.0)
    }

    /// A fresh HS256 token with `iat` = now, as a well-behaved client sends it.
    pub fn mint(&self) -> Result<String, JwtMintError> {
        self.mint_claims(&Claims::issued_at(unix_now()))
    }

    /// An HS256 token with these claims (e.g. a stale `iat`, or `id`/`clv`).
    pub fn mint_claims(&self, claims: &Claims) -> Result<String, JwtMintError> {
        self.mint_with(Algorithm::HS256, claims)
    }

    /// A token signed with another HMAC algorithm (HS384, HS512), which the spec forbids.
    pub fn mint_with(&self, alg: Algorithm, claims: &Claims) -> Result<String, JwtMintError> {
        jsonwebtoken::encode(&Header::new(alg), claims, &self.encoding_key())
            .map_err(|e| JwtMintError(e.to_string()))
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
        check_iat(iat, now)?;
        Ok(data.claims)
    }
}

/// The spec's one time rule: a token's `iat` is within [`IAT_WINDOW_SECS`] of `now` (unix
/// seconds), either way.
pub const fn check_iat(iat: u64, now: u64) -> Result<(), JwtRejection> {
    if now.saturating_sub(iat) > IAT_WINDOW_SECS {
        return Err(JwtRejection::Stale { iat, now });
    }
    if iat.saturating_sub(now) > IAT_WINDOW_SECS {
        return Err(JwtRejection::Future { iat, now });
    }
    Ok(())
}

/// Fills `buf` from `reader` until it is full or the reader ends; the number of bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The file's permission bits when its group or other users may read it (a secret file
/// should be readable by its owner only, e.g. mode `0600`); `None` when they may not, and
/// always `None` off unix, where there are no such bits.
pub fn readable_by_others(metadata: &Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
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
    /// `iat` is more than 60 s behind the server's clock (Geth's node/jwt_handler.go:
    /// "stale token").
    #[error("stale token: iat {iat} is more than 60 s before now ({now})")]
    Stale {
        /// The token's issued-at.
        iat: u64,
        /// The server's clock.
        now: u64,
    },
    /// `iat` is more than 60 s ahead of the server's clock (Geth: "future token").
    #[error("future token: iat {iat} is more than 60 s after now ({now})")]
    Future {
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
/// binary may unify our `rust_crypto` with another crate's `aws_lc_rs`, so the choice is made
/// explicitly. If something else installed a provider first, that one stays.
pub fn ensure_crypto_provider() {
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
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0x4242424242424242424242424242424242424242424242424242424242424242";

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    /// Every format the spec allows parses to the same secret.
    #[test]
    fn accepts_the_spec_formats() {
        let want = JwtSecret::from_bytes([0x42; 32]);
        assert_eq!(JwtSecret::from_hex(HEX).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&HEX[2..]).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&format!("{HEX}\n")).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&format!("{}  \r\n", &HEX[2..])).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&HEX.to_uppercase().replace("0X", "0x")).unwrap(), want);
        assert_eq!(JwtSecret::from_hex(&want.to_hex()).unwrap(), want);
    }

    /// Bad secrets fail with a message that names the problem and the file, and never echoes
    /// the content.
    #[test]
    fn bad_secrets_are_clear_errors() {
        let short = JwtSecret::from_hex("0xabcd").unwrap_err();
        assert_eq!(short.problem, JwtSecretProblem::WrongLength(4));
        assert!(short.to_string().contains("expected 64 hex characters"), "{short}");
        let mut bad = "7".repeat(64);
        bad.replace_range(9..10, "z");
        let not_hex = JwtSecret::from_hex(&bad).unwrap_err().to_string();
        assert!(not_hex.contains("character 10 is not a hex digit"), "{not_hex}");
        assert!(!not_hex.contains("777"), "the secret leaked: {not_hex}");
        assert!(JwtSecret::from_hex(&format!(" {}", &HEX[2..])).is_err(), "leading space");

        let dir = std::env::temp_dir().join(format!("engine-types-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("absent.hex");
        let e = JwtSecret::from_file(&missing).unwrap_err().to_string();
        assert!(e.contains("absent.hex") && e.contains("cannot read"), "{e}");
        let file = dir.join("jwt.hex");
        std::fs::write(&file, "cafe\n").unwrap();
        let e = JwtSecret::from_file(&file).unwrap_err().to_string();
        assert!(e.contains("jwt.hex") && e.contains("found 4 characters"), "{e}");
        std::fs::write(&file, format!("{HEX}\n")).unwrap();
        assert_eq!(JwtSecret::from_file(&file).unwrap(), JwtSecret::from_bytes([0x42; 32]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Debug output shows nothing of the secret, in any encoding a log could carry.
    #[test]
    fn debug_hides_the_secret() {
        assert_eq!(format!("{:?}", JwtSecret::from_bytes([0xab; 32])), "JwtSecret(<redacted>)");
        let secret = JwtSecret::random();
        let hex = secret.to_hex();
        for text in [format!("{secret:?}"), format!("{secret:#?}"), format!("{:?}", Some(&secret))]
        {
            assert!(!text.to_lowercase().contains(&hex[..8]), "{text}");
            assert!(!text.contains(&format!("{:?}", secret.as_bytes())[..12]), "{text}");
        }
    }

    /// Wiping a secret (what dropping it does) overwrites every byte with zeros.
    #[test]
    fn wiping_zeroes_the_bytes() {
        let mut secret = JwtSecret::from_bytes([0xab; 32]);
        secret.zeroize();
        assert_eq!(secret.as_bytes(), &[0; 32]);
    }

    /// A directory of its own for one test, removed by the test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("engine-types-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A file of exactly the limit is read (a secret padded with trailing whitespace); one
    /// byte more is refused naming the file and the limit, as is a huge sparse file and an
    /// endless one, after reading at most the limit + 1 bytes.
    #[test]
    fn secret_files_are_size_capped() {
        let dir = scratch("jwt-cap");
        let file = dir.join("jwt.hex");
        let padded = format!("{HEX}{}", " ".repeat(MAX_SECRET_FILE_BYTES - HEX.len() - 1) + "\n");
        assert_eq!(padded.len(), MAX_SECRET_FILE_BYTES);
        std::fs::write(&file, &padded).unwrap();
        assert_eq!(JwtSecret::from_file(&file).unwrap(), JwtSecret::from_bytes([0x42; 32]));

        std::fs::write(&file, format!("{padded} ")).unwrap();
        let e = JwtSecret::from_file(&file).unwrap_err();
        assert_eq!(e.problem, JwtSecretProblem::TooLarge { limit: MAX_SECRET_FILE_BYTES });
        let text = e.to_string();
        assert!(text.contains("jwt.hex") && text.contains("larger than 4096 bytes"), "{text}");

        // 64 GiB declared by a sparse file: refused without reading it.
        let huge = std::fs::File::create(&file).unwrap();
        huge.set_len(64 << 30).unwrap();
        drop(huge);
        let e = JwtSecret::from_file(&file).unwrap_err();
        assert_eq!(e.problem, JwtSecretProblem::TooLarge { limit: MAX_SECRET_FILE_BYTES });
        std::fs::remove_dir_all(&dir).unwrap();

        // A file that never ends: reading stops at the cap (a whole-file read never returns).
        let zero = Path::new("/dev/zero");
        if zero.exists() {
            let e = JwtSecret::from_file(zero).unwrap_err();
            assert_eq!(e.problem, JwtSecretProblem::TooLarge { limit: MAX_SECRET_FILE_BYTES });
        }
    }

    /// Binary content is refused as not text, without quoting it.
    #[test]
    fn binary_files_are_refused() {
        let dir = scratch("jwt-binary");
        let file = dir.join("jwt.bin");
        std::fs::write(&file, [0x42, 0xff, 0xfe, 0x42]).unwrap();
        let e = JwtSecret::from_file(&file).unwrap_err().to_string();
        assert!(e.contains("jwt.bin") && e.contains("byte 2 is not valid UTF-8"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Group- or world-readable files are reported with their mode; owner-only ones are not.
    /// The metadata comes with the secret read.
    #[cfg(unix)]
    #[test]
    fn reports_files_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("jwt-mode");
        let file = dir.join("jwt.hex");
        std::fs::write(&file, HEX).unwrap();
        for (mode, want) in [
            (0o600, None),
            (0o400, None),
            (0o620, None),
            (0o640, Some(0o640)),
            (0o604, Some(0o604)),
        ] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let (secret, metadata) = JwtSecret::from_file_with_metadata(&file).unwrap();
            assert_eq!(secret, JwtSecret::from_bytes([0x42; 32]));
            assert_eq!(readable_by_others(&metadata), want, "mode {mode:o}");
            assert_eq!(metadata.len(), HEX.len() as u64);
        }
        std::fs::remove_dir_all(&dir).unwrap();
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
        let fresh = s.validate(Some(&bearer(&s.mint().unwrap())), unix_now()).unwrap();
        assert!(fresh.iat.unwrap().abs_diff(unix_now()) <= 2);
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
        assert_eq!(
            s.validate(Some(&future), now),
            Err(JwtRejection::Future { iat: now + 61, now })
        );
        for edge in [now - 60, now + 60] {
            assert!(s.validate(Some(&ok(&Claims::issued_at(edge))), now).is_ok(), "{edge}");
        }
        let no_iat = ok(&Claims { iat: None, id: None, clv: None });
        assert_eq!(s.validate(Some(&no_iat), now), Err(JwtRejection::MissingIat));
        let other = bearer(&JwtSecret::random().mint_claims(&Claims::issued_at(now)).unwrap());
        assert_eq!(s.validate(Some(&other), now), Err(JwtRejection::Signature));
        let hs384 = bearer(&s.mint_with(Algorithm::HS384, &Claims::issued_at(now)).unwrap());
        assert_eq!(s.validate(Some(&hs384), now), Err(JwtRejection::Algorithm("HS384".into())));
        let none = bearer(&mint_alg_none(&Claims::issued_at(now)));
        assert!(matches!(s.validate(Some(&none), now), Err(JwtRejection::Malformed(_))));
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
