//! The errors the client library returns.

use crate::wire::{DecodeError, ErrorCode, ErrorInfo};
use std::path::PathBuf;

/// Everything that can go wrong talking to a daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No daemon could be reached at the socket path.
    #[error("cannot connect to gcsd at {path}: {source} (is gcsd running? set GCS_SOCKET or --socket to its socket path)")]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Reading from or writing to the daemon failed.
    #[error("connection to gcsd failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon closed the connection without saying why.
    #[error("gcsd closed the connection")]
    Disconnected,
    /// The daemon ended the session and said why (a fatal error, or it is shutting down).
    #[error("gcsd ended the session: {0}")]
    Closed(ErrorInfo),
    /// The daemon refused one request; the session goes on.
    #[error("gcsd refused the request: {0}")]
    Refused(ErrorInfo),
    /// The daemon sent a frame this library cannot decode.
    #[error("gcsd sent a frame this client cannot read: {0}")]
    Protocol(#[from] DecodeError),
    /// The daemon broke the protocol (an unexpected frame).
    #[error("gcsd broke the protocol: {0}")]
    Unexpected(String),
    /// The process at the socket runs as another user than root or this one: it may be an
    /// impostor that took the socket path, so nothing is sent to it.
    #[error(
        "the process listening at {path} runs as user {uid}, neither root nor this user ({me}); \
         refusing to talk to it (another user may have taken the socket path: check who runs \
         gcsd, or set GCS_SOCKET / --socket to your daemon's socket)"
    )]
    Impostor {
        /// The socket path.
        path: PathBuf,
        /// The user it runs as.
        uid: u32,
        /// This process's user.
        me: u32,
    },
    /// An argument was refused before anything was sent.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// True if the session is over and the client must connect again.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::Refused(_) | Error::Invalid(_))
    }

    /// The daemon's error code, if the daemon reported this error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Closed(e) | Error::Refused(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
