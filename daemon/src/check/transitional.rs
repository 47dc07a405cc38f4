//! Guarantee 4, transitional views: where a transitional view may stand in a process's log and
//! what it may list, judged from the receiver's state of the group just before it.

use super::names::list;
use super::report::Report;
use super::walk::{GroupState, ViewEntry, Walk};
use super::{History, ProcessLog, TRANSITIONAL};

/// Every transitional view in walk order, judged by its holder's state of the group just
/// before it.
pub(super) fn check(history: &History, walk: &Walk<'_>, report: &mut Report) {
    for entry in walk.views.iter().filter(|e| e.view.transitional) {
        if let Some(log) = history.processes.get(entry.holder) {
            check_transitional(log, entry.view, &entry.before, &walk.views, report);
        }
    }
}

/// Guarantee 4, transitional views. A network event opens a transitional period with a
/// transitional view of reason network, announcing which members of the receiver's previous view
/// move on with it: a subset of that view's members, including the receiver, and never right
/// after another transitional view. Group operations the old view had not delivered everywhere
/// then take effect inside the period as transitional views of their own reason (join, leave,
/// disconnect), each right after a transitional view, or, for a join, as the joiner's first view.
/// A regular view ends the period.
///
/// `st` is the receiver's state of the group before this view is applied: its `view` is the
/// receiver's previous view, `last_view_id` the last one received.
fn check_transitional(
    log: &ProcessLog,
    v: &gcs::GroupView,
    st: &GroupState,
    views: &[ViewEntry<'_>],
    report: &mut Report,
) {
    let network = v.reason == gcs::Reason::Network;
    let last = || st.last_view_id.map_or("?".to_string(), |id| id.to_string());
    // A process that asked to join may first see the group in the transitional view of its join.
    let own_join = v.reason == gcs::Reason::Join && v.joined.contains(&log.name);
    // Joined again before its leave's view came: it is still in its earlier membership, whose
    // view the walk set aside at the Join.
    let rejoined = st.joined && st.leaving > 0;
    if network && st.last_transitional {
        report.add(TRANSITIONAL, || {
            format!(
                "{} receives transitional view {} of {} right after transitional view {}",
                log.name,
                v.view_id,
                v.group,
                last()
            )
        });
    }
    // A group operation's transitional view belongs inside a period, or starts a joiner's view.
    let in_period = st.last_transitional || (own_join && st.view.is_none());
    if !network && !in_period {
        report.add(TRANSITIONAL, || {
            let after = match st.last_view_id {
                Some(id) => format!("right after regular view {id}"),
                None => "as its first view".to_string(),
            };
            format!(
                "{} receives transitional {} view {} of {} {after}, outside a transitional period",
                log.name, v.reason, v.view_id, v.group
            )
        });
    }
    // Joined again (and maybe left again) before the first leave's view came: the earlier
    // membership is still the one in effect.
    let before = st.view.or(st.stale).and_then(|e| views.get(e));
    match before {
        // A group operation's transitional view adds or removes a member: only the network
        // view that opens the period is a subset of the view before it.
        Some(before) if network => {
            let outside = |m: &&String| !before.view.members.contains(m);
            if v.members.iter().any(|m| outside(&m)) {
                report.add(TRANSITIONAL, || {
                    let extra: Vec<String> = v.members.iter().filter(outside).cloned().collect();
                    format!(
                        "{} receives transitional view {} of {} listing {}, absent from its \
                         previous view {} {}",
                        log.name,
                        v.view_id,
                        v.group,
                        list(&extra),
                        before.view.view_id,
                        list(&before.view.members)
                    )
                });
            }
        }
        Some(_) => {}
        None if st.receives() && !own_join && !rejoined => report.add(TRANSITIONAL, || {
            format!(
                "{} receives transitional view {} of {} without a view of it before",
                log.name, v.view_id, v.group
            )
        }),
        None => {}
    }
    // A member that lacks itself is already a self-inclusion violation, unless it is leaving:
    // then the walk takes the view as the end of its membership, which only a regular view is,
    // or the transitional view of its own leave, taking effect inside the period.
    let own_leave = v.reason == gcs::Reason::Leave && v.left.contains(&log.name);
    if st.leaving > 0 && !v.members.contains(&log.name) && !own_leave {
        report.add(TRANSITIONAL, || {
            format!(
                "{} receives transitional view {} of {} without itself while leaving",
                log.name, v.view_id, v.group
            )
        });
    }
}
