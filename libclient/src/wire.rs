//! The client protocol: the frames an application and its local `gcsd` exchange over the Unix socket.
//!
//! Owns the frame types, their MessagePack encoding and the defensive decoder. Every frame is one
//! length-delimited record (a 4-byte big-endian length, then MessagePack with named fields so either
//! side can add optional fields later). The first frame a client sends is always [`Request::Hello`],
//! whose shape never changes between protocol versions, so a daemon can answer a client of another
//! version with a clear [`ErrorCode::Version`] instead of a decode failure.
//!
//! This module must never do I/O or panic on input: decoding arbitrary bytes returns an error.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The protocol version this crate speaks. A daemon refuses a hello that carries another one.
pub const PROTOCOL_VERSION: u32 = 1;

/// Marks a hello as coming from a gcs client, so a stray program connecting to the socket is told so.
pub const HELLO_MAGIC: &str = "gcs";

/// How many bytes a frame may carry beyond its payload (sender, group names, field names).
pub const FRAME_HEADROOM: usize = 64 * 1024;

/// The largest frame a client accepts from a daemon: the largest configurable message plus headroom.
pub const CLIENT_MAX_FRAME: usize = 64 * 1024 * 1024 + FRAME_HEADROOM;

/// The delivery order a message is multicast with.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Delivered exactly once to every member, in no particular order.
    Reliable,
    /// Reliable, and in the order each sender sent.
    Fifo,
    /// FIFO, and after every message that causally precedes it.
    Causal,
    /// Causal, and in one total order shared by every receiver across all groups.
    Agreed,
    /// Agreed, and delivered only once every daemon in the view has it.
    Safe,
}

impl Order {
    /// Every order, weakest first.
    pub const ALL: [Order; 5] = [
        Order::Reliable,
        Order::Fifo,
        Order::Causal,
        Order::Agreed,
        Order::Safe,
    ];

    /// The lowercase name used on the command line and in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Reliable => "reliable",
            Order::Fifo => "fifo",
            Order::Causal => "causal",
            Order::Agreed => "agreed",
            Order::Safe => "safe",
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `reliable`, `fifo`, `causal`, `agreed`, `safe`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order '{0}': expected one of reliable, fifo, causal, agreed, safe")]
pub struct UnknownOrder(pub String);

impl FromStr for Order {
    type Err = UnknownOrder;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Order::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOrder(s.to_string()))
    }
}

/// Why a group's membership changed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// A process joined the group.
    Join,
    /// A process left the group by asking to.
    Leave,
    /// A process's connection to its daemon closed.
    Disconnect,
    /// Daemons were lost or found (a crash, a partition, a merge).
    Network,
}

impl Reason {
    /// The lowercase name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Join => "join",
            Reason::Leave => "leave",
            Reason::Disconnect => "disconnect",
            Reason::Network => "network",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies a request so its reply can be matched to it. Chosen by the client.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What a watch request observes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WatchTarget {
    /// The views of one group, without joining it.
    Group(String),
    /// The daemon view: which daemons form the cluster.
    Daemons,
}

/// A frame from a client to its daemon.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// The first frame of every session.
    Hello {
        /// Always [`HELLO_MAGIC`].
        magic: String,
        /// The client's [`PROTOCOL_VERSION`].
        version: u32,
        /// The name the client asks for; empty lets the daemon choose one.
        name: String,
    },
    /// Join a group. Answered with [`Response::Ok`] after the new view.
    Join {
        /// Matches the reply.
        id: RequestId,
        /// The group to join.
        group: String,
    },
    /// Leave a group. Answered with [`Response::Ok`].
    Leave {
        /// Matches the reply.
        id: RequestId,
        /// The group to leave.
        group: String,
    },
    /// Multicast a message. Not answered on success; a refusal comes as [`Response::Failed`].
    Multicast {
        /// Matches a refusal.
        id: RequestId,
        /// The groups to send to; each receiver gets the message once.
        groups: Vec<String>,
        /// The delivery order.
        order: Order,
        /// The message body.
        payload: Bytes,
    },
    /// Start observing views. Answered with [`Response::Ok`], then the current view.
    Watch {
        /// Matches the reply.
        id: RequestId,
        /// What to observe.
        target: WatchTarget,
    },
    /// Stop observing views. Answered with [`Response::Ok`].
    Unwatch {
        /// Matches the reply.
        id: RequestId,
        /// What to stop observing.
        target: WatchTarget,
    },
    /// Ask for the daemon's status. Answered with [`Response::Status`].
    Status {
        /// Matches the reply.
        id: RequestId,
    },
    /// A barrier: answered with [`Response::Ok`] once every earlier request has been handled.
    Sync {
        /// Matches the reply.
        id: RequestId,
    },
}

