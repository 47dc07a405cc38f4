//! Delivery order: which complete item may be delivered next, for every order.
//!
//! Owns the Lamport clock, the per-daemon stream queues, the total order and the view barrier.
//! - `reliable` items are delivered as soon as they are in, not waiting for anything but an earlier
//!   group operation of their own stream (a client's join takes effect before what it sends next).
//! - `fifo` items are delivered in their daemon's stream order, after every earlier item of that
//!   stream, so a client's messages of every order arrive in the order it sent them.
//! - `causal`, `agreed`, `safe` items and group operations are delivered in one total order, by
//!   (Lamport timestamp, daemon index), once every daemon of the view has been heard from with a
//!   timestamp at least as large: nothing that sorts before can still arrive. Lamport order
//!   respects causality, so causal delivery is a by-product. A `safe` item also waits until every
//!   daemon has it and every daemon's frontier (it holds every item of every stream up to that
//!   timestamp) has passed it, so no view change anywhere can leave it out.
//! - A group operation changes a group's view. Every item carries the epoch (the number of group
//!   operations its daemon had ordered when it created it); an item is never delivered in an
//!   epoch before its own. When a group operation reaches the head of the total order the daemon
//!   moves to the next epoch but installs the view only once every daemon has said it moved too;
//!   by then every item of the old epoch has arrived everywhere, so each is delivered at the same
//!   point, in the same view, at every daemon.
//!
//! It never touches the network; [`Streams`] says what has been heard from whom.

use super::packet::Item;
use super::reliable::{Received, Streams};
use gcs::Order;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// An item to deliver, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The daemon that created it.
    pub origin: u16,
    /// Its Lamport timestamp (with `origin`, its place in the total order).
    pub ts: u64,
    /// The item.
    pub item: Item,
}

/// How an item is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reliable,
    Fifo,
    /// Causal, agreed or safe: the total order.
    Total,
    /// A join or leave: the total order, then the view barrier.
    GroupOp,
}

impl Kind {
    fn of(item: &Item) -> Kind {
        match item {
            Item::Join { .. } | Item::Leave { .. } => Kind::GroupOp,
            Item::Multicast { order, .. } => match order {
                Order::Reliable => Kind::Reliable,
                Order::Fifo => Kind::Fifo,
                Order::Causal | Order::Agreed | Order::Safe => Kind::Total,
            },
        }
    }
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    ts: u64,
    epoch: u64,
    kind: Kind,
    /// Taken when delivered (a group operation's when it is ordered; it stays `done == false`
    /// until its view is installed).
    item: Option<Item>,
    done: bool,
}

/// The ordering state of one daemon.
#[derive(Debug)]
pub struct Orderer {
    me: u16,
    n: usize,
    clock: u64,
    ordered_epoch: u64,
    installed_epoch: u64,
    /// A group operation ordered but not yet installed: its epoch, where it is, and the item.
    barrier: Option<(u64, u16, u64, Item)>,
    /// Per daemon: items in stream order, from the oldest not yet done.
    queues: Vec<VecDeque<Entry>>,
    /// Per daemon: group operations in its queue not yet installed (they hold back reliable items).
    ops_waiting: Vec<usize>,
    /// Per daemon: reliable items in its queue held back (by a group operation, or their epoch).
    reliable_waiting: Vec<usize>,
    /// Totally ordered items not yet delivered: (timestamp, daemon) → sequence number.
    total: BTreeMap<(u64, u16), u64>,
    /// Timestamps of safe items this daemon's acknowledgements have not yet said its frontier
    /// passed: the daemons that deliver them wait for that.
    safe_unannounced: BTreeSet<u64>,
    /// Per daemon: the timestamp of its last item; each next one must be larger.
    last_ts: Vec<u64>,
    /// A view change is under way: nothing is delivered until [`Orderer::flush`].
    frozen: bool,
    /// The place in the total order of the last item delivered from it (a group operation's
    /// once its view is installed, not when it is ordered).
    last_total: (u64, u16),
    /// During a flush: per daemon, the last sequence number that may be delivered (the agreed
    /// cut), and the first item after which fifo items may no longer be (one was discarded).
    limit: Option<Vec<u64>>,
    fifo_stop: Vec<u64>,
}

/// What the survivors of a view agreed on for its flush (see `membership`).
#[derive(Debug, Clone)]
pub struct FlushPlan {
    /// Per daemon of the old view: the last sequence number of its stream that is delivered.
    pub cut: Vec<u64>,
    /// Per daemon of the old view: true if it moves on to the new view.
    pub survivor: Vec<bool>,
    /// Totally ordered items of departed daemons are delivered only up to this timestamp: no
    /// survivor can miss an earlier item of any stream, so nothing delivered can follow,
    /// causally, an item that is lost.
    pub bound: u64,
    /// The furthest place in the total order any survivor delivered in the old view: items up to
    /// it are delivered before the transitional views, the rest after.
    pub delivered: (u64, u16),
}

