//! Small number helpers the passes share: a dense bit set and a saturating count. They know
//! nothing about histories.

/// A fixed-size set of small integers. Delivered-message sets are queried millions of times on
/// large histories; a bit per element keeps that cheap in time and memory.
#[derive(Debug, Clone, Default)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    pub(super) fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    /// Adds `i`; false if it was already there (or out of range, which callers never ask for).
    pub(super) fn insert(&mut self, i: usize) -> bool {
        match self.0.get_mut(i / 64) {
            Some(word) => {
                let bit = 1u64 << (i % 64);
                let fresh = *word & bit == 0;
                *word |= bit;
                fresh
            }
            None => false,
        }
    }

    pub(super) fn contains(&self, i: usize) -> bool {
        self.0
            .get(i / 64)
            .is_some_and(|word| word & (1u64 << (i % 64)) != 0)
    }
}

/// Counts fit in `u32` for any history that fits in memory; saturate rather than panic if not.
pub(super) fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
