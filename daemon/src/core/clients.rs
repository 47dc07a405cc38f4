//! The client side of the core: hellos, requests, and delivering ordered items to local clients.
//!
//! Owns the rules of a session: names, limits, what each request does and what it is answered
//! with. Joins, leaves and multicasts become items handed to the cluster layer (`submit`); a join
//! or leave is answered only once its item is delivered, so the client's next event is the view
//! that includes (or no longer includes) it. It never orders anything itself.

use super::packet::Item;
use super::{ClientId, Core, Delivery, Session, Sessions, ViewId};
use gcs::names;
use gcs::wire::{
    ErrorCode, ErrorInfo, GroupView, Limits, Reason, Request, RequestId, Response, WatchTarget,
    HELLO_MAGIC, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Client requests waiting for their group operations to be delivered, by (group, member), in
/// the order they were made.
type PendingOps = BTreeMap<(String, String), VecDeque<(ClientId, RequestId)>>;

/// The local clients: their sessions and what waits for a delivery on their behalf.
#[derive(Debug, Default)]
pub(super) struct Clients {
    pub(super) sessions: Sessions,
    /// Joins asked for by local clients, by (group, member), until delivered.
    pub(super) pending_joins: PendingOps,
    /// Leaves asked for by local clients, by (group, member), until delivered.
    pub(super) pending_leaves: PendingOps,
    /// Clients that watch the daemon view.
    pub(super) daemon_watchers: BTreeSet<ClientId>,
    /// Private names of ended sessions whose joins and leaves are still on their way, with how
    /// many: the name is not given to a new session before they are delivered, so they cannot be
    /// mistaken for the new session's.
    pub(super) reserved: BTreeMap<String, usize>,
}

impl Core {
    pub(super) fn on_hello(&mut self, client: ClientId, request: Request) {
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
        self.clients.sessions.welcome(client, private_name.clone());
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
        if self.clients.sessions.ready_count() >= self.config.max_clients {
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
            if self.clients.reserved.contains_key(&private) {
                return Some(ErrorInfo::new(
                    ErrorCode::NameTaken,
                    format!(
                        "'{private}' belongs to a session that just ended and is still leaving its \
                         groups; try again in a moment"
                    ),
                ));
            }
            if self.clients.sessions.name_taken(&private) {
                return Some(ErrorInfo::new(
                    ErrorCode::NameTaken,
                    format!(
                        "another client of this daemon is already called '{private}'; \
                         pick another name"
                    ),
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
            if !self.clients.sessions.name_taken(&candidate)
                && !self.clients.reserved.contains_key(&candidate)
            {
                return candidate;
            }
            n += 1;
        }
    }

    pub(super) fn on_ready_request(&mut self, client: ClientId, request: Request) {
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
                let status = Box::new(self.status(self.now));
                self.send(client, Response::Status { id, status });
            }
            // Every earlier request of this client has been taken into its daemon's stream.
            Request::Sync { id } => self.send(client, Response::Ok { id }),
        }
    }

    fn on_join(&mut self, client: ClientId, id: RequestId, group: String) {
        if let Err(e) = self.check_group(&group) {
            return self.refuse(client, id, e);
        }
        let limit = self.config.max_groups_per_client;
        let Some(member) = self.clients.sessions.member_mut(client) else {
            return;
        };
        if member.intended.contains(&group) {
            let e = ErrorInfo::new(
                ErrorCode::AlreadyMember,
                format!("the client is already a member of '{group}'"),
            );
            return self.refuse(client, id, e);
        }
        if member.intended.len() >= limit {
            let e = ErrorInfo::new(
                ErrorCode::TooManyGroups,
                format!("the client is already in {limit} groups (limits.max_groups_per_client)"),
            );
            return self.refuse(client, id, e);
        }
        member.intended.insert(group.clone());
        let name = member.private_name.clone();
        self.clients
            .pending_joins
            .entry((group.clone(), name.clone()))
            .or_default()
            .push_back((client, id));
        self.submit(Item::Join {
            group,
            member: name,
        });
    }

    fn on_leave(&mut self, client: ClientId, id: RequestId, group: String) {
        let Some(member) = self.clients.sessions.member_mut(client) else {
            return;
        };
        if !member.intended.remove(&group) {
            let e = ErrorInfo::new(
                ErrorCode::NotMember,
                format!("the client is not a member of '{group}'"),
            );
            return self.refuse(client, id, e);
        }
        let name = member.private_name.clone();
        self.clients
            .pending_leaves
            .entry((group.clone(), name.clone()))
            .or_default()
            .push_back((client, id));
        self.submit(Item::Leave {
            group,
            member: name,
            reason: Reason::Leave,
        });
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
                    "message of {} bytes is larger than the limit of {} bytes \
                     (limits.max_message_size)",
                    payload.len(),
                    self.config.max_message_size
                ),
            );
            return self.refuse(client, id, e);
        }
        let Some(sender) = self
            .clients
            .sessions
            .member(client)
            .map(|m| m.private_name.clone())
        else {
            return;
        };
        // A group named twice is one destination: receivers get the message once either way.
        let mut seen = BTreeSet::new();
        groups.retain(|g| seen.insert(g.clone()));
        if groups.len() > self.config.max_groups_per_client {
            let e = ErrorInfo::new(
                ErrorCode::TooManyGroups,
                format!(
                    "a multicast names {} groups; at most {} (limits.max_groups_per_client)",
                    groups.len(),
                    self.config.max_groups_per_client
                ),
            );
            return self.refuse(client, id, e);
        }
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        self.submit(Item::multicast(order, groups, sender, payload));
    }

    fn on_watch(&mut self, client: ClientId, id: RequestId, target: WatchTarget) {
        match target {
            WatchTarget::Group(group) => {
                if let Err(e) = self.check_group(&group) {
                    return self.refuse(client, id, e);
                }
                let limit = self.config.max_groups_per_client;
                let Some(m) = self.clients.sessions.member_mut(client) else {
                    return;
                };
                if m.watching.len() >= limit && !m.watching.contains(&group) {
                    let e = ErrorInfo::new(
                        ErrorCode::TooManyGroups,
                        format!(
                            "the client already watches {limit} groups (limits.max_groups_per_client)"
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
                self.clients.daemon_watchers.insert(client);
                self.send(client, Response::Ok { id });
                self.send(client, Response::DaemonView(self.daemon_view()));
            }
        }
    }

    fn on_unwatch(&mut self, client: ClientId, id: RequestId, target: WatchTarget) {
        let Some(m) = self.clients.sessions.member_mut(client) else {
            return;
        };
        let was_watching = match &target {
            WatchTarget::Group(group) => {
                let was = m.watching.remove(group);
                self.groups.unwatch(group, client);
                was
            }
            WatchTarget::Daemons => self.clients.daemon_watchers.remove(&client),
        };
        if was_watching {
            self.send(client, Response::Ok { id });
        } else {
            let e = ErrorInfo::new(ErrorCode::NotWatching, "the client was not watching that");
            self.refuse(client, id, e);
        }
    }

    // ---- delivery of ordered items to local clients ----

    /// Carries out one delivered item: a message to the local members of its groups, or a group
    /// operation that changes a view.
    pub(super) fn apply(&mut self, delivery: Delivery) {
        let mine = self
            .cluster
            .as_ref()
            .is_some_and(|c| c.view.me == delivery.origin);
        if let Item::Join { member, .. } | Item::Leave { member, .. } = &delivery.item {
            // Only this daemon speaks for its own clients: another daemon's operation on one of
            // them is a bug or a lie, and would corrupt this daemon's sessions.
            let local = super::groups::daemon_of(member) == self.config.daemon_name;
            if local != mine {
                tracing::warn!(%member, "ignoring a group operation a daemon made for another's client");
                return;
            }
        }
        match delivery.item {
            Item::Multicast {
                groups,
                frame,
                order,
                ..
            } => {
                if order == gcs::Order::Safe {
                    // A safe message delivered in a flush after the transitional views was never
                    // known to be everywhere: it belongs in a transitional configuration.
                    for g in &groups {
                        self.open_period(g);
                    }
                }
                let to: Vec<ClientId> = if let [g] = groups.as_slice() {
                    self.groups.local_members(g).collect()
                } else {
                    let mut to = BTreeSet::new();
                    for g in &groups {
                        to.extend(self.groups.local_members(g));
                    }
                    to.into_iter().collect()
                };
                if to.is_empty() {
                    return;
                }
                self.counters.messages_delivered += to.len() as u64;
                self.outputs.push_back(super::Output::Deliver { to, frame });
            }
            Item::Join { group, member } => {
                self.release_reserved(&member);
                let local = self.clients.sessions.client_named(&member);
                let pending = pop_pending(&mut self.clients.pending_joins, &group, &member);
                // An id only for a join that makes a view (taking one may open a transitional
                // period; a join that fails must not).
                let view_id = if self.groups.is_member(&group, &member) {
                    ViewId(0)
                } else {
                    self.op_view_id(&group, delivery.ts, delivery.origin)
                };
                match self.groups.join(&group, &member, local, view_id) {
                    Ok(mut view) => {
                        self.mark_transitional(&mut view);
                        if let Some(m) = local.and_then(|c| self.clients.sessions.member_mut(c)) {
                            m.groups.insert(group.clone());
                        }
                        self.deliver_view(view);
                        if let Some((c, id)) = pending {
                            self.send(c, Response::Ok { id });
                        }
                    }
                    Err(_) => {
                        if let Some((c, id)) = pending {
                            let e = ErrorInfo::new(
                                ErrorCode::AlreadyMember,
                                format!("the client is already a member of '{group}'"),
                            );
                            self.refuse(c, id, e);
                        }
                    }
                }
            }
            Item::Leave {
                group,
                member,
                reason,
            } => {
                self.release_reserved(&member);
                let pending = pop_pending(&mut self.clients.pending_leaves, &group, &member);
                let view_id = if self.groups.is_member(&group, &member) {
                    self.op_view_id(&group, delivery.ts, delivery.origin)
                } else {
                    ViewId(0)
                };
                if let Ok(mut view) = self.groups.leave(&group, &member, reason, view_id) {
                    self.mark_transitional(&mut view);
                    let local = self.clients.sessions.client_named(&member);
                    if let Some(m) = local.and_then(|c| self.clients.sessions.member_mut(c)) {
                        m.groups.remove(&group);
                    }
                    let mut to = self.groups.view_audience(&group);
                    // The member that asked to leave sees the view without itself: its last event
                    // of the group, which tells it exactly where its membership ended.
                    to.extend(local);
                    self.send_view(to, view);
                }
                if let Some((c, id)) = pending {
                    self.send(c, Response::Ok { id });
                }
            }
        }
    }

    /// One more group operation of an ended session has been delivered.
    fn release_reserved(&mut self, member: &str) {
        if let Some(n) = self.clients.reserved.get_mut(member) {
            *n -= 1;
            if *n == 0 {
                self.clients.reserved.remove(member);
            }
        }
    }

    pub(super) fn deliver_view(&mut self, view: GroupView) {
        let to = self.groups.view_audience(&view.group);
        self.send_view(to, view);
    }

    fn send_view(&mut self, to: BTreeSet<ClientId>, view: GroupView) {
        tracing::trace!(group = %view.group, id = view.view_id, transitional = view.transitional, members = ?view.members, "group view");
        if to.is_empty() {
            return;
        }
        self.counters.views_delivered += to.len() as u64;
        self.outputs.push_back(super::Output::Send {
            to: to.into_iter().collect(),
            response: Response::View(view),
        });
    }

    /// Tells every daemon watcher about the current daemon view.
    pub(super) fn announce_daemon_view(&mut self) {
        if self.clients.daemon_watchers.is_empty() {
            return;
        }
        self.outputs.push_back(super::Output::Send {
            to: self.clients.daemon_watchers.iter().copied().collect(),
            response: Response::DaemonView(self.daemon_view()),
        });
    }

    // ---- helpers ----

    fn check_group(&self, group: &str) -> Result<(), ErrorInfo> {
        names::check_group_name(group, self.config.max_group_name)
            .map_err(|e| ErrorInfo::new(ErrorCode::BadGroup, e))
    }

    pub(super) fn refuse(&mut self, client: ClientId, id: RequestId, error: ErrorInfo) {
        self.counters.requests_refused += 1;
        self.send(client, Response::Failed { id, error });
    }

    pub(super) fn send(&mut self, client: ClientId, response: Response) {
        self.outputs.push_back(super::Output::Send {
            to: vec![client],
            response,
        });
    }

    /// Ends the session of `client`: it leaves its groups (reason `disconnect`, ordered like any
    /// leave), stops watching, and the driver is told to close the connection.
    pub(super) fn close(&mut self, client: ClientId, error: Option<ErrorInfo>) {
        let Some(session) = self.clients.sessions.close(client) else {
            return;
        };
        self.outputs
            .push_back(super::Output::Close { client, error });
        self.clients.daemon_watchers.remove(&client);
        let Session::Ready(m) = session else {
            return;
        };
        for group in &m.watching {
            self.groups.unwatch(group, client);
        }
        // Its answers are not wanted any more; the groups it is in, or will be once its pending
        // requests are delivered, see it leave after them.
        let mut in_flight = 0;
        for pending in [
            &mut self.clients.pending_joins,
            &mut self.clients.pending_leaves,
        ] {
            pending.retain(|_, q| {
                let before = q.len();
                q.retain(|(c, _)| *c != client);
                in_flight += before - q.len();
                !q.is_empty()
            });
        }
        let groups = m.intended.clone();
        in_flight += groups.len();
        if in_flight > 0 {
            self.clients
                .reserved
                .insert(m.private_name.clone(), in_flight);
        }
        for group in groups {
            self.submit(Item::Leave {
                group,
                member: m.private_name.clone(),
                reason: Reason::Disconnect,
            });
        }
    }
}

/// The oldest request waiting for the operation on (`group`, `member`), if it came from a client
/// still waiting for it.
fn pop_pending(
    pending: &mut PendingOps,
    group: &str,
    member: &str,
) -> Option<(ClientId, RequestId)> {
    let key = (group.to_string(), member.to_string());
    let q = pending.get_mut(&key)?;
    let out = q.pop_front();
    if q.is_empty() {
        pending.remove(&key);
    }
    out
}
