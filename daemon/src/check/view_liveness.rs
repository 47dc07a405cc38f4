//! Guarantee 8, view liveness (complete histories only): once the run settles, the members of
//! a group end in one regular view listing exactly them.

use super::index::Index;
use super::names::{name, names};
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::VIEW_LIVENESS;
use std::collections::{BTreeMap, BTreeSet};

/// Guarantee 8: once the run settles, the processes still in a group all end in the same view of
/// it, that view is regular (a transitional period always ends with a regular view), and it lists exactly them among the logged processes. Crashed processes are
/// neither asked to be in it nor allowed to be listed.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    let procs = history.processes.len();
    for g in 0..ix.group_names.len() {
        let state = |p: usize| walk.groups.get(p).and_then(|s| s.get(&g));
        let connected = |p: usize| ix.disconnect.get(p).is_some_and(Option::is_none);
        let stay: Vec<usize> = (0..procs)
            .filter(|&p| connected(p) && state(p).is_some_and(|st| st.joined))
            .collect();
        if stay.is_empty() {
            continue;
        }
        let stay_names: BTreeSet<&str> = stay.iter().map(|&p| name(history, p)).collect();
        // Processes that went away after their last join; a name reused by a process that stays
        // is not counted as gone.
        let gone_names: BTreeSet<&str> = (0..procs)
            .filter(|&p| {
                state(p).is_some_and(|st| match st.last_join {
                    Some(join) => {
                        !st.joined
                            || ix
                                .disconnect
                                .get(p)
                                .copied()
                                .flatten()
                                .is_some_and(|d| d > join)
                    }
                    None => false,
                })
            })
            .map(|p| name(history, p))
            .filter(|n| !stay_names.contains(n))
            .collect();
        let group = ix.gname(g);
        // Final view id -> (one view entry with that id, the processes ending in it).
        let mut finals: BTreeMap<u64, (usize, Vec<usize>)> = BTreeMap::new();
        for &p in &stay {
            match state(p).and_then(|st| st.view) {
                None => report.add(VIEW_LIVENESS, || {
                    format!(
                        "{} ends as a member of {group} without a view of it",
                        name(history, p)
                    )
                }),
                Some(v) => {
                    let id = walk.views.get(v).map_or(0, |e| e.view.view_id);
                    finals.entry(id).or_insert((v, Vec::new())).1.push(p);
                }
            }
        }
        if finals.len() > 1 {
            report.add(VIEW_LIVENESS, || {
                let parts: Vec<String> = finals
                    .iter()
                    .map(|(id, (_, ps))| format!("view {id} at {}", names(history, ps)))
                    .collect();
                format!(
                    "the members of {group} end in different views: {}",
                    parts.join("; ")
                )
            });
        }
        for (id, (v, _)) in &finals {
            let Some(entry) = walk.views.get(*v) else {
                continue;
            };
            if entry.view.transitional {
                report.add(VIEW_LIVENESS, || {
                    format!(
                        "the members of {group} end in transitional view {id}, never followed by \
                         a regular view"
                    )
                });
            }
            let listed: BTreeSet<&str> = entry.view.members.iter().map(String::as_str).collect();
            let missing: Vec<&str> = stay_names.difference(&listed).copied().collect();
            let extra: Vec<&str> = gone_names.intersection(&listed).copied().collect();
            if !missing.is_empty() {
                report.add(VIEW_LIVENESS, || {
                    format!(
                        "final view {id} of {group} lacks members that stayed: {}",
                        missing.join(", ")
                    )
                });
            }
            if !extra.is_empty() {
                report.add(VIEW_LIVENESS, || {
                    format!(
                        "final view {id} of {group} still lists processes that left or \
                         disconnected: {}",
                        extra.join(", ")
                    )
                });
            }
        }
    }
}
