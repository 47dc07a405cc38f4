//! Guarantee 5, FIFO order: a process delivers one sender's FIFO (or stronger) messages in the
//! order they were sent.

use super::index::Index;
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::FIFO;
use std::collections::BTreeMap;

/// Each process's first deliveries in its order: a FIFO message delivered after a later-sent
/// one from the same sender breaks the order.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (p, delivered) in walk.deliveries.iter().enumerate() {
        // Per sender, the latest-sent FIFO message delivered so far: (seq, message).
        let mut latest: BTreeMap<usize, (u32, usize)> = BTreeMap::new();
        for &m in delivered {
            let Some(s) = ix.sent.get(m).and_then(Option::as_ref) else {
                continue;
            };
            if s.order < gcs::Order::Fifo {
                continue;
            }
            match latest.get(&s.proc) {
                Some(&(seq, later)) if seq > s.seq => {
                    report.add(FIFO, || {
                        let id = ix.id(m);
                        format!(
                            "{} delivers {id} after {}, but {} sent {id} first",
                            name(history, p),
                            ix.id(later),
                            name(history, s.proc)
                        )
                    });
                }
                _ => {
                    latest.insert(s.proc, (s.seq, m));
                }
            }
        }
    }
}
