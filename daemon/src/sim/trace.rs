//! The digest of a run: every output of every daemon, with its daemon and time.
//!
//! Owns the digest (FNV-1a, 64 bits: stable across builds and platforms, so two builds of the
//! code can be compared seed by seed). It only reads outputs; it never changes a run.

use crate::core::{Output, Time};

/// A running digest of the outputs of a run (FNV-1a, 64 bits: stable across builds and
/// platforms, so digests can be compared between two builds of the code).
pub(super) struct Trace {
    pub(super) hash: u64,
    pub(super) count: u64,
}

impl Trace {
    pub(super) fn new() -> Trace {
        Trace {
            hash: 0xcbf2_9ce4_8422_2325,
            count: 0,
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(super) fn record(&mut self, d: usize, now: Time, out: &Output) {
        self.count += 1;
        self.bytes(&(d as u64).to_le_bytes());
        self.bytes(&now.as_micros().to_le_bytes());
        match out {
            Output::Transmit { to, bytes } => {
                self.bytes(format!("T{to:?}").as_bytes());
                self.bytes(bytes);
            }
            Output::Deliver { to, frame } => {
                self.bytes(format!("D{to:?}").as_bytes());
                self.bytes(frame);
            }
            Output::Send { to, response } => {
                self.bytes(format!("S{to:?}{response:?}").as_bytes());
            }
            Output::Close { client, error } => {
                self.bytes(format!("C{client:?}{error:?}").as_bytes());
            }
        }
    }
}
