//! The Engine API's JWT: a 32-byte shared secret and an HS256 token with a fresh `iat` for
//! every request.
//!
//! The EL accepts an `iat` within ±60 s of its clock, so a token is never kept past the second
//! it was minted in: requests within that second reuse it (the same key, claims and `iat`
//! make the same bytes), and the next second mints anew. Minting costs a few microseconds
//! (one HMAC-SHA256); a reuse is a string clone.
//!
//! **Rotation without a restart.** A [`JwtAuth`] made with [`JwtAuth::watching`] looks at its
//! secret file before every token it mints: one `stat` (about a microsecond, against a few for
//! the HMAC and far more for the HTTP round trip, at a handful of requests per slot), so the
//! first request after a rotation already carries the new secret, with no timer to wait for.
//! The file is read again (at most [`MAX_SECRET_FILE_BYTES`] bytes) when its length,
//! modification or change time, or inode differ from the last read, and also while the last
//! read is less than [`SETTLE`] younger than the file's modification time: a rewrite within
//! the same timestamp tick and of the same length (every secret has the same length) leaves
//! the metadata unchanged, so a file modified that recently is not trusted to be the one that
//! was read. A file that becomes unreadable or invalid keeps the current secret and logs one
//! error naming the file (never the secret); the next valid content is picked up. A new
//! secret is logged at `info` (the file, never the secret), with a warning when the file is
//! readable by its group or others.
//!
//! **Clock offset (a testing seam).** `JwtAuth::with_clock_offset`, compiled only for this
//! crate's tests and with the `testing` feature (never in a production build), signs with a
//! clock shifted by a number of seconds, so that a test can stand in for a consensus node
//! whose clock is wrong, as Hive's `engine-auth` suite does (±59 s accepted, ±61 s refused).
//! It is deliberately not an operator setting: a node whose clock is off must fix the clock
//! (NTP), and an offset would only hide the skew from the one check that reveals it. The transport
//! reads [`JwtAuth::now`] to compare our clock with the `Date` of a 401 (see
//! [`crate::transport`]), so a shifted signer also shifts what the error reports.
//!
//! **Secret hygiene.** [`JwtSecret`] and jsonwebtoken's `EncodingKey` overwrite their bytes
//! with zeros when dropped, and neither shows them in `Debug`.

use crate::error::ClientError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::{
    fmt,
    fs::Metadata,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime},
};

pub use engine_types::jwt::{
    Claims, JwtSecret, JwtSecretError, JwtSecretProblem, MAX_SECRET_FILE_BYTES, readable_by_others,
    unix_now,
};

/// How much older than the last read a secret file's modification time must be before its
/// metadata is trusted to tell a later rewrite apart (covers filesystems with timestamps as
/// coarse as a second or two).
pub const SETTLE: Duration = Duration::from_secs(2);

/// Reads a secret file (at most [`MAX_SECRET_FILE_BYTES`] + 1 bytes), warning when it is
/// readable by its group or others. Errors name the file and the problem, never the secret.
pub fn read_secret_file(path: &Path) -> Result<JwtSecret, ClientError> {
    let (secret, metadata) = JwtSecret::from_file_with_metadata(path)?;
    warn_if_exposed(path, &metadata);
    Ok(secret)
}

/// One warning for a secret file its group or other users may read.
fn warn_if_exposed(path: &Path, metadata: &Metadata) {
    if let Some(mode) = readable_by_others(metadata) {
        tracing::warn!(
            file = %path.display(),
            mode = %format_args!("{mode:04o}"),
            "the JWT secret file is readable by other users; restrict it to its owner (chmod 600)"
        );
    }
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    unix: (u64, u64, i64, i64),
}

impl FileStamp {
    fn of(metadata: &Metadata) -> Self {
        Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            unix: {
                use std::os::unix::fs::MetadataExt;
                (metadata.dev(), metadata.ino(), metadata.ctime(), metadata.ctime_nsec())
            },
        }
    }
}

/// The secret file a signer follows.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    /// The metadata of the last look (`None`: never looked, or the file was missing).
    stamp: Option<FileStamp>,
    /// Whether `stamp` can be trusted to change with the content (see [`SETTLE`]).
    settled: bool,
    /// Whether the last look failed (so that a failure is logged once, not per request).
    failing: bool,
}

