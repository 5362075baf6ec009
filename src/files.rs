//! Reading the files the integration is pointed at (`federated_token_file`,
//! `AZURE_FEDERATED_TOKEN_FILE`, `ca_file`, `SSL_CERT_FILE`, the Arc agent's key): regular files
//! only, opened without waiting and read up to a bound, so a FIFO, a device or a folder named by
//! a parameter or a variable is refused at once instead of hanging or flooding the binary.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

/// Whether a symbolic link as the last part of the path is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Followed: Kubernetes projects the federated token (and engines their CA bundle) through links.
    Follow,
    /// Refused (`O_NOFOLLOW`): the Arc key must be the file in the agent's folder itself.
    Refuse,
}

/// Why a file was not read. `Display` is a phrase that fits after "cannot be read: ".
#[derive(Debug)]
pub enum Problem {
    /// Opening or reading failed (missing, no permission, a link refused...).
    Io(std::io::Error),
    /// Not a regular file: what it is instead, in words ("a FIFO").
    NotRegular(&'static str),
    /// Larger than the bound given, in bytes.
    TooLarge(u64),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Io(error) => write!(f, "{error}"),
            Problem::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            Problem::TooLarge(limit) => write!(f, "it is larger than {limit} bytes"),
        }
    }
}

/// Opens `path` for reading without ever waiting: `O_NONBLOCK`, so opening a FIFO with no writer
/// (or a device) returns at once; `O_NOCTTY`, so a terminal never becomes this process's.
pub fn open(path: &Path, links: Links) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let nofollow = if links == Links::Refuse { libc::O_NOFOLLOW } else { 0 };
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | nofollow);
    }
    #[cfg(not(unix))]
    let _ = links;
    options.open(path)
}

/// The bytes of the regular file at `path` (links followed), at most `limit` of them: anything
/// else is a [`Problem`]. What counts is the opened file's own metadata (fstat), not the path's,
/// which may change in between.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, Problem> {
    let file = open(path, Links::Follow).map_err(Problem::Io)?;
    read_opened(file, limit)
}

/// [`read`] for a file already opened with [`open`].
fn read_opened(file: File, limit: u64) -> Result<Vec<u8>, Problem> {
    let metadata = file.metadata().map_err(Problem::Io)?;
    if !metadata.is_file() {
        return Err(Problem::NotRegular(kind(&metadata.file_type())));
    }
    if metadata.len() > limit {
        return Err(Problem::TooLarge(limit));
    }
    // The size is a hint (the file may grow while it is read): the bound is the read's own.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Problem::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Problem::TooLarge(limit));
    }
    Ok(bytes)
}

/// What a file that is not a regular one is, in words.
fn kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    if file_type.is_dir() { "a folder" } else { "not a file" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let dir = std::env::temp_dir().join(format!("aadip-files-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, b"12345").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let missing = dir.join("missing");
        type Case<'a> = (&'a Path, u64, Result<&'a [u8], &'a str>);
        let cases: [Case; 7] = [
            (&file, 5, Ok(b"12345")),
            (&link, 5, Ok(b"12345")),
            (&file, 4, Err("larger than 4 bytes")),
            (&dir, 5, Err("it is a folder, not a regular file")),
            (Path::new("/dev/zero"), 5, Err("it is a device, not a regular file")),
            (Path::new("/dev/null"), 5, Err("it is a device, not a regular file")),
            (&missing, 5, Err("No such file")),
        ];
        for (path, limit, expected) in cases {
            match (read(path, limit), expected) {
                (Ok(bytes), Ok(want)) => assert_eq!(bytes, want, "{}", path.display()),
                (Err(problem), Err(needle)) => {
                    assert!(problem.to_string().contains(needle), "{}: {problem}", path.display())
                }
                (got, want) => panic!("{}: {got:?}, expected {want:?}", path.display()),
            }
        }
        #[cfg(unix)]
        {
            assert!(
                open(&link, Links::Refuse).is_err(),
                "a final link is refused when asked"
            );
            // A plain open of a FIFO would wait for a writer forever.
            let fifo = dir.join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo");
            let refused = read(&fifo, 5).unwrap_err().to_string();
            assert_eq!(refused, "it is a FIFO, not a regular file");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
