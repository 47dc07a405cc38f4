//! The walk: one pass over each process's log that records what every later check needs (the
//! views each process installed and what it knew when each arrived, which message it delivered
//! in which view, its sends and their views, its duplicate and stray deliveries). It judges
//! nothing and reports nothing: each guarantee reads these facts in its own file.

use super::bits::Bits;
use super::index::Index;
use super::{Event, History};
use std::collections::BTreeMap;

/// What one process knows about one group at a point in its log.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupState {
    /// Join issued and no Leave since.
    pub(super) joined: bool,
    /// Leave issued, but no view without the process has arrived yet. The Leave is recorded when
    /// the request is issued, and messages ordered before the leave still reach the process in
    /// its old view, so until that view changes it still counts as a receiver of the group.
    /// Counted, because a process may leave and join again before the first leave takes effect;
    /// each leave ends with one view without the process.
    pub(super) leaving: u32,
    /// The view received last since the latest Join (index into `Walk::views`).
    pub(super) view: Option<usize>,
    /// The current view of an earlier membership the process is still leaving: set when it
    /// joins again before its leave's view arrived, and dropped at its next view. Views that
    /// arrive meanwhile still belong to that membership (the new join takes effect only after
    /// the leave), so a transitional view among them is compared with this one.
    pub(super) stale: Option<usize>,
    /// The id of the last view of the group ever received, for monotonicity.
    pub(super) last_view_id: Option<u64>,
    /// Whether that view was transitional: only a transitional view of a group operation may
    /// follow a transitional view.
    pub(super) last_transitional: bool,
    pub(super) last_join: Option<usize>,
    pub(super) last_leave: Option<usize>,
}

impl GroupState {
    /// Whether a delivery to this group is a delivery to a member.
    pub(super) fn receives(&self) -> bool {
        self.joined || self.leaving > 0
    }
}

/// One View event, and where it stands in its holder's log of the group.
pub(super) struct ViewEntry<'a> {
    pub(super) view: &'a gcs::GroupView,
    /// The process that received it.
    pub(super) holder: usize,
    /// The group's number.
    pub(super) group: usize,
    /// The holder's state of the group just before this view arrived: what the view checks
    /// judge it by.
    pub(super) before: GroupState,
    /// The holder received it as a member: it lists the holder and became the holder's current
    /// view. False for the view that ends a membership and for views seen without being a member
    /// (a watcher's); only members' views carry deliveries and obligations.
    pub(super) member: bool,
    /// The holder's current view of the group when this one arrived.
    pub(super) prev: Option<usize>,
    /// The view that directly replaced this one as the holder's current view. None if the log
    /// ends in this view, or if a Join started a new membership before the next view came:
    /// deliveries made between that Join and the next view are in no known view, so what the
    /// holder delivered "in this view" is not fully known.
    pub(super) next: Option<usize>,
}

/// A message delivered by `proc` while its current view of `group` was `view`.
pub(super) struct Record {
    pub(super) proc: usize,
    pub(super) group: usize,
    pub(super) view: usize,
}

/// A send that its sender must eventually deliver itself, if it stays in one of `groups`.
pub(super) struct Obligation {
    pub(super) proc: usize,
    pub(super) msg: usize,
    pub(super) pos: usize,
    pub(super) groups: Vec<usize>,
}

/// What the walk learned, for the cross-process checks.
pub(super) struct Walk<'a> {
    pub(super) views: Vec<ViewEntry<'a>>,
    /// Per message, the views it was delivered in.
    pub(super) records: Vec<Vec<Record>>,
    /// Per process, the messages it delivered.
    pub(super) delivered: Vec<Bits>,
    /// Per process, its first delivery of each message, in order.
    pub(super) deliveries: Vec<Vec<usize>>,
    /// Per process, its group states at the end of its log.
    pub(super) groups: Vec<BTreeMap<usize, GroupState>>,
    pub(super) obligations: Vec<Obligation>,
    /// (group, view id) -> every View event naming that view, in log order. One id names one
    /// view cluster-wide, even across partitions, so these are the processes that installed it.
    pub(super) installs: BTreeMap<(usize, u64), Vec<usize>>,
    /// Per message, (group, the sender's current view of it) at the Send, for each group of the
    /// message the sender was a member of with a view.
    pub(super) send_views: Vec<Vec<(usize, usize)>>,
    /// (view, message): deliveries a leaver got through another group while its view of the group
    /// it is leaving was `view`. They may belong to that view or to a later one it never sees, so
    /// they are left out of `records`; virtual synchrony only uses them as an excuse.
    pub(super) loose: Vec<(usize, usize)>,
    /// (process, message): second and later deliveries of a message to a process. Only the
    /// first counts anywhere else.
    pub(super) repeats: Vec<(usize, usize)>,
    /// (process, position): deliveries to a process that is a member of none of the message's
    /// groups.
    pub(super) strays: Vec<(usize, usize)>,
}

