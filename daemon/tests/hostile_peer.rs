//! A member's address sending nonsense (a bug, or a spoofed source) cannot exhaust the clock, make
//! the daemon send without bound, or stop it from serving.

mod common;

use bytes::Bytes;
use common::{addr, Rig, SIZE};
use gcs::wire::{Request, RequestId};
use gcs::Order;
use gcsd::core::packet::{Ack, Chunk, DataChunk, DatagramBuilder, Frag, Header};

fn from_peer(chunks: &[Chunk], max: usize) -> Bytes {
    let header = Header {
        cluster: "gcs".into(),
        sender: 1,
        view: 1,
    };
    let mut b = DatagramBuilder::new(&header, max);
    for c in chunks {
        assert!(b.push(c), "test datagram too small");
    }
    b.finish()
}

/// A datagram from daemon 1 with the `n`th item of its stream, a join of `member` to `g`, and an
/// acknowledgement that lets it through the total order and the view barrier at once: past its
/// timestamp, in the next epoch.
fn join_from_peer(member: &str, n: u64) -> Bytes {
    item_from_peer(
        &gcsd::core::packet::Item::Join {
            group: "g".into(),
            member: member.into(),
        },
        n,
    )
}

/// A datagram from daemon 1 with `item` as the `n`th item of its stream, let through the order
/// at once as [`join_from_peer`]'s is.
fn item_from_peer(item: &gcsd::core::packet::Item, n: u64) -> Bytes {
    let body = gcsd::core::packet::encode_item(item);
    from_peer(
        &[
            Chunk::Data(DataChunk {
                origin: 1,
                seq: n,
                ts: 2_000 * n - 1_000,
                epoch: n - 1,
                frag: Frag::Whole,
                body,
            }),
            Chunk::Ack(Ack {
                clock: 2_000 * n,
                last_seq: n,
                epoch: n,
                frontier: n,
                received: vec![0, n],
            }),
        ],
        1472,
    )
}

/// Bytes the rig's daemons sent since the `since`th datagram, once per target.
fn bytes_sent_since(p: &Rig, since: usize) -> usize {
    p.transmitted[since..]
        .iter()
        .map(|(_, to, bytes)| bytes.len() * to.len())
        .sum()
}

/// A client of daemon 1 that has joined `g`.
fn receiver_on_1(p: &mut Rig) {
    common::member_of_g(p, 1, "receiver");
}

fn send_some(p: &mut Rig, count: usize) {
    let sender = p.client(0, "sender");
    for k in 0..count {
        p.request(
            0,
            sender,
            Request::Multicast {
                id: RequestId(k as u64),
                groups: vec!["g".into()],
                order: Order::Fifo,
                payload: Bytes::from(vec![b'x'; SIZE]),
            },
        );
    }
    p.drain(0);
}

#[test]
fn a_timestamp_from_the_far_future_is_dropped() {
    let mut p = common::pair();
    let before = p.core(0).status(p.now()).counters.datagrams_dropped;
    let absurd = from_peer(
        &[
            Chunk::Ack(Ack {
                clock: u64::MAX,
                last_seq: 0,
                epoch: 0,
                frontier: 0,
                received: vec![0, 0],
            }),
            Chunk::Data(DataChunk {
                origin: 1,
                seq: 1,
                ts: u64::MAX - 1,
                epoch: 0,
                frag: Frag::Whole,
                body: Bytes::from_static(b"junk"),
            }),
        ],
        1472,
    );
    p.datagram(0, addr(1), absurd);
    assert_eq!(
        p.core(0).status(p.now()).counters.datagrams_dropped,
        before + 1
    );
    // Still serving: a receiver on the other daemon gets what is sent.
    receiver_on_1(&mut p);
    send_some(&mut p, 3);
    p.settle();
    assert_eq!(p.payloads(1).len(), 3);
}

#[test]
fn many_nacks_in_one_datagram_share_one_retransmission_budget() {
    let mut p = common::pair();
    // Plenty of history to retransmit: the other daemon does not take it in yet.
    send_some(&mut p, 60);
    p.lose_in_flight();
    let before = p.transmitted.len();
    let nacks: Vec<Chunk> = (0..2000)
        .map(|_| Chunk::Nack {
            origin: 0,
            ranges: vec![(1, u64::MAX)],
        })
        .collect();
    p.datagram(0, addr(1), from_peer(&nacks, 65_000));
    let sent = bytes_sent_since(&p, before);
    // One budget (256 KiB) for the whole datagram, not one per NACK.
    assert!(sent > 0, "the request is answered");
    assert!(
        sent <= 300 * 1024,
        "{sent} bytes sent for one datagram of NACKs"
    );
}

#[test]
fn a_peer_cannot_join_or_leave_for_this_daemons_clients() {
    let mut p = common::pair();
    // The forged join, with an acknowledgement that lets it through the order and the view
    // barrier at once.
    let datagram = join_from_peer("victim#d0", 1);
    p.datagram(0, addr(1), datagram);
    p.drain(0);
    let s = p.core(0).status(p.now());
    assert!(
        p.core(0).status(p.now()).counters.views_delivered == 0 && s.groups.is_empty(),
        "the forged join was applied: {:?}",
        s.groups
    );
    // An honest remote join of a remote client goes through the same path and is applied.
    let datagram = join_from_peer("someone#d1", 2);
    p.datagram(0, addr(1), datagram);
    p.drain(0);
    let s = p.core(0).status(p.now());
    assert_eq!(s.groups.len(), 1, "the honest join was not applied");
    assert_eq!(s.groups[0].members, 1);
}

