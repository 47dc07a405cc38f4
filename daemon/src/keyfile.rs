//! Cluster key files, and the randomness the seal needs: `gcsd keygen` writes a fresh key, the
//! daemon reads one (refusing a file that others could read), and each daemon life draws its
//! life id here.
//!
//! Owns the file format (64 hexadecimal digits and a newline, mode 0400) and the calls to the
//! system's random number generator. It never seals or opens a datagram.

use crate::seal::{ClusterKey, KeyError, KEY_LEN, LIFE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists: a key is never overwritten, since daemons may still use it.
    #[error("{0} already exists; a key file is never overwritten (remove it first if it is really unused)")]
    Exists(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Group or others may read (or write) the file.
    #[error(
        "{path} has mode {mode:04o}: a key file must be readable by its owner only \
         (chmod 0400 {path})"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a key.
    #[error("{path}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// Fills `out` from the system's random number generator.
fn random(out: &mut [u8]) -> Result<(), KeyFileError> {
    SystemRandom::new()
        .fill(out)
        .map_err(|_| KeyFileError::Random)
}

/// A new random cluster key.
pub fn random_key() -> Result<ClusterKey, KeyFileError> {
    let mut key = [0u8; KEY_LEN];
    random(&mut key)?;
    Ok(ClusterKey::from_bytes(key))
}

/// A new random life id, for a daemon that is starting.
pub fn random_life() -> Result<[u8; LIFE_LEN], KeyFileError> {
    let mut life = [0u8; LIFE_LEN];
    random(&mut life)?;
    Ok(life)
}

/// Writes a new random key to `path`, readable by its owner only; refuses an existing file.
pub fn generate(path: &Path) -> Result<ClusterKey, KeyFileError> {
    let key = random_key()?;
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists(path.to_path_buf()),
            _ => io(e),
        })?;
    file.write_all(format!("{}\n", key.to_text()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok(key)
}

/// Reads the key in `path`, which only its owner may read.
pub fn read(path: &Path) -> Result<ClusterKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    ClusterKey::from_text(&text).map_err(|source| KeyFileError::Malformed {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_read_back_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let key = generate(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        assert_eq!(read(&path).unwrap(), key);
        assert!(matches!(generate(&path), Err(KeyFileError::Exists(_))));
        assert_eq!(read(&path).unwrap(), key, "the key was overwritten");
        assert_ne!(random_key().unwrap(), key);
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 0400"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read(&path).is_ok());
        std::fs::write(&path, "not a key").unwrap();
        assert!(read(&path)
            .unwrap_err()
            .to_string()
            .contains("64 hexadecimal"));
    }
}
