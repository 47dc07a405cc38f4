//! The client side of the core: local sessions, their requests, and delivering ordered items to
//! them.
//!
//! Owns the rules of a session: names, limits, what each request does and what it is answered
//! with (`requests`), what a delivered item does for local clients (`delivery`), and the session
//! table (`sessions`). Joins, leaves and multicasts become items handed to the cluster layer
//! (`submit`); a join or leave is answered only once its item is delivered, so the client's next
//! event is the view that includes (or no longer includes) it. It never orders anything itself,
//! and what a client is a member of or watches is read from the group table, never copied here.

mod delivery;
mod requests;
mod sessions;

pub use sessions::{Member, Session, Sessions};

use crate::core::packet::Item;
use crate::core::{ClientId, Core};
use gcs::wire::{ErrorInfo, Reason, RequestId, Response};
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
    /// Answers request `id` of `client` with a failure.
    pub(crate) fn refuse(&mut self, client: ClientId, id: RequestId, error: ErrorInfo) {
        self.counters.requests_refused += 1;
        self.send(client, Response::Failed { id, error });
    }

    /// Queues one response for one client.
    pub(crate) fn send(&mut self, client: ClientId, response: Response) {
        self.outputs.push_back(crate::core::Output::Send {
            to: vec![client],
            response,
        });
    }

    /// Ends the session of `client`: it leaves its groups (reason `disconnect`, ordered like any
    /// leave), stops watching, and the driver is told to close the connection.
    pub(crate) fn close(&mut self, client: ClientId, error: Option<ErrorInfo>) {
        let Some(session) = self.clients.sessions.close(client) else {
            return;
        };
        self.outputs
            .push_back(crate::core::Output::Close { client, error });
        self.clients.daemon_watchers.remove(&client);
        let Session::Ready(m) = session else {
            return;
        };
        self.groups.unwatch_all(client);
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

    /// One more group operation of an ended session has been delivered.
    pub(crate) fn release_reserved(&mut self, member: &str) {
        if let Some(n) = self.clients.reserved.get_mut(member) {
            *n -= 1;
            if *n == 0 {
                self.clients.reserved.remove(member);
            }
        }
    }
}

/// The oldest request waiting for the operation on (`group`, `member`), if it came from a client
/// still waiting for it.
pub(crate) fn pop_pending(
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
