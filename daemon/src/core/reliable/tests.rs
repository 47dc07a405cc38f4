//! Tests of the reliable streams: sequencing and duplicates, fragmentation and reassembly, gaps
//! and retransmission, stability and garbage collection, and the bounds on what a peer can store.

use super::*;
use gcs::Order;

fn item(text: &'static str, order: Order) -> Item {
    Item::multicast(
        order,
        vec!["g".into()],
        "c#d".into(),
        Bytes::from_static(text.as_bytes()),
    )
}

fn sender_and_receiver() -> (Streams, Streams) {
    (
        Streams::new(0, 2, 1 << 20, 1 << 20),
        Streams::new(1, 2, 1 << 20, 1 << 20),
    )
}

#[test]
fn in_order_chunks_become_items_and_duplicates_are_dropped() {
    let (mut a, mut b) = sender_and_receiver();
    let chunks = a.send(1, 0, &item("x", Order::Fifo), 1000);
    assert_eq!(chunks.len(), 1);
    let r = b.receive(chunks[0].clone());
    assert!(r.new);
    assert_eq!(r.items.len(), 1);
    assert_eq!(r.items[0].item, item("x", Order::Fifo));
    let again = b.receive(chunks[0].clone());
    assert!(!again.new && again.items.is_empty());
    assert_eq!(b.heard_ts(0), 1);
}

#[test]
fn large_items_are_fragmented_and_reassembled_in_any_arrival_order() {
    let (mut a, mut b) = sender_and_receiver();
    let big = Item::multicast(
        Order::Agreed,
        vec!["g".into()],
        "c#d".into(),
        Bytes::from(vec![42u8; 5000]),
    );
    let chunks = a.send(3, 0, &big, 700);
    assert!(chunks.len() > 5);
    assert_eq!(chunks[0].frag, Frag::First);
    assert_eq!(chunks.last().unwrap().frag, Frag::Last);
    let mut items = Vec::new();
    for c in chunks.iter().rev() {
        items.extend(b.receive(c.clone()).items);
    }
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].item, big);
    assert_eq!(items[0].seq, chunks.last().unwrap().seq);
}

#[test]
fn gaps_are_found_asked_for_and_filled_from_history() {
    let (mut a, mut b) = sender_and_receiver();
    let c1 = a.send(1, 0, &item("1", Order::Fifo), 1000);
    let c2 = a.send(2, 0, &item("2", Order::Reliable), 1000);
    let c3 = a.send(3, 0, &item("3", Order::Fifo), 1000);
    // Chunk 1 is lost; 2 and 3 wait for it.
    assert!(b.receive(c2[0].clone()).items.is_empty());
    assert!(b.receive(c3[0].clone()).items.is_empty());
    let nacks = b.due_nacks(Time(0), std::time::Duration::from_millis(5));
    assert_eq!(
        nacks,
        vec![NackRequest {
            origin: 0,
            target: 0,
            ranges: vec![(1, 1)]
        }]
    );
    // Not again until the retry interval has passed.
    assert!(b
        .due_nacks(Time(1), std::time::Duration::from_millis(5))
        .is_empty());
    let resent = a.chunks_for(0, &nacks[0].ranges, 1 << 20);
    assert_eq!(resent, c1);
    let r = b.receive(resent[0].clone());
    let seqs: Vec<_> = r.items.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(b.next_nack(), None);
}

#[test]
fn missing_chunks_are_asked_of_the_origin_and_of_others_only_once_it_leaves() {
    // Three daemons: 0 sends, 1 got everything, 2 missed the first chunk.
    let mut d0 = Streams::new(0, 3, 1 << 20, 1 << 20);
    let mut d1 = Streams::new(1, 3, 1 << 20, 1 << 20);
    let mut d2 = Streams::new(2, 3, 1 << 20, 1 << 20);
    let c1 = d0.send(1, 0, &item("1", Order::Fifo), 1000);
    let c2 = d0.send(2, 0, &item("2", Order::Fifo), 1000);
    for c in c1.iter().chain(&c2) {
        d1.receive(c.clone());
    }
    d2.receive(c2[0].clone());
    let ack = Ack {
        clock: 2,
        last_seq: 0,
        epoch: 0,
        frontier: 0,
        received: d1.received_vector(),
    };
    d2.on_ack(1, &ack);
    let retry = std::time::Duration::from_millis(5);
    let first = d2.due_nacks(Time(0), retry);
    assert_eq!(first[0].target, 0, "the origin first");
    let again = d2.due_nacks(Time(5_000), retry);
    assert_eq!(again[0].target, 0, "the origin alone while it is a member");
    // A view change's commit names d0 gone.
    d2.set_departed(vec![true, false, false]);
    let second = d2.due_nacks(Time(10_000), retry);
    assert_eq!(
        second[0].target, 1,
        "then a daemon that has acknowledged the chunk"
    );
    let resent = d1.chunks_for(0, &second[0].ranges, 1 << 20);
    assert_eq!(resent, c1);
    // Passed on by d1, which was asked: taken.
    assert_eq!(d2.receive_from(1, resent[0].clone()).items.len(), 2);
}

#[test]
fn a_chunk_of_another_stream_is_taken_only_from_a_daemon_asked_for_it() {
    let mut d0 = Streams::new(0, 3, 1 << 20, 1 << 20);
    let mut d2 = Streams::new(2, 3, 1 << 20, 1 << 20);
    let c1 = d0.send(1, 0, &item("1", Order::Fifo), 1000);
    // d1 passes it on unasked: dropped.
    let r = d2.receive_from(1, c1[0].clone());
    assert!(!r.new && r.items.is_empty());
    assert_eq!(d2.held_bytes(), 0);
    // From its origin: taken.
    assert_eq!(d2.receive_from(0, c1[0].clone()).items.len(), 1);
}

