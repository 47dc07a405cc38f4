//! Tests of the datagram layout: round trips, what the builder refuses, foreign versions, and
//! property tests of the decoder over arbitrary and truncated bytes.

use super::*;
use gcs::{Order, Reason};
use proptest::prelude::*;

fn header() -> Header {
    Header {
        cluster: "gcs".into(),
        sender: 2,
        view: 7,
    }
}

#[test]
fn datagrams_round_trip() {
    let chunks = vec![
        Chunk::Hello {
            name: "d1".into(),
            cluster_size: 3,
            incarnation: 77,
            view: 4,
        },
        Chunk::Control {
            msg: 3,
            part: 1,
            parts: 2,
            body: Bytes::from_static(b"xyz"),
        },
        Chunk::Ack(Ack {
            clock: 9,
            last_seq: 4,
            epoch: 1,
            frontier: 8,
            received: vec![1, 2, 3],
        }),
        Chunk::Data(DataChunk {
            origin: 1,
            seq: 5,
            ts: 10,
            epoch: 1,
            frag: Frag::Last,
            body: Bytes::from_static(b"abc"),
        }),
        Chunk::Nack {
            origin: 0,
            ranges: vec![(1, 3), (7, 7)],
        },
    ];
    let mut b = DatagramBuilder::new(&header(), 1472);
    for c in &chunks {
        assert!(b.push(c));
    }
    let bytes = b.finish();
    let (h, got) = decode(bytes).unwrap();
    assert_eq!(h, header());
    assert_eq!(got, chunks);
}

#[test]
fn the_builder_refuses_what_does_not_fit() {
    let mut b = DatagramBuilder::new(&header(), 100);
    let big = Chunk::Data(DataChunk {
        origin: 0,
        seq: 1,
        ts: 1,
        epoch: 0,
        frag: Frag::Whole,
        body: Bytes::from(vec![0u8; 200]),
    });
    assert!(!b.push(&big));
    assert!(b.is_empty());
}

#[test]
fn items_round_trip() {
    let items = [
        Item::multicast(
            Order::Safe,
            vec!["a".into(), "b".into()],
            "x#d".into(),
            Bytes::from_static(b"\x00\x01"),
        ),
        Item::Join {
            group: "g".into(),
            member: "y#d".into(),
        },
        Item::Leave {
            group: "g".into(),
            member: "y#d".into(),
            reason: Reason::Disconnect,
        },
    ];
    for i in items {
        assert_eq!(decode_item(encode_item(&i)).unwrap(), i);
    }
}

#[test]
fn foreign_and_other_versions_are_recognised() {
    assert_eq!(
        decode(Bytes::from_static(b"GET / HTTP/1.1")),
        Err(DecodeError::Foreign)
    );
    let mut v = DatagramBuilder::new(&header(), 100).finish().to_vec();
    v[4] = 9;
    assert_eq!(decode(Bytes::from(v)), Err(DecodeError::Version(9)));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(Bytes::from(bytes.clone()));
        let _ = decode_item(Bytes::from(bytes));
    }

    #[test]
    fn decoding_arbitrary_chunks_after_a_good_header_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut v = DatagramBuilder::new(&header(), 100).finish().to_vec();
        v.extend_from_slice(&tail);
        let _ = decode(Bytes::from(v));
    }

    #[test]
    fn every_truncation_of_a_good_datagram_is_an_error(cut in 0usize..80) {
        let mut b = DatagramBuilder::new(&header(), 1472);
        b.push(&Chunk::Ack(Ack { clock: 1, last_seq: 2, epoch: 0, frontier: 1, received: vec![5, 6] }));
        let full = b.finish();
        if cut < full.len() {
            let r = decode(full.slice(..cut));
            // A cut exactly at a chunk boundary is a valid shorter datagram.
            prop_assert!(r.is_err() || cut == 4 + 1 + 1 + 3 + 2 + 8);
        }
    }
}
