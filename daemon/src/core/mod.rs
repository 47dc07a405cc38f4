//! The protocol core: a deterministic, sans-IO state machine.
//!
//! The driver feeds it inputs through `handle_*` methods (a client connected, a client request, a
//! client gone, a datagram, a timer, shutdown), each with the current [`Time`], and then drains its
//! outputs with [`Core::poll_output`] and sleeps until [`Core::poll_timeout`]. The core owns every
//! protocol decision: sessions and names, groups and views, reliable multicast, ordering and
//! delivery, limits, counters.
//!
//! It must never touch a socket, read a clock, spawn, sleep, use ambient randomness, or iterate a
//! hash map (clippy's `disallowed-methods` and `disallowed-types` in `daemon/clippy.toml` enforce
//! it). Given the same inputs it produces the same outputs, which is what makes the simulator
//! possible.
//!
//! # Contract
//! In the manner of quinn-proto's `Connection`:
//! - inputs: `handle_connect`, `handle_request`, `handle_departure`, `handle_datagram`,
//!   `handle_timeout`, `handle_shutdown`. Each takes `now`; time never goes backwards (an earlier
//!   `now` than one seen before counts as the later one).
//! - outputs: after every input, call `poll_output` until it returns `None`, then
//!   `poll_timeout`. Draining outputs may move the deadline (packing datagrams restarts the
//!   heartbeat), so read `poll_timeout` only after draining. `accepts_client_input` says whether
//!   to read client requests at all.
//! - getters: `status`, `daemon_view`, `in_view_change`, `held_bytes`. They change nothing.
//!
//! # Parts
//! `Core` holds a few parts, each the one owner of its state:
//! - `clients` (`clients/`): sessions, requests, and deliveries to local clients;
//! - `groups` (`groups.rs`): the group table and group view ids;
//! - `membership` (`membership/peers.rs`): the configured daemons, one record per peer;
//! - `view_change` (`membership/`): discovery, the failure detector, the decision to change, the
//!   member and coordinator roles, installation;
//! - `cluster` (`cluster.rs`): the formed view with its streams (`reliable/`) and orderer
//!   (`order/`);
//! - `backlog` (`cluster.rs`): items made while no view could take them;
//! - `tx` (`transmit.rs`): what is queued for the network, packed into datagrams (`packet/`).
//!
//! Datagrams come in through `ingress.rs`; `service.rs` runs what is due after every input.
//! `error.rs` says why something a peer sent was refused. `notes/architecture.md` draws the way
//! of one multicast through them.

mod clients;
mod cluster;
mod error;
mod groups;
mod ids;
mod ingress;
mod membership;
mod order;
pub mod packet;
mod reliable;
mod service;
mod shutdown;
mod time;
mod transmit;

pub use clients::{Member, Session, Sessions};
pub use error::{Culprit, Refused};
pub use groups::{Groups, MembershipError};
pub use ids::{ClientId, ViewId};
pub use membership::{
    decode_control, encode_control, Attempt, Control, ControlError, Cut, DaemonId, FlushState,
    FormedView, HelloOutcome, HelloRejected, Install, Membership, ReadyState,
};
pub use order::{Delivery, FlushPlan, Flushed, Orderer};
pub use packet::max_chunk_body;
pub use reliable::{Received, Streams};
pub use time::Time;

use clients::Clients;
use cluster::{Backlog, Cluster};
use ingress::WarnOnce;
use membership::ViewChange;
use transmit::Transmit;

