//! Delivery order: which complete item may be delivered next, for every order.
//!
//! Owns the Lamport clock, the per-daemon FIFO queues, the total order and the view barrier.
//! - `reliable` items are delivered as soon as they are complete, even ahead of a gap.
//! - `fifo` items are delivered in their daemon's stream order (after that daemon's earlier items,
//!   so a client's messages of every order arrive in the order it sent them).
//! - `causal`, `agreed`, `safe` items and group operations are delivered in one total order, by
//!   (Lamport timestamp, daemon index), once every daemon of the view has been heard from with a
//!   timestamp at least as large: nothing that sorts before can still arrive. Lamport order
//!   respects causality, so causal delivery is a by-product. A `safe` item also waits until every
//!   daemon has it.
//! - A group operation changes a group's view. Every item carries the epoch (the number of group
//!   operations its daemon had ordered when it created it); an item is delivered only in the epoch
//!   it was created in. When a group operation reaches the head of the total order the daemon
//!   moves to the next epoch but installs the view only once every daemon has said it moved too,
//!   so every item of the old epoch is delivered first, at every daemon, in the same view.
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
    /// The item.
    pub item: Item,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    epoch: u64,
    /// Delivered in the total order (causal, agreed, safe, group operation).
    totally_ordered: bool,
    /// `None` once delivered.
    item: Option<Item>,
}

/// The ordering state of one daemon.
#[derive(Debug)]
pub struct Orderer {
    me: u16,
    n: usize,
    clock: u64,
    ordered_epoch: u64,
    installed_epoch: u64,
    /// A group operation ordered but not yet installed: waiting for every daemon to reach its epoch.
    barrier: Option<(u64, Delivery)>,
    /// Per daemon: complete items in stream order, not yet passed by its FIFO cursor.
    queues: Vec<VecDeque<Entry>>,
    /// Totally ordered items not yet delivered: (timestamp, daemon) → sequence number.
    total: BTreeMap<(u64, u16), u64>,
    /// Reliable items delivered ahead of a gap, to skip when they come again in order.
    early: BTreeSet<(u16, u64)>,
}

