//! # gcsd — the gcs daemon
//!
//! One `gcsd` runs on each host. Applications connect to it over a Unix socket (see the `gcs`
//! crate), join process groups and multicast to them; the daemons together keep one consistent
//! picture of who is in each group and deliver every message with the order it was sent with.
//!
//! The layout follows the architecture:
//! - [`core`]: the deterministic, sans-IO protocol state machine (sessions, groups, views,
//!   delivery, limits). No sockets, clocks or randomness.
//! - [`ipc`]: the Unix socket, client connections and their bounded queues.
//! - [`net`]: the UDP socket for daemon-to-daemon traffic.
//! - [`seal`]: authenticated encryption of every datagram with the cluster key.
//! - [`keyfile`]: reading and writing cluster key files (`gcsd keygen`).
//! - [`driver`]: the tokio task that feeds the core and carries out its outputs.
//! - [`config`]: the TOML file and flags.
//! - [`sim`]: the deterministic simulator: many cores on a simulated network and clock.
//! - [`check`]: the history checker that judges what clients saw against the guarantees.

#![warn(missing_docs)]

pub mod check;
pub mod config;
pub mod core;
pub mod driver;
pub mod ipc;
pub mod keyfile;
pub mod net;
pub mod seal;
pub mod sim;

pub use config::{Config, ConfigError, Overrides};
pub use driver::{Daemon, StartError};
