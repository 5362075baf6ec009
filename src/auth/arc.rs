//! Azure Arc's managed identity: the agent answers the first token request with a challenge
//! naming a key file, and the same request with that file's content gets the token
//! (`auth/managed_identity.rs` sends both). Here: which file a challenge may name (a small `.key`
//! file directly in the agent's token folder), reading it, and the agent's answer for a
//! user-assigned identity.

use crate::error::Error;
use crate::files::{self, Links};
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

/// The Azure Arc agent's key folder on Linux.
pub const ARC_TOKENS_LINUX: &str = "/var/opt/azcmagent/tokens";
/// Largest Arc key file read, as MSAL and Azure SDKs bound it.
pub const MAX_ARC_KEY_BYTES: u64 = 4096;
/// Longest `WWW-Authenticate` challenge read from the Arc agent.
const MAX_CHALLENGE_CHARS: usize = 1024;

/// An Arc agent without user-assigned support ignores `client_id` and answers the machine's own
/// identity: a token is used only when the answer names the identity asked for (as MSAL does).
pub(super) fn confirm_identity(body: &str, wanted: &str) -> Result<(), Error> {
    let echoed = serde_json::from_str::<Map<String, Value>>(body)
        .ok()
        .and_then(|answer| answer.get("client_id")?.as_str().map(str::to_string));
    match echoed {
        Some(id) if id.eq_ignore_ascii_case(wanted) => Ok(()),
        _ => Err(Error::SignIn(format!(
            "The Azure Arc agent did not confirm the user-assigned identity {wanted} in its token answer, so the token was not used: this agent likely supports only the machine's system-assigned identity. Clear Managed Identities Client ID, or update the Azure Connected Machine agent."
        ))),
    }
}

/// The Arc agent's token folder on this platform: the only folder a challenge may name.
pub(super) fn token_folder() -> Result<PathBuf, Error> {
    if cfg!(windows) {
        let data = std::env::var_os("ProgramData")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Environment {
                variable: "ProgramData".into(),
                reason: "is not set, so the Azure Arc agent's token folder (%ProgramData%\\AzureConnectedMachineAgent\\Tokens) is unknown.".into(),
            })?;
        Ok(PathBuf::from(data).join("AzureConnectedMachineAgent").join("Tokens"))
    } else if cfg!(target_os = "linux") {
        Ok(PathBuf::from(ARC_TOKENS_LINUX))
    } else {
        Err(Error::SignIn(
            "Azure Arc managed identity works on Linux and Windows engines only.".into(),
        ))
    }
}

/// The key an Arc challenge points at, read only when the challenge names a `.key` file of at
/// most [`MAX_ARC_KEY_BYTES`] directly in `folder`, the agent's token folder: anything else is
/// refused unread, so whatever answers on IDENTITY_ENDPOINT cannot have another file sent.
pub fn key(challenge: Option<&str>, folder: &Path) -> Result<Secret, Error> {
    let path = challenged_path(challenge)?;
    let in_folder = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::Prefix(_) | Component::RootDir | Component::Normal(_)))
        && path.parent().is_some_and(|parent| same_folder(parent, folder));
    if !in_folder || path.extension().is_none_or(|e| e != "key") {
        return Err(refused(&path, folder, "is not a .key file directly in that folder"));
    }
    read_key(&path, folder)
}

/// Whether two folders are the same: Windows paths compare without case, as its file system does.
fn same_folder(a: &Path, b: &Path) -> bool {
    if cfg!(windows) {
        let parts = |p: &Path| -> Vec<String> {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().to_lowercase())
                .collect()
        };
        parts(a) == parts(b)
    } else {
        a == b
    }
}

/// The path of `Basic realm=<path>` (quotes allowed). Hand-written: one scheme and one
/// parameter, whose value is a path taken as it is, not a token of RFC 9110's grammar.
fn challenged_path(challenge: Option<&str>) -> Result<PathBuf, Error> {
    challenge
        .filter(|c| c.len() <= MAX_CHALLENGE_CHARS)
        .and_then(|c| c.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, parameter)| parameter.trim().split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("realm"))
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|path| !path.is_empty() && !path.chars().any(char::is_control))
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::SignIn(
                "The endpoint in IDENTITY_ENDPOINT answered 401 without the Azure Arc agent's `Basic realm=<key file>` challenge. Check that IDENTITY_ENDPOINT and IMDS_ENDPOINT are the Arc agent's (http://localhost:40342)."
                    .into(),
            )
        })
}

/// Reads the key: a regular file (not a link), at most [`MAX_ARC_KEY_BYTES`], printable ASCII.
fn read_key(path: &Path, folder: &Path) -> Result<Secret, Error> {
    let metadata = std::fs::symlink_metadata(path).map_err(|e| unreadable(path, &e))?;
    if !metadata.file_type().is_file() {
        return Err(refused(
            path,
            folder,
            "is not a regular file (a link, a folder or a pipe)",
        ));
    }
    if metadata.len() > MAX_ARC_KEY_BYTES {
        return Err(refused(path, folder, "is larger than 4096 bytes"));
    }
    // The checks above name the problem; the handle's own metadata is what counts, since the
    // path may have changed in between (opened without following a link or waiting on a FIFO).
    let file = files::open(path, Links::Refuse).map_err(|e| unreadable(path, &e))?;
    let opened = file.metadata().map_err(|e| unreadable(path, &e))?;
    if !opened.is_file() || opened.len() > MAX_ARC_KEY_BYTES {
        return Err(refused(path, folder, "changed while it was read"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ARC_KEY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(path, &e))?;
    let key = String::from_utf8(bytes)
        .ok()
        .filter(|k| k.len() as u64 <= MAX_ARC_KEY_BYTES)
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            refused(
                path,
                folder,
                "holds no usable key (empty, too large, or not printable ASCII)",
            )
        })?;
    Ok(Secret::new(key))
}