use bytes::Bytes;
use gcs::wire::{ClientInfo, Counters, DaemonView, ErrorCode, ErrorInfo, Request, Status};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// What the core needs to know about its daemon; built from the configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// This daemon's name; private names end in `#name`.
    pub daemon_name: String,
    /// The software version reported in the status.
    pub version: String,
    /// Largest message payload, in bytes.
    pub max_message_size: usize,
    /// Longest group name, in bytes.
    pub max_group_name: usize,
    /// Most groups one client may be a member of.
    pub max_groups_per_client: usize,
    /// Most clients served at once.
    pub max_clients: usize,
    /// Largest membership message (view change round) sent or accepted, in bytes.
    pub max_membership_message: usize,
    /// How far beyond this daemon's view-change round a peer's round may be. Rounds grow by one
    /// per attempt; a larger step is a bug or a lie that could exhaust them.
    pub max_round_step: u64,
    /// Bytes one peer's NACKs may make this daemon retransmit per second (a burst of up to one
    /// second's worth), so a short request cannot be turned into a flood.
    pub max_retransmit_bytes_per_second: u64,
    /// The cluster's name; datagrams of other clusters are dropped.
    pub cluster: String,
    /// This daemon's UDP address, as its peers know it.
    pub listen: SocketAddr,
    /// The other daemons' UDP addresses.
    pub peers: Vec<SocketAddr>,
    /// Largest datagram sent, in bytes.
    pub max_datagram: usize,
    /// Bytes of this daemon's messages that may be unstable (not yet held by every daemon) before
    /// its clients' sends wait.
    pub send_window: usize,
    /// How often an idle daemon sends a heartbeat (an acknowledgement).
    pub heartbeat: Duration,
    /// How often missing data is asked for again, and acknowledgements are repeated while anything
    /// is unfinished.
    pub retransmit: Duration,
    /// How often a hello is repeated while the view has not formed.
    pub hello: Duration,
    /// A member not heard from for this long is suspected and removed by a view change.
    pub failure_timeout: Duration,
    /// How long a stopping daemon waits for every other daemon to hold its messages before it
    /// says goodbye anyway.
    pub shutdown_grace: Duration,
    /// Which life of this daemon this is: larger at every start (the driver uses the wall clock
    /// in microseconds), so a restarted daemon is a new member. It is also where the Lamport
    /// clock of a daemon's first view starts, so the group view ids a restarted daemon makes
    /// (which follow the clock) lie beyond those of its earlier lives.
    pub incarnation: u64,
}

impl CoreConfig {
    /// A one-daemon configuration with the default limits and protocol settings; for tests and
    /// the simulator.
    pub fn single(name: &str) -> CoreConfig {
        CoreConfig {
            daemon_name: name.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            max_message_size: 1024 * 1024,
            max_group_name: 128,
            max_groups_per_client: 1000,
            max_clients: 1000,
            max_membership_message: 64 * 1024 * 1024,
            max_round_step: 1_000_000,
            max_retransmit_bytes_per_second: 64 * 1024 * 1024,
            cluster: "gcs".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 4804)),
            peers: Vec::new(),
            max_datagram: 1472,
            send_window: 4 * 1024 * 1024,
            heartbeat: Duration::from_millis(100),
            retransmit: Duration::from_millis(5),
            hello: Duration::from_millis(100),
            failure_timeout: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(2),
            incarnation: 1,
        }
    }
}

/// Why a client session ended, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    /// The client closed its connection (or the connection broke).
    Closed,
    /// The client sent something that could not be accepted.
    BadInput(ErrorInfo),
    /// The client did not read and its outgoing queue filled up.
    Overflow,
    /// The client did not send its hello in time.
    HelloTimeout,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send one frame to each of these clients.
    Send {
        /// The recipients, in id order, each once.
        to: Vec<ClientId>,
        /// The frame.
        response: gcs::wire::Response,
    },
    /// Send a message, already encoded as a whole client frame, to each of these clients.
    Deliver {
        /// The recipients, in id order, each once.
        to: Vec<ClientId>,
        /// The frame (length prefix included), the same bytes for every recipient.
        frame: Bytes,
    },
    /// End the session of `client` after what is already queued for it; send `error` as its last
    /// frame if there is one.
    Close {
        /// The session to end.
        client: ClientId,
        /// The reason to tell the client.
        error: Option<ErrorInfo>,
    },
    /// Send a datagram to each of these daemons.
    Transmit {
        /// The destinations.
        to: Vec<SocketAddr>,
        /// The datagram.
        bytes: Bytes,
    },
}

