//! Guarantee 3, same-view delivery: a delivery to a member is in a view of the group, and every
//! delivery of a message to a group is in the same view or in the transitional period right
//! after it.

use super::index::Index;
use super::names::{list, name, names};
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::{Event, SAME_VIEW};
use std::collections::{BTreeMap, BTreeSet};

/// Every process that receives a message as a member of one of its groups receives it in the
/// same view of that group, or in a transitional view of the period that directly follows that
/// view.
///
/// The exception is extended virtual synchrony's: a process that delivered a message in a
/// regular view V may be cut off from one that had it but could not yet deliver it; the latter
/// then delivers it in the transitional period after V: in its network transitional view or in
/// any transitional view of a group operation after it, before the regular view that ends the
/// period. Processes cut off from each other may each do so in a transitional view of their
/// own. Two processes that move on together through the same transitional view still deliver in
/// the same view: virtual synchrony checks that.
///
/// The regular view a transitional view follows is read from every process that installed it,
/// so a process whose first view is the transitional view of its own join shares it too.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for &(p, pos) in &walk.strays {
        let Some(Event::Deliver { id, groups, .. }) = history.processes[p].events.get(pos) else {
            continue;
        };
        report.add(SAME_VIEW, || {
            format!(
                "{} delivers {id} but is a member of none of its groups {}",
                name(history, p),
                list(groups)
            )
        });
    }
    // (group, transitional view id) -> the regular views its holders had before the transitional
    // period it belongs to.
    // A holder whose period began before its first view (it joined inside the period) passes on
    // what the other holders of its earlier transitional view had. Installs are keyed by (group,
    // id) and ids grow along a chain, so the earlier view is always done first.
    //
    // A group operation delivered inside the period (by daemons that had not installed it when
    // the view change began) has a transitional view of its own; daemons that had installed it
    // made its regular view. A period therefore also follows the regular views of the
    // operations in its chain so far: those of the same operation, after the chain's start.
    let regular_ops = regular_operations(walk);
    let mut after: BTreeMap<(usize, u64), BTreeSet<u64>> = BTreeMap::new();
    for (&key, entries) in &walk.installs {
        let transitional = |e: &&usize| walk.views.get(**e).is_some_and(|x| x.view.transitional);
        if entries.iter().any(|e| transitional(&e)) {
            let mut bases = BTreeSet::new();
            for &e in entries.iter().filter(transitional) {
                let start = walk.regular_before(e);
                // Without a start the operation cannot be told from an earlier one alike.
                for op in start.map(|_| walk.chain_operations(e)).unwrap_or_default() {
                    let same = regular_ops.get(&(key.0, op_key(op)));
                    let after_start = |id: &&u64| start.is_some_and(|s| **id > s);
                    if let Some(id) = same.and_then(|ids| ids.iter().find(after_start)) {
                        bases.insert(*id);
                    }
                }
                match start {
                    Some(b) => {
                        bases.insert(b);
                    }
                    None => {
                        let first = walk.first_of_period(e);
                        if let Some(earlier) = first.and_then(|f| after.get(&(key.0, f))) {
                            bases.extend(earlier.iter().copied());
                        }
                    }
                }
            }
            after.insert(key, bases);
        }
    }
    let no_bases = BTreeSet::new();
    // A transitional view whose period no holder saw begin (every holder joined inside it, and
    // the view that opened it listed none of them) cannot be placed: it fits any view.
    let unplaced = |g: usize, id: u64| after.get(&(g, id)).is_some_and(BTreeSet::is_empty);
    for (m, records) in walk.records.iter().enumerate() {
        // Group -> view id -> the processes that delivered the message in that view.
        let mut by_group: BTreeMap<usize, BTreeMap<u64, Vec<usize>>> = BTreeMap::new();
        for r in records {
            if let Some(entry) = walk.views.get(r.view) {
                by_group
                    .entry(r.group)
                    .or_default()
                    .entry(entry.view.view_id)
                    .or_default()
                    .push(r.proc);
            }
        }
        for (g, views) in by_group {
            if views.len() < 2 {
                continue;
            }
            let bases = |id: u64| after.get(&(g, id)).unwrap_or(&no_bases);
            // Some view V must account for every delivery: made in V itself, or in a
            // transitional view of the period that directly followed V.
            let fits = |v: u64| {
                views
                    .keys()
                    .all(|&id| id == v || bases(id).contains(&v) || unplaced(g, id))
            };
            if views
                .keys()
                .any(|&id| fits(id) || bases(id).iter().any(|&b| fits(b)))
            {
                continue;
            }
            report.add(SAME_VIEW, || {
                let parts: Vec<String> = views
                    .iter()
                    .map(|(&id, procs)| match after.get(&(g, id)) {
                        None => format!("view {id} at {}", names(history, procs)),
                        Some(b) if b.is_empty() => {
                            format!("transitional view {id} at {}", names(history, procs))
                        }
                        Some(b) => {
                            let b: Vec<String> = b.iter().map(u64::to_string).collect();
                            format!(
                                "transitional view {id} (after view {}) at {}",
                                b.join(", "),
                                names(history, procs)
                            )
                        }
                    })
                    .collect();
                format!(
                    "{} is delivered in different views of {}: {}",
                    ix.id(m),
                    ix.gname(g),
                    parts.join("; ")
                )
            });
        }
    }
}

/// What a group operation's view did: its reason, who joined and who left.
type OpKey<'a> = (u8, &'a [String], &'a [String]);

fn op_key(v: &gcs::GroupView) -> OpKey<'_> {
    (v.reason as u8, &v.joined, &v.left)
}

/// The regular views of group operations, by group and what they did, with their ids.
fn regular_operations<'a>(walk: &Walk<'a>) -> BTreeMap<(usize, OpKey<'a>), BTreeSet<u64>> {
    let mut out: BTreeMap<(usize, OpKey<'a>), BTreeSet<u64>> = BTreeMap::new();
    for (&(g, id), entries) in &walk.installs {
        let Some(e) = entries.first().and_then(|&e| walk.views.get(e)) else {
            continue;
        };
        if !e.view.transitional && e.view.reason != gcs::Reason::Network {
            out.entry((g, op_key(e.view))).or_default().insert(id);
        }
    }
    out
}
