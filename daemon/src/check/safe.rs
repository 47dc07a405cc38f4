//! Guarantee 6, safe delivery (complete histories only): a safe message delivered in a regular
//! view reaches every member of it that did not crash, partition or not.

use super::index::Index;
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::SAFE;
use std::collections::{BTreeMap, BTreeSet};

/// Guarantee 6, safe delivery: a safe message delivered in a regular view was received by every
/// member of that view before anyone delivered it, so every member that installed the view and
/// did not crash delivers it, there or, if a partition cut it off first, in the transitional
/// view that follows. Unlike agreement, moving on to different views is no excuse. A delivery
/// in a transitional view promises nothing about the members left behind: that is what the
/// transitional view is for.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (m, records) in walk.records.iter().enumerate() {
        if ix.order.get(m).copied().flatten() != Some(gcs::Order::Safe) {
            continue;
        }
        let mut reported = BTreeSet::new();
        // (group, regular view id) -> one process that delivered the message in it.
        let mut in_views: BTreeMap<(usize, u64), usize> = BTreeMap::new();
        for r in records {
            if let Some(entry) = walk.views.get(r.view).filter(|e| !e.view.transitional) {
                in_views
                    .entry((r.group, entry.view.view_id))
                    .or_insert(r.proc);
            }
        }
        for (key, &p) in &in_views {
            for &e in walk.installs.get(key).into_iter().flatten() {
                let Some(entry) = walk.views.get(e) else {
                    continue;
                };
                let x = entry.holder;
                let delivered = walk.delivered.get(x).is_none_or(|d| d.contains(m));
                if entry.member && !ix.crashed(x) && !delivered && reported.insert(x) {
                    report.add(SAFE, || {
                        format!(
                            "{} never delivers safe message {}, though it installed view {} of \
                             {} in which {} delivered it",
                            name(history, x),
                            ix.id(m),
                            entry.view.view_id,
                            entry.view.group,
                            name(history, p)
                        )
                    });
                }
            }
        }
    }
}