/// The limits a daemon enforces, sent in the welcome so a client can check before sending.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message payload in bytes.
    pub max_message_size: u64,
    /// Longest group name in bytes.
    pub max_group_name: u64,
    /// Most groups one client may be a member of at once.
    pub max_groups_per_client: u64,
}

/// A multicast message as delivered to a receiver.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The groups it was sent to.
    pub groups: Vec<String>,
    /// The sender's private name.
    pub sender: String,
    /// The order it was sent with.
    pub order: Order,
    /// The body.
    pub payload: Bytes,
}

/// A membership view of one group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GroupView {
    /// The group.
    pub group: String,
    /// Grows with every view of the group.
    pub view_id: u64,
    /// The members' private names, in the same order at every member.
    pub members: Vec<String>,
    /// Who came in with this view.
    pub joined: Vec<String>,
    /// Who went out with this view.
    pub left: Vec<String>,
    /// Why the view changed.
    pub reason: Reason,
    /// True for the transitional view that comes before a regular view when a network event removes
    /// members; it lists the members that move on together.
    pub transitional: bool,
}

/// The daemon view: the daemons that currently form the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DaemonView {
    /// Grows with every daemon view.
    pub view_id: u64,
    /// The daemons' names, in the same order at every daemon.
    pub members: Vec<String>,
    /// True if the view holds a majority of the configured daemons.
    pub primary: bool,
}

/// One connected client, as the status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its private name.
    pub name: String,
    /// The groups it is a member of.
    pub groups: Vec<String>,
}

/// One group, as the status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's name.
    pub name: String,
    /// How many members it has.
    pub members: u64,
    /// Its current view id.
    pub view_id: u64,
}

/// Counters a daemon keeps since it started. New counters may be added in later releases.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Counters {
    /// Sessions that completed the hello.
    pub sessions_opened: u64,
    /// Sessions refused at the hello (bad name, name taken, version, too many clients).
    pub sessions_refused: u64,
    /// Sessions ended because the client sent a malformed or unexpected frame.
    pub sessions_bad_input: u64,
    /// Sessions ended because the client did not read and its queue filled.
    pub sessions_overflowed: u64,
    /// Messages accepted from local clients.
    pub messages_sent: u64,
    /// Payload bytes accepted from local clients.
    pub bytes_sent: u64,
    /// Message deliveries to local clients (one per receiver).
    pub messages_delivered: u64,
    /// Requests refused with an error (the session went on).
    pub requests_refused: u64,
    /// Group views delivered to local clients (one per receiver).
    pub views_delivered: u64,
    /// Datagrams received from the network.
    pub datagrams_received: u64,
    /// Datagrams dropped: malformed, foreign, of another cluster or version, from an unknown
    /// daemon, or arriving before the view formed.
    pub datagrams_dropped: u64,
    /// Datagrams dropped before anything looked at them because they were not sealed with the
    /// cluster key, failed authentication, or were replays (only on a daemon with a key).
    pub datagrams_unauthenticated: u64,
    /// Chunks received twice (retransmissions that crossed, duplicated datagrams) and dropped.
    pub duplicates_dropped: u64,
    /// Requests for missing chunks sent to other daemons.
    pub nacks_sent: u64,
    /// Chunks sent again in answer to other daemons' requests.
    pub retransmissions: u64,
    /// Daemon views installed.
    pub view_changes: u64,
    /// Items of a departed daemon that a view change did not deliver, because no survivor could
    /// rule out that they follow (causally) an item that was lost with it.
    pub flush_discarded: u64,
}