impl<'a> Walk<'a> {
    pub(super) fn run(history: &'a History, ix: &Index<'a>) -> Self {
        let procs = history.processes.len();
        let mut walk = Walk {
            views: Vec::new(),
            records: (0..ix.msgs()).map(|_| Vec::new()).collect(),
            delivered: vec![Bits::new(ix.msgs()); procs],
            deliveries: vec![Vec::new(); procs],
            groups: vec![BTreeMap::new(); procs],
            obligations: Vec::new(),
            installs: BTreeMap::new(),
            send_views: (0..ix.msgs()).map(|_| Vec::new()).collect(),
            loose: Vec::new(),
            repeats: Vec::new(),
            strays: Vec::new(),
        };
        for (p, log) in history.processes.iter().enumerate() {
            let mut states: BTreeMap<usize, GroupState> = BTreeMap::new();
            let mut last_groups: (&[String], Vec<usize>) = (&[], Vec::new());
            for (pos, event) in log.events.iter().enumerate() {
                match event {
                    Event::Join { .. } => {
                        let st = states.entry(ix.key(p, pos)).or_default();
                        st.joined = true;
                        // A new membership starts without a view: one from an earlier membership
                        // says nothing about the group this process is joining now. Only the
                        // transitional check still looks at it while that membership lasts.
                        st.stale = if st.leaving > 0 {
                            st.view.or(st.stale)
                        } else {
                            None
                        };
                        st.view = None;
                        st.last_join = Some(pos);
                    }
                    Event::Leave { .. } => {
                        let st = states.entry(ix.key(p, pos)).or_default();
                        if st.joined {
                            st.joined = false;
                            st.leaving += 1;
                        }
                        st.last_leave = Some(pos);
                    }
                    Event::View(v) => {
                        let g = ix.key(p, pos);
                        let st = states.entry(g).or_default();
                        let before = st.clone();
                        // A process that joined again while still leaving is in its earlier
                        // membership until the leave's view: that view comes next after it.
                        let prev = st.view.or(st.stale);
                        st.last_view_id = Some(v.view_id);
                        st.last_transitional = v.transitional;
                        st.stale = None;
                        let lists_self = v.members.contains(&log.name);
                        let ends_membership = st.leaving > 0 && !lists_self;
                        if ends_membership {
                            // A leave has taken effect: this is the view that ends it.
                            st.leaving -= 1;
                        }
                        let here = walk.views.len();
                        if let Some(earlier) = prev.and_then(|e| walk.views.get_mut(e)) {
                            earlier.next = Some(here);
                        }
                        walk.views.push(ViewEntry {
                            view: v,
                            holder: p,
                            group: g,
                            member: !ends_membership && lists_self && st.receives(),
                            before,
                            prev,
                            next: None,
                        });
                        // The view that ends a membership is no view of a later one: a process
                        // that joined again is in no view of the group until its join's view.
                        st.view = (!ends_membership).then_some(here);
                        walk.installs.entry((g, v.view_id)).or_default().push(here);
                    }
                    Event::Send { .. } => {
                        let m = ix.key(p, pos);
                        let Some(Some(sent)) = ix.sent.get(m) else {
                            continue;
                        };
                        if sent.proc != p || sent.pos != pos {
                            continue; // a reused id, already reported
                        }
                        let mut groups: Vec<usize> = sent
                            .groups
                            .iter()
                            .map(|g| ix.group_no(g))
                            .filter(|g| states.get(g).is_some_and(|st| st.joined))
                            .collect();
                        groups.sort_unstable();
                        groups.dedup();
                        if !groups.is_empty() {
                            walk.obligations.push(Obligation {
                                proc: p,
                                msg: m,
                                pos,
                                groups,
                            });
                        }
                        // The sender's view of each group it sends to as a member: no delivery
                        // of the message may be in an older one.
                        let mut in_views: Vec<(usize, usize)> = sent
                            .groups
                            .iter()
                            .map(|g| ix.group_no(g))
                            .filter_map(|g| {
                                let st = states.get(&g).filter(|st| st.receives())?;
                                Some((g, st.view.or(st.stale)?))
                            })
                            .collect();
                        in_views.sort_unstable();
                        in_views.dedup();
                        if let Some(slot) = walk.send_views.get_mut(m) {
                            *slot = in_views;
                        }
                    }
                    Event::Deliver { groups, .. } => {
                        let m = ix.key(p, pos);
                        if !walk.delivered[p].insert(m) {
                            walk.repeats.push((p, m));
                            continue;
                        }
                        walk.deliveries[p].push(m);
                        let mut member = false;
                        // Consecutive deliveries almost always name the same groups; resolve
                        // the names only when they change.
                        if last_groups.0 != groups.as_slice() {
                            let mut numbers: Vec<usize> =
                                groups.iter().map(|g| ix.group_no(g)).collect();
                            numbers.sort_unstable();
                            numbers.dedup();
                            last_groups = (groups.as_slice(), numbers);
                        }
                        // A process that asked to leave a group gets no view without itself, so
                        // its view of that group is stale once the leave is ordered. A message it
                        // also receives through a group it is fully in says nothing about the
                        // group it is leaving; only one that can have come through that group
                        // alone is known to be in its last view.
                        let through_full = last_groups
                            .1
                            .iter()
                            .any(|g| states.get(g).is_some_and(|st| st.joined && st.leaving == 0));
                        for &g in &last_groups.1 {
                            if let Some(st) = states.get(&g).filter(|st| st.receives()) {
                                member = true;
                                // Joined again while leaving: the earlier membership is still
                                // the one in effect.
                                let current = st.view.or(st.stale);
                                if st.leaving > 0 && through_full {
                                    if let Some(view) = current {
                                        walk.loose.push((view, m));
                                    }
                                    continue;
                                }
                                if let Some(view) = current {
                                    walk.records[m].push(Record {
                                        proc: p,
                                        group: g,
                                        view,
                                    });
                                }
                            }
                        }
                        if !member {
                            walk.strays.push((p, pos));
                        }
                    }
                    Event::Disconnect => {}
                }
            }
            walk.groups[p] = states;
        }
        walk
    }
}

