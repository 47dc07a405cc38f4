//! The Unix socket file clients connect to: claiming the path, its permissions, and removing it.
//!
//! Owns the decision whether an existing file at the path may be replaced: a socket nobody answers
//! on was left by a dead daemon and is replaced; a socket a live daemon answers on, or a file that
//! is not a socket, is never touched.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

/// Why the socket could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another daemon answers on the path.
    #[error(
        "another gcsd is already listening on {0}; stop it first or give this one another --socket"
    )]
    InUse(PathBuf),
    /// Something that is not a socket is in the way.
    #[error("{0} exists and is not a socket; remove it or choose another --socket")]
    NotASocket(PathBuf),
    /// The private directory the socket goes in is not private.
    #[error(
        "{path} {why}; the socket would not be private there. Remove it (another user may have \
         made it to catch this daemon's clients) or give this daemon another --socket"
    )]
    UnsafeDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The operating system refused.
    #[error("cannot listen on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// A bound socket file; removed from the file system when dropped, unless another process has
/// replaced it since.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    inode: u64,
}

impl SocketFile {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Makes sure the directory the socket goes in exists. The private directory under `/tmp` of
/// this daemon's user is created with mode 0700 and, when it is already there, must be a real
/// directory of this user that nobody else may enter; any other missing directory is created with
/// mode 0755.
fn prepare_dir(dir: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::DirBuilderExt;
    let io_err = |source| SocketError::Io {
        path: dir.to_path_buf(),
        source,
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if me == 0 || dir != gcs::private_dir_for(me) {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err);
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io_err)?;
    let why = if !meta.file_type().is_dir() {
        Some("is not a directory".to_string())
    } else if meta.uid() != me {
        Some(format!(
            "belongs to uid {}, not to this daemon's uid {me}",
            meta.uid()
        ))
    } else if meta.mode() & 0o077 != 0 {
        Some(format!(
            "has mode {:04o}; it must be 0700",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(SocketError::UnsafeDir {
            path: dir.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

/// Claims `path` and listens on it with permission bits `mode`. Must run inside a tokio runtime.
pub fn bind(path: &Path, mode: u32) -> Result<(UnixListener, SocketFile), SocketError> {
    let io_err = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.to_path_buf())),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
                {
                    tracing::info!(path = %path.display(), "replacing a stale socket file left by a daemon that is gone");
                    std::fs::remove_file(path).map_err(io_err)?;
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(_) => return Err(SocketError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        prepare_dir(parent)?;
    }
    // The socket is bound under a temporary name, given its mode, and only then renamed into
    // place, so no client can connect while it still has the default (umask) permissions.
    let staging = path.with_file_name(format!(".gcsd-{}.sock", std::process::id()));
    let listener = if staging.as_os_str().len() <= 107 {
        let _ = std::fs::remove_file(&staging);
        let listener = UnixListener::bind(&staging).map_err(io_err)?;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))
            .and_then(|()| std::fs::rename(&staging, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&staging);
                io_err(e)
            })?;
        listener
    } else {
        // No room for a longer name: bind in place (briefly with the default permissions).
        let listener = UnixListener::bind(path).map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
        listener
    };
    let inode = std::fs::symlink_metadata(path).map_err(io_err)?.ino();
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            inode,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stale_socket_is_replaced_live_one_refused_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        // A stale socket: bound, then its listener dropped without removing the file.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let (listener, file) = bind(&path, 0o600).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(bind(&path, 0o600), Err(SocketError::InUse(_))));
        drop(listener);
        drop(file);
        assert!(!path.exists());
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(matches!(
            bind(&path, 0o600),
            Err(SocketError::NotASocket(_))
        ));
        assert!(path.exists());
    }
}
