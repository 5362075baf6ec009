//! `--tls`: the server configuration with the embedded loopback certificate (see
//! `tls/README.md`), and the CA file clients trust, written where only this user can read it.
//! Each connection's thread does its own handshake (`server.rs`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The loopback CA clients trust (public; see `tls/README.md`).
pub(crate) const CA_PEM: &str = include_str!("tls/ca.pem");
const SERVER_CERT_PEM: &[u8] = include_bytes!("tls/server.pem");
const SERVER_KEY_PEM: &[u8] = include_bytes!("tls/server-key.pem");

/// The CA file of a TLS emulator; dropping it deletes a file it made in a private folder.
pub(crate) struct CaFile {
    path: PathBuf,
    /// The private folder holding `path`, removed on drop; `None` for a user's `--ca-out`.
    private_dir: Option<PathBuf>,
}

impl CaFile {
    /// Writes [`CA_PEM`] to `ca_out`, kept, or to a new private folder of the temporary directory.
    pub fn write(ca_out: Option<PathBuf>) -> io::Result<CaFile> {
        match ca_out {
            Some(path) => {
                std::fs::write(&path, CA_PEM)?;
                Ok(CaFile {
                    path,
                    private_dir: None,
                })
            }
            None => {
                let (path, dir) = write_private_ca_file()?;
                Ok(CaFile {
                    path,
                    private_dir: Some(dir),
                })
            }
        }
    }

    /// Where the CA is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        if let Some(dir) = &self.private_dir {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The server configuration: ring, TLS 1.2 and 1.3, the embedded loopback certificate.
pub(crate) fn server_config() -> io::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(SERVER_CERT_PEM)
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// Writes the CA into a new folder of the temporary directory with an unpredictable name, made
/// only for this user (0700), as a new file (0600): nothing planted in the shared temporary
/// directory (a symlink, a file of the same name) can be followed or overwritten.
fn write_private_ca_file() -> io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = std::env::temp_dir().join(format!("azure-ad-identity-protection-emulator-{}", super::wire::guid()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let file = dir.join("ca.pem");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)?;
    out.write_all(CA_PEM.as_bytes())?;
    Ok((file, dir))
}
