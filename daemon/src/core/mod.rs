//! The protocol core: a deterministic, sans-IO state machine.
//!
//! The driver feeds it inputs through `handle_*` methods (a client connected, a client request, a
//! client gone, a datagram, a timer, shutdown), each with the current [`Time`], and then drains its
//! outputs with [`Core::poll_output`] and sleeps until [`Core::poll_timeout`]. The core owns every
//! protocol decision: sessions and names, groups and views, ordering and delivery, limits, counters.
//!
//! It must never touch a socket, read a clock, spawn, sleep, use ambient randomness, or iterate a
//! hash map (clippy's `disallowed-methods` and `disallowed-types` in `daemon/clippy.toml` enforce
//! it). Given the same inputs it produces the same outputs, which is what makes the simulator
//! possible.
//!
//! Method groups, in the style of quinn-proto's `Connection`:
//! - inputs: `handle_connect`, `handle_request`, `handle_departure`, `handle_datagram`,
//!   `handle_timeout`, `handle_shutdown`;
//! - outputs: `poll_output`, `poll_timeout`;
//! - getters: `status`, `daemon_view`.

mod groups;
mod ids;
mod sessions;
mod time;

pub use groups::{Groups, MembershipError};
pub use ids::{ClientId, ViewId};
pub use sessions::{Member, Session, Sessions};
pub use time::Time;

use gcs::names;
use gcs::wire::{
    ClientInfo, Counters, DaemonView, ErrorCode, ErrorInfo, Limits, Message, Reason, Request,
    RequestId, Response, Status, WatchTarget, HELLO_MAGIC, PROTOCOL_VERSION,
};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

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
        response: Response,
    },
    /// End the session of `client` after what is already queued for it; send `error` as its last
    /// frame if there is one.
    Close {
        /// The session to end.
        client: ClientId,
        /// The reason to tell the client.
        error: Option<ErrorInfo>,
    },
}

/// The protocol state machine of one daemon.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    started: Time,
    sessions: Sessions,
    groups: Groups,
    daemon_view: DaemonView,
    outputs: VecDeque<Output>,
    counters: Counters,
    shutting_down: bool,
    /// The latest time handed in; time never goes backwards.
    now: Time,
}

impl Core {
    /// A core for a daemon starting at `now`. On its own it forms a one-daemon cluster.
    pub fn new(config: CoreConfig, now: Time) -> Core {
        let daemon_view = DaemonView {
            view_id: 1,
            members: vec![config.daemon_name.clone()],
            primary: true,
        };
        Core {
            config,
            started: now,
            sessions: Sessions::default(),
            groups: Groups::default(),
            daemon_view,
            outputs: VecDeque::new(),
            counters: Counters::default(),
            shutting_down: false,
            now,
        }
    }

    // ---- inputs ----

    /// A client connected. Returns its id; the session is open but not welcomed until its hello.
    pub fn handle_connect(&mut self, now: Time) -> ClientId {
        self.advance(now);
        let id = self.sessions.open();
        if self.shutting_down {
            self.close(
                id,
                Some(ErrorInfo::new(
                    ErrorCode::Shutdown,
                    "gcsd is shutting down; connect again once it is back",
                )),
            );
        }
        id
    }

    /// A decoded frame from `client`.
    pub fn handle_request(&mut self, now: Time, client: ClientId, request: Request) {
        self.advance(now);
        match self.sessions.get(client) {
            None => {} // already closed; a frame that was in flight
            Some(Session::AwaitingHello) => self.on_hello(client, request),
            Some(Session::Ready(_)) => self.on_ready_request(client, request),
        }
    }

