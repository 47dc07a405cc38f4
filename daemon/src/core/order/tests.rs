//! Tests of the orderer, driven through two `Cluster`s that hand each other their data directly:
//! FIFO, causal, agreed and safe order, and the flush at a view change.

use super::*;
use crate::core::cluster::Cluster;
use crate::core::packet::Chunk;
use crate::core::{DaemonId, FormedView};
use bytes::Bytes;

fn msg(text: &'static str, order: Order) -> Item {
    Item::multicast(
        order,
        vec!["g".into()],
        "c#d".into(),
        Bytes::from_static(text.as_bytes()),
    )
}

fn texts(out: &[Delivery]) -> Vec<String> {
    out.iter()
        .map(|d| match &d.item {
            Item::Multicast { .. } => d
                .item
                .message()
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
                .unwrap_or_default(),
            Item::Join { member, .. } => format!("join {member}"),
            Item::Leave { member, .. } => format!("leave {member}"),
        })
        .collect()
}

/// Two daemons, 0 and 1, each with its own view, streams and orderer (a `Cluster`, the same
/// glue the core uses), exchanging chunks by hand. These tests work below the datagram: they
/// hand over data without its acknowledgement, which no datagram a core sends would do.
struct Pair {
    c: [Cluster; 2],
    out: [Vec<Delivery>; 2],
}

impl Pair {
    fn new() -> Pair {
        let ids: Vec<DaemonId> = (0..2u8)
            .map(|i| DaemonId {
                addr: std::net::SocketAddr::from(([127, 0, 50, i + 1], 4804)),
                name: format!("d{i}"),
                incarnation: 1,
            })
            .collect();
        let cluster = |d: usize| Cluster {
            view: FormedView::new(1, ids.clone(), &ids[d], true),
            streams: Streams::new(d as u16, 2, 1 << 20, 1 << 20),
            orderer: Orderer::new(d as u16, 2),
        };
        Pair {
            c: [cluster(0), cluster(1)],
            out: [Vec::new(), Vec::new()],
        }
    }

    fn advance(&mut self, d: usize) {
        let (out, _) = self.c[d].advance();
        self.out[d].extend(out);
    }

    /// Daemon `d` sends `item`; returns its chunks (not yet delivered to the other).
    fn send(&mut self, d: usize, item: Item) -> Vec<Chunk> {
        let (chunks, out) = self.c[d].send(item, 1000);
        self.out[d].extend(out);
        self.advance(d);
        chunks.into_iter().map(Chunk::Data).collect()
    }

    /// Daemon `to` takes `chunks` from the other.
    fn deliver(&mut self, to: usize, chunks: Vec<Chunk>) {
        let intake = self.c[to].take_in(1 - to as u16, chunks, u64::MAX);
        self.out[to].extend(intake.deliveries);
        self.advance(to);
    }

    /// Daemon `from` acknowledges what it has to the other.
    fn ack(&mut self, from: usize) {
        let (ack, _) = self.c[from].ack();
        self.deliver(1 - from, vec![ack]);
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
    p.c[1].orderer.observe(10);
    p.deliver(0, other);
    p.ack(1);
    assert_eq!(texts(&p.out[0]), ["x"]);
    p.deliver(1, c);
    p.ack(1);
    assert_eq!(texts(&p.out[0]), ["x", "s"]);
}

fn join(member: &str) -> Item {
    Item::Join {
        group: "g".into(),
        member: member.into(),
    }
}

#[test]
fn a_view_change_waits_until_every_daemon_moved_to_the_new_epoch() {
    let mut p = Pair::new();
    let old = p.send(1, msg("d1-old", Order::Fifo));
    let op = p.send(0, join("m#0"));
    p.deliver(1, op);
    // Daemon 1 has ordered the join (epoch 1) but cannot install it before daemon 0 moves.
    assert_eq!(texts(&p.out[1]), ["d1-old"]);
    let new = p.send(1, msg("d1-new", Order::Fifo));
    assert_eq!(
        texts(&p.out[1]),
        ["d1-old"],
        "an epoch-1 item waits for the new view"
    );
    // Daemon 0 gets the old-epoch item first: delivered in the old view. Then it hears daemon
    // 1 past the join and in epoch 1: it orders and installs at once.
    p.deliver(0, [old, new].concat());
    assert_eq!(texts(&p.out[0]), ["d1-old", "join m#0", "d1-new"]);
    p.ack(0);
    assert_eq!(texts(&p.out[1]), ["d1-old", "join m#0", "d1-new"]);
}

#[test]
fn what_a_stream_sends_after_a_join_comes_after_the_joins_view() {
    for order in [Order::Reliable, Order::Fifo] {
        let mut p = Pair::new();
        let op = p.send(0, join("m#0"));
        let after = p.send(0, msg("after", order));
        assert!(texts(&p.out[0]).is_empty());
        p.deliver(1, [op, after].concat());
        p.ack(1);
        p.ack(0);
        assert_eq!(texts(&p.out[0]), ["join m#0", "after"], "{order}");
        assert_eq!(texts(&p.out[1]), ["join m#0", "after"], "{order}");
    }
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
fn a_reliable_message_does_not_wait_for_an_earlier_agreed_one() {
    let mut p = Pair::new();
    let a = p.send(0, msg("agreed", Order::Agreed));
    let r = p.send(0, msg("reliable", Order::Reliable));
    assert_eq!(texts(&p.out[0]), ["reliable"]);
    p.deliver(1, [a, r].concat());
    p.ack(1);
    assert_eq!(texts(&p.out[0]), ["reliable", "agreed"]);
}
