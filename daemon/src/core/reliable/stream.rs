//! One daemon's stream as this daemon holds it: what is contiguous, the history, chunks beyond
//! a gap, reassembly, what is known of the origin, and the NACK bookkeeping of its gaps.
//!
//! Owns the per-stream state and the questions about it alone (its gaps, a chunk by number);
//! everything that spans streams (acknowledgements, stability, limits) is `Streams`'.

use super::MAX_NACK_RANGES;
use crate::core::packet::DataChunk;
use crate::core::time::Time;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

/// One daemon's stream as this daemon holds it.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// Every chunk up to here has been received.
    pub(super) contiguous: u64,
    /// Chunks `stable+1 ..= contiguous`, kept for retransmission until every daemon has them.
    pub(super) history: VecDeque<DataChunk>,
    /// The sequence number before `history`'s first chunk: everything up to it is stable.
    pub(super) stable: u64,
    /// Chunks received beyond a gap.
    pub(super) ahead: BTreeMap<u64, DataChunk>,
    /// The highest sequence number the origin is known to have used.
    pub(super) announced: u64,
    /// Fragments of the item being reassembled.
    pub(super) assembling: Vec<Bytes>,
    /// Their bytes, kept as they arrive so each fragment costs the same however many came before.
    pub(super) assembled: usize,
    /// Largest timestamp known to bound the origin's future items (from complete items and acks
    /// applied in stream order).
    pub(super) heard_ts: u64,
    /// Largest epoch known from the origin, likewise.
    pub(super) heard_epoch: u64,
    /// The newest ack from the origin that cannot be applied yet because of a gap before it.
    pub(super) waiting_ack: Option<(u64, u64, u64)>,
    /// When to ask for the missing chunks next, if any are missing.
    pub(super) nack_at: Option<Time>,
    /// How many times the current gap has been asked for.
    pub(super) nack_tries: u32,
    /// The daemons other than the origin asked for chunks since the stream last had no gap:
    /// only they may send this daemon chunks of the stream.
    pub(super) asked: Vec<u16>,
    /// Bytes of chunk bodies in `history` and `ahead`.
    pub(super) bytes: usize,
    /// Bytes of chunk bodies in `ahead` alone.
    pub(super) ahead_bytes: usize,
    /// The item being reassembled has grown past the largest allowed: its parts are dropped
    /// until the next item starts.
    pub(super) oversized: bool,
}

impl Stream {
    pub(super) fn has_gap(&self) -> bool {
        self.announced > self.contiguous || !self.ahead.is_empty()
    }

    /// Missing ranges between what is contiguous and what is known to exist.
    pub(super) fn gaps(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut next = self.contiguous + 1;
        for &seq in self.ahead.keys() {
            if seq > next {
                out.push((next, seq - 1));
            }
            next = seq + 1;
            if out.len() >= MAX_NACK_RANGES {
                return out;
            }
        }
        if self.announced >= next {
            out.push((next, self.announced));
        }
        out
    }

    pub(super) fn chunk(&self, seq: u64) -> Option<&DataChunk> {
        if seq > self.stable && seq <= self.contiguous {
            self.history.get((seq - self.stable - 1) as usize)
        } else {
            self.ahead.get(&seq)
        }
    }
}
