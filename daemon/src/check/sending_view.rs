//! Guarantee 3, sending view delivery (weak form): no delivery is in a view older than the
//! sender's view at the Send.

use super::index::Index;
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::SENDING_VIEW;

/// Guarantee 3, sending view delivery, in the weak form the daemons promise: a message is
/// delivered in the view in which the sender's daemon took it in, which may be newer than the
/// view the sender had when it sent (a view change was in flight) but is never older. So every
/// delivery of a message to a group is in a view of it no older than the sender's view of that
/// group at the Send. View ids grow, so "older" is "smaller id".
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (m, sends) in walk.send_views.iter().enumerate() {
        for &(g, sent_in) in sends {
            let Some(sent_in) = walk.views.get(sent_in) else {
                continue;
            };
            let since = sent_in.view.view_id;
            for r in walk.records.get(m).into_iter().flatten() {
                if r.group != g {
                    continue;
                }
                let Some(entry) = walk.views.get(r.view) else {
                    continue;
                };
                if entry.view.view_id < since {
                    report.add(SENDING_VIEW, || {
                        format!(
                            "{} delivers {} in view {} of {}, older than view {} in which {} \
                             sent it",
                            name(history, r.proc),
                            ix.id(m),
                            entry.view.view_id,
                            ix.gname(g),
                            since,
                            name(history, sent_in.holder)
                        )
                    });
                }
            }
        }
    }
}