fn refused(path: &Path, folder: &Path, why: &str) -> Error {
    Error::SignIn(format!(
        "Refused the Azure Arc challenge: the key file it names, {}, {why}. Only a .key file of at most 4096 bytes directly in the Arc agent's token folder {} is used. Check that IDENTITY_ENDPOINT and IMDS_ENDPOINT are the Arc agent's (http://localhost:40342).",
        shown(path),
        folder.display()
    ))
}

fn unreadable(path: &Path, error: &std::io::Error) -> Error {
    Error::SignIn(format!(
        "Cannot read the Azure Arc key file {} ({error}). The engine's user must be allowed to: on Linux as a member of the himds group, on Windows of the Administrators or Hybrid agent extension applications group.",
        shown(path)
    ))
}

/// A path from the network, for a message: cut, and quoted as markdown-inert text.
fn shown(path: &Path) -> String {
    let text: String = path.to_string_lossy().chars().take(256).collect();
    crate::markdown::quoted(&text)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder, standing in for the Arc agent's.
    pub(crate) fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aadip-arc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn arc_challenges_are_followed_only_into_the_agents_folder() {
        let dir = folder("challenges");
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path.display().to_string()
        };
        let good = write("a.key", b"0123abcd\n");
        let full = write("full.key", &[b'k'; 4096]);
        let large = write("large.key", &[b'k'; 4097]);
        let empty = write("empty.key", b"");
        let binary = write("binary.key", b"k\x00\xff");
        let text = write("a.txt", b"0123abcd");
        let outside = folder("outside").join("x.key");
        std::fs::write(&outside, b"outside-secret").unwrap();
        let link = dir.join("link.key");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let d = dir.display();
        let full_key = "k".repeat(4096);
        let cases: Vec<(String, Result<&str, &str>)> = vec![
            (format!("Basic realm={good}"), Ok("0123abcd")),
            (format!("basic realm=\"{good}\""), Ok("0123abcd")),
            (format!("Basic realm={d}/./a.key"), Ok("0123abcd")),
            (format!("Basic realm={full}"), Ok(&full_key)),
            (format!("Basic realm={large}"), Err("larger than 4096 bytes")),
            (format!("Basic realm={empty}"), Err("holds no usable key")),
            (format!("Basic realm={binary}"), Err("holds no usable key")),
            (
                format!("Basic realm={text}"),
                Err("not a .key file directly in that folder"),
            ),
            (
                format!("Basic realm={}", outside.display()),
                Err("not a .key file directly in that folder"),
            ),
            (
                format!("Basic realm={d}/../aadip-arc-{}-outside/x.key", std::process::id()),
                Err("directly in that folder"),
            ),
            (format!("Basic realm={d}/sub/a.key"), Err("directly in that folder")),
            ("Basic realm=a.key".to_string(), Err("directly in that folder")),
            (
                format!("Basic realm={d}/missing.key"),
                Err("Cannot read the Azure Arc key file"),
            ),
            (format!("Bearer realm={good}"), Err("without the Azure Arc agent's")),
            (format!("Basic charset={good}"), Err("without the Azure Arc agent's")),
            (
                format!("Basic realm={good}\nX: y"),
                Err("without the Azure Arc agent's"),
            ),
            (
                format!("Basic realm=/{}", "a".repeat(MAX_CHALLENGE_CHARS)),
                Err("without the Azure Arc agent's"),
            ),
            ("Basic realm=".to_string(), Err("without the Azure Arc agent's")),
        ];
        // A pipe would block a plain open until someone writes to it.
        #[cfg(unix)]
        let fifo = {
            let fifo = dir.join("fifo.key");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo");
            fifo
        };
        #[cfg(unix)]
        let cases = cases
            .into_iter()
            .chain([
                (format!("Basic realm={}", link.display()), Err("not a regular file")),
                (format!("Basic realm={}", fifo.display()), Err("not a regular file")),
            ])
            .collect::<Vec<_>>();
        for (challenge, expected) in cases {
            match (key(Some(&challenge), &dir), expected) {
                (Ok(key), Ok(want)) => assert_eq!(key.expose(), want, "{challenge}"),
                (Err(error), Err(needle)) => {
                    let message = error.to_string();
                    assert!(message.contains(needle), "{challenge}: {message}");
                    assert!(
                        !message.contains("outside-secret") && !message.contains("0123abcd"),
                        "{message}"
                    );
                }
                (got, want) => panic!("{challenge}: {:?}, expected {want:?}", got.map(|k| k.expose().len())),
            }
        }
        assert!(matches!(key(None, &dir), Err(Error::SignIn(_))));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(outside.parent().unwrap());
    }
}