/// Another daemon of the cluster, as the status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its UDP address, as configured.
    pub addr: String,
    /// Its name, once it has said hello (empty before).
    pub name: String,
    /// `member` once it is in the daemon view, `waiting` before.
    pub state: String,
    /// Milliseconds since the last datagram from it, if any came.
    pub last_heard_ms: Option<u64>,
}

/// What the status request returns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The daemon's name.
    pub daemon: String,
    /// The daemon's software version.
    pub version: String,
    /// Milliseconds since the daemon started.
    pub uptime_ms: u64,
    /// The current daemon view.
    pub daemon_view: DaemonView,
    /// The connected clients.
    pub clients: Vec<ClientInfo>,
    /// The groups with at least one member or watcher.
    pub groups: Vec<GroupInfo>,
    /// Counters since start.
    pub counters: Counters,
    /// The other configured daemons.
    #[serde(default)]
    pub peers: Vec<PeerInfo>,
    /// The daemon view change under way, if any.
    #[serde(default)]
    pub view_change: Option<ViewChangeInfo>,
}

/// A daemon view change this daemon takes part in, as `status` reports it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ViewChangeInfo {
    /// The attempt's round (every attempt anyone makes has a larger one).
    pub round: u64,
    /// The address of the daemon that runs it.
    pub coordinator: String,
    /// The daemons it proposes for the new view, by name.
    pub members: Vec<String>,
    /// Where this daemon is: `stated` (sent its state, waiting for the commit), `fetching`
    /// (getting the old view's messages up to the agreed cut) or `ready` (waiting for the
    /// install).
    pub step: String,
    /// Milliseconds since this daemon joined the attempt.
    pub since_ms: u64,
}

/// What went wrong with a request or a session.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client speaks another protocol version.
    Version,
    /// The first frame was not a gcs hello.
    NotHello,
    /// A second hello, or a frame that is not valid in this state.
    Unexpected,
    /// The frame could not be decoded, or names an unknown request.
    Malformed,
    /// The frame is longer than the daemon accepts.
    FrameTooLarge,
    /// The client name is not valid.
    BadName,
    /// Another client of this daemon already uses the name.
    NameTaken,
    /// The daemon already serves its maximum number of clients.
    TooManyClients,
    /// The group name is not valid.
    BadGroup,
    /// The message payload is larger than the daemon's limit.
    TooLarge,
    /// Joining would exceed the groups-per-client limit.
    TooManyGroups,
    /// The client is already a member of the group.
    AlreadyMember,
    /// The client is not a member of the group.
    NotMember,
    /// The client is not watching that target.
    NotWatching,
    /// The client did not read its messages and its queue filled up.
    QueueOverflow,
    /// The client did not send its hello in time.
    HelloTimeout,
    /// The daemon is shutting down.
    Shutdown,
    /// The daemon's access rules do not let this local user do that (or connect at all).
    NotPermitted,
}

