//! The client session: one Unix-socket connection to the local `gcsd`.
//!
//! Owns the connection, request ids, and the events that arrive while a request waits for its
//! answer (they are kept, in order, for [`Client::recv`]). It never reorders or drops events.

use crate::error::{Error, Result};
use crate::names;
use crate::socket_path::default_socket_path;
use crate::wire::{
    self, DaemonView, GroupView, Limits, Message, Order, Request, RequestId, Response, Status,
    WatchTarget,
};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::path::Path;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Something that happened in a group or the cluster, as [`Client::recv`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A multicast message.
    Message(Message),
    /// A new view of a group this client is a member of or watches.
    View(GroupView),
    /// A new daemon view (only while watching the daemons).
    DaemonView(DaemonView),
}

/// A connection to the local daemon.
///
/// Requests that need an answer (`join`, `leave`, `watch`, `status`, `sync`) wait for it; events that
/// arrive meanwhile are kept for [`Client::recv`] in the order they came.
pub struct Client {
    reader: FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    writer: FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    pending: VecDeque<Result<Event>>,
    next_id: u64,
    private_name: String,
    daemon: String,
    limits: Limits,
}

impl Client {
    /// Connects to the daemon at [`default_socket_path`] under `name` (empty: the daemon picks one).
    pub async fn connect(name: &str) -> Result<Client> {
        Self::connect_to(default_socket_path(), name).await
    }

    /// Connects to the daemon listening at `path` under `name` (empty: the daemon picks one).
    /// Only a daemon that runs as root or as this process's user is talked to; any other gives
    /// [`Error::Impostor`] before anything is sent.
    pub async fn connect_to(path: impl AsRef<Path>, name: &str) -> Result<Client> {
        names::check_client_name(name).map_err(Error::Invalid)?;
        let path = path.as_ref();
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| Error::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        // Only a daemon of root or of this user is trusted with what this client sends.
        let daemon_uid = stream.peer_cred()?.uid();
        let me = crate::socket_path::effective_uid();
        if daemon_uid != 0 && daemon_uid != me {
            return Err(Error::Impostor {
                path: path.to_path_buf(),
                uid: daemon_uid,
                me,
            });
        }
        let (r, w) = stream.into_split();
        let mut reader = FramedRead::new(r, wire::codec(wire::CLIENT_MAX_FRAME));
        let mut writer = FramedWrite::new(w, wire::codec(wire::CLIENT_MAX_FRAME));
        let hello = Request::Hello {
            magic: wire::HELLO_MAGIC.to_string(),
            version: wire::PROTOCOL_VERSION,
            name: name.to_string(),
        };
        writer
            .send(Bytes::from(wire::encode_request(&hello)))
            .await?;
        match read_frame(&mut reader).await? {
            Response::Welcome {
                private_name,
                daemon,
                limits,
                ..
            } => Ok(Client {
                reader,
                writer,
                pending: VecDeque::new(),
                next_id: 1,
                private_name,
                daemon,
                limits,
            }),
            Response::Closing { error } => Err(Error::Closed(error)),
            other => Err(Error::Unexpected(format!(
                "expected a welcome, got {other:?}"
            ))),
        }
    }

    /// This client's unique private name, `name#daemon`.
    pub fn private_name(&self) -> &str {
        &self.private_name
    }

    /// The name of the daemon this client is connected to.
    pub fn daemon(&self) -> &str {
        &self.daemon
    }

    /// The limits the daemon enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Joins `group`. Returns once the daemon has installed the view that includes this client; that
    /// view is the next event [`Client::recv`] returns for the group.
    pub async fn join(&mut self, group: &str) -> Result<()> {
        self.check_group(group)?;
        let id = self.next_id();
        self.request_ok(Request::Join {
            id,
            group: group.to_string(),
        })
        .await
    }

    /// Leaves `group`. Returns once the leave has taken effect: the last event of the group that
    /// [`Client::recv`] returns is the view without this client, and nothing of the group follows.
    pub async fn leave(&mut self, group: &str) -> Result<()> {
        self.check_group(group)?;
        let id = self.next_id();
        self.request_ok(Request::Leave {
            id,
            group: group.to_string(),
        })
        .await
    }

    /// Multicasts `payload` to every member of `groups` with `order`. A receiver in several of the
    /// groups gets it once; the sender gets it too if it is a member. Membership is not needed to send.
    ///
    /// Returns once the message is handed to the daemon. A refusal the client could not foresee comes
    /// later as [`Error::Refused`] from [`Client::recv`] or [`Client::sync`].
    pub async fn multicast<G: AsRef<str>>(
        &mut self,
        groups: &[G],
        order: Order,
        payload: impl Into<Bytes>,
    ) -> Result<()> {
        let payload = payload.into();
        if groups.is_empty() {
            return Err(Error::Invalid(
                "a multicast needs at least one group".into(),
            ));
        }
        for g in groups {
            self.check_group(g.as_ref())?;
        }
        if payload.len() as u64 > self.limits.max_message_size {
            return Err(Error::Invalid(format!(
                "message of {} bytes is larger than the daemon's limit of {} bytes (max_message_size)",
                payload.len(),
                self.limits.max_message_size
            )));
        }
        let id = self.next_id();
        let req = Request::Multicast {
            id,
            groups: groups.iter().map(|g| g.as_ref().to_string()).collect(),
            order,
            payload,
        };
        self.writer
            .send(Bytes::from(wire::encode_request(&req)))
            .await?;
        Ok(())
    }