/// The key in use and where it comes from.
struct Signer {
    secret: JwtSecret,
    key: EncodingKey,
    file: Option<Watched>,
    /// The last token minted and its `iat`: a token is a function of the key, the claims
    /// (fixed per signer: every [`JwtAuth`] sharing it is a clone of one) and `iat`, which
    /// has a resolution of a second, so calls within that second reuse it instead of
    /// serializing, signing and encoding it again. Cleared when the key changes.
    minted: Option<(u64, String)>,
}

impl Signer {
    fn new(secret: &JwtSecret, file: Option<Watched>) -> Self {
        Self { secret: secret.clone(), key: secret.encoding_key(), file, minted: None }
    }

    /// Picks up a changed secret file; keeps the current secret when it cannot.
    fn refresh(&mut self, now: SystemTime) {
        let Some(file) = &mut self.file else { return };
        let stamp = match std::fs::metadata(&file.path) {
            Ok(metadata) => FileStamp::of(&metadata),
            Err(e) => {
                if !file.failing {
                    tracing::error!(
                        file = %file.path.display(),
                        error = %e,
                        "cannot read the JWT secret file; keeping the current secret"
                    );
                }
                file.failing = true;
                file.stamp = None;
                return;
            }
        };
        if file.settled && file.stamp == Some(stamp) {
            return;
        }
        let changed = file.stamp != Some(stamp);
        match JwtSecret::from_file_with_metadata(&file.path) {
            Ok((secret, metadata)) => {
                let read = FileStamp::of(&metadata);
                file.settled = is_settled(&metadata, now);
                file.stamp = Some(read);
                let recovered = std::mem::replace(&mut file.failing, false);
                if secret == self.secret && recovered {
                    tracing::info!(
                        file = %file.path.display(),
                        "the JWT secret file is usable again; its secret is unchanged"
                    );
                } else if secret != self.secret {
                    tracing::info!(
                        file = %file.path.display(),
                        "the JWT secret file changed: signing with its new secret"
                    );
                    warn_if_exposed(&file.path, &metadata);
                    self.key = secret.encoding_key();
                    self.secret = secret;
                    self.minted = None;
                }
            }
            Err(e) => {
                if changed || !file.failing {
                    tracing::error!(
                        file = %file.path.display(),
                        error = %e,
                        "the JWT secret file cannot be used; keeping the current secret"
                    );
                }
                file.failing = true;
                file.stamp = Some(stamp);
                // Invalid content may be half of a write in progress: look again next time.
                file.settled = false;
            }
        }
    }
}

/// Whether a file last modified as `metadata` says, read at `now`, may have been rewritten
/// since without its metadata showing it.
fn is_settled(metadata: &Metadata, now: SystemTime) -> bool {
    metadata
        .modified()
        .ok()
        .and_then(|modified| now.duration_since(modified).ok())
        .is_some_and(|age| age >= SETTLE)
}

/// Mints HS256 tokens with a fresh `iat`, from a fixed secret ([`new`](Self::new)) or from
/// a secret file it follows ([`watching`](Self::watching)). Clones share the secret and the
/// file they follow.
#[derive(Clone)]
pub struct JwtAuth {
    signer: Arc<Mutex<Signer>>,
    header: Header,
    id: Option<String>,
    clv: Option<String>,
    /// Seconds added to the system clock for every `iat` (0 unless a test shifts it).
    clock_offset: i64,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.lock().file.as_ref().map(|w| w.path.clone());
        f.debug_struct("JwtAuth")
            .field("secret", &"<redacted>")
            .field("file", &file)
            .field("id", &self.id)
            .field("clv", &self.clv)
            .field("clock_offset", &self.clock_offset)
            .finish()
    }
}

impl JwtAuth {
    /// Tokens signed with `secret`, carrying the optional `id` and `clv` claims.
    pub fn new(secret: &JwtSecret, id: Option<String>, clv: Option<String>) -> Self {
        Self::with_signer(Signer::new(secret, None), id, clv)
    }

    /// Tokens signed with `secret` until the file at `path` holds another valid secret, then
    /// with that one (see the [module docs](self) for when the file is looked at). `secret`
    /// is normally what the file held at startup ([`read_secret_file`]).
    pub fn watching(
        secret: &JwtSecret,
        path: impl Into<PathBuf>,
        id: Option<String>,
        clv: Option<String>,
    ) -> Self {
        let file = Watched { path: path.into(), stamp: None, settled: false, failing: false };
        Self::with_signer(Signer::new(secret, Some(file)), id, clv)
    }

