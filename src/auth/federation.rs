//! Workload identity federation: client credentials whose assertion is a JWT another issuer
//! (Kubernetes, GitHub Actions, any OIDC issuer) wrote to a file. The file rotates, so it is
//! read again for every token request.

use crate::error::Error;
use crate::files;
use crate::secret::Secret;
use std::path::PathBuf;

/// The environment variable AKS workload identity (and azure-identity) set.
pub const TOKEN_FILE_VARIABLE: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// Largest token file read: real tokens are a few KiB.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Where the federated token is read from, and who said so (for the error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedTokenFile {
    path: PathBuf,
    /// `true`: the `federated_token_file` parameter; `false`: [`TOKEN_FILE_VARIABLE`].
    from_parameter: bool,
}

impl FederatedTokenFile {
    /// From the `federated_token_file` parameter.
    pub fn parameter(path: &str) -> Self {
        FederatedTokenFile {
            path: PathBuf::from(path),
            from_parameter: true,
        }
    }

    /// From the engine's [`TOKEN_FILE_VARIABLE`], if set and not empty.
    pub fn from_environment() -> Option<Self> {
        let path = std::env::var_os(TOKEN_FILE_VARIABLE).filter(|p| !p.is_empty())?;
        Some(FederatedTokenFile {
            path: PathBuf::from(path),
            from_parameter: false,
        })
    }

    /// The token the file holds now: one JWT (three dot-separated segments), whitespace trimmed.
    pub fn read(&self) -> Result<Secret, Error> {
        let text = self.read_text()?;
        let token = text.trim();
        if token.split('.').count() != 3 || token.contains(char::is_whitespace) {
            return Err(self.problem("holds no JWT (expected header.payload.signature)."));
        }
        Ok(Secret::new(token))
    }

    /// The file's text: a regular file only (a FIFO or a device is refused, never waited on), at
    /// most [`MAX_TOKEN_BYTES`].
    fn read_text(&self) -> Result<String, Error> {
        let bytes = files::read(&self.path, MAX_TOKEN_BYTES).map_err(|problem| match problem {
            files::Problem::TooLarge(_) => self.problem("is larger than 64 KiB, so it is no federated token."),
            other => self.problem(&format!("cannot be read ({other}).")),
        })?;
        String::from_utf8(bytes).map_err(|_| self.problem("cannot be read as text (it is not UTF-8)."))
    }

    fn problem(&self, what: &str) -> Error {
        let reason = format!(
            "names {}, which {what}",
            crate::params::shown_path(&self.path.to_string_lossy())
        );
        if self.from_parameter {
            Error::parameter("federated_token_file", reason)
        } else {
            Error::Environment {
                variable: TOKEN_FILE_VARIABLE.to_string(),
                reason,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_read_each_time_and_must_hold_a_jwt() {
        let dir = std::env::temp_dir().join(format!("federation-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let file = FederatedTokenFile::parameter(path.to_str().unwrap());
        assert!(file.read().unwrap_err().to_string().contains("cannot be read"));
        std::fs::write(&path, "a.b.c\n").unwrap();
        assert_eq!(file.read().unwrap().expose(), "a.b.c");
        std::fs::write(&path, "d.e.f").unwrap();
        assert_eq!(file.read().unwrap().expose(), "d.e.f", "re-read: the token rotates");
        for bad in ["", "not a jwt", "a.b"] {
            std::fs::write(&path, bad).unwrap();
            assert!(file.read().unwrap_err().to_string().contains("no JWT"), "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
