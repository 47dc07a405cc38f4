//! Installing a daemon view: the old view's flush, transitional group views, the group table
//! rebuilt from every member's announced local members, and fresh streams; and, while that runs,
//! the ids and transitional marks of the group views it makes.
//!
//! Owns the installation. It never decides what to install: the install message says.

use super::control::{Cut, Install};
use super::peers::FormedView;
use crate::core::groups::{daemon_of, view_id_at, ViewIds};
use crate::core::order::FlushPlan;
use crate::core::packet;
use crate::core::reliable::Streams;
use crate::core::{ClientId, Cluster, Core, Orderer, ViewId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// A view being installed: what group operations delivered in the old view's flush need.
#[derive(Debug)]
pub(crate) struct Installing {
    ids: ViewIds,
    /// Groups that got a transitional view in this flush.
    transitional: BTreeSet<String>,
    /// The names of the old view's daemons that move on to the new view.
    staying: BTreeSet<String>,
}

impl Core {
    /// Marks the view of a group operation delivered in a flush as transitional if its group is
    /// in a transitional period (the flush gave it a transitional view, and the regular view that
    /// ends the period is still to come). Such a view lists only the members that move on
    /// together, like the transitional view before it.
    pub(crate) fn mark_transitional(&self, view: &mut gcs::GroupView) {
        let Some(i) = &self.view_change.installing else {
            return;
        };
        if i.transitional.contains(&view.group) {
            view.transitional = true;
            view.members.retain(|m| i.staying.contains(daemon_of(m)));
        }
    }

    /// The id of the group view made by a group operation at (`ts`, daemon at `origin`). Ids
    /// follow the total order, and differ between daemons (the daemon's rank is the id modulo the
    /// cluster size), so views made in two partitions at once never share an id.
    ///
    /// Operations delivered in a flush after the transitional views are the exception: they
    /// happen in the transitional configuration, so their group enters a transitional period
    /// (opened here if the flush did not already) and their views take fresh ids beyond it. Such
    /// a view still names a member on a departing daemon that joined or left, though it lists
    /// only the members that move on.
    pub(crate) fn op_view_id(&mut self, group: &str, ts: u64, origin: u16) -> ViewId {
        if self.view_change.installing.is_some() {
            self.open_period(group);
            if let Some(i) = self.view_change.installing.as_mut() {
                return i.ids.take();
            }
        }
        let k = self.membership.cluster_size() as u64;
        let rank = self
            .cluster
            .as_ref()
            .and_then(|c| c.view.addrs.get(origin as usize))
            .map_or(0, |a| self.membership.rank(*a));
        view_id_at(ts, k, rank)
    }

    /// Starts `group`'s transitional period in the flush under way, if one is under way and the
    /// period has not started: its transitional view lists the members that move on together
    /// (all of them, if none leave).
    pub(crate) fn open_period(&mut self, group: &str) {
        let Some(i) = self.view_change.installing.as_mut() else {
            return;
        };
        if !i.transitional.insert(group.to_string()) {
            return;
        }
        let staying = &i.staying;
        let stays = |m: &str| staying.contains(daemon_of(m));
        let Some(view) = self
            .groups
            .transitional(group, stays, i.ids.next_id(), true)
        else {
            return;
        };
        i.ids.take();
        self.deliver_view(view);
    }

    /// Finishes the old view as the commit says and installs the new one.
    pub(crate) fn install(&mut self, coordinator: SocketAddr, install: Install, cut: Option<Cut>) {
        let me = self.my_id();
        let k = self.membership.cluster_size() as u64;
        let rank = self.membership.rank(coordinator);
        // Ids made while installing: each old view numbers its transitional views and late
        // operations in a range of its own (so two partitions merging never reuse one), then
        // every member numbers the announced groups' views alike.
        let component = self
            .cluster
            .as_ref()
            .and_then(|c| {
                install
                    .components
                    .iter()
                    .position(|v| *v == c.view.view.view_id)
            })
            .unwrap_or(install.components.len()) as u64;
        let at = |ts: u64| view_id_at(ts, k, rank).0;
        let mut ids = ViewIds::starting_at(
            view_id_at(
                install
                    .ts
                    .saturating_add(component.saturating_mul(install.views)),
                k,
                rank,
            ),
            k,
        );
        let shared_base = install
            .ts
            .saturating_add((install.components.len() as u64 + 1).saturating_mul(install.views));
        let announced_groups: Vec<&str> = {
            let set: BTreeSet<&str> = install.local.iter().map(|(g, _)| g.as_str()).collect();
            set.into_iter().collect()
        };
        let mut in_transition = BTreeSet::new();
        // A merge: daemons come that were not in this daemon's old view. Their groups' views
        // have ids of another history, so every group gets a new regular view whose id lies
        // beyond both.
        let merging = cut
            .as_ref()
            .is_none_or(|cut| cut.survivors.len() < install.members.len());
        // 1. The old view's flush.
        if let (Some(c), Some(cut)) = (self.cluster.as_mut(), cut) {
            let survivor: Vec<bool> = c
                .view
                .ids
                .iter()
                .map(|id| cut.survivors.contains(id))
                .collect();
            let bound = survivor
                .iter()
                .enumerate()
                .filter(|(_, s)| !**s)
                .map(|(o, _)| cut.heard.get(o).copied().unwrap_or(0))
                .min()
                .unwrap_or(u64::MAX);
            let staying: BTreeSet<String> =
                cut.survivors.iter().map(|id| id.name.clone()).collect();
            let flushed = c.orderer.flush(&FlushPlan {
                cut: cut.cut.clone(),
                survivor,
                bound,
                delivered: cut.delivered,
            });
            self.counters.flush_discarded += flushed.discarded;
            tracing::debug!(
                before = flushed.before.len(),
                after = flushed.after.len(),
                discarded = flushed.discarded,
                cut = ?cut,
                "flushing the old view"
            );
            for d in flushed.before {
                self.apply(d);
            }
            let mut transitional = BTreeSet::new();
            for g in self.groups.names() {
                let stays = |m: &str| staying.contains(daemon_of(m));
                if let Some(view) = self.groups.transitional(&g, stays, ids.next_id(), false) {
                    ids.take();
                    self.deliver_view(view);
                    transitional.insert(g);
                }
            }
            self.view_change.installing = Some(Installing {
                ids,
                transitional,
                staying,
            });
            for d in flushed.after {
                self.apply(d);
            }
            if let Some(i) = self.view_change.installing.take() {
                ids = i.ids;
                in_transition = i.transitional;
            }
        }
        // 2. The group table, from every member's announcement.
        let mut announced: BTreeMap<String, BTreeMap<String, Option<ClientId>>> = BTreeMap::new();
        let names: BTreeSet<&str> = install.members.iter().map(|m| m.name.as_str()).collect();
        for (g, m) in &install.local {
            if !names.contains(daemon_of(m)) {
                continue;
            }
            let local = if daemon_of(m) == me.name {
                self.clients.sessions.client_named(m)
            } else {
                None
            };
            announced
                .entry(g.clone())
                .or_default()
                .insert(m.clone(), local);
        }
        let mut all: BTreeSet<String> = self.groups.names().into_iter().collect();
        all.extend(announced.keys().cloned());
        for g in all {
            let members = announced.remove(&g).unwrap_or_default();
            let id = match announced_groups.binary_search(&g.as_str()) {
                Ok(i) => ViewId(at(shared_base.saturating_add(i as u64))),
                Err(_) => ids.next_id(),
            };
            let forced = merging || in_transition.contains(&g);
            if let Some(view) = self.groups.replace_members(&g, members, id, forced) {
                if id == ids.next_id() {
                    ids.take();
                }
                self.deliver_view(view);
            }
        }

        let last_used = at(shared_base.saturating_add(announced_groups.len() as u64));
        // 3. The new view and fresh streams.
        let primary = self.membership.is_primary(install.members.len());
        let view = FormedView::new(install.view, install.members.clone(), &me, primary);
        tracing::info!(view = install.view, members = ?view.view.members, primary, "installed a daemon view");
        let n = view.len();
        let mut orderer = Orderer::new(view.me, n);
        // New items are stamped beyond every id used while installing (`install.clock` bounds
        // what any member used; this daemon's own use is checked too).
        let start = install.clock.max(last_used / k.max(1));
        orderer.set_clock(start);
        self.view_change.installed_clock = start;
        self.cluster = Some(Cluster {
            streams: Streams::new(
                view.me,
                n,
                packet::max_item(self.config.max_message_size),
                // A peer never has more than its send window unstable; twice that is slack.
                self.config.send_window.saturating_mul(2),
            ),
            orderer,
            view,
        });
        self.view_change.installed_at = self.now;
        for m in &install.members {
            if m.addr != self.config.listen {
                self.membership
                    .installed_with(m.addr, m.incarnation, self.now);
            }
        }
        self.tx.outgoing.clear();
        self.tx.ack_due = n > 1;
        self.counters.view_changes += 1;
        self.announce_daemon_view();
        let unsent = std::mem::take(&mut self.backlog.items);
        self.backlog.bytes = 0;
        for item in unsent {
            self.stamp_and_send(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::lost_d2;
    use crate::core::ClientId;
    use gcs::wire::{GroupView, Reason, Request, RequestId, Response};
    use gcs::DaemonView;
    use std::time::Duration;

    fn g_view(view_id: u64, transitional: bool) -> Response {
        Response::View(GroupView {
            group: "g".into(),
            view_id,
            members: vec!["a#d0".into(), "b#d1".into()],
            joined: vec![],
            left: vec!["c#d2".into()],
            reason: Reason::Network,
            transitional,
        })
    }

    #[test]
    fn an_install_gives_local_clients_the_transitional_view_then_the_regular_one() {
        let lost = lost_d2();
        let after = &lost.rig.responses[lost.responses..];
        let new_view = DaemonView {
            view_id: 4,
            members: vec!["d0".into(), "d1".into()],
            primary: true,
        };
        // Group view ids are (timestamp x 3 + the coordinator's rank 0): the transitional view
        // takes the install's own timestamp (1007), the regular one the first past the ranges
        // of the merged old views (1007 + (1 old view + 1) x 2 ids each = 1011).
        let a = vec![ClientId(1)];
        assert_eq!(
            after,
            [
                (0, a.clone(), g_view(3021, true)),
                (0, a.clone(), g_view(3033, false)),
                (0, a, Response::DaemonView(new_view.clone())),
                (1, vec![ClientId(1)], g_view(3021, true)),
                (1, vec![ClientId(1)], g_view(3033, false)),
            ]
        );
        assert_eq!(lost.rig.core(0).daemon_view(), new_view);
        assert_eq!(lost.rig.core(1).daemon_view(), new_view);
    }

    #[test]
    fn after_an_install_the_flushed_history_is_gone_and_the_new_streams_carry_messages() {
        let mut lost = lost_d2();
        assert_eq!(lost.rig.core(0).held_bytes(), 0);
        assert_eq!(lost.rig.core(1).held_bytes(), 0);
        let before = lost.rig.delivered.len();
        lost.rig.request(
            0,
            ClientId(1),
            Request::Multicast {
                id: RequestId(9),
                groups: vec!["g".into()],
                order: gcs::Order::Safe,
                payload: bytes::Bytes::from_static(b"new view"),
            },
        );
        lost.rig.run_for(Duration::from_millis(200));
        let got: Vec<(usize, Vec<ClientId>, &[u8])> = lost.rig.delivered[before..]
            .iter()
            .map(|(d, to, m)| (*d, to.clone(), m.payload.as_ref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, vec![ClientId(1)], b"new view".as_slice()),
                (1, vec![ClientId(1)], b"new view".as_slice()),
            ]
        );
    }
}
