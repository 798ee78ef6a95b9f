//! The JWT secret file format (engine-types `JwtSecret::from_hex`: 64 hex characters, an
//! optional `0x`, trailing whitespace) and the check of an `Authorization` header against a
//! secret (`JwtSecret::validate`, what the test EL and the node's RPC server run on every
//! request).
//!
//! Input: one byte choosing which, then the text (invalid UTF-8 is refused before either,
//! as `from_file` does).
#![no_main]

use engine_types::jwt::JwtSecret;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// The secret headers are checked against (the one the seeds were minted with).
static SECRET: LazyLock<JwtSecret> = LazyLock::new(|| {
    JwtSecret::from_hex(&"ab".repeat(32)).expect("64 hex characters are a secret")
});

/// The `now` of the header check: the seeds' `iat`.
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if selector % 2 == 0 {
        if let Ok(secret) = JwtSecret::from_hex(text) {
            // What parsed is exactly the hex the file holds, whatever its case.
            let trimmed = text.trim_end();
            let hex = trimmed.strip_prefix("0x").unwrap_or(trimmed);
            assert_eq!(secret.to_hex(), hex.to_ascii_lowercase());
            // And the secret's Debug never shows it.
            assert!(!format!("{secret:?}").contains(&secret.to_hex()));
        }
    } else {
        // A forged header cannot pass (the fuzzer does not know the secret); what the
        // seeds' genuine tokens turn into must still be a typed rejection or claims inside
        // the spec's window.
        if let Ok(claims) = SECRET.validate(Some(text), NOW) {
            let iat = claims.iat.expect("accepted claims carry iat");
            assert!(iat.abs_diff(NOW) <= 60, "iat {iat} accepted at {NOW}");
        }
    }
});