    fn with_signer(signer: Signer, id: Option<String>, clv: Option<String>) -> Self {
        Self {
            // `Signer::new` picked jsonwebtoken's crypto backend once per process (see
            // `engine_types::jwt::ensure_crypto_provider`).
            signer: Arc::new(Mutex::new(signer)),
            header: Header::new(Algorithm::HS256),
            id,
            clv,
            clock_offset: 0,
        }
    }

    /// The same signer with a clock `seconds` ahead of the system's (behind when negative):
    /// every token's `iat` and [`now`](Self::now) are shifted. A testing seam for a skewed
    /// consensus-node clock (see the [module docs](self)), never set from configuration, and
    /// compiled only for tests (this crate's, or its users' with the `testing` feature).
    #[cfg(any(test, feature = "testing"))]
    #[must_use]
    pub const fn with_clock_offset(mut self, seconds: i64) -> Self {
        self.clock_offset = seconds;
        self
    }

    /// Seconds this signer's clock is shifted from the system's (always 0 outside tests).
    pub const fn clock_offset(&self) -> i64 {
        self.clock_offset
    }

    /// The time this signer issues tokens at: the system clock (seconds since the Unix
    /// epoch) plus the [`clock_offset`](Self::clock_offset).
    pub fn now(&self) -> u64 {
        unix_now().saturating_add_signed(self.clock_offset)
    }

    fn lock(&self) -> MutexGuard<'_, Signer> {
        // A panic while holding this lock leaves a usable key behind; keep using it.
        self.signer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The secret file this signer follows, if any.
    pub fn secret_file(&self) -> Option<PathBuf> {
        self.lock().file.as_ref().map(|w| w.path.clone())
    }

    /// A token issued now, by this signer's clock ([`now`](Self::now)).
    pub fn token(&self) -> Result<String, ClientError> {
        self.token_at(self.now())
    }

