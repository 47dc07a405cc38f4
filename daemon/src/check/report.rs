//! Collects violations per guarantee and hands them back in DESIGN.md order, capped. It owns
//! the cap; it never decides what is a violation.

use super::{Violation, GUARANTEES};
use std::collections::BTreeMap;

/// How many violations of one guarantee are spelled out. One bug usually breaks a guarantee many
/// times over; the first few say what is wrong, the rest would only bury the other guarantees.
pub(super) const MAX_PER_GUARANTEE: usize = 20;

/// Collects violations per guarantee, keeping only the first few of each.
#[derive(Default)]
pub(super) struct Report {
    /// Guarantee -> (violations kept, how many more were seen).
    pub(super) found: BTreeMap<&'static str, (Vec<Violation>, usize)>,
}

impl Report {
    /// Records one violation. The detail is built lazily: a broken run may break a guarantee
    /// millions of times, and formatting text that is then thrown away would dominate the check.
    pub(super) fn add(&mut self, guarantee: &'static str, detail: impl FnOnce() -> String) {
        let (kept, more) = self.found.entry(guarantee).or_default();
        if kept.len() < MAX_PER_GUARANTEE {
            kept.push(Violation {
                guarantee,
                detail: detail(),
            });
        } else {
            *more += 1;
        }
    }

    /// The violations in guarantee order, each capped list followed by a note of what was left out.
    pub(super) fn finish(mut self) -> Vec<Violation> {
        let mut out = Vec::new();
        for guarantee in GUARANTEES {
            if let Some((kept, more)) = self.found.remove(guarantee) {
                out.extend(kept);
                if more > 0 {
                    out.push(Violation {
                        guarantee,
                        detail: format!(
                            "... and {more} more violations of this guarantee not shown"
                        ),
                    });
                }
            }
        }
        out
    }
}
