//! The Unix-socket side of the daemon: the socket file, client connections and their queues.
//!
//! Owns bytes in and out of client connections and who may use them (`access`). It never decides
//! anything about groups or messages; decoded requests go to the core and the core's outputs come
//! back as frames.

pub mod access;
pub mod queue;
pub mod session;
pub mod socket_file;

pub use access::{AccessConfig, Peer};
pub use queue::{OutQueue, Overflow, SharedBudget};
pub use session::{SessionHandle, SessionInput, SessionLimits};
pub use socket_file::{SocketError, SocketFile};