fn totally_ordered(item: &Item) -> bool {
    item.is_group_op() || item.order() >= Order::Causal
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
            total: BTreeMap::new(),
            early: BTreeSet::new(),
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

    /// Takes a timestamp seen from another daemon into the clock.
    pub fn observe(&mut self, ts: u64) {
        self.clock = self.clock.max(ts);
    }

    /// A timestamp and epoch for a new item of this daemon's.
    pub fn stamp(&mut self) -> (u64, u64) {
        self.clock += 1;
        (self.clock, self.ordered_epoch)
    }

    /// True if items wait to be delivered.
    pub fn busy(&self) -> bool {
        self.barrier.is_some()
            || !self.total.is_empty()
            || self.queues.iter().any(|q| !q.is_empty())
    }

    /// Takes in a complete item; returns what can be delivered at once (reliable and FIFO items).
    pub fn push(&mut self, r: Received, out: &mut Vec<Delivery>) {
        let o = r.origin as usize;
        if o >= self.n {
            return;
        }
        self.observe(r.ts);
        if r.early {
            if r.epoch == self.installed_epoch && self.early.insert((r.origin, r.seq)) {
                out.push(Delivery {
                    origin: r.origin,
                    item: r.item,
                });
            }
            return;
        }
        let already = self.early.remove(&(r.origin, r.seq));
        let ordered = totally_ordered(&r.item);
        if ordered {
            self.total.insert((r.ts, r.origin), r.seq);
        }
        self.queues[o].push_back(Entry {
            seq: r.seq,
            epoch: r.epoch,
            totally_ordered: ordered,
            item: (!already).then_some(r.item),
        });
        self.run_fifo(o, out);
    }

    /// Delivers every item that has become deliverable, in order.
    pub fn advance(&mut self, streams: &Streams, out: &mut Vec<Delivery>) {
        loop {
            if let Some((epoch, _)) = &self.barrier {
                let epoch = *epoch;
                let all_moved = (0..self.n as u16)
                    .filter(|e| *e != self.me)
                    .all(|e| streams.heard_epoch(e) >= epoch);
                if !all_moved {
                    return;
                }
                if let Some((_, op)) = self.barrier.take() {
                    self.installed_epoch = epoch;
                    out.push(op);
                }
                for o in 0..self.n {
                    self.run_fifo(o, out);
                }
            }
            let Some((&(ts, origin), &seq)) = self.total.first_key_value() else {
                return;
            };
            let heard_all = (0..self.n as u16).all(|e| {
                if e == self.me {
                    self.clock >= ts
                } else {
                    streams.heard_ts(e) >= ts
                }
            });
            if !heard_all {
                return;
            }
            let q = &mut self.queues[origin as usize];
            let Ok(pos) = q.binary_search_by_key(&seq, |e| e.seq) else {
                // Cannot happen: every totally ordered item is queued until delivered.
                self.total.pop_first();
                continue;
            };
            let entry = &mut q[pos];
            if entry
                .item
                .as_ref()
                .is_some_and(|i| i.order() == Order::Safe)
                && !streams.is_stable(origin, seq)
            {
                return;
            }
            self.total.pop_first();
            let Some(item) = entry.item.take() else {
                continue;
            };
            if item.is_group_op() {
                self.ordered_epoch += 1;
                self.barrier = Some((self.ordered_epoch, Delivery { origin, item }));
            } else {
                out.push(Delivery { origin, item });
            }
            self.run_fifo(origin as usize, out);
        }
    }

    /// Moves daemon `o`'s FIFO cursor past everything delivered or deliverable.
    fn run_fifo(&mut self, o: usize, out: &mut Vec<Delivery>) {
        let installed = self.installed_epoch;
        let q = &mut self.queues[o];
        while let Some(front) = q.front_mut() {
            if front.item.is_none() {
                q.pop_front();
                continue;
            }
            if front.totally_ordered || front.epoch > installed {
                // Waits for the total order, or for the view it was sent in.
                return;
            }
            if let Some(item) = front.item.take() {
                out.push(Delivery {
                    origin: o as u16,
                    item,
                });
            }
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::packet::Ack;
    use bytes::Bytes;

    fn msg(text: &'static str, order: Order) -> Item {
        Item::Multicast {
            order,
            groups: vec!["g".into()],
            sender: "c#d".into(),
            payload: Bytes::from_static(text.as_bytes()),
        }
    }

    fn texts(out: &[Delivery]) -> Vec<String> {
        out.iter()
            .map(|d| match &d.item {
                Item::Multicast { payload, .. } => String::from_utf8_lossy(payload).into_owned(),
                Item::Join { member, .. } => format!("join {member}"),
                Item::Leave { member, .. } => format!("leave {member}"),
            })
            .collect()
    }

    /// Two daemons, 0 and 1, each with its own streams and orderer, exchanging everything.
    struct Pair {
        s: [Streams; 2],
        o: [Orderer; 2],
        out: [Vec<Delivery>; 2],
    }

    impl Pair {
        fn new() -> Pair {
            Pair {
                s: [Streams::new(0, 2), Streams::new(1, 2)],
                o: [Orderer::new(0, 2), Orderer::new(1, 2)],
                out: [Vec::new(), Vec::new()],
            }
        }

        /// Daemon `d` sends `item`; returns its chunks (not yet delivered to the other).
        fn send(&mut self, d: usize, item: Item) -> Vec<crate::core::packet::DataChunk> {
            let (ts, epoch) = self.o[d].stamp();
            let chunks = self.s[d].send(ts, epoch, &item, 1000);
            let r = Received {
                origin: d as u16,
                seq: chunks.last().unwrap().seq,
                ts,
                epoch,
                item,
                early: false,
            };
            self.o[d].push(r, &mut self.out[d]);
            self.o[d].advance(&self.s[d], &mut self.out[d]);
            chunks
        }

        fn deliver(&mut self, to: usize, chunks: Vec<crate::core::packet::DataChunk>) {
            for c in chunks {
                self.o[to].observe(c.ts);
                for r in self.s[to].receive(c).items {
                    self.o[to].push(r, &mut self.out[to]);
                }
            }
            self.o[to].advance(&self.s[to], &mut self.out[to]);
        }

        fn ack(&mut self, from: usize) {
            let ack = Ack {
                clock: self.o[from].clock(),
                last_seq: self.s[from].last_own_seq(),
                epoch: self.o[from].epoch(),
                received: self.s[from].received_vector(),
            };
            let to = 1 - from;
            self.o[to].observe(ack.clock);
            self.s[to].on_ack(from as u16, &ack);
            self.o[to].advance(&self.s[to], &mut self.out[to]);
        }
    }

    #[test]
    fn fifo_is_immediate_and_agreed_waits_for_the_other_daemon() {
        let mut p = Pair::new();
        let c1 = p.send(0, msg("f", Order::Fifo));
        let c2 = p.send(0, msg("a", Order::Agreed));
        assert_eq!(
            texts(&p.out[0]),
            ["f"],
            "agreed waits to hear from daemon 1"
        );
        p.deliver(1, [c1, c2].concat());
        // Daemon 1 has heard daemon 0 up to the message and its own clock is there too: nothing
        // can sort before it any more.
        assert_eq!(texts(&p.out[1]), ["f", "a"]);
        p.ack(1);
        assert_eq!(texts(&p.out[0]), ["f", "a"]);
    }

    #[test]
    fn concurrent_agreed_messages_get_one_order_everywhere() {
        let mut p = Pair::new();
        let a = p.send(0, msg("from0", Order::Agreed));
        let b = p.send(1, msg("from1", Order::Agreed));
        p.deliver(1, a);
        p.deliver(0, b);
        p.ack(0);
        p.ack(1);
        assert_eq!(texts(&p.out[0]), ["from0", "from1"]);
        assert_eq!(texts(&p.out[0]), texts(&p.out[1]));
    }

    #[test]
    fn safe_waits_until_every_daemon_has_it() {
        let mut p = Pair::new();
        let c = p.send(0, msg("s", Order::Safe));
        // Daemon 1's clock passes the timestamp without having the message: not yet.
        let other = p.send(1, msg("x", Order::Fifo));
        p.o[1].observe(10);
        p.deliver(0, other);
        p.ack(1);
        assert_eq!(texts(&p.out[0]), ["x"]);
        p.deliver(1, c);
        p.ack(1);
        assert_eq!(texts(&p.out[0]), ["x", "s"]);
    }

    #[test]
    fn a_view_change_waits_until_every_daemon_moved_to_the_new_epoch() {
        let mut p = Pair::new();
        let join = p.send(
            0,
            Item::Join {
                group: "g".into(),
                member: "m#0".into(),
            },
        );
        p.deliver(1, join);
        // Daemon 1 has ordered the join (epoch 1) but cannot install it before daemon 0 moves.
        assert!(texts(&p.out[1]).is_empty());
        let new = p.send(1, msg("new", Order::Fifo));
        assert!(
            texts(&p.out[1]).is_empty(),
            "an epoch-1 item waits for the new view"
        );
        // Daemon 0 sends before it has ordered the join: that item belongs to the old view.
        let old = p.send(0, msg("old", Order::Fifo));
        p.deliver(1, old);
        assert_eq!(texts(&p.out[1]), ["old"]);
        // Daemon 0 hears daemon 1 past the join and in epoch 1: orders and installs at once.
        p.deliver(0, new);
        assert_eq!(texts(&p.out[0]), ["old", "join m#0", "new"]);
        p.ack(0);
        assert_eq!(texts(&p.out[1]), ["old", "join m#0", "new"]);
    }

    #[test]
    fn a_clients_fifo_message_waits_behind_its_earlier_agreed_one() {
        let mut p = Pair::new();
        let a = p.send(0, msg("agreed-first", Order::Agreed));
        let f = p.send(0, msg("fifo-second", Order::Fifo));
        assert!(texts(&p.out[0]).is_empty());
        p.deliver(1, [a, f].concat());
        p.ack(1);
        p.ack(0);
        assert_eq!(texts(&p.out[0]), ["agreed-first", "fifo-second"]);
        assert_eq!(texts(&p.out[1]), ["agreed-first", "fifo-second"]);
    }

    #[test]
    fn a_reliable_message_overtakes_a_gap_once() {
        let mut p = Pair::new();
        let lost = p.send(0, msg("lost", Order::Fifo));
        let r = p.send(0, msg("r", Order::Reliable));
        p.deliver(1, r);
        assert_eq!(texts(&p.out[1]), ["r"]);
        p.deliver(1, lost);
        assert_eq!(texts(&p.out[1]), ["r", "lost"]);
    }
}
