//! Guarantee 2: integrity (a delivery matches its send) and no duplication. Integrity is read
//! straight from the logs and the index; duplicates from the walk.

use super::index::{Index, Sent};
use super::names::{list, name, same_groups};
use super::report::Report;
use super::walk::Walk;
use super::{Event, History, ProcessLog, INTEGRITY, NO_DUPLICATION};

/// Every delivery against its send (integrity), then every repeated delivery (no duplication).
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (p, log) in history.processes.iter().enumerate() {
        for (pos, event) in log.events.iter().enumerate() {
            if matches!(event, Event::Deliver { .. }) {
                let sent = ix.sent.get(ix.key(p, pos)).and_then(Option::as_ref);
                check_integrity(history, ix, log, event, sent, report);
            }
        }
    }
    for &(p, m) in &walk.repeats {
        report.add(NO_DUPLICATION, || {
            format!(
                "{} delivers message {} more than once",
                name(history, p),
                ix.id(m)
            )
        });
    }
}

/// Guarantee 2, integrity: a delivery must match the send of the process it names.
fn check_integrity(
    history: &History,
    ix: &Index<'_>,
    log: &ProcessLog,
    delivery: &Event,
    sent: Option<&Sent<'_>>,
    report: &mut Report,
) {
    let Event::Deliver {
        id,
        sender,
        groups,
        order,
    } = delivery
    else {
        return;
    };
    let order = *order;
    let Some(s) = sent else {
        // Only provable when the named sender was logged: runs may log only some clients, and a
        // message from an unlogged one has no Send to find.
        if ix.procs_named.contains_key(sender.as_str()) {
            report.add(INTEGRITY, || {
                format!(
                    "{} delivers {id} from {sender}, which never sent it",
                    log.name
                )
            });
        }
        return;
    };
    let real_sender = name(history, s.proc);
    if real_sender != sender {
        report.add(INTEGRITY, || {
            format!(
                "{} delivers {id} as sent by {sender}, but {real_sender} sent it",
                log.name
            )
        });
    }
    if !same_groups(s.groups, groups) {
        report.add(INTEGRITY, || {
            format!(
                "{} delivers {id} for groups {}, but it was sent to {}",
                log.name,
                list(groups),
                list(s.groups)
            )
        });
    }
    if s.order != order {
        report.add(INTEGRITY, || {
            format!(
                "{} delivers {id} as {order}, but it was sent as {}",
                log.name, s.order
            )
        });
    }
}
