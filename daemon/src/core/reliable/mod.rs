//! Reliable multicast: every daemon's stream of chunks, numbered, kept until stable, with gaps
//! found and asked for again.
//!
//! Owns per-daemon sequence numbers, the history buffer (every chunk received or sent that not
//! every daemon has yet), out-of-order chunks, reassembly of fragmented items, what each daemon
//! has acknowledged, stability and its garbage collection, NACK bookkeeping, and the flow-control
//! count of this daemon's unstable bytes. It hands complete items on in stream order; it never
//! decides delivery order (that is `order`) and never touches a socket.

use super::packet::{self, Ack, DataChunk, Frag, Item};
use super::time::Time;
use bytes::{Bytes, BytesMut};
use stream::Stream;

mod stream;

/// Out-of-order chunks kept per stream at most; chunks further ahead are dropped (and asked for
/// again later), so a bogus sequence number cannot make a daemon allocate without bound.
pub const MAX_AHEAD: u64 = 1 << 16;

/// Ranges asked for in one NACK at most.
pub const MAX_NACK_RANGES: usize = 32;

/// A complete item, ready to be ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The daemon that created it.
    pub origin: u16,
    /// The sequence number of its last chunk.
    pub seq: u64,
    /// Its Lamport timestamp.
    pub ts: u64,
    /// The origin's epoch (group operations ordered) when it created it.
    pub epoch: u64,
    /// The item.
    pub item: Item,
}

/// A request for missing chunks, due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NackRequest {
    /// The stream with the gap.
    pub origin: u16,
    /// The daemon to ask.
    pub target: u16,
    /// The missing sequence numbers, as inclusive ranges.
    pub ranges: Vec<(u64, u64)>,
}

/// What [`Streams::receive`] made of a chunk.
#[derive(Debug, Default)]
pub struct Receipt {
    /// Items completed, in stream order.
    pub items: Vec<Received>,
    /// True if the chunk was new.
    pub new: bool,
    /// Items whose bytes could not be decoded (a peer's bug): skipped, counted.
    pub undecodable: u64,
}

/// Every daemon's stream, for a formed view of `n` daemons of which this one is `me`.
#[derive(Debug)]
pub struct Streams {
    me: u16,
    /// Largest item accepted, in bytes; a peer cannot make this daemon reassemble more.
    max_item: usize,
    /// Bytes of out-of-order chunks kept per stream at most.
    max_ahead_bytes: usize,
    /// Bytes of in-order chunks not yet stable kept per stream of another daemon at most: its
    /// send window bounds an honest origin's, with slack for acks that reach it before this
    /// daemon; past it, a peer's chunks are dropped and asked for again once some are stable.
    max_history_bytes: usize,
    streams: Vec<Stream>,
    /// `acked[e][d]`: daemon `e` has all of `d`'s stream up to here (this daemon's row is kept
    /// current from `streams`).
    acked: Vec<Vec<u64>>,
    /// Bytes of this daemon's own chunks that not every daemon has yet.
    own_unstable: usize,
    /// Daemons that are leaving the view (a view change is under way without them): they are not
    /// asked for missing chunks.
    departed: Vec<bool>,
    /// While a view change is under way: per stream, the most this daemon may acknowledge. An
    /// acknowledgement promises the item will be delivered here (a safe item is delivered once
    /// every daemon acknowledged it), and the flush delivers only what the member reported in
    /// its state, or the cut agreed later.
    ack_cap: Option<Vec<u64>>,
    /// The frontier acknowledged while a view change is under way (see `ack_cap`).
    frontier_cap: Option<u64>,
    /// Per daemon: the frontier from its latest ack (this daemon's own is computed).
    frontiers: Vec<u64>,
}

impl Streams {
    /// Empty streams for a view of `n` daemons, reassembling items of at most `max_item` bytes
    /// and keeping at most `max_ahead_bytes` of out-of-order chunks per stream, and that and one
    /// largest item more of another daemon's chunks that are not yet stable.
    pub fn new(me: u16, n: usize, max_item: usize, max_ahead_bytes: usize) -> Self {
        Streams {
            me,
            max_item,
            max_ahead_bytes,
            max_history_bytes: max_ahead_bytes.saturating_add(max_item),
            streams: (0..n).map(|_| Stream::default()).collect(),
            acked: vec![vec![0; n]; n],
            own_unstable: 0,
            departed: vec![false; n],
            ack_cap: None,
            frontier_cap: None,
            frontiers: vec![0; n],
        }
    }

