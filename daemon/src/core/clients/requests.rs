//! Requests of local clients: the hello, joins, leaves, multicasts, watches.
//!
//! Owns what each request is checked against (names, limits, the group a client will be in once
//! its pending requests are delivered) and how it is answered. A join, leave or multicast becomes
//! an item for the cluster; nothing here changes the group table, which only a delivery does.

use crate::core::packet::Item;
use crate::core::{ClientId, Core};
use gcs::names;
use gcs::wire::{
    ErrorCode, ErrorInfo, Limits, Reason, Request, RequestId, Response, WatchTarget, HELLO_MAGIC,
    PROTOCOL_VERSION,
};
use std::collections::BTreeSet;

impl Core {
    pub(crate) fn on_hello(&mut self, client: ClientId, request: Request) {
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

    pub(crate) fn on_ready_request(&mut self, client: ClientId, request: Request) {
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
                if self.clients.sessions.member_mut(client).is_none() {
                    return;
                }
                if self.groups.watched_by(client) >= limit
                    && !self.groups.is_watching(&group, client)
                {
                    let e = ErrorInfo::new(
                        ErrorCode::TooManyGroups,
                        format!(
                            "the client already watches {limit} groups (limits.max_groups_per_client)"
                        ),
                    );
                    return self.refuse(client, id, e);
                }
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
        if self.clients.sessions.member_mut(client).is_none() {
            return;
        }
        let was_watching = match &target {
            WatchTarget::Group(group) => self.groups.unwatch(group, client),
            WatchTarget::Daemons => self.clients.daemon_watchers.remove(&client),
        };
        if was_watching {
            self.send(client, Response::Ok { id });
        } else {
            let e = ErrorInfo::new(ErrorCode::NotWatching, "the client was not watching that");
            self.refuse(client, id, e);
        }
    }

    /// Refuses a group name that is empty, too long or has bad characters.
    fn check_group(&self, group: &str) -> Result<(), ErrorInfo> {
        names::check_group_name(group, self.config.max_group_name)
            .map_err(|e| ErrorInfo::new(ErrorCode::BadGroup, e))
    }
}
