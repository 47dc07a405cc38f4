//! Guarantee 4, virtual synchrony: processes that move together from one view to the next
//! delivered the same messages in it.

use super::index::Index;
use super::names::{name, some_ids};
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::VIRTUAL_SYNCHRONY;
use std::collections::BTreeMap;

/// Two processes that install the same view V of a group and both move on from it directly to
/// the same next view V' delivered the same messages to that group while in V. This is what the
/// flush before a view change buys; with transitional views it holds for them too, so two
/// processes that leave V through the same transitional view agree on V, and then on that
/// transitional view if they also reach the same next view (transitional or regular) after it.
///
/// Processes that move on to different views (they ended up on different sides of a partition)
/// are not compared, nor is one whose log ends in V (it crashed in V, or the run ended there).
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    let views = walk.views.len();
    // Per view entry, the messages its holder surely delivered to its group in it. Messages are
    // visited in ascending order, so each list comes out sorted.
    let mut sure: Vec<Vec<usize>> = vec![Vec::new(); views];
    for (m, records) in walk.records.iter().enumerate() {
        for r in records {
            if let Some(set) = sure.get_mut(r.view) {
                set.push(m);
            }
        }
    }
    // Per view entry, what a leaver got while in it but perhaps in a later view.
    let mut maybe: Vec<Vec<usize>> = vec![Vec::new(); views];
    for &(v, m) in &walk.loose {
        if let Some(set) = maybe.get_mut(v) {
            set.push(m);
        }
    }
    for set in sure.iter_mut().chain(maybe.iter_mut()) {
        set.sort_unstable();
        set.dedup();
    }
    for (&(g, id), entries) in &walk.installs {
        // Next view id -> the members that moved on from this view to it.
        let mut by_next: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for &e in entries {
            if !walk.views.get(e).is_some_and(|entry| entry.member) {
                continue;
            }
            if let Some(next) = walk.next_id(e) {
                by_next.entry(next).or_default().push(e);
            }
        }
        for (next, together) in by_next {
            let Some((&first, rest)) = together.split_first() else {
                continue;
            };
            for &e in rest {
                if of(&sure, first) == of(&sure, e) {
                    continue;
                }
                let only_first = missing(of(&sure, first), of(&sure, e), of(&maybe, e));
                let only_e = missing(of(&sure, e), of(&sure, first), of(&maybe, first));
                if only_first.is_empty() && only_e.is_empty() {
                    continue;
                }
                let (p, q) = (walk.views[first].holder, walk.views[e].holder);
                report.add(VIRTUAL_SYNCHRONY, || {
                    let mut parts = Vec::new();
                    if !only_first.is_empty() {
                        parts.push(format!(
                            "only {} delivers {}",
                            name(history, p),
                            some_ids(ix, &only_first)
                        ));
                    }
                    if !only_e.is_empty() {
                        parts.push(format!(
                            "only {} delivers {}",
                            name(history, q),
                            some_ids(ix, &only_e)
                        ));
                    }
                    format!(
                        "{} and {} both move from view {id} of {} to view {next}, but in view \
                         {id} {}",
                        name(history, p),
                        name(history, q),
                        ix.gname(g),
                        parts.join(" and ")
                    )
                });
            }
        }
    }
}

/// The set of view entry `e` in `sets`; empty for an unknown entry.
fn of(sets: &[Vec<usize>], e: usize) -> &[usize] {
    sets.get(e).map_or(&[], Vec::as_slice)
}

/// The elements of sorted `from` that are in neither sorted `other` nor sorted `excused`.
fn missing(from: &[usize], other: &[usize], excused: &[usize]) -> Vec<usize> {
    from.iter()
        .copied()
        .filter(|m| other.binary_search(m).is_err() && excused.binary_search(m).is_err())
        .collect()
}
