//! Guarantee 5, total order: any two processes deliver the agreed and safe messages they both
//! deliver in the same order.

use super::bits::small;
use super::index::Index;
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::History;
use super::TOTAL_ORDER;

/// Any two processes deliver the agreed and safe messages they both deliver in the same order.
///
/// For each process p, its agreed deliveries are ranked; every other process q's agreed
/// deliveries, read in q's order, must then have increasing ranks in p. Any drop is a pair of
/// messages the two deliver in opposite orders.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    let agreed = |m: &usize| {
        ix.order
            .get(*m)
            .copied()
            .flatten()
            .is_some_and(|o| o >= gcs::Order::Agreed)
    };
    let sequences: Vec<Vec<usize>> = walk
        .deliveries
        .iter()
        .map(|d| d.iter().copied().filter(agreed).collect())
        .collect();
    let mut rank = vec![u32::MAX; ix.msgs()];
    for (p, seq_p) in sequences.iter().enumerate() {
        for (i, &m) in seq_p.iter().enumerate() {
            rank[m] = small(i);
        }
        for (q, seq_q) in sequences.iter().enumerate().skip(p + 1) {
            // The message q delivered so far that p delivers latest.
            let mut latest: Option<(u32, usize)> = None;
            for &x in seq_q {
                let r = rank[x];
                if r == u32::MAX {
                    continue;
                }
                match latest {
                    Some((lr, y)) if r < lr => report.add(TOTAL_ORDER, || {
                        format!(
                            "{} delivers {} before {}, but {} delivers {} before {}",
                            name(history, p),
                            ix.id(x),
                            ix.id(y),
                            name(history, q),
                            ix.id(y),
                            ix.id(x)
                        )
                    }),
                    _ => latest = Some((r, x)),
                }
            }
        }
        for &m in seq_p {
            rank[m] = u32::MAX;
        }
    }
}
