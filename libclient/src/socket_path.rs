//! Where the daemon's Unix socket is when nobody names a path: one rule, used by `gcsd` to choose
//! where it listens and by clients to find it.
//!
//! Owns the choice of the default path and nothing else: it never creates, checks or opens
//! anything (the daemon's socket file code does that).
//!
//! A daemon run by root listens at [`DEFAULT_SOCKET_PATH`]. A daemon run by another user listens
//! in that user's runtime directory (`$XDG_RUNTIME_DIR`, which only that user can enter), or, where
//! there is none, in a private directory of its own under `/tmp` (`/tmp/gcsd-UID`, mode 0700).
//! A client uses `$GCS_SOCKET` when it is set; else the socket its own user's daemon would listen
//! on, when there is one; else the system daemon's.

use std::ffi::OsStr;
use std::path::PathBuf;

/// Where `gcsd` listens when it runs as root and neither its configuration nor `--socket` names
/// another path (the system daemon). Its directory is created with mode 0755.
pub const DEFAULT_SOCKET_PATH: &str = "/run/gcsd/gcsd.sock";

/// The environment variable that names the socket for clients, overriding the default rule.
pub const SOCKET_ENV: &str = "GCS_SOCKET";

/// The environment variable that names a user's private runtime directory.
const RUNTIME_DIR_ENV: &str = "XDG_RUNTIME_DIR";

/// The socket file's name inside a user's runtime or private directory.
const SOCKET_NAME: &str = "gcsd.sock";

/// Where a daemon run by `uid` listens by default, given the value of `$XDG_RUNTIME_DIR`.
///
/// A runtime directory that is not an absolute path is ignored, as the XDG specification asks.
pub fn socket_path_for(uid: u32, runtime_dir: Option<&OsStr>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from(DEFAULT_SOCKET_PATH);
    }
    match runtime_dir.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir.join(SOCKET_NAME),
        _ => private_dir_for(uid).join(SOCKET_NAME),
    }
}

/// The private directory under `/tmp` a daemon run by `uid` uses when it has no runtime directory.
/// The daemon creates it with mode 0700 and refuses one that another user owns or may enter.
pub fn private_dir_for(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/gcsd-{uid}"))
}

/// Where a daemon run by this process's user listens by default.
pub fn daemon_socket_path() -> PathBuf {
    socket_path_for(
        effective_uid(),
        std::env::var_os(RUNTIME_DIR_ENV).as_deref(),
    )
}

/// The socket path a client uses when none is given: `$GCS_SOCKET`; else the socket of a daemon
/// run by this user ([`daemon_socket_path`]), if that socket exists; else [`DEFAULT_SOCKET_PATH`].
pub fn default_socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os(SOCKET_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    let own = daemon_socket_path();
    if own.exists() {
        own
    } else {
        PathBuf::from(DEFAULT_SOCKET_PATH)
    }
}

/// This process's effective user id.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn root_uses_the_system_path_whatever_its_environment() {
        assert_eq!(
            socket_path_for(0, Some(OsStr::new("/run/user/0"))),
            Path::new("/run/gcsd/gcsd.sock")
        );
        assert_eq!(socket_path_for(0, None), Path::new(DEFAULT_SOCKET_PATH));
    }

    #[test]
    fn a_user_uses_the_runtime_dir_else_a_private_tmp_dir() {
        assert_eq!(
            socket_path_for(1000, Some(OsStr::new("/run/user/1000"))),
            Path::new("/run/user/1000/gcsd.sock")
        );
        assert_eq!(
            socket_path_for(1000, None),
            Path::new("/tmp/gcsd-1000/gcsd.sock")
        );
        // Relative or empty runtime dirs are not trusted.
        for bad in ["", "run/user/1000"] {
            assert_eq!(
                socket_path_for(1000, Some(OsStr::new(bad))),
                Path::new("/tmp/gcsd-1000/gcsd.sock"),
                "{bad:?}"
            );
        }
    }
}
