//! Deliveries to local clients: what an item released by the orderer does here.
//!
//! Owns applying a delivered join, leave or multicast: the group table changes, the views and
//! messages go to the local clients that should see them, and waiting requests are answered. It
//! never decides the order of anything; it takes items in the order the orderer gives them.

use super::pop_pending;
use crate::core::packet::Item;
use crate::core::{ClientId, Core, Delivery, ViewId};
use gcs::wire::{ErrorCode, ErrorInfo, GroupView, Response};
use std::collections::BTreeSet;

impl Core {
    /// Carries out one delivered item: a message to the local members of its groups, or a group
    /// operation that changes a view.
    pub(crate) fn apply(&mut self, delivery: Delivery) {
        let (Item::Join { member, .. }
        | Item::Leave { member, .. }
        | Item::Multicast { sender: member, .. }) = &delivery.item;
        // Only a daemon speaks for its own clients: an operation on another daemon's client, or a
        // message in its name, is a bug or a lie, and would corrupt that daemon's sessions or
        // everyone's group table, or put words in another client's mouth.
        let origin = self
            .cluster
            .as_ref()
            .and_then(|c| c.view.ids.get(delivery.origin as usize));
        if origin.is_none_or(|o| crate::core::groups::daemon_of(member) != o.name) {
            tracing::warn!(%member, "ignoring an item a daemon sent for another daemon's client");
            return;
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
                self.outputs
                    .push_back(crate::core::Output::Deliver { to, frame });
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

    /// Sends a group view to the local clients that see `view.group`'s views.
    pub(crate) fn deliver_view(&mut self, view: GroupView) {
        let to = self.groups.view_audience(&view.group);
        self.send_view(to, view);
    }

    fn send_view(&mut self, to: BTreeSet<ClientId>, view: GroupView) {
        tracing::trace!(group = %view.group, id = view.view_id, transitional = view.transitional, members = ?view.members, "group view");
        if to.is_empty() {
            return;
        }
        self.counters.views_delivered += to.len() as u64;
        self.outputs.push_back(crate::core::Output::Send {
            to: to.into_iter().collect(),
            response: Response::View(view),
        });
    }

    /// Tells every daemon watcher about the current daemon view.
    pub(crate) fn announce_daemon_view(&mut self) {
        if self.clients.daemon_watchers.is_empty() {
            return;
        }
        self.outputs.push_back(crate::core::Output::Send {
            to: self.clients.daemon_watchers.iter().copied().collect(),
            response: Response::DaemonView(self.daemon_view()),
        });
    }
}
