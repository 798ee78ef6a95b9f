//! Reading an Engine API JWT secret file for the start-up probe, with an error for each way
//! it goes wrong (missing, unreadable, too large, wrong length, not hex) so the user learns
//! which one it is. The file is read by engine-types' one reader (capped at
//! [`MAX_SECRET_FILE_BYTES`](engine_types::jwt::MAX_SECRET_FILE_BYTES), its buffer wiped);
//! the node only words each problem for a user. The secret itself never reaches a log line
//! or a `Debug` output.

use crate::error::NodeError;
use engine_types::jwt::{JwtSecret, JwtSecretProblem};
use std::path::Path;

/// Reads and checks the secret in `path`: 64 hex characters, optionally `0x`-prefixed,
/// trailing whitespace allowed (the spec's format, which every execution client writes).
pub(crate) fn read_secret(path: &Path) -> Result<JwtSecret, NodeError> {
    JwtSecret::from_file(path).map_err(|e| {
        let found = match e.problem {
            JwtSecretProblem::Missing => return NodeError::JwtMissing { path: path.to_path_buf() },
            JwtSecretProblem::Unreadable(reason) => {
                return NodeError::JwtUnreadable { path: path.to_path_buf(), reason };
            }
            JwtSecretProblem::WrongLength(0) => "nothing (the file is empty)".to_string(),
            JwtSecretProblem::WrongLength(n) => format!("{n} hex characters"),
            JwtSecretProblem::NotHex(_) => "non-hex characters".to_string(),
            JwtSecretProblem::TooLarge { limit } => {
                format!("more than {limit} bytes (a secret is 64 hex characters)")
            }
            other => other.to_string(),
        };
        NodeError::JwtFormat { path: path.to_path_buf(), found }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_testkit::fixtures::JwtFiles;
    use engine_types::jwt::MAX_SECRET_FILE_BYTES;

    /// The formats clients write are accepted; each bad file gets its own error.
    #[test]
    fn each_bad_file_gets_its_error() {
        let files = JwtFiles::random().unwrap();
        for ok in [files.valid(), files.prefixed(), files.trailing_newline()] {
            assert_eq!(&read_secret(&ok).unwrap(), files.secret(), "{}", ok.display());
        }
        let short = read_secret(&files.short()).unwrap_err();
        assert!(
            matches!(&short, NodeError::JwtFormat { found, .. } if found.ends_with("hex characters")),
            "{short}"
        );
        let bad = read_secret(&files.non_hex()).unwrap_err();
        assert!(
            matches!(&bad, NodeError::JwtFormat { found, .. } if found == "non-hex characters"),
            "{bad}"
        );
        let missing = read_secret(&files.dir().join("nope")).unwrap_err();
        assert!(matches!(missing, NodeError::JwtMissing { .. }));
        let dir = read_secret(files.dir()).unwrap_err();
        assert!(matches!(dir, NodeError::JwtUnreadable { .. }), "{dir}");
        let huge = files.dir().join("huge");
        std::fs::write(&huge, "a".repeat(MAX_SECRET_FILE_BYTES + 1)).unwrap();
        let err = read_secret(&huge).unwrap_err();
        assert!(
            matches!(&err, NodeError::JwtFormat { found, .. } if found.starts_with("more than 4096")),
            "{err}"
        );
        let binary = files.dir().join("binary");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        let err = read_secret(&binary).unwrap_err();
        assert!(
            matches!(&err, NodeError::JwtUnreadable { reason, .. } if reason.contains("not text")),
            "{err}"
        );
    }

    /// The secret never shows in its Debug output.
    #[test]
    fn debug_hides_the_secret() {
        let files = JwtFiles::random().unwrap();
        let secret = read_secret(&files.valid()).unwrap();
        assert!(!format!("{secret:?}").contains(&files.secret().to_hex()));
    }
}