    /// A token issued at `iat` (seconds since the Unix epoch), signed with the current
    /// secret (after looking at the secret file, when one is followed).
    pub fn token_at(&self, iat: u64) -> Result<String, ClientError> {
        let mut signer = self.lock();
        signer.refresh(SystemTime::now());
        if let Some((minted_at, token)) = &signer.minted
            && *minted_at == iat
        {
            return Ok(token.clone());
        }
        let claims = Claims { iat: Some(iat), id: self.id.clone(), clv: self.clv.clone() };
        let token = jsonwebtoken::encode(&self.header, &claims, &signer.key).map_err(|e| {
            ClientError::JwtSecret {
                path: signer.file.as_ref().map(|w| w.path.clone()),
                problem: format!("cannot sign a token: {e}"),
            }
        })?;
        signer.minted = Some((iat, token.clone()));
        Ok(token)
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
        let watching = JwtAuth::watching(&s, "/nonexistent/jwt.hex", None, None);
        for text in [format!("{s:?}"), format!("{auth:?}"), format!("{watching:#?}")] {
            assert!(!text.to_lowercase().contains("abab") && !text.contains("171"), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
        let random = JwtSecret::random();
        let text = format!("{:?}", JwtAuth::new(&random, None, None));
        assert!(!text.contains(&random.to_hex()[..8]), "{text}");
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v
    }

    /// Whether `token` verifies with `secret`.
    fn signed_with(token: &str, secret: &JwtSecret) -> bool {
        let key = DecodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation()).is_ok()
    }

    /// Tokens verify under HS256 with the same secret, carry the given `iat`, and include
    /// `id`/`clv` only when set.
    #[test]
    fn tokens_carry_the_claims() {
        let s = JwtSecret::from_bytes([7; 32]);
        let v = validation();
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
        assert!(!signed_with(&bare, &JwtSecret::from_bytes([8; 32])), "another secret verifies");
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

    /// A shifted clock shifts every `iat` and `now` by exactly the offset, both ways, and
    /// clones keep it.
    #[test]
    fn clock_offset_shifts_iat() {
        let auth = JwtAuth::new(&JwtSecret::from_bytes([1; 32]), None, None);
        assert_eq!(auth.clock_offset(), 0);
        for offset in [-61i64, -59, 59, 61] {
            let shifted = auth.clone().with_clock_offset(offset);
            assert_eq!(shifted.clone().clock_offset(), offset);
            let before = unix_now();
            let claims: Claims =
                jsonwebtoken::dangerous::insecure_decode(shifted.token().unwrap()).unwrap().claims;
            let after = unix_now();
            let iat = claims.iat.unwrap();
            let (low, high) =
                (before.saturating_add_signed(offset), after.saturating_add_signed(offset));
            assert!(
                (low..=high).contains(&iat),
                "offset {offset}: iat {iat} not in {low}..={high}"
            );
            let now = shifted.now();
            assert!(now >= low && now <= unix_now().saturating_add_signed(offset), "{now}");
        }
        assert!(format!("{:?}", auth.with_clock_offset(7)).contains("clock_offset: 7"));
    }

    /// The token after a rotation of the file is signed with the new secret, even when the
    /// file is rewritten in place with the same length right after it was read; an invalid,
    /// oversized or missing file keeps the last good secret, and a later valid one is taken.
    #[test]
    fn follows_the_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.hex");
        let (a, b, c) = (JwtSecret::random(), JwtSecret::random(), JwtSecret::random());
        std::fs::write(&path, a.to_hex()).unwrap();
        let auth = JwtAuth::watching(&read_secret_file(&path).unwrap(), &path, None, None);
        assert_eq!(auth.secret_file().as_deref(), Some(path.as_path()));
        assert!(signed_with(&auth.token().unwrap(), &a));

        std::fs::write(&path, b.to_hex()).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &b), "the next token uses the new secret");
        // Same length, and most likely the same timestamp tick: only the settle rule sees it.
        std::fs::write(&path, c.to_hex()).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &c), "an immediate second rotation");
        std::fs::write(&path, format!("0x{}\n", b.to_hex())).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &b), "the 0x form with a newline");
        std::fs::write(&path, c.to_hex()).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &c));

        for bad in ["not a secret".to_string(), "f".repeat(MAX_SECRET_FILE_BYTES + 1)] {
            std::fs::write(&path, bad).unwrap();
            assert!(signed_with(&auth.token().unwrap(), &c), "an invalid file keeps the secret");
        }
        std::fs::remove_file(&path).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &c), "a missing file keeps the secret");
        std::fs::write(&path, a.to_hex()).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &a), "a valid file is taken again");
    }

    /// Within one `iat` second the same token is handed out again (the claims and key are the
    /// same, so it is the token a fresh mint would make); a new second mints a new one, and
    /// a clone shifted by a clock offset never gets its original's token.
    #[test]
    fn reuses_the_token_of_the_same_second() {
        let s = JwtSecret::from_bytes([7; 32]);
        let auth = JwtAuth::new(&s, Some("alys".into()), None);
        let first = auth.token_at(1_000).unwrap();
        assert_eq!(auth.token_at(1_000).unwrap(), first);
        let fresh = JwtAuth::new(&s, Some("alys".into()), None).token_at(1_000).unwrap();
        assert_eq!(fresh, first, "a reused token is the one a fresh mint makes");
        let next = auth.token_at(1_001).unwrap();
        assert_ne!(next, first);
        let iat = |t: &str| {
            jsonwebtoken::decode::<serde_json::Value>(
                t,
                &DecodingKey::from_secret(&[7; 32]),
                &validation(),
            )
            .unwrap()
            .claims["iat"]
                .as_u64()
        };
        assert_eq!(iat(&next), Some(1_001));
        let shifted = auth.clone().with_clock_offset(5);
        assert_eq!(iat(&shifted.token().unwrap()), Some(auth.now() + 5));
    }

    /// A fixed-secret signer never looks at the disk, and clones of a watching signer share
    /// what it reads.
    #[test]
    fn clones_share_the_followed_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.hex");
        let (a, b) = (JwtSecret::random(), JwtSecret::random());
        std::fs::write(&path, a.to_hex()).unwrap();
        let fixed = JwtAuth::new(&a, None, None);
        let auth = JwtAuth::watching(&a, &path, None, None);
        let clone = auth.clone();
        std::fs::write(&path, b.to_hex()).unwrap();
        assert!(signed_with(&auth.token().unwrap(), &b));
        assert!(signed_with(&clone.token().unwrap(), &b));
        assert!(signed_with(&fixed.token().unwrap(), &a));
        assert_eq!(fixed.secret_file(), None);
    }

    /// A file is trusted to show its next rewrite only once its modification time is
    /// [`SETTLE`] older than the read.
    #[test]
    fn settles_after_the_margin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.hex");
        std::fs::write(&path, "x").unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        let modified = metadata.modified().unwrap();
        assert!(!is_settled(&metadata, modified));
        assert!(!is_settled(&metadata, modified + SETTLE - Duration::from_millis(1)));
        assert!(is_settled(&metadata, modified + SETTLE));
        // A modification time in the future (a clock step) is never trusted.
        assert!(!is_settled(&metadata, modified - Duration::from_secs(10)));
    }
}