impl Output {
    /// The frame this output sends to clients, decoded: for tests and tools that look at what
    /// clients get.
    pub fn response(&self) -> Option<gcs::wire::Response> {
        match self {
            Output::Send { response, .. } => Some(response.clone()),
            Output::Deliver { frame, .. } => gcs::wire::decode_response(frame.get(4..)?).ok(),
            _ => None,
        }
    }

    /// The clients this output sends to.
    pub fn recipients(&self) -> &[ClientId] {
        match self {
            Output::Send { to, .. } | Output::Deliver { to, .. } => to,
            _ => &[],
        }
    }
}

/// The protocol state machine of one daemon.
///
/// Each part owns one concern; `Core` is only what ties them to the inputs and outputs.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    started: Time,
    /// The latest time handed in; time never goes backwards.
    now: Time,
    /// Local client sessions and their requests that wait for a delivery.
    clients: Clients,
    /// The group table.
    groups: Groups,
    /// The configured daemons: one record per peer.
    membership: Membership,
    /// The view change: the attempt under way and what lives across attempts.
    view_change: ViewChange,
    /// The formed view and its streams and orderer; `None` until the first view forms.
    cluster: Option<Cluster>,
    /// Items made while no view could take them.
    backlog: Backlog,
    /// What is queued for the network and the timers of periodic chunks.
    tx: Transmit,
    outputs: VecDeque<Output>,
    counters: Counters,
    /// Addresses whose bad datagrams have been logged once.
    warned: WarnOnce,
    stopping: shutdown::Stopping,
}

impl Core {
    /// A core for a daemon starting at `now`. Without peers it forms a one-daemon cluster at once.
    pub fn new(config: CoreConfig, now: Time) -> Core {
        let me = DaemonId {
            addr: config.listen,
            name: config.daemon_name.clone(),
            incarnation: config.incarnation,
        };
        let membership = Membership::new(me, &config.peers);
        let mut core = Core {
            config,
            started: now,
            now,
            clients: Clients::default(),
            groups: Groups::default(),
            membership,
            view_change: ViewChange::new(now),
            cluster: None,
            backlog: Backlog::default(),
            tx: Transmit::new(now),
            outputs: VecDeque::new(),
            counters: Counters::default(),
            warned: WarnOnce::default(),
            stopping: shutdown::Stopping::No,
        };
        core.service();
        core
    }

    // ---- inputs ----

    /// A client connected. Returns its id; the session is open but not welcomed until its hello.
    pub fn handle_connect(&mut self, now: Time) -> ClientId {
        self.advance(now);
        let id = self.clients.sessions.open();
        if self.is_stopping() {
            self.close(id, Some(shutdown_error()));
        }
        id
    }

    /// A decoded frame from `client`.
    pub fn handle_request(&mut self, now: Time, client: ClientId, request: Request) {
        self.advance(now);
        match self.clients.sessions.get(client) {
            None => {} // already closed; a frame that was in flight
            Some(Session::AwaitingHello) => self.on_hello(client, request),
            Some(Session::Ready(_)) => self.on_ready_request(client, request),
        }
        self.service();
    }

    /// The session of `client` ended for `why`. Its groups see it leave with reason `disconnect`.
    pub fn handle_departure(&mut self, now: Time, client: ClientId, why: Departure) {
        self.advance(now);
        if self.clients.sessions.get(client).is_none() {
            // Already ended (both halves of a connection may report it).
            return;
        }
        let error = match why {
            Departure::Closed => None,
            Departure::BadInput(e) => {
                self.counters.sessions_bad_input += 1;
                Some(e)
            }
            Departure::Overflow => {
                self.counters.sessions_overflowed += 1;
                Some(ErrorInfo::new(
                    ErrorCode::QueueOverflow,
                    "the client did not read its messages and its queue filled up \
                     (limits.max_client_queue_bytes, or limits.max_total_queue_bytes for all \
                     clients together); read faster or raise the limit",
                ))
            }
            Departure::HelloTimeout => Some(ErrorInfo::new(
                ErrorCode::HelloTimeout,
                "no hello arrived in time (limits.hello_timeout_ms)",
            )),
        };
        self.close(client, error);
        self.service();
    }