#[test]
fn forged_acknowledgements_cannot_push_a_daemons_clock_out_of_its_peers_reach() {
    let mut p = common::pair();
    receiver_on_1(&mut p);
    // Each acknowledgement is just within reach of the clock the one before raised, if a
    // daemon's reach follows its own clock.
    for k in 1..=3u64 {
        let forged = from_peer(
            &[Chunk::Ack(Ack {
                clock: k * ((1 << 40) - 2),
                last_seq: 0,
                epoch: 0,
                frontier: 0,
                received: vec![0, 0],
            })],
            1472,
        );
        p.datagram(0, addr(1), forged);
    }
    send_some(&mut p, 3);
    p.run_for(std::time::Duration::from_secs(5));
    assert_eq!(
        p.payloads(1).len(),
        3,
        "the other daemon stopped taking what this one sends"
    );
}

#[test]
fn a_peer_cannot_join_or_leave_for_a_third_daemons_clients() {
    let mut p = common::pair();
    // d1 claims a join for a client of d7, a daemon that is not even configured.
    p.datagram(0, addr(1), join_from_peer("someone#d7", 1));
    p.drain(0);
    let s = p.core(0).status(p.now());
    assert!(
        s.groups.is_empty(),
        "the forged join was applied: {:?}",
        s.groups
    );
}

#[test]
fn a_peers_nacks_can_make_this_daemon_retransmit_only_so_much_per_second() {
    let mut p = Rig::formed(2, |c| {
        c.send_window = common::WINDOW;
        c.max_retransmit_bytes_per_second = 1 << 20;
    });
    send_some(&mut p, 60);
    p.lose_in_flight();
    let before = p.transmitted.len();
    // The same request, many times over, all at once: each datagram alone is within its own
    // budget, but together they would ask for megabytes.
    let nack = from_peer(
        &[Chunk::Nack {
            origin: 0,
            ranges: vec![(1, u64::MAX)],
        }],
        1472,
    );
    for _ in 0..200 {
        p.datagram(0, addr(1), nack.clone());
    }
    let sent = bytes_sent_since(&p, before);
    assert!(sent > 0, "the request is answered");
    assert!(
        sent <= (1 << 20) + 128 * 1024,
        "{sent} bytes sent in answer to one peer within a second"
    );
}

#[test]
fn a_peer_cannot_hand_clients_anything_but_a_message_of_its_own_clients() {
    use gcsd::core::packet::Item;
    let mut p = common::pair();
    let r = common::member_of_g(&mut p, 0, "receiver");
    p.responses.clear();
    // What used to travel verbatim to clients: a frame of the peer's choosing, here one that
    // would tell the client its daemon is closing its session.
    let forged = Bytes::from(gcs::wire::encode_response_frame(
        &gcs::wire::Response::Closing {
            error: gcs::ErrorInfo::new(gcs::ErrorCode::Shutdown, "forged"),
        },
    ));
    // The item as the wire has it, written out by hand: kind 1 (multicast), order 3 (agreed),
    // the sender, one group, and then the bytes that follow.
    let mut raw = vec![1u8, 3, 0, 4];
    raw.extend_from_slice(b"x#d1");
    raw.extend_from_slice(&[0, 1, 0, 1, b'g']);
    raw.extend_from_slice(&forged);
    let in_its_own_name = gcsd::core::packet::decode_item(Bytes::from(raw)).unwrap();
    p.datagram(0, addr(1), item_from_peer(&in_its_own_name, 1));
    p.drain(0);
    assert!(
        !p.responses
            .iter()
            .any(|(_, _, r)| matches!(r, gcs::wire::Response::Closing { .. })),
        "a peer's bytes reached a client as a response: {:?}",
        p.responses
    );
    let got: Vec<_> = p
        .delivered
        .iter()
        .map(|(_, to, m)| (to.clone(), m.clone()))
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, vec![r]);
    assert_eq!(
        (got[0].1.sender.as_str(), &got[0].1.payload),
        ("x#d1", &forged)
    );
    // In the name of this daemon's own client: dropped.
    let impersonating = Item::multicast(
        Order::Agreed,
        vec!["g".into()],
        "receiver#d0".into(),
        Bytes::from_static(b"hi"),
    );
    p.datagram(0, addr(1), item_from_peer(&impersonating, 2));
    p.drain(0);
    assert_eq!(
        p.delivered.len(),
        1,
        "a message in another daemon's client's name was delivered"
    );
}

#[test]
fn a_peer_cannot_put_words_in_a_third_daemons_stream() {
    use gcsd::core::packet::Item;
    let mut p = Rig::formed(3, |c| c.send_window = common::WINDOW);
    common::member_of_g(&mut p, 0, "receiver");
    // d1 passes on, unasked, a "chunk of d2's stream": the first, before d2 has sent it.
    let forged = Item::multicast(
        Order::Reliable,
        vec!["g".into()],
        "x#d2".into(),
        Bytes::from_static(b"forged"),
    );
    let view = p.core(0).daemon_view().view_id;
    let header = Header {
        cluster: "gcs".into(),
        sender: 1,
        view,
    };
    let mut b = DatagramBuilder::new(&header, 1472);
    assert!(b.push(&Chunk::Data(DataChunk {
        origin: 2,
        seq: 1,
        ts: 5,
        epoch: 0,
        frag: Frag::Whole,
        body: gcsd::core::packet::encode_item(&forged),
    })));
    p.datagram(0, addr(1), b.finish());
    p.drain(0);
    // Then d2's own first message.
    let x = p.client(2, "x");
    p.request(
        2,
        x,
        Request::Multicast {
            id: RequestId(2),
            groups: vec!["g".into()],
            order: Order::Reliable,
            payload: Bytes::from_static(b"real"),
        },
    );
    p.settle();
    assert_eq!(p.payloads(0), vec![Bytes::from_static(b"real")]);
}