/// What a flush delivers.
#[derive(Debug, Default)]
pub struct Flushed {
    /// Before the transitional views: items some survivor had already delivered.
    pub before: Vec<Delivery>,
    /// After the transitional views.
    pub after: Vec<Delivery>,
    /// Items held but not delivered: beyond the bound, or behind one that was.
    pub discarded: u64,
}

impl Orderer {
    /// Ordering state for daemon `me` of a view of `n` daemons.
    pub fn new(me: u16, n: usize) -> Self {
        Orderer {
            me,
            n,
            clock: 0,
            ordered_epoch: 0,
            installed_epoch: 0,
            barrier: None,
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            ops_waiting: vec![0; n],
            reliable_waiting: vec![0; n],
            total: BTreeMap::new(),
            safe_unannounced: BTreeSet::new(),
            last_ts: vec![0; n],
            frozen: false,
            last_total: (0, 0),
            limit: None,
            fifo_stop: vec![u64::MAX; n],
        }
    }

    /// The Lamport clock.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Group operations ordered so far: the epoch new items are created in.
    pub fn epoch(&self) -> u64 {
        self.ordered_epoch
    }

    /// Starts the clock at `clock` (a new view continues the old one's time).
    pub fn set_clock(&mut self, clock: u64) {
        self.clock = self.clock.max(clock);
    }

    /// Stops all delivery: a view change is under way.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// The timestamp of the first safe item whose passing this daemon's frontier has not yet
    /// announced, if any.
    pub fn first_safe_unannounced(&self) -> Option<u64> {
        self.safe_unannounced.first().copied()
    }

    /// An acknowledgement announced `frontier`: the safe items up to it need nothing more.
    pub fn frontier_announced(&mut self, frontier: u64) {
        while self
            .safe_unannounced
            .first()
            .is_some_and(|ts| *ts <= frontier)
        {
            self.safe_unannounced.pop_first();
        }
    }

    /// The place in the total order of the last item delivered from it (a group operation's
    /// once its view is installed).
    pub fn delivered_position(&self) -> (u64, u16) {
        self.last_total
    }

    /// Group operations not yet installed whose items are within `cut`: at most this many
    /// group views follow from a flush.
    pub fn pending_ops(&self, cut: &[u64]) -> usize {
        self.queues
            .iter()
            .enumerate()
            .map(|(o, q)| {
                let limit = cut.get(o).copied().unwrap_or(0);
                q.iter()
                    .filter(|e| e.kind == Kind::GroupOp && !e.done && e.seq <= limit)
                    .count()
            })
            .sum()
    }

