//! Guarantee 1, views: self inclusion (a member's view lists it), local monotonicity (view ids
//! only grow at a process) and view agreement (one id names one view everywhere). Reads the
//! walk's view entries; touches nothing else.

use super::index::Index;
use super::names::list;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::{MONOTONICITY, SELF_INCLUSION, VIEW_AGREEMENT};

/// Every view entry in walk order: its id against the holder's last one (monotonicity), whether
/// it lists a member holder (self inclusion), and whether it matches the first view with its id
/// (view agreement).
pub(super) fn check(history: &History, _ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (here, entry) in walk.views.iter().enumerate() {
        let v = entry.view;
        let st = &entry.before;
        let Some(log) = history.processes.get(entry.holder) else {
            continue;
        };
        if let Some(last) = st.last_view_id {
            if v.view_id <= last {
                report.add(MONOTONICITY, || {
                    format!(
                        "{} receives view {} of {} after view {last}",
                        log.name, v.view_id, v.group
                    )
                });
            }
        }
        let lists_self = v.members.contains(&log.name);
        // A leaver's view without itself is the end of its membership, not a broken view.
        let ends_membership = st.leaving > 0 && !lists_self;
        if !ends_membership && st.joined && !lists_self {
            report.add(SELF_INCLUSION, || {
                format!(
                    "{} is a member of {} but receives view {} without itself: {}",
                    log.name,
                    v.group,
                    v.view_id,
                    list(&v.members)
                )
            });
        }
        let first = walk
            .installs
            .get(&(entry.group, v.view_id))
            .and_then(|e| e.first().copied());
        let Some(first) = first.filter(|&f| f != here) else {
            continue;
        };
        let other = &walk.views[first];
        if let Some(diff) = view_difference(other.view, v) {
            let other_name = &history.processes[other.holder].name;
            report.add(VIEW_AGREEMENT, || {
                format!(
                    "view {} of {} differs between {other_name} and {}: {diff}",
                    v.view_id, v.group, log.name
                )
            });
        }
    }
}

/// Which fields of two views with the same group and id differ, or None if they are identical.
fn view_difference(a: &gcs::GroupView, b: &gcs::GroupView) -> Option<String> {
    let mut diffs = Vec::new();
    if a.members != b.members {
        diffs.push(format!(
            "members {} vs {}",
            list(&a.members),
            list(&b.members)
        ));
    }
    // Who joined and who left with a network view depends on where the receiver came from: when
    // two partitions merge, each side sees the other side join. Only members and flag must agree.
    let network = a.reason == gcs::Reason::Network && b.reason == gcs::Reason::Network;
    if a.joined != b.joined && !network {
        diffs.push(format!("joined {} vs {}", list(&a.joined), list(&b.joined)));
    }
    if a.left != b.left && !network {
        diffs.push(format!("left {} vs {}", list(&a.left), list(&b.left)));
    }
    if a.reason != b.reason {
        diffs.push(format!("reason {} vs {}", a.reason, b.reason));
    }
    if a.transitional != b.transitional {
        diffs.push(format!(
            "transitional {} vs {}",
            a.transitional, b.transitional
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}
