//! Flow control: a client that sends faster than the cluster takes is made to wait (the daemon
//! stops taking its requests) once its daemon's unstable bytes fill the send window; nothing is
//! dropped, and what the daemons hold stays within the windows.

mod common;

use bytes::Bytes;
use common::{SIZE, WINDOW};
use gcs::wire::{Request, RequestId};
use gcs::Order;

#[test]
fn a_fast_sender_waits_for_the_window_and_loses_nothing() {
    let mut p = common::pair();
    let receiver = p.client(1, "receiver");
    p.request(
        1,
        receiver,
        Request::Join {
            id: RequestId(1),
            group: "g".into(),
        },
    );
    let sender = p.client(0, "sender");
    p.settle();
    let mut sent = 0usize;
    for round in 0..8 {
        // Send until the daemon stops taking requests, with the network holding everything.
        let mut this_round = 0;
        while p.core(0).accepts_client_input() {
            let payload = Bytes::from(format!("{sent:08}").into_bytes().repeat(SIZE / 8));
            p.request(
                0,
                sender,
                Request::Multicast {
                    id: RequestId(sent as u64),
                    groups: vec!["g".into()],
                    order: Order::Agreed,
                    payload,
                },
            );
            p.drain(0);
            sent += 1;
            this_round += 1;
            assert!(
                this_round <= WINDOW / SIZE + 2,
                "round {round}: the window never closed"
            );
        }
        // Each message costs its payload plus its frame's and item's headers.
        assert!(
            this_round >= WINDOW / (SIZE + 128),
            "round {round}: closed after {this_round}"
        );
        let held = p.core(0).held_bytes() + p.core(1).held_bytes();
        assert!(
            held <= 2 * (WINDOW + 2 * SIZE),
            "round {round}: {held} bytes held"
        );
        // Once the other daemon has the messages, the window opens again.
        p.settle();
        assert!(
            p.core(0).accepts_client_input(),
            "round {round}: the window stayed closed"
        );
    }
    let delivered = p.payloads(1);
    assert_eq!(
        delivered.len(),
        sent,
        "every message is delivered, none dropped"
    );
    for (k, m) in delivered.iter().enumerate() {
        assert!(
            m.starts_with(format!("{k:08}").as_bytes()),
            "message {k} out of order"
        );
    }
    assert_eq!(p.core(0).held_bytes() + p.core(1).held_bytes(), 0);
}

#[test]
fn small_messages_sent_together_travel_in_one_datagram() {
    let mut p = common::pair();
    let sender = p.client(0, "sender");
    p.drain(0);
    p.lose_in_flight();
    // Ten messages of a few bytes, handed in before the daemon's outputs are drained, fit in
    // one 1472-byte datagram.
    let now = p.now();
    for k in 0..10 {
        p.core_mut(0).handle_request(
            now,
            sender,
            Request::Multicast {
                id: RequestId(k),
                groups: vec!["g".into()],
                order: Order::Fifo,
                payload: Bytes::from_static(b"small"),
            },
        );
    }
    p.drain(0);
    assert_eq!(p.net.in_flight(), 1, "ten small messages, one datagram");
}
