//! Reading an Engine API JWT secret file, with an error for each way it goes wrong (missing,
//! unreadable, wrong length, not hex) so the user learns which one it is. The secret itself
//! never reaches a log line or a `Debug` output (the testkit's `JwtSecret` redacts it).

use crate::error::NodeError;
use engine_testkit::{JwtSecret, jwt::JwtSecretProblem};
use std::{io::ErrorKind, path::Path};

/// Reads and checks the secret in `path`: 64 hex characters, optionally `0x`-prefixed,
/// trailing whitespace allowed (the spec's format, which every execution client writes).
pub(crate) fn read_secret(path: &Path) -> Result<JwtSecret, NodeError> {
    let text = read_capped(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => NodeError::JwtMissing { path: path.to_path_buf() },
        ErrorKind::InvalidData => {
            NodeError::JwtFormat { path: path.to_path_buf(), found: "binary data, not text".into() }
        }
        _ => NodeError::JwtUnreadable { path: path.to_path_buf(), reason: e.to_string() },
    })?;
    let Some(text) = text else {
        return Err(NodeError::JwtFormat {
            path: path.to_path_buf(),
            found: format!("more than {SECRET_FILE_CAP} bytes (a secret is 64 hex characters)"),
        });
    };
    // The format itself is checked in one place for every crate (engine_types::jwt); the
    // node only words each problem for a user.
    JwtSecret::from_hex(&text).map_err(|e| {
        let found = match e.problem {
            JwtSecretProblem::WrongLength(0) => "nothing (the file is empty)".to_string(),
            JwtSecretProblem::WrongLength(n) => format!("{n} hex characters"),
            JwtSecretProblem::NotHex(_) => "non-hex characters".to_string(),
            other => other.to_string(),
        };
        NodeError::JwtFormat { path: path.to_path_buf(), found }
    })
}

/// The largest secret file read: far more than 64 hex characters with a prefix and
/// whitespace, far less than a file anyone would point at by mistake.
const SECRET_FILE_CAP: u64 = 4096;

/// The file's text, reading at most one byte past [`SECRET_FILE_CAP`] (`None`: too large),
/// so a wrong path to a huge file or a device costs nothing.
fn read_capped(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(SECRET_FILE_CAP + 1).read_to_string(&mut text)?;
    Ok((text.len() as u64 <= SECRET_FILE_CAP).then_some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_testkit::fixtures::JwtFiles;

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
        std::fs::write(&huge, "a".repeat(SECRET_FILE_CAP as usize + 1)).unwrap();
        let err = read_secret(&huge).unwrap_err();
        assert!(
            matches!(&err, NodeError::JwtFormat { found, .. } if found.starts_with("more than 4096")),
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
