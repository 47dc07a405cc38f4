//! One client connection: a reader task that decodes frames into core inputs, and a writer task
//! that drains the client's [`OutQueue`] onto the socket.
//!
//! Owns framing and decoding of client input, the hello timeout, and turning bad input into a
//! [`Departure`]. It never makes protocol decisions: everything decoded goes to the core task.

use super::queue::OutQueue;
use crate::core::{ClientId, Departure};
use bytes::Bytes;
use futures::StreamExt;
use gcs::wire::{self, ErrorCode, ErrorInfo, Request};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

/// What a connection tells the core task.
#[derive(Debug)]
pub enum SessionInput {
    /// A decoded request.
    Request(ClientId, Request),
    /// The session ended on the client's side.
    Departed(ClientId, Departure),
}

/// What the core task keeps of a running session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Frames waiting for the client.
    pub queue: Arc<OutQueue>,
    /// Stops the reader when the core ends the session.
    pub cancel: CancellationToken,
    /// The local user at the other end.
    pub peer: super::Peer,
}

/// Settings every session shares.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Largest frame accepted from a client.
    pub max_frame: usize,
    /// Bytes that may wait for the client.
    pub max_queue: usize,
    /// Time allowed for the hello.
    pub hello_timeout: Duration,
}

/// Starts the reader and writer tasks of a new connection. Both are tracked by `tasks` so shutdown
/// can wait for queued frames to be written.
pub fn spawn(
    stream: UnixStream,
    id: ClientId,
    peer: super::Peer,
    limits: SessionLimits,
    shared: &Arc<super::SharedBudget>,
    inputs: mpsc::Sender<SessionInput>,
    tasks: &tokio_util::task::TaskTracker,
) -> SessionHandle {
    let (r, w) = stream.into_split();
    let queue = Arc::new(OutQueue::new(limits.max_queue, shared.clone()));
    let cancel = CancellationToken::new();
    tasks.spawn(read_loop(r, id, limits, inputs, cancel.clone()));
    tasks.spawn(write_loop(w, queue.clone(), cancel.clone()));
    SessionHandle {
        queue,
        cancel,
        peer,
    }
}

async fn read_loop(
    r: OwnedReadHalf,
    id: ClientId,
    limits: SessionLimits,
    inputs: mpsc::Sender<SessionInput>,
    cancel: CancellationToken,
) {
    let mut frames = FramedRead::new(r, wire::codec(limits.max_frame));
    let mut first = true;
    let departure = loop {
        let next = async {
            if first {
                tokio::time::timeout(limits.hello_timeout, frames.next())
                    .await
                    .map_err(|_| Departure::HelloTimeout)
            } else {
                Ok(frames.next().await)
            }
        };
        let item = tokio::select! {
            _ = cancel.cancelled() => return,
            item = next => item,
        };
        first = false;
        let body = match item {
            Err(d) => break d,
            Ok(None) => break Departure::Closed,
            Ok(Some(Ok(body))) => body,
            Ok(Some(Err(e))) if e.kind() == std::io::ErrorKind::InvalidData => {
                break Departure::BadInput(ErrorInfo::new(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "a frame is longer than {} bytes (limits.max_message_size plus headroom)",
                        limits.max_frame
                    ),
                ))
            }
            Ok(Some(Err(_))) => break Departure::Closed,
        };
        match wire::decode_request(&body) {
            Ok(req) => {
                if inputs.send(SessionInput::Request(id, req)).await.is_err() {
                    return; // the core task is gone: the daemon is stopping
                }
            }
            Err(e) => {
                break Departure::BadInput(ErrorInfo::new(
                    ErrorCode::Malformed,
                    format!("the frame is not a request this daemon knows ({e}); check the client library version"),
                ))
            }
        }
    };
    let _ = inputs.send(SessionInput::Departed(id, departure)).await;
}

/// Frames are copied into one buffer of up to this many bytes per write, so a burst of small
/// frames costs one system call rather than one each.
const WRITE_COALESCE: usize = 256 * 1024;

/// How long a session the core has ended may take to read its last frames before its connection
/// is dropped: a client that stopped reading cannot keep a task, a socket and its queue.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

async fn write_loop(w: OwnedWriteHalf, queue: Arc<OutQueue>, cancel: CancellationToken) {
    let deadline = async {
        cancel.cancelled().await;
        tokio::time::sleep(CLOSE_GRACE).await;
    };
    tokio::select! {
        _ = write_frames(w, queue) => {}
        _ = deadline => {}
    }
}

async fn write_frames(mut w: OwnedWriteHalf, queue: Arc<OutQueue>) {
    let mut batch: Vec<Bytes> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_COALESCE);
    while queue.take(&mut batch).await {
        for f in batch.drain(..) {
            if f.len() >= WRITE_COALESCE {
                if !buf.is_empty() && w.write_all(&buf).await.is_err() {
                    return;
                }
                buf.clear();
                if w.write_all(&f).await.is_err() {
                    return;
                }
                continue;
            }
            if buf.len() + f.len() > WRITE_COALESCE {
                if w.write_all(&buf).await.is_err() {
                    return; // the client is gone; its reader reports the departure
                }
                buf.clear();
            }
            buf.extend_from_slice(&f);
        }
        if !buf.is_empty() {
            if w.write_all(&buf).await.is_err() {
                return;
            }
            buf.clear();
        }
    }
    let _ = w.shutdown().await;
}