    /// Number of daemons.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// True if there are no streams (never, for a formed view).
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// This daemon's index.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// Bytes of this daemon's chunks not yet held by every daemon.
    pub fn own_unstable_bytes(&self) -> usize {
        self.own_unstable
    }

    /// This daemon's own items that not every daemon has yet, in stream order (an item whose
    /// first chunks are already stable is left out: it cannot be read whole any more).
    pub fn own_unstable_items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let mut parts: Option<BytesMut> = None;
        for c in &self.streams[self.me as usize].history {
            let whole = match c.frag {
                Frag::Whole => Some(c.body.clone()),
                Frag::First => {
                    parts = Some(BytesMut::from(&c.body[..]));
                    None
                }
                Frag::Middle | Frag::Last => {
                    if let Some(p) = parts.as_mut() {
                        p.extend_from_slice(&c.body);
                    }
                    if c.frag == Frag::Last {
                        parts.take().map(BytesMut::freeze)
                    } else {
                        None
                    }
                }
            };
            if let Some(item) = whole.and_then(|b| packet::decode_item(b).ok()) {
                out.push(item);
            }
        }
        out
    }

    /// Bytes held in all history buffers and out-of-order stores.
    pub fn held_bytes(&self) -> usize {
        self.streams.iter().map(|s| s.bytes).sum()
    }

    /// The last sequence number this daemon has used.
    pub fn last_own_seq(&self) -> u64 {
        self.streams[self.me as usize].contiguous
    }

    /// Largest timestamp known to bound `origin`'s future items.
    pub fn heard_ts(&self, origin: u16) -> u64 {
        self.streams[origin as usize].heard_ts
    }

    /// Largest epoch known from `origin`.
    pub fn heard_epoch(&self, origin: u16) -> u64 {
        self.streams[origin as usize].heard_epoch
    }

    /// True if every daemon has `origin`'s stream up to `seq`.
    pub fn is_stable(&self, origin: u16, seq: u64) -> bool {
        self.acked.iter().all(|row| row[origin as usize] >= seq)
    }

    /// What this daemon has of each stream, for its acks (no more than the cap, if one is set).
    pub fn received_vector(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.streams.iter().map(|s| s.contiguous).collect();
        if let Some(cap) = &self.ack_cap {
            for (r, c) in v.iter_mut().zip(cap) {
                *r = (*r).min(*c);
            }
        }
        v
    }

    /// Acknowledges nothing beyond what this daemon has now (it reported it for a view change;
    /// `clock` is its Lamport clock).
    pub fn cap_acks(&mut self, clock: u64) {
        if self.ack_cap.is_none() {
            self.frontier_cap = Some(self.frontier(clock));
            self.ack_cap = Some(self.streams.iter().map(|s| s.contiguous).collect());
        }
    }

    /// This daemon's frontier, for its acks: it has every item of every stream with a timestamp
    /// up to here (its own stream's future items lie beyond `clock`).
    pub fn frontier(&self, clock: u64) -> u64 {
        let heard = self
            .streams
            .iter()
            .enumerate()
            .filter(|(o, _)| *o != self.me as usize)
            .map(|(_, s)| s.heard_ts)
            .min()
            .unwrap_or(u64::MAX);
        let f = heard.min(clock);
        self.frontier_cap.map_or(f, |cap| f.min(cap))
    }

    /// True if every other daemon has said it holds every item with a timestamp up to `ts`.
    pub fn everyone_holds_up_to(&self, ts: u64) -> bool {
        self.frontiers
            .iter()
            .enumerate()
            .all(|(e, f)| e == self.me as usize || *f >= ts)
    }

    /// Acknowledges up to `cut` too (the view change agreed to deliver that much).
    pub fn raise_ack_cap(&mut self, cut: &[u64]) {
        if let Some(cap) = &mut self.ack_cap {
            for (c, seq) in cap.iter_mut().zip(cut) {
                *c = (*c).max(*seq);
            }
        }
    }

    /// What this daemon has of `origin`'s stream: every chunk up to here.
    pub fn contiguous(&self, origin: u16) -> u64 {
        self.streams
            .get(origin as usize)
            .map_or(0, |s| s.contiguous)
    }

    /// Makes sure `origin`'s stream is fetched up to `seq` (a view change agreed on it): missing
    /// chunks are asked for at once.
    pub fn expect(&mut self, origin: u16, seq: u64) {
        let Some(s) = self.streams.get_mut(origin as usize) else {
            return;
        };
        s.announced = s.announced.max(seq);
        if s.contiguous < seq {
            s.nack_at = Some(Time::ZERO);
        }
    }

    /// Marks the daemons that are leaving: missing chunks are asked of the others only.
    pub fn set_departed(&mut self, departed: Vec<bool>) {
        if departed.len() == self.streams.len() {
            self.departed = departed;
        }
    }

    /// Records this daemon's own `clock` and `epoch` as heard (its own future items exceed them).
    pub fn note_own(&mut self, clock: u64, epoch: u64) {
        let s = &mut self.streams[self.me as usize];
        s.heard_ts = s.heard_ts.max(clock);
        s.heard_epoch = s.heard_epoch.max(epoch);
    }

    /// Appends an item of this daemon's to its stream, split into chunks whose bodies are at most
    /// `max_body` bytes. Returns the chunks to transmit.
    pub fn send(&mut self, ts: u64, epoch: u64, item: &Item, max_body: usize) -> Vec<DataChunk> {
        let body = packet::encode_item(item);
        let max_body = max_body.max(1);
        let parts = body.len().div_ceil(max_body).max(1);
        let me = self.me;
        let mut out = Vec::with_capacity(parts);
        for i in 0..parts {
            let frag = match (parts, i) {
                (1, _) => Frag::Whole,
                (_, 0) => Frag::First,
                (p, i) if i + 1 == p => Frag::Last,
                _ => Frag::Middle,
            };
            let lo = i * max_body;
            let hi = ((i + 1) * max_body).min(body.len());
            let s = &mut self.streams[me as usize];
            let chunk = DataChunk {
                origin: me,
                seq: s.contiguous + 1,
                ts,
                epoch,
                frag,
                body: body.slice(lo..hi),
            };
            s.contiguous += 1;
            s.announced = s.contiguous;
            s.bytes += chunk.body.len();
            self.own_unstable += chunk.body.len();
            s.history.push_back(chunk.clone());
            out.push(chunk);
        }
        let s = &mut self.streams[me as usize];
        s.heard_ts = s.heard_ts.max(ts);
        s.heard_epoch = s.heard_epoch.max(epoch);
        self.acked[me as usize][me as usize] = s.contiguous;
        out
    }

    /// Takes in a chunk that daemon `from` sent: of its own stream, or of another daemon's that
    /// this daemon asked it for. Any other is dropped: a daemon passing on chunks unasked could
    /// put its own words in another daemon's stream before the real ones arrive.
    pub fn receive_from(&mut self, from: u16, chunk: DataChunk) -> Receipt {
        let unasked = from != chunk.origin
            && !self
                .streams
                .get(chunk.origin as usize)
                .is_some_and(|s| s.asked.contains(&from));
        if unasked {
            tracing::debug!(
                from,
                origin = chunk.origin,
                seq = chunk.seq,
                "dropped a chunk of another daemon's stream that was not asked for"
            );
            return Receipt::default();
        }
        self.receive(chunk)
    }

    /// Takes in a chunk of another daemon's stream (new or retransmitted).
    pub fn receive(&mut self, chunk: DataChunk) -> Receipt {
        let mut receipt = Receipt::default();
        let o = chunk.origin as usize;
        if o >= self.streams.len() || o == self.me as usize {
            return receipt;
        }
        let s = &mut self.streams[o];
        if chunk.seq <= s.contiguous || s.ahead.contains_key(&chunk.seq) {
            return receipt; // a duplicate
        }
        if chunk.seq - s.contiguous > MAX_AHEAD {
            return receipt;
        }
        s.announced = s.announced.max(chunk.seq);
        receipt.new = true;
        if chunk.seq > s.contiguous + 1 {
            if s.ahead_bytes + chunk.body.len() > self.max_ahead_bytes {
                // Too far ahead to keep: it will be asked for again once the gap fills.
                receipt.new = false;
                return receipt;
            }
            s.bytes += chunk.body.len();
            s.ahead_bytes += chunk.body.len();
            s.ahead.insert(chunk.seq, chunk);
            if s.nack_at.is_none() {
                s.nack_at = Some(Time::ZERO); // ask at once
            }
            return receipt;
        }
        if s.bytes - s.ahead_bytes + chunk.body.len() > self.max_history_bytes {
            // More unstable bytes than an honest origin holds: some daemon is not acknowledging
            // (it will be removed) or the origin ignores its window. Asked for again later.
            receipt.new = false;
            if s.nack_at.is_none() {
                s.nack_at = Some(Time::ZERO);
            }
            return receipt;
        }
        s.bytes += chunk.body.len();
        self.append(o, chunk, &mut receipt);
        loop {
            let s = &mut self.streams[o];
            let next = s.contiguous + 1;
            let Some(c) = s.ahead.remove(&next) else {
                break;
            };
            s.ahead_bytes -= c.body.len();
            self.append(o, c, &mut receipt);
        }
        let s = &mut self.streams[o];
        if let Some((clock, last_seq, epoch)) = s.waiting_ack {
            if s.contiguous >= last_seq {
                s.heard_ts = s.heard_ts.max(clock);
                s.heard_epoch = s.heard_epoch.max(epoch);
                s.waiting_ack = None;
            }
        }
        if !s.has_gap() {
            s.nack_at = None;
            s.nack_tries = 0;
            s.asked.clear();
        }
        self.acked[self.me as usize][o] = self.streams[o].contiguous;
        // The other daemons may have acknowledged these chunks before this one got them.
        self.collect_stream(o);
        receipt
    }

    /// Adds the next chunk of stream `o` and reassembles.
    fn append(&mut self, o: usize, chunk: DataChunk, receipt: &mut Receipt) {
        let s = &mut self.streams[o];
        s.contiguous = chunk.seq;
        let (seq, ts, epoch, frag) = (chunk.seq, chunk.ts, chunk.epoch, chunk.frag);
        let body = chunk.body.clone();
        s.history.push_back(chunk);
        let whole = match frag {
            Frag::Whole => {
                s.assembling.clear();
                s.assembled = 0;
                s.oversized = false;
                Some(body)
            }
            Frag::First | Frag::Middle | Frag::Last => {
                if frag == Frag::First {
                    s.assembling.clear();
                    s.assembled = 0;
                    s.oversized = false;
                }
                let so_far = s.assembled;
                if s.oversized || so_far + body.len() > self.max_item {
                    // A peer's bug or lie: never hold more than the largest item allowed.
                    if !s.oversized {
                        receipt.undecodable += 1;
                    }
                    s.oversized = frag != Frag::Last;
                    s.assembling.clear();
                    s.assembled = 0;
                    None
                } else {
                    s.assembled += body.len();
                    s.assembling.push(body);
                    (frag == Frag::Last).then(|| {
                        let mut all = BytesMut::with_capacity(
                            so_far + s.assembling.last().map_or(0, Bytes::len),
                        );
                        for part in s.assembling.drain(..) {
                            all.extend_from_slice(&part);
                        }
                        s.assembled = 0;
                        all.freeze()
                    })
                }
            }
        };
        let Some(bytes) = whole else {
            return;
        };
        s.heard_ts = s.heard_ts.max(ts);
        s.heard_epoch = s.heard_epoch.max(epoch);
        match packet::decode_item(bytes) {
            Ok(item) => receipt.items.push(Received {
                origin: o as u16,
                seq,
                ts,
                epoch,
                item,
            }),
            Err(_) => receipt.undecodable += 1,
        }
    }

    /// Takes in an ack from daemon `from`. Returns true if it made anything newly stable.
    pub fn on_ack(&mut self, from: u16, ack: &Ack) -> bool {
        let f = from as usize;
        if f >= self.streams.len()
            || f == self.me as usize
            || ack.received.len() != self.streams.len()
        {
            return false;
        }
        let mut moved = false;
        for (d, r) in ack.received.iter().enumerate() {
            // An ack cannot claim more of a stream than its origin has announced to anyone; a
            // claim beyond this daemon's own stream is a lie or a bug and is capped. A claim
            // about a third daemon's stream is not: it speaks only for the sender (whether the
            // sender has those chunks), and stability and NACK targets are only ever asked of
            // chunks this daemon holds or knows of, so a claim past them changes nothing, while
            // capping an honest one that outran the chunk would delay stability to the next ack.
            let r = if d == self.me as usize {
                (*r).min(self.streams[d].contiguous)
            } else {
                *r
            };
            if r > self.acked[f][d] {
                self.acked[f][d] = r;
                moved = true;
            }
        }
        // An honest daemon's frontier never passes its own clock.
        let frontier = ack.frontier.min(ack.clock);
        if frontier > self.frontiers[f] {
            self.frontiers[f] = frontier;
            moved = true;
        }
        let s = &mut self.streams[f];
        s.announced = s.announced.max(ack.last_seq);
        if s.contiguous >= ack.last_seq {
            s.heard_ts = s.heard_ts.max(ack.clock);
            s.heard_epoch = s.heard_epoch.max(ack.epoch);
        } else {
            let newer = s
                .waiting_ack
                .is_none_or(|(_, last, _)| ack.last_seq >= last);
            if newer {
                s.waiting_ack = Some((ack.clock, ack.last_seq, ack.epoch));
            }
            if s.nack_at.is_none() {
                s.nack_at = Some(Time::ZERO);
            }
        }
        if moved {
            self.collect_garbage();
        }
        moved
    }

    /// Drops every chunk that all daemons have.
    pub fn collect_garbage(&mut self) {
        for d in 0..self.streams.len() {
            self.collect_stream(d);
        }
    }

    /// Drops the chunks of stream `d` that all daemons have.
    fn collect_stream(&mut self, d: usize) {
        let stable = self.acked.iter().map(|row| row[d]).min().unwrap_or(0);
        let s = &mut self.streams[d];
        while s.stable < stable {
            let Some(c) = s.history.pop_front() else {
                break;
            };
            s.stable = c.seq;
            s.bytes -= c.body.len();
            if d == self.me as usize {
                self.own_unstable -= c.body.len();
            }
        }
    }

    /// True if anything is unfinished: chunks not yet stable, or gaps.
    pub fn busy(&self) -> bool {
        self.streams
            .iter()
            .any(|s| !s.history.is_empty() || s.has_gap())
    }

    /// Streams whose gaps are due to be asked for at `now`: of the origin, or, once it is
    /// leaving the view, in turn of the other daemons known to have the chunks.
    pub fn due_nacks(&mut self, now: Time, retry: std::time::Duration) -> Vec<NackRequest> {
        let mut out = Vec::new();
        for o in 0..self.streams.len() {
            if o == self.me as usize {
                continue;
            }
            let s = &mut self.streams[o];
            if s.nack_at.is_none_or(|t| t > now) {
                continue;
            }
            let ranges = if s.has_gap() { s.gaps() } else { Vec::new() };
            if ranges.is_empty() {
                s.nack_at = None;
                s.nack_tries = 0;
                s.asked.clear();
                continue;
            }
            let s = &self.streams[o];
            let first_missing = ranges[0].0;
            let tries = s.nack_tries;
            // Candidates: the origin while it is a member; once it is leaving, every other
            // daemon that has acknowledged the chunk. Chunks passed on by a third daemon are
            // taken on its word (see `receive_from`), so they are asked for only when the origin
            // cannot answer any more.
            let mut who = Vec::new();
            if !self.departed[o] {
                who.push(o as u16);
            } else {
                who.extend(
                    (0..self.streams.len())
                        .filter(|e| *e != o && *e != self.me as usize && !self.departed[*e])
                        .filter(|e| self.acked[*e][o] >= first_missing)
                        .map(|e| e as u16),
                );
            }
            if who.is_empty() {
                // Nobody left to ask yet: try again later (a view change will decide).
                self.streams[o].nack_at = Some(now + retry);
                continue;
            }
            let target = who[tries as usize % who.len()];
            out.push(NackRequest {
                origin: o as u16,
                target,
                ranges,
            });
            let s = &mut self.streams[o];
            s.nack_tries += 1;
            s.nack_at = Some(now + retry);
            if target as usize != o && !s.asked.contains(&target) {
                s.asked.push(target);
            }
        }
        out
    }

    /// The earliest time a NACK is due.
    pub fn next_nack(&self) -> Option<Time> {
        self.streams.iter().filter_map(|s| s.nack_at).min()
    }

    /// The chunks of `origin`'s stream in `ranges` that this daemon holds, up to `budget` bytes.
    pub fn chunks_for(&self, origin: u16, ranges: &[(u64, u64)], budget: usize) -> Vec<DataChunk> {
        let Some(s) = self.streams.get(origin as usize) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut used = 0;
        for &(a, b) in ranges {
            let in_history = (a.max(s.stable + 1)..=b.min(s.contiguous)).filter_map(|q| s.chunk(q));
            let lo = a.max(s.contiguous + 1);
            // BTreeMap::range panics on an inverted range, which a NACK may well ask for.
            let ahead = (lo <= b)
                .then(|| s.ahead.range(lo..=b).map(|(_, c)| c))
                .into_iter()
                .flatten();
            for c in in_history.chain(ahead) {
                used += c.body.len() + packet::DATA_CHUNK_OVERHEAD;
                if used > budget && !out.is_empty() {
                    return out;
                }
                out.push(c.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