#[test]
fn a_lost_tail_is_found_through_the_ack_and_its_clock_waits_for_it() {
    let (mut a, mut b) = sender_and_receiver();
    let c1 = a.send(1, 0, &item("1", Order::Agreed), 1000);
    let ack = Ack {
        clock: 9,
        last_seq: 1,
        epoch: 0,
        frontier: 0,
        received: a.received_vector(),
    };
    b.on_ack(0, &ack);
    assert_eq!(b.heard_ts(0), 0, "the clock is not applied across a gap");
    let nacks = b.due_nacks(Time(0), std::time::Duration::from_millis(5));
    assert_eq!(nacks[0].ranges, vec![(1, 1)]);
    b.receive(c1[0].clone());
    assert_eq!(b.heard_ts(0), 9);
}

#[test]
fn stability_collects_garbage_and_frees_the_send_window() {
    let (mut a, mut b) = sender_and_receiver();
    let c = a.send(1, 0, &item("hello", Order::Safe), 1000);
    assert!(a.own_unstable_bytes() > 0);
    assert!(!a.is_stable(0, 1));
    b.receive(c[0].clone());
    let ack = Ack {
        clock: 1,
        last_seq: 0,
        epoch: 0,
        frontier: 0,
        received: b.received_vector(),
    };
    assert!(a.on_ack(1, &ack));
    assert!(a.is_stable(0, 1));
    assert_eq!(a.own_unstable_bytes(), 0);
    assert_eq!(a.held_bytes(), 0);
    assert!(!a.busy());
}

#[test]
fn reassembly_stops_at_the_largest_item() {
    let mut a = Streams::new(0, 2, 1 << 20, 1 << 20);
    let mut b = Streams::new(1, 2, 1000, 1 << 20);
    let big = item_of(3000);
    let mut r = Receipt::default();
    for c in a.send(1, 0, &big, 500) {
        let got = b.receive(c);
        r.items.extend(got.items);
        r.undecodable += got.undecodable;
    }
    assert!(r.items.is_empty());
    assert_eq!(r.undecodable, 1);
    // The next item is taken normally.
    let small = item("ok", Order::Fifo);
    let got = b.receive(a.send(2, 0, &small, 500).remove(0));
    assert_eq!(got.items.len(), 1);
}

#[test]
fn out_of_order_chunks_are_kept_only_up_to_a_byte_limit() {
    let mut a = Streams::new(0, 2, 1 << 20, 1 << 20);
    let mut b = Streams::new(1, 2, 1 << 20, 2000);
    let chunks: Vec<_> = (0..6)
        .flat_map(|_| a.send(1, 0, &item_of(900), 1000))
        .collect();
    for c in &chunks[1..] {
        b.receive(c.clone());
    }
    assert!(b.held_bytes() <= 2000);
    // Once the gap fills, the rest is asked for and arrives.
    let mut got = b.receive(chunks[0].clone()).items.len();
    let nacks = b.due_nacks(Time(0), std::time::Duration::from_millis(5));
    for n in nacks {
        for c in a.chunks_for(n.origin, &n.ranges, 1 << 20) {
            got += b.receive(c).items.len();
        }
    }
    assert_eq!(got, 6);
}

#[test]
fn unstable_in_order_chunks_are_kept_only_up_to_a_byte_limit() {
    // The history limit: 2000 bytes of window slack and one item of at most 1000.
    let mut a = Streams::new(0, 2, 1 << 20, 1 << 20);
    let mut b = Streams::new(1, 2, 1000, 2000);
    let chunks: Vec<_> = (0..8)
        .flat_map(|k| a.send(k + 1, 0, &item_of(800), 1000))
        .collect();
    let taken: usize = chunks
        .iter()
        .map(|c| b.receive(c.clone()).items.len())
        .sum();
    // Up to 3000 in order, and up to 2000 beyond the first chunk it could not keep.
    assert!(b.held_bytes() <= 5000, "{} bytes held", b.held_bytes());
    assert!(
        taken < 8,
        "every chunk was kept although nothing became stable"
    );
    // Once the origin acknowledges its own, they are stable here, and the rest is asked for.
    let ack = Ack {
        clock: 8,
        last_seq: 8,
        epoch: 0,
        frontier: 0,
        received: a.received_vector(),
    };
    b.on_ack(0, &ack);
    let mut got = taken;
    for _ in 0..8 {
        for n in b.due_nacks(Time(0), std::time::Duration::ZERO) {
            for c in a.chunks_for(n.origin, &n.ranges, 1 << 20) {
                got += b.receive(c).items.len();
            }
        }
        b.on_ack(0, &ack);
    }
    assert_eq!(got, 8);
}

fn item_of(size: usize) -> Item {
    Item::multicast(
        Order::Fifo,
        vec!["g".into()],
        "c#d".into(),
        Bytes::from(vec![1u8; size]),
    )
}

#[test]
fn absurd_sequence_numbers_are_not_stored() {
    let (_, mut b) = sender_and_receiver();
    let r = b.receive(DataChunk {
        origin: 0,
        seq: MAX_AHEAD + 10,
        ts: 1,
        epoch: 0,
        frag: Frag::Whole,
        body: Bytes::from_static(b"x"),
    });
    assert!(!r.new);
    assert_eq!(b.held_bytes(), 0);
}
