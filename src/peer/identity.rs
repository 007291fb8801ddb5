//! The node's long-term identity: the 32-byte secret behind our node id, kept in
//! `<data-dir>/node_secret`. Created on first start (mode 0600, written to a temporary file and
//! renamed so a crash cannot leave half a key), loaded afterwards. A key file that other users
//! can read is refused: whoever reads it can impersonate the node.

use std::fs;
use std::path::{Path, PathBuf};

use secp256k1::{PublicKey, Secp256k1, SecretKey};

pub const SECRET_FILE: &str = "node_secret";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: must hold exactly 32 bytes")]
    WrongLength(PathBuf),
    #[error("{0}: not a valid secp256k1 secret key")]
    InvalidKey(PathBuf),
    #[error("{path}: readable by group or others (mode {mode:o}); run `chmod 600` on it")]
    TooOpen { path: PathBuf, mode: u32 },
}

/// Our node key pair.
pub struct NodeIdentity {
    secret: SecretKey,
    node_id: PublicKey,
}

impl std::fmt::Debug for NodeIdentity {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id_hex())
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    pub fn from_secret(secret: SecretKey) -> Self {
        let node_id = PublicKey::from_secret_key(&Secp256k1::new(), &secret);
        NodeIdentity { secret, node_id }
    }

    /// A fresh random identity (synthetic peers, tests).
    pub fn random() -> Self {
        Self::from_secret(SecretKey::new(&mut rand::thread_rng()))
    }

    /// Loads `<data_dir>/node_secret`, creating the directory and a new key on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, IdentityError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IdentityError::Io { path, source }
        };
        create_private_dir(data_dir).map_err(io(data_dir))?;
        let path = data_dir.join(SECRET_FILE);
        match fs::metadata(&path) {
            Ok(meta) => {
                check_mode(&path, &meta)?;
                let bytes = fs::read(&path).map_err(io(&path))?;
                if bytes.len() != 32 {
                    return Err(IdentityError::WrongLength(path));
                }
                let secret = SecretKey::from_slice(&bytes)
                    .map_err(|_| IdentityError::InvalidKey(path.clone()))?;
                Ok(Self::from_secret(secret))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let identity = Self::random();
                write_secret(&path, &identity.secret.secret_bytes()).map_err(io(&path))?;
                tracing::info!(path = %path.display(), node_id = %identity.node_id_hex(), "created node key");
                Ok(identity)
            }
            Err(err) => Err(IdentityError::Io { path, source: err }),
        }
    }

    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// The 33-byte compressed public key as 66 hex digits, as Lightning nodes print it.
    pub fn node_id_hex(&self) -> String {
        hex::encode(self.node_id.serialize())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &fs::Metadata) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), IdentityError> {
    Ok(())
}

fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Created 0600 rather than chmod-ed afterwards, so the key is never readable by others.
        options.mode(0o600);
    }
    // The directory fsync matters: without it a crash can lose the name, the node would come
    // back with a new identity, and every peer that knew the old node id would be talking to
    // a stranger.
    crate::durable::replace_file(path, &tmp, &options, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded_with_the_same_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let first = NodeIdentity::load_or_create(&data).expect("create");
        let second = NodeIdentity::load_or_create(&data).expect("load");
        assert_eq!(first.node_id(), second.node_id());
        assert_eq!(first.node_id_hex().len(), 66);
        assert!(first.node_id_hex().starts_with("02") || first.node_id_hex().starts_with("03"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(data.join(SECRET_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_key_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        NodeIdentity::load_or_create(dir.path()).expect("create");
        let path = dir.path().join(SECRET_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            NodeIdentity::load_or_create(dir.path()),
            Err(IdentityError::TooOpen { .. })
        ));
    }

    #[test]
    fn wrong_length_and_zero_keys_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SECRET_FILE);
        write_secret(&path, &[1u8; 31]).expect("write");
        assert!(matches!(
            NodeIdentity::load_or_create(dir.path()),
            Err(IdentityError::WrongLength(_))
        ));
        write_secret(&path, &[0u8; 32]).expect("write");
        assert!(matches!(
            NodeIdentity::load_or_create(dir.path()),
            Err(IdentityError::InvalidKey(_))
        ));
    }
}
