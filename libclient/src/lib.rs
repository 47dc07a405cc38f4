//! # gcs — client library for the gcs group communication system
//!
//! Applications connect to the `gcsd` daemon on their host, join named process groups, multicast
//! to groups with a chosen [`Order`], and receive messages and membership views. Processes that
//! move together from one view to the next delivered the same messages in it (virtual synchrony).
//!
//! ```no_run
//! use gcs::{Client, Event, Order};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), gcs::Error> {
//!     // Connects to $GCS_SOCKET, else this user's daemon, else /run/gcsd/gcsd.sock.
//!     let mut client = Client::connect("alice").await?;
//!     client.join("chat").await?;
//!     client.multicast(&["chat"], Order::Agreed, "hello, group").await?;
//!     loop {
//!         match client.recv().await? {
//!             Event::View(v) => println!("view {} of {}: {:?}", v.view_id, v.group, v.members),
//!             Event::Message(m) => {
//!                 println!("{}: {}", m.sender, String::from_utf8_lossy(&m.payload));
//!                 break;
//!             }
//!             Event::DaemonView(_) => {}
//!         }
//!     }
//!     client.disconnect().await
//! }
//! ```
//!
//! The crate also holds the client wire protocol ([`wire`]), which the daemon depends on, and the
//! `gcs` command-line tool.

#![warn(missing_docs)]

mod client;
mod error;
pub mod names;
mod socket_path;
pub mod wire;

pub use client::{Client, Event};
pub use error::{Error, Result};
pub use socket_path::{
    daemon_socket_path, default_socket_path, private_dir_for, socket_path_for, DEFAULT_SOCKET_PATH,
    SOCKET_ENV,
};
pub use wire::{
    ClientInfo, Counters, DaemonView, ErrorCode, ErrorInfo, GroupInfo, GroupView, Limits, Message,
    Order, PeerInfo, Reason, Status, ViewChangeInfo,
};