    /// The session of `client` ended for `why`. Its groups see it leave with reason `disconnect`.
    pub fn handle_departure(&mut self, now: Time, client: ClientId, why: Departure) {
        self.advance(now);
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
                     (limits.max_client_queue_bytes); read faster or raise the limit",
                ))
            }
            Departure::HelloTimeout => Some(ErrorInfo::new(
                ErrorCode::HelloTimeout,
                "no hello arrived in time (limits.hello_timeout_ms)",
            )),
        };
        if self.sessions.get(client).is_some() {
            self.close(client, error);
        }
    }

    /// A datagram from another daemon. This daemon forms a cluster of one, so none is expected: it is
    /// dropped and counted.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.advance(now);
        self.counters.datagrams_dropped += 1;
        tracing::debug!(%from, len = bytes.len(), "dropped a datagram: this daemon has no peers");
    }

    /// A deadline from [`Core::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
    }

    /// The daemon is stopping: every client is told and its session ends.
    pub fn handle_shutdown(&mut self, now: Time) {
        self.advance(now);
        self.shutting_down = true;
        for id in self.sessions.ids() {
            self.close(
                id,
                Some(ErrorInfo::new(
                    ErrorCode::Shutdown,
                    "gcsd is shutting down; connect again once it is back",
                )),
            );
        }
    }

    // ---- outputs ----

    /// The next thing the driver must do, if any. Drain after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Core::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        None
    }

    // ---- getters ----

    /// The daemon's status at `now`.
    pub fn status(&self, now: Time) -> Status {
        Status {
            daemon: self.config.daemon_name.clone(),
            version: self.config.version.clone(),
            uptime_ms: u64::try_from(now.saturating_since(self.started).as_millis())
                .unwrap_or(u64::MAX),
            daemon_view: self.daemon_view.clone(),
            clients: self
                .sessions
                .members()
                .map(|(_, m)| ClientInfo {
                    name: m.private_name.clone(),
                    groups: m.groups.iter().cloned().collect(),
                })
                .collect(),
            groups: self.groups.info(),
            counters: self.counters.clone(),
        }
    }

    /// The current daemon view.
    pub fn daemon_view(&self) -> &DaemonView {
        &self.daemon_view
    }

    // ---- handlers ----

    fn on_hello(&mut self, client: ClientId, request: Request) {
        let Request::Hello {
            magic,
            version,
            name,
        } = request
        else {
            self.counters.sessions_bad_input += 1;
            return self.close(
                client,
                Some(ErrorInfo::new(
                    ErrorCode::NotHello,
                    "the first frame of a session must be a hello",
                )),
            );
        };
        if magic != HELLO_MAGIC {
            self.counters.sessions_bad_input += 1;
            return self.close(
                client,
                Some(ErrorInfo::new(
                    ErrorCode::NotHello,
                    "this is a gcsd socket; the hello did not come from a gcs client",
                )),
            );
        }
        if let Some(error) = self.check_hello(version, &name) {
            self.counters.sessions_refused += 1;
            return self.close(client, Some(error));
        }
        let private_name = self.private_name(client, &name);
        self.sessions.welcome(client, private_name.clone());
        self.counters.sessions_opened += 1;
        self.send(
            client,
            Response::Welcome {
                version: PROTOCOL_VERSION,
                private_name,
                daemon: self.config.daemon_name.clone(),
                limits: Limits {
                    max_message_size: self.config.max_message_size as u64,
                    max_group_name: self.config.max_group_name as u64,
                    max_groups_per_client: self.config.max_groups_per_client as u64,
                },
            },
        );
    }

    fn check_hello(&self, version: u32, name: &str) -> Option<ErrorInfo> {
        if version != PROTOCOL_VERSION {
            return Some(ErrorInfo::new(
                ErrorCode::Version,
                format!(
                    "the client speaks protocol version {version}, this gcsd speaks \
                     {PROTOCOL_VERSION}; use a client library of the daemon's release"
                ),
            ));
        }
        if let Err(e) = names::check_client_name(name) {
            return Some(ErrorInfo::new(ErrorCode::BadName, e));
        }
        if self.sessions.ready_count() >= self.config.max_clients {
            return Some(ErrorInfo::new(
                ErrorCode::TooManyClients,
                format!(
                    "gcsd already serves {} clients (limits.max_clients)",
                    self.config.max_clients
                ),
            ));
        }
        if !name.is_empty() {
            let private = format!("{name}#{}", self.config.daemon_name);
            if self.sessions.name_taken(&private) {
                return Some(ErrorInfo::new(
                    ErrorCode::NameTaken,
                    format!("another client of this daemon is already called '{private}'; pick another name"),
                ));
            }
        }
        None
    }

    /// The private name for a hello's `name`; an empty name gets one made from the client id.
    fn private_name(&self, client: ClientId, name: &str) -> String {
        let daemon = &self.config.daemon_name;
        if !name.is_empty() {
            return format!("{name}#{daemon}");
        }
        let mut n = client.0;
        loop {
            let candidate = format!("c{n}#{daemon}");
            if !self.sessions.name_taken(&candidate) {
                return candidate;
            }
            n += 1;
        }
    }

    fn on_ready_request(&mut self, client: ClientId, request: Request) {
        match request {
            Request::Hello { .. } => {
                self.counters.sessions_bad_input += 1;
                self.close(
                    client,
                    Some(ErrorInfo::new(
                        ErrorCode::Unexpected,
                        "a session sends exactly one hello",
                    )),
                );
            }
            Request::Join { id, group } => self.on_join(client, id, group),
            Request::Leave { id, group } => self.on_leave(client, id, group),
            Request::Multicast {
                id,
                groups,
                order,
                payload,
            } => self.on_multicast(client, id, groups, order, payload),
            Request::Watch { id, target } => self.on_watch(client, id, target),
            Request::Unwatch { id, target } => self.on_unwatch(client, id, target),
            Request::Status { id } => {
                // The status's uptime needs the time of the request; handlers are called with it.
                let status = Box::new(self.status(self.now));
                self.send(client, Response::Status { id, status });
            }
            Request::Sync { id } => self.send(client, Response::Ok { id }),
        }
    }

    fn on_join(&mut self, client: ClientId, id: RequestId, group: String) {
        if let Err(e) = self.check_group(&group) {
            return self.refuse(client, id, e);
        }
        let Some(member) = self.sessions.member(client) else {
            return;
        };
        if !member.groups.contains(&group)
            && member.groups.len() >= self.config.max_groups_per_client
        {
            let e = ErrorInfo::new(
                ErrorCode::TooManyGroups,
                format!(
                    "the client is already in {} groups (limits.max_groups_per_client)",
                    self.config.max_groups_per_client
                ),
            );
            return self.refuse(client, id, e);
        }
        let name = member.private_name.clone();
        match self.groups.join(&group, &name, Some(client)) {
            Ok(view) => {
                if let Some(m) = self.sessions.member_mut(client) {
                    m.groups.insert(group.clone());
                }
                self.deliver_view(view);
                self.send(client, Response::Ok { id });
            }
            Err(_) => self.refuse(
                client,
                id,
                ErrorInfo::new(
                    ErrorCode::AlreadyMember,
                    format!("the client is already a member of '{group}'"),
                ),
            ),
        }
    }

    fn on_leave(&mut self, client: ClientId, id: RequestId, group: String) {
        let Some(member) = self.sessions.member(client) else {
            return;
        };
        let name = member.private_name.clone();
        match self.groups.leave(&group, &name, Reason::Leave) {
            Ok(view) => {
                if let Some(m) = self.sessions.member_mut(client) {
                    m.groups.remove(&group);
                }
                self.deliver_view(view);
                self.send(client, Response::Ok { id });
            }
            Err(_) => self.refuse(
                client,
                id,
                ErrorInfo::new(
                    ErrorCode::NotMember,
                    format!("the client is not a member of '{group}'"),
                ),
            ),
        }
    }

    fn on_multicast(
        &mut self,
        client: ClientId,
        id: RequestId,
        mut groups: Vec<String>,
        order: gcs::Order,
        payload: bytes::Bytes,
    ) {
        if groups.is_empty() {
            let e = ErrorInfo::new(ErrorCode::BadGroup, "a multicast needs at least one group");
            return self.refuse(client, id, e);
        }
        for g in &groups {
            if let Err(e) = self.check_group(g) {
                return self.refuse(client, id, e);
            }
        }
        if payload.len() > self.config.max_message_size {
            let e = ErrorInfo::new(
                ErrorCode::TooLarge,
                format!(
                    "message of {} bytes is larger than the limit of {} bytes (limits.max_message_size)",
                    payload.len(),
                    self.config.max_message_size
                ),
            );
            return self.refuse(client, id, e);
        }
        let Some(sender) = self.sessions.member(client).map(|m| m.private_name.clone()) else {
            return;
        };
        // A group named twice is one destination: receivers get the message once either way.
        let mut seen = BTreeSet::new();
        groups.retain(|g| seen.insert(g.clone()));
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        // One daemon is the whole cluster: requests are handled in one sequence, so delivering now,
        // in arrival order, already satisfies every order up to safe (every daemon of the view, this
        // one, has the message).
        self.deliver_message(Message {
            groups,
            sender,
            order,
            payload,
        });
    }

    fn on_watch(&mut self, client: ClientId, id: RequestId, target: WatchTarget) {
        match target {
            WatchTarget::Group(group) => {
                if let Err(e) = self.check_group(&group) {
                    return self.refuse(client, id, e);
                }
                let Some(m) = self.sessions.member_mut(client) else {
                    return;
                };
                if m.watching.len() >= self.config.max_groups_per_client
                    && !m.watching.contains(&group)
                {
                    let e = ErrorInfo::new(
                        ErrorCode::TooManyGroups,
                        format!(
                            "the client already watches {} groups (limits.max_groups_per_client)",
                            self.config.max_groups_per_client
                        ),
                    );
                    return self.refuse(client, id, e);
                }
                m.watching.insert(group.clone());
                let current = self.groups.watch(&group, client);
                self.send(client, Response::Ok { id });
                if let Some(view) = current {
                    self.counters.views_delivered += 1;
                    self.send(client, Response::View(view));
                }
            }
            WatchTarget::Daemons => {
                if let Some(m) = self.sessions.member_mut(client) {
                    m.watching_daemons = true;
                }
                self.send(client, Response::Ok { id });
                self.send(client, Response::DaemonView(self.daemon_view.clone()));
            }
        }
    }

    fn on_unwatch(&mut self, client: ClientId, id: RequestId, target: WatchTarget) {
        let Some(m) = self.sessions.member_mut(client) else {
            return;
        };
        let was_watching = match &target {
            WatchTarget::Group(group) => m.watching.remove(group),
            WatchTarget::Daemons => std::mem::take(&mut m.watching_daemons),
        };
        if let WatchTarget::Group(group) = &target {
            self.groups.unwatch(group, client);
        }
        if was_watching {
            self.send(client, Response::Ok { id });
        } else {
            let e = ErrorInfo::new(ErrorCode::NotWatching, "the client was not watching that");
            self.refuse(client, id, e);
        }
    }

    // ---- delivery ----

    fn deliver_message(&mut self, msg: Message) {
        let mut to = BTreeSet::new();
        for g in &msg.groups {
            to.extend(self.groups.local_members(g));
        }
        if to.is_empty() {
            return;
        }
        self.counters.messages_delivered += to.len() as u64;
        self.outputs.push_back(Output::Send {
            to: to.into_iter().collect(),
            response: Response::Message(msg),
        });
    }

    fn deliver_view(&mut self, view: gcs::GroupView) {
        let to = self.groups.view_audience(&view.group);
        if to.is_empty() {
            return;
        }
        self.counters.views_delivered += to.len() as u64;
        self.outputs.push_back(Output::Send {
            to: to.into_iter().collect(),
            response: Response::View(view),
        });
    }

    // ---- helpers ----

    fn advance(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    fn check_group(&self, group: &str) -> Result<(), ErrorInfo> {
        names::check_group_name(group, self.config.max_group_name)
            .map_err(|e| ErrorInfo::new(ErrorCode::BadGroup, e))
    }

    fn refuse(&mut self, client: ClientId, id: RequestId, error: ErrorInfo) {
        self.counters.requests_refused += 1;
        self.send(client, Response::Failed { id, error });
    }

    fn send(&mut self, client: ClientId, response: Response) {
        self.outputs.push_back(Output::Send {
            to: vec![client],
            response,
        });
    }

    /// Ends the session of `client`: it leaves its groups (reason `disconnect`), stops watching, and
    /// the driver is told to close the connection.
    fn close(&mut self, client: ClientId, error: Option<ErrorInfo>) {
        let Some(session) = self.sessions.close(client) else {
            return;
        };
        self.outputs.push_back(Output::Close { client, error });
        if let Session::Ready(m) = session {
            for group in &m.watching {
                self.groups.unwatch(group, client);
            }
            for group in &m.groups {
                if let Ok(view) = self
                    .groups
                    .leave(group, &m.private_name, Reason::Disconnect)
                {
                    self.deliver_view(view);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
