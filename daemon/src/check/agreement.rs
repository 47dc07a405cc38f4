//! Guarantee 6, agreement (complete histories only): a message delivered in a view reaches
//! every member that stayed with a deliverer and did not crash.

use super::index::Index;
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::AGREEMENT;
use std::collections::{BTreeMap, BTreeSet};

/// Guarantee 6, agreement: a message delivered in a view reaches every member of that view that
/// stayed with the deliverer and did not crash.
///
/// Members are the processes that installed the view as members (one id names one view
/// cluster-wide); members that were not logged are not known and so not checked. Staying
/// together is read from what came next: a member is excused if it and every process that
/// delivered the message in the view moved on from it to views other than each other's, i.e. a
/// partition put them on different sides before the message reached it. A member whose log ends
/// in the view (it is still there, or leaving) has not moved away from anyone, and neither has a
/// live deliverer whose log ends there. A deliverer that crashed in the view binds only members
/// that also stayed in it: the others may have lost it together with the message. Where two
/// moved on to the same view, virtual synchrony already compares what they delivered; this
/// check adds that it was delivered at all.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (m, records) in walk.records.iter().enumerate() {
        let mut reported = BTreeSet::new();
        // (group, view id) -> where the deliverers in that view went -> one such deliverer.
        // Every receiver usually delivered in the same view; look at each view once.
        let mut in_views: BTreeMap<(usize, u64), BTreeMap<Went, usize>> = BTreeMap::new();
        for r in records {
            let Some(entry) = walk.views.get(r.view) else {
                continue;
            };
            let went = match walk.next_id(r.view) {
                Some(next) => Went::To(next),
                None if ix.crashed(r.proc) => Went::Crashed,
                None => Went::Stayed,
            };
            in_views
                .entry((r.group, entry.view.view_id))
                .or_default()
                .entry(went)
                .or_insert(r.proc);
        }
        for (key, went) in &in_views {
            for &e in walk.installs.get(key).into_iter().flatten() {
                let Some(entry) = walk.views.get(e) else {
                    continue;
                };
                let x = entry.holder;
                let delivered = walk.delivered.get(x).is_none_or(|d| d.contains(m));
                if !entry.member || ix.crashed(x) || delivered {
                    continue;
                }
                // A deliverer x stayed together with, if any.
                let with = match walk.next_id(e) {
                    None => went.values().next(),
                    Some(next) => went
                        .get(&Went::Stayed)
                        .or_else(|| went.get(&Went::To(next))),
                };
                let Some(&p) = with else {
                    continue;
                };
                if reported.insert(x) {
                    report.add(AGREEMENT, || {
                        format!(
                            "{} never delivers {}, though it is in view {} of {} in which {} \
                             delivered it",
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

/// Where a process went from the view it delivered a message in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Went {
    /// Its log ends in the view and it did not crash: it is still there (or leaving).
    Stayed,
    /// Its log ends in the view with a crash.
    Crashed,
    /// It moved on directly to the view with this id.
    To(u64),
}