    /// A datagram from `from` that the driver could not open with the cluster key, for `why`: it
    /// is counted and logged (once per address as a warning), and changes nothing else, not even
    /// whether `from` counts as alive.
    pub fn handle_unauthenticated(&mut self, from: SocketAddr, why: &dyn std::fmt::Display) {
        self.counters.datagrams_unauthenticated += 1;
        if self.warned.first(from) {
            tracing::warn!(%from, "ignoring a datagram that is not authentic (further ones from there are logged at debug level): {why}");
        } else {
            tracing::debug!(%from, "dropped a datagram that is not authentic: {why}");
        }
    }

    /// A datagram from `from`.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: Bytes) {
        self.advance(now);
        self.on_datagram(from, bytes);
        self.service();
    }

    /// A deadline from [`Core::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        self.service();
    }

    // ---- outputs ----

    /// The next thing the driver must do, if any. Drain after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() {
            self.build_transmissions();
        }
        self.outputs.pop_front()
    }

    /// When [`Core::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next_deadline()
    }

    /// False while this daemon's unstable messages fill its send window: the driver stops reading
    /// client requests until it is true again, so fast senders wait instead of growing memory.
    /// False for good once the daemon is stopping.
    pub fn accepts_client_input(&self) -> bool {
        let unstable = self
            .cluster
            .as_ref()
            .map_or(0, |c| c.streams.own_unstable_bytes());
        unstable + self.backlog.bytes < self.config.send_window && !self.is_stopping()
    }

    // ---- getters ----

    /// The daemon's status at `now`.
    pub fn status(&self, now: Time) -> Status {
        Status {
            daemon: self.config.daemon_name.clone(),
            version: self.config.version.clone(),
            uptime_ms: u64::try_from(now.saturating_since(self.started).as_millis())
                .unwrap_or(u64::MAX),
            daemon_view: self.daemon_view(),
            clients: self
                .clients
                .sessions
                .members()
                .map(|(_, m)| ClientInfo {
                    name: m.private_name.clone(),
                    groups: self.groups.groups_of(&m.private_name),
                })
                .collect(),
            groups: self.groups.info(),
            counters: self.counters.clone(),
            peers: self
                .membership
                .peer_addrs()
                .into_iter()
                .map(|addr| {
                    let member = self
                        .cluster
                        .as_ref()
                        .is_some_and(|c| c.view.index_of(addr).is_some());
                    let state = if self.membership.is_suspected(addr) {
                        "suspected"
                    } else if member {
                        "member"
                    } else {
                        "waiting"
                    };
                    gcs::PeerInfo {
                        addr: addr.to_string(),
                        name: self.membership.peer_name(addr).unwrap_or("").to_string(),
                        state: state.to_string(),
                        last_heard_ms: self.membership.last_heard(addr).map(|t| {
                            u64::try_from(now.saturating_since(t).as_millis()).unwrap_or(u64::MAX)
                        }),
                    }
                })
                .collect(),
            view_change: self.view_change_info(now),
        }
    }

    /// True while a daemon view change is under way here.
    pub fn in_view_change(&self) -> bool {
        self.view_change.is_running()
    }

    /// The current daemon view.
    pub fn daemon_view(&self) -> DaemonView {
        match &self.cluster {
            Some(c) => c.view.view.clone(),
            None => DaemonView {
                view_id: 0,
                members: vec![self.config.daemon_name.clone()],
                primary: false,
            },
        }
    }

    /// Bytes held for retransmission and reordering (history buffers and out-of-order chunks).
    pub fn held_bytes(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| c.streams.held_bytes())
    }

    // ---- helpers ----

    fn advance(&mut self, now: Time) {
        self.now = self.now.max(now);
    }
}

fn shutdown_error() -> ErrorInfo {
    ErrorInfo::new(
        ErrorCode::Shutdown,
        "gcsd is shutting down; connect again once it is back",
    )
}

#[cfg(test)]
mod tests;