    /// Observes the views of `group` without joining it. The current view, if the group exists,
    /// comes first.
    pub async fn watch_group(&mut self, group: &str) -> Result<()> {
        self.check_group(group)?;
        let id = self.next_id();
        self.request_ok(Request::Watch {
            id,
            target: WatchTarget::Group(group.to_string()),
        })
        .await
    }

    /// Stops observing the views of `group`.
    pub async fn unwatch_group(&mut self, group: &str) -> Result<()> {
        let id = self.next_id();
        self.request_ok(Request::Unwatch {
            id,
            target: WatchTarget::Group(group.to_string()),
        })
        .await
    }

    /// Observes the daemon view. The current one comes first.
    pub async fn watch_daemons(&mut self) -> Result<()> {
        let id = self.next_id();
        self.request_ok(Request::Watch {
            id,
            target: WatchTarget::Daemons,
        })
        .await
    }

    /// Asks the daemon for its status.
    pub async fn status(&mut self) -> Result<Status> {
        let id = self.next_id();
        match self.request(Request::Status { id }).await? {
            Response::Status { status, .. } => Ok(*status),
            other => Err(Error::Unexpected(format!(
                "expected a status, got {other:?}"
            ))),
        }
    }

    /// Waits until the daemon has handled every earlier request, multicasts included. Returns the first
    /// refusal of an earlier multicast, if any.
    pub async fn sync(&mut self) -> Result<()> {
        let id = self.next_id();
        self.request_ok(Request::Sync { id }).await?;
        let refused = self
            .pending
            .iter()
            .position(|e| matches!(e, Err(Error::Refused(_))));
        match refused.and_then(|i| self.pending.remove(i)) {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Waits for the next event. Cancel-safe: dropping the future loses nothing.
    ///
    /// [`Error::Refused`] reports a multicast the daemon turned down; the session goes on. Any other
    /// error means the session is over.
    pub async fn recv(&mut self) -> Result<Event> {
        if let Some(e) = self.pending.pop_front() {
            return e;
        }
        loop {
            let resp = read_frame(&mut self.reader).await?;
            match classify(resp) {
                Incoming::Event(e) => return e,
                Incoming::Reply(resp) => {
                    // Answers are awaited by the request that asked; one arriving here has nobody
                    // waiting (its request future was dropped), so it is discarded.
                    drop(resp);
                }
            }
        }
    }

    /// Closes the session: the daemon removes this client from its groups (reason `disconnect`).
    pub async fn disconnect(mut self) -> Result<()> {
        SinkExt::<Bytes>::close(&mut self.writer).await?;
        Ok(())
    }

    fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    fn check_group(&self, group: &str) -> Result<()> {
        names::check_group_name(group, self.limits.max_group_name as usize).map_err(Error::Invalid)
    }

    async fn request_ok(&mut self, req: Request) -> Result<()> {
        match self.request(req).await? {
            Response::Ok { .. } => Ok(()),
            other => Err(Error::Unexpected(format!("expected ok, got {other:?}"))),
        }
    }

    async fn request(&mut self, req: Request) -> Result<Response> {
        let want = request_id(&req);
        self.writer
            .send(Bytes::from(wire::encode_request(&req)))
            .await?;
        loop {
            let resp = read_frame(&mut self.reader).await?;
            match resp {
                Response::Failed { id, error } if Some(id) == want => {
                    return Err(Error::Refused(error))
                }
                Response::Ok { id } | Response::Status { id, .. } if Some(id) == want => {
                    return Ok(resp)
                }
                other => match classify(other) {
                    Incoming::Event(Err(e)) if e.is_fatal() => return Err(e),
                    Incoming::Event(e) => self.pending.push_back(e),
                    Incoming::Reply(_) => {}
                },
            }
        }
    }
}

enum Incoming {
    Event(Result<Event>),
    Reply(Response),
}

fn classify(resp: Response) -> Incoming {
    match resp {
        Response::Message(m) => Incoming::Event(Ok(Event::Message(m))),
        Response::View(v) => Incoming::Event(Ok(Event::View(v))),
        Response::DaemonView(v) => Incoming::Event(Ok(Event::DaemonView(v))),
        // A refused multicast has no waiter: it is reported in the event stream.
        Response::Failed { error, .. } => Incoming::Event(Err(Error::Refused(error))),
        Response::Closing { error } => Incoming::Event(Err(Error::Closed(error))),
        other => Incoming::Reply(other),
    }
}

fn request_id(req: &Request) -> Option<RequestId> {
    match req {
        Request::Hello { .. } => None,
        Request::Join { id, .. }
        | Request::Leave { id, .. }
        | Request::Multicast { id, .. }
        | Request::Watch { id, .. }
        | Request::Unwatch { id, .. }
        | Request::Status { id }
        | Request::Sync { id } => Some(*id),
    }
}

async fn read_frame(
    reader: &mut FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
) -> Result<Response> {
    match reader.next().await {
        Some(Ok(frame)) => Ok(wire::decode_response(&frame)?),
        Some(Err(e)) => Err(Error::Io(e)),
        None => Err(Error::Disconnected),
    }
}