    /// This daemon's own group operations not yet installed, in the order it made them.
    pub fn own_pending_ops(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let Some(q) = self.queues.get(self.me as usize) else {
            return out;
        };
        for e in q {
            if e.kind != Kind::GroupOp || e.done {
                continue;
            }
            match &e.item {
                Some(item) => out.push(item.clone()),
                None => {
                    if let Some((_, origin, seq, item)) = &self.barrier {
                        if *origin == self.me && *seq == e.seq {
                            out.push(item.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// Delivers, for a view change, every item of the old view within `plan.cut` that may be
    /// delivered, in the one order every survivor uses: pending views are installed, the total
    /// order is delivered without waiting for the departed, items of departed daemons beyond
    /// `plan.bound` (and fifo items behind them) are discarded. The orderer is spent afterwards.
    pub fn flush(&mut self, plan: &FlushPlan) -> Flushed {
        let mut f = Flushed::default();
        self.frozen = false;
        self.limit = Some(plan.cut.clone());
        let mut late = false;
        for o in 0..self.n {
            self.release_reliable(o, &mut f.before);
            self.release(o, &mut f.before);
        }
        // What lies beyond the cut is never delivered here: out of the way at once, so that
        // finding the next item is a look at the front, not a scan past all of them per item.
        self.total
            .retain(|(_, o), seq| *seq <= plan.cut.get(*o as usize).copied().unwrap_or(0));
        loop {
            if let Some((_, origin, seq, _)) = &self.barrier {
                let (origin, seq) = (*origin, *seq);
                let ts = self.entry(origin, seq).map_or(0, |e| e.ts);
                // Ordered here but not yet installed: it is late unless a survivor installed it.
                late = late || (ts, origin) > plan.delivered;
                let out = if late { &mut f.after } else { &mut f.before };
                self.install_barrier(out);
                continue;
            }
            let out = if late { &mut f.after } else { &mut f.before };
            let next = self.total.first_key_value().map(|(k, seq)| (*k, *seq));
            let Some(((ts, origin), seq)) = next else {
                break;
            };
            if !late && (ts, origin) > plan.delivered {
                late = true;
                continue;
            }
            self.total.remove(&(ts, origin));
            let o = origin as usize;
            let survivor = plan.survivor.get(o).copied().unwrap_or(false);
            if !survivor && ts > plan.bound {
                if let Some(entry) = self.entry(origin, seq) {
                    entry.item = None;
                    entry.done = true;
                    f.discarded += 1;
                    self.fifo_stop[o] = self.fifo_stop[o].min(seq);
                }
                continue;
            }
            self.deliver_total(ts, origin, seq, out);
        }
        for o in 0..self.n {
            self.release_reliable(o, &mut f.after);
            self.release(o, &mut f.after);
            let limit = plan.cut.get(o).copied().unwrap_or(0);
            f.discarded += self.queues[o]
                .iter()
                .filter(|e| !e.done && e.seq <= limit && e.item.is_some())
                .count() as u64;
            self.queues[o].clear();
        }
        self.total.clear();
        self.safe_unannounced.clear();
        f
    }

    /// Installs the view of the group operation at the barrier and delivers what waited for it.
    fn install_barrier(&mut self, out: &mut Vec<Delivery>) {
        let Some((epoch, origin, seq, op)) = self.barrier.take() else {
            return;
        };
        self.installed_epoch = epoch;
        let ts = self.entry(origin, seq).map_or(0, |e| {
            e.done = true;
            e.ts
        });
        self.last_total = (ts, origin);
        let w = &mut self.ops_waiting[origin as usize];
        *w = w.saturating_sub(1);
        out.push(Delivery {
            origin,
            ts,
            item: op,
        });
        for o in 0..self.n {
            if self.reliable_waiting[o] > 0 {
                self.release_reliable(o, out);
            }
            self.release(o, out);
        }
    }

    /// Takes a timestamp seen from another daemon into the clock.
    pub fn observe(&mut self, ts: u64) {
        self.clock = self.clock.max(ts);
    }

    /// A timestamp and epoch for a new item of this daemon's.
    pub fn stamp(&mut self) -> (u64, u64) {
        self.clock = self.clock.saturating_add(1);
        (self.clock, self.ordered_epoch)
    }

    /// True if items wait to be delivered.
    pub fn busy(&self) -> bool {
        self.barrier.is_some()
            || !self.total.is_empty()
            || self.queues.iter().any(|q| !q.is_empty())
    }

    /// Takes in a complete item, in its stream's order; delivers what that makes deliverable.
    pub fn push(&mut self, r: Received, out: &mut Vec<Delivery>) {
        let o = r.origin as usize;
        if o >= self.n || r.ts <= self.last_ts[o] {
            // A daemon's timestamps grow with every item; one that does not is a peer's bug and
            // would take another item's place in the total order.
            return;
        }
        self.last_ts[o] = r.ts;
        self.observe(r.ts);
        let kind = Kind::of(&r.item);
        let mut entry = Entry {
            seq: r.seq,
            ts: r.ts,
            epoch: r.epoch,
            kind,
            item: Some(r.item),
            done: false,
        };
        match kind {
            Kind::Total => {
                self.total.insert((r.ts, r.origin), r.seq);
                // Alone, there is no one to tell.
                if self.n > 1
                    && matches!(
                        &entry.item,
                        Some(Item::Multicast {
                            order: Order::Safe,
                            ..
                        })
                    )
                {
                    self.safe_unannounced.insert(r.ts);
                }
            }
            Kind::GroupOp => {
                self.total.insert((r.ts, r.origin), r.seq);
                self.ops_waiting[o] += 1;
            }
            Kind::Reliable => {
                // Reliable messages promise no order: one waits only for an earlier group
                // operation of its stream (and its own view), never behind other messages.
                if !self.frozen && self.ops_waiting[o] == 0 && r.epoch <= self.installed_epoch {
                    if let Some(item) = entry.item.take() {
                        out.push(Delivery {
                            origin: r.origin,
                            ts: r.ts,
                            item,
                        });
                    }
                    entry.done = true;
                } else {
                    self.reliable_waiting[o] += 1;
                }
            }
            Kind::Fifo => {}
        }
        self.queues[o].push_back(entry);
        if !self.frozen {
            self.release(o, out);
        }
    }

    /// Delivers every item that has become deliverable, in order.
    pub fn advance(&mut self, streams: &Streams, out: &mut Vec<Delivery>) {
        if self.frozen {
            return;
        }
        loop {
            if let Some((epoch, ..)) = &self.barrier {
                let epoch = *epoch;
                let all_moved = (0..self.n as u16)
                    .filter(|e| *e != self.me)
                    .all(|e| streams.heard_epoch(e) >= epoch);
                if !all_moved {
                    return;
                }
                self.install_barrier(out);
            }
            let Some((&(ts, origin), &seq)) = self.total.first_key_value() else {
                return;
            };
            let me = self.me;
            let clock = self.clock;
            let heard_all = (0..self.n as u16).all(|e| {
                if e == me {
                    clock >= ts
                } else {
                    streams.heard_ts(e) >= ts
                }
            });
            if !heard_all {
                return;
            }
            let safe = self.entry(origin, seq).is_some_and(|entry| {
                matches!(
                    &entry.item,
                    Some(Item::Multicast {
                        order: Order::Safe,
                        ..
                    })
                )
            });
            // Every daemon must hold the item and everything before it in the total order, so
            // that no flush anywhere can leave it out.
            if safe && !(streams.is_stable(origin, seq) && streams.everyone_holds_up_to(ts)) {
                return;
            }
            self.total.pop_first();
            self.deliver_total(ts, origin, seq, out);
        }
    }

    /// Delivers the item at (`ts`, `origin`), just taken off the total order: a message at once
    /// (and what its stream held behind it), a group operation to the view barrier.
    fn deliver_total(&mut self, ts: u64, origin: u16, seq: u64, out: &mut Vec<Delivery>) {
        // An entry is always there: a totally ordered item stays queued until delivered.
        let Some(entry) = self.entry(origin, seq) else {
            return;
        };
        let kind = entry.kind;
        let item = entry.item.take();
        if kind != Kind::GroupOp {
            entry.done = true;
        }
        let Some(item) = item else {
            return;
        };
        if kind == Kind::GroupOp {
            // Counted as delivered once its view is installed, not now: a flush must not take a
            // view only ordered (not shown) as one some daemon already delivered.
            self.ordered_epoch += 1;
            self.barrier = Some((self.ordered_epoch, origin, seq, item));
        } else {
            self.last_total = (ts, origin);
            out.push(Delivery { origin, ts, item });
            self.release(origin as usize, out);
        }
    }

    fn entry(&mut self, origin: u16, seq: u64) -> Option<&mut Entry> {
        let q = self.queues.get_mut(origin as usize)?;
        let pos = q.binary_search_by_key(&seq, |e| e.seq).ok()?;
        q.get_mut(pos)
    }

    /// Delivers what daemon `o`'s queue allows from its front: items in stream order up to the
    /// first that must wait (for the total order, a group operation's view, or its own view).
    fn release(&mut self, o: usize, out: &mut Vec<Delivery>) {
        let installed = self.installed_epoch;
        let limit = self
            .limit
            .as_ref()
            .map_or(u64::MAX, |l| l.get(o).copied().unwrap_or(0));
        let fifo_stop = self.fifo_stop[o];
        let q = &mut self.queues[o];
        while let Some(e) = q.front_mut() {
            if !e.done {
                let ready = match e.kind {
                    Kind::Reliable => e.epoch <= installed && e.seq <= limit,
                    Kind::Fifo => e.epoch <= installed && e.seq <= limit && e.seq < fifo_stop,
                    _ => false,
                };
                if !ready {
                    return;
                }
                if e.kind == Kind::Reliable {
                    let w = &mut self.reliable_waiting[o];
                    *w = w.saturating_sub(1);
                }
                if let Some(item) = e.item.take() {
                    out.push(Delivery {
                        origin: o as u16,
                        ts: e.ts,
                        item,
                    });
                }
            }
            q.pop_front();
        }
    }

    /// Delivers the reliable items of daemon `o`'s queue that no group operation before them
    /// holds back any more (after a view was installed).
    fn release_reliable(&mut self, o: usize, out: &mut Vec<Delivery>) {
        let installed = self.installed_epoch;
        let limit = self
            .limit
            .as_ref()
            .map_or(u64::MAX, |l| l.get(o).copied().unwrap_or(0));
        for e in self.queues[o].iter_mut() {
            if e.done {
                continue;
            }
            match e.kind {
                Kind::GroupOp => return,
                Kind::Reliable if e.epoch <= installed && e.seq <= limit => {
                    if let Some(item) = e.item.take() {
                        out.push(Delivery {
                            origin: o as u16,
                            ts: e.ts,
                            item,
                        });
                    }
                    e.done = true;
                    let w = &mut self.reliable_waiting[o];
                    *w = w.saturating_sub(1);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