impl<'a> Walk<'a> {
    /// The id of the view that directly replaced view entry `e` at its holder, if known.
    pub(super) fn next_id(&self, e: usize) -> Option<u64> {
        let next = self.views.get(e)?.next?;
        Some(self.views.get(next)?.view.view_id)
    }

    /// The transitional views of group operations in the chain that view entry `e` ends (`e`
    /// included), back to the regular view before it.
    pub(super) fn chain_operations(&self, e: usize) -> Vec<&'a gcs::GroupView> {
        let mut out = Vec::new();
        let mut cur = Some(e);
        while let Some(entry) = cur.and_then(|c| self.views.get(c)) {
            if !entry.view.transitional {
                break;
            }
            if entry.view.reason != gcs::Reason::Network {
                out.push(entry.view);
            }
            cur = entry.prev;
        }
        out
    }

    /// The id of the first view of the transitional chain that view entry `e` ends, when the
    /// holder had no regular view before it; None if `e` is its own first view.
    pub(super) fn first_of_period(&self, e: usize) -> Option<u64> {
        let mut cur = self.views.get(e)?.prev?;
        loop {
            let entry = self.views.get(cur)?;
            match entry.prev {
                Some(p) => cur = p,
                None => return Some(entry.view.view_id),
            }
        }
    }

    /// The id of the regular view the holder had before view entry `e`, looking back through
    /// the transitional views before `e`; None if the holder had no regular view before them
    /// (its first view of the group was a transitional one).
    pub(super) fn regular_before(&self, e: usize) -> Option<u64> {
        let mut cur = self.views.get(e)?.prev?;
        loop {
            // `prev` always points to an earlier entry, so this ends.
            let entry = self.views.get(cur)?;
            if !entry.view.transitional {
                return Some(entry.view.view_id);
            }
            cur = entry.prev?;
        }
    }
}
