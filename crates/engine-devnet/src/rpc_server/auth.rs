//! The engine port's JWT check, with the last token that passed remembered.
//!
//! Geth's `node/jwt_handler.go` parses and verifies the token of every request in full, and
//! so does [`JwtSecret::validate`]. Whether a token's header, signature and claims pass is a
//! function of the token and the secret alone, and a server's secret never changes; what
//! does change is the clock, against which the token's `iat` is judged. A client reuses one
//! token for the second it was minted in (engine-client does), so most requests carry the
//! token the last one carried: for that token only the `iat` window is checked again, at the
//! request's time. Any other token is verified in full, and only a token that passed is
//! remembered. The verdict is the one a full check gives, rejection included (a remembered
//! token that has gone stale is refused as [`JwtRejection::Stale`]); only its cost differs:
//! the full check was 2.4 % of the node's CPU in a soak (four to five requests a block).

use engine_types::jwt::{JwtRejection, JwtSecret, check_iat};
use std::sync::{Mutex, PoisonError};
use subtle::ConstantTimeEq;

/// A secret and the last `Authorization` value that passed under it.
#[derive(Debug)]
pub(super) struct TokenCheck {
    secret: JwtSecret,
    passed: Mutex<Option<Passed>>,
}

/// An `Authorization` value that passed the full check, and the `iat` it carries.
struct Passed {
    authorization: Box<str>,
    iat: u64,
}

impl std::fmt::Debug for Passed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential for as long as its `iat` is in the window.
        f.debug_struct("Passed")
            .field("authorization", &"<redacted>")
            .field("iat", &self.iat)
            .finish()
    }
}

impl TokenCheck {
    /// A check against `secret` that has seen no token yet.
    pub(super) const fn new(secret: JwtSecret) -> Self {
        Self { secret, passed: Mutex::new(None) }
    }

    /// The secret tokens are checked against.
    pub(super) const fn secret(&self) -> &JwtSecret {
        &self.secret
    }

    /// Checks an `Authorization` header value at `now` (unix seconds), with the verdict of
    /// [`JwtSecret::validate`].
    pub(super) fn check(&self, authorization: Option<&str>, now: u64) -> Result<(), JwtRejection> {
        let Some(value) = authorization else { return Err(JwtRejection::Missing) };
        // A poisoned lock only means a panic elsewhere while it was held; what it holds is
        // either a token that passed or nothing, both sound.
        let remembered = self
            .passed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|p| same_bytes(p.authorization.as_bytes(), value.as_bytes()))
            .map(|p| p.iat);
        if let Some(iat) = remembered {
            return check_iat(iat, now);
        }
        let claims = self.secret.validate(Some(value), now)?;
        // `validate` refuses a token without `iat`, so it is there.
        if let Some(iat) = claims.iat {
            *self.passed.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(Passed { authorization: value.into(), iat });
        }
        Ok(())
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only (`subtle`):
/// the value remembered is a credential, so how long a comparison with a guess takes must not
/// tell how much of the guess was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::jwt::{Claims, IAT_WINDOW_SECS, mint_alg_none};

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    /// Every verdict is the full check's, for the token remembered as for any other: a
    /// token that passed and is sent again passes while its `iat` is in the window and is
    /// refused as stale after (or as from the future, for a clock set back), a forged or
    /// unsigned (`alg: none`) token next to it is still refused, and a refused token is
    /// never remembered.
    #[test]
    fn a_remembered_token_gets_the_full_checks_verdict() {
        let secret = JwtSecret::from_bytes([9; 32]);
        let other = JwtSecret::from_bytes([8; 32]);
        let check = TokenCheck::new(secret.clone());
        let now = 1_700_000_000;
        let claims = Claims::issued_at(now);
        let good = bearer(&secret.mint_claims(&claims).unwrap());
        let forged = bearer(&other.mint_claims(&claims).unwrap());
        let unsigned = bearer(&mint_alg_none(&claims));
        let cases: [(&str, u64); 9] = [
            (&good, now),
            (&good, now + 1),
            (&forged, now),
            (&good, now + IAT_WINDOW_SECS),
            (&unsigned, now),
            (&good, now + IAT_WINDOW_SECS + 1),
            (&good, now - IAT_WINDOW_SECS - 1),
            ("Basic abc", now),
            (&good, now),
        ];
        for (authorization, at) in cases {
            let full = secret.validate(Some(authorization), at).map(|_| ());
            assert_eq!(check.check(Some(authorization), at), full, "{authorization} at {at}");
        }
        assert_eq!(check.check(None, now), Err(JwtRejection::Missing));
        assert!(matches!(
            check.check(Some(&good), now + IAT_WINDOW_SECS + 1),
            Err(JwtRejection::Stale { .. })
        ));
        let remembered = check.passed.lock().unwrap();
        assert_eq!(remembered.as_ref().map(|p| &*p.authorization), Some(good.as_str()));
        let shown = format!("{:?}", remembered.as_ref().unwrap());
        assert!(!shown.contains(&good[7..]) && shown.contains("redacted"), "{shown}");
    }

    /// Equal bytes compare equal; a difference anywhere, or in length, does not.
    #[test]
    fn same_bytes_compares_whole_values() {
        assert!(same_bytes(b"Bearer abc", b"Bearer abc"));
        assert!(same_bytes(b"", b""));
        for other in [&b"Bearer abd"[..], b"Xearer abc", b"Bearer ab", b"Bearer abcd"] {
            assert!(!same_bytes(b"Bearer abc", other), "{other:?}");
        }
    }

    /// A token minted later replaces the one remembered, and the earlier one, sent again, is
    /// checked in full and passes (it is still in its window).
    #[test]
    fn a_new_token_replaces_the_remembered_one() {
        let secret = JwtSecret::from_bytes([9; 32]);
        let check = TokenCheck::new(secret.clone());
        let now = 1_700_000_000;
        let mint = |iat| bearer(&secret.mint_claims(&Claims::issued_at(iat)).unwrap());
        let (first, second) = (mint(now), mint(now + 1));
        assert_eq!(check.check(Some(&first), now), Ok(()));
        assert_eq!(check.check(Some(&second), now + 1), Ok(()));
        let iat = |c: &TokenCheck| c.passed.lock().unwrap().as_ref().map(|p| p.iat);
        assert_eq!(iat(&check), Some(now + 1));
        assert_eq!(check.check(Some(&first), now + 2), Ok(()));
        assert_eq!(iat(&check), Some(now));
    }
}