impl ErrorCode {
    /// The snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Version => "version",
            ErrorCode::NotHello => "not_hello",
            ErrorCode::Unexpected => "unexpected",
            ErrorCode::Malformed => "malformed",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BadName => "bad_name",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::TooManyClients => "too_many_clients",
            ErrorCode::BadGroup => "bad_group",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyGroups => "too_many_groups",
            ErrorCode::AlreadyMember => "already_member",
            ErrorCode::NotMember => "not_member",
            ErrorCode::NotWatching => "not_watching",
            ErrorCode::QueueOverflow => "queue_overflow",
            ErrorCode::HelloTimeout => "hello_timeout",
            ErrorCode::Shutdown => "shutdown",
            ErrorCode::NotPermitted => "not_permitted",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error the daemon reports: a code to act on and a sentence for people.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// What kind of error.
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl ErrorInfo {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorInfo {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// A frame from a daemon to a client.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The answer to a good hello.
    Welcome {
        /// The daemon's [`PROTOCOL_VERSION`].
        version: u32,
        /// The client's unique private name, `name#daemon`.
        private_name: String,
        /// The daemon's name.
        daemon: String,
        /// The limits the daemon enforces.
        limits: Limits,
    },
    /// The request succeeded.
    Ok {
        /// The request answered.
        id: RequestId,
    },
    /// The answer to a status request.
    Status {
        /// The request answered.
        id: RequestId,
        /// The daemon's status.
        status: Box<Status>,
    },
    /// The request was refused; the session goes on.
    Failed {
        /// The request refused.
        id: RequestId,
        /// Why.
        error: ErrorInfo,
    },
    /// A delivered message.
    Message(Message),
    /// A group view.
    View(GroupView),
    /// A daemon view.
    DaemonView(DaemonView),
    /// The session ends: the last frame the daemon sends before closing the connection.
    Closing {
        /// Why.
        error: ErrorInfo,
    },
}

/// A frame could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed frame: {0}")]
pub struct DecodeError(#[from] rmp_serde::decode::Error);

/// Encodes a request as a frame body (without the length prefix).
pub fn encode_request(req: &Request) -> Vec<u8> {
    let payload = match req {
        Request::Multicast {
            payload, groups, ..
        } => payload.len() + groups.iter().map(|g| g.len() + 2).sum::<usize>(),
        _ => 0,
    };
    let mut out = Vec::with_capacity(payload + 96);
    // Writing into a Vec cannot fail (see `encode`).
    let _ = rmp_serde::encode::write_named(&mut out, req);
    out
}

/// Encodes a response as a frame body (without the length prefix).
pub fn encode_response(resp: &Response) -> Vec<u8> {
    encode(resp)
}

/// Encodes a response as a whole frame: the 4-byte big-endian length, then the body.
pub fn encode_response_frame(resp: &Response) -> Vec<u8> {
    // Sized up front so a large payload is copied once, not again on every growth.
    let payload = match resp {
        Response::Message(m) => {
            m.payload.len() + m.sender.len() + m.groups.iter().map(|g| g.len() + 2).sum::<usize>()
        }
        _ => 0,
    };
    let mut out = Vec::with_capacity(payload + 128);
    out.extend_from_slice(&[0u8; 4]);
    // Writing into a Vec cannot fail (see `encode`).
    let _ = rmp_serde::encode::write_named(&mut out, resp);
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain data types into a Vec cannot fail: every field is a string, a number,
    // bytes, a sequence or a struct of those, all of which MessagePack represents.
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

/// Decodes a frame body as a request. Never panics, whatever the bytes.
pub fn decode_request(body: &[u8]) -> Result<Request, DecodeError> {
    Ok(rmp_serde::from_slice(body)?)
}

/// Decodes a frame body as a response. Never panics, whatever the bytes.
pub fn decode_response(body: &[u8]) -> Result<Response, DecodeError> {
    Ok(rmp_serde::from_slice(body)?)
}

/// The length-delimited codec both sides frame with, bounded to `max_frame` bytes per frame.
pub fn codec(max_frame: usize) -> tokio_util::codec::LengthDelimitedCodec {
    tokio_util::codec::LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .new_codec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_round_trip() {
        let reqs = vec![
            Request::Hello {
                magic: HELLO_MAGIC.into(),
                version: PROTOCOL_VERSION,
                name: "alice".into(),
            },
            Request::Multicast {
                id: RequestId(7),
                groups: vec!["a".into(), "b".into()],
                order: Order::Safe,
                payload: Bytes::from_static(b"\x00\xffhello"),
            },
            Request::Watch {
                id: RequestId(1),
                target: WatchTarget::Daemons,
            },
        ];
        for r in reqs {
            assert_eq!(decode_request(&encode_request(&r)).unwrap(), r);
        }
    }

    #[test]
    fn a_whole_frame_is_the_length_then_the_body() {
        let r = Response::Ok { id: RequestId(9) };
        let frame = encode_response_frame(&r);
        let body = encode_response(&r);
        assert_eq!(&frame[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..], &body[..]);
    }

    #[test]
    fn orders_parse_and_print() {
        for o in Order::ALL {
            assert_eq!(o.as_str().parse::<Order>().unwrap(), o);
        }
        assert!("total".parse::<Order>().is_err());
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }

        #[test]
        fn truncated_frames_are_errors(cut in 0usize..40) {
            let body = encode_request(&Request::Join { id: RequestId(3), group: "grp".into() });
            if cut < body.len() {
                prop_assert!(decode_request(&body[..cut]).is_err());
            }
        }
    }
}
