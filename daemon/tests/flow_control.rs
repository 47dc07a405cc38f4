//! Flow control: a client that sends faster than the cluster takes is made to wait (the daemon
//! stops taking its requests) once its daemon's unstable bytes fill the send window; nothing is
//! dropped, and what the daemons hold stays within the windows.

use bytes::Bytes;
use gcs::wire::{Request, RequestId, Response, HELLO_MAGIC, PROTOCOL_VERSION};
use gcs::Order;
use gcsd::core::{ClientId, Core, CoreConfig, Output, Time};
use std::collections::VecDeque;
use std::net::SocketAddr;

const WINDOW: usize = 64 * 1024;
const SIZE: usize = 1000;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 20, i as u8 + 1], 4804))
}

struct Pair {
    cores: [Core; 2],
    net: VecDeque<(usize, SocketAddr, Bytes)>,
    delivered: Vec<Bytes>,
    now: Time,
}

impl Pair {
    fn new() -> Pair {
        let core = |i: usize| {
            Core::new(
                CoreConfig {
                    listen: addr(i),
                    peers: vec![addr(1 - i)],
                    send_window: WINDOW,
                    ..CoreConfig::single(&format!("d{i}"))
                },
                Time(0),
            )
        };
        let mut p = Pair {
            cores: [core(0), core(1)],
            net: VecDeque::new(),
            delivered: Vec::new(),
            now: Time(0),
        };
        p.settle();
        p
    }

    /// Collects the outputs of core `i`: datagrams go on the network, messages to the receiver.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.cores[i].poll_output() {
            match out {
                Output::Transmit { to, bytes } => {
                    for dest in to {
                        let j = usize::from(dest == addr(1));
                        self.net.push_back((j, addr(i), bytes.clone()));
                    }
                }
                out @ Output::Deliver { .. } => {
                    if let Some(Response::Message(m)) = out.response() {
                        self.delivered.push(m.payload);
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs the network and timers until nothing is in flight.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            self.drain(0);
            self.drain(1);
            if let Some((to, from, bytes)) = self.net.pop_front() {
                self.cores[to].handle_datagram(self.now, from, bytes);
                continue;
            }
            // Quiet: let time pass so acknowledgements and retries go out, then stop once even
            // that produces nothing.
            self.now = self.now + std::time::Duration::from_millis(10);
            self.cores[0].handle_timeout(self.now);
            self.cores[1].handle_timeout(self.now);
            self.drain(0);
            self.drain(1);
            if self.net.is_empty() {
                return;
            }
        }
        panic!("the pair never settled");
    }

    fn client(&mut self, i: usize, name: &str) -> ClientId {
        let id = self.cores[i].handle_connect(self.now);
        self.cores[i].handle_request(
            self.now,
            id,
            Request::Hello {
                magic: HELLO_MAGIC.into(),
                version: PROTOCOL_VERSION,
                name: name.into(),
            },
        );
        id
    }
}

#[test]
fn a_fast_sender_waits_for_the_window_and_loses_nothing() {
    let mut p = Pair::new();
    let receiver = p.client(1, "receiver");
    p.cores[1].handle_request(
        p.now,
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
        while p.cores[0].accepts_client_input() {
            let payload = Bytes::from(format!("{sent:08}").into_bytes().repeat(SIZE / 8));
            p.cores[0].handle_request(
                p.now,
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
        let held = p.cores[0].held_bytes() + p.cores[1].held_bytes();
        assert!(
            held <= 2 * (WINDOW + 2 * SIZE),
            "round {round}: {held} bytes held"
        );
        // Once the other daemon has the messages, the window opens again.
        p.settle();
        assert!(
            p.cores[0].accepts_client_input(),
            "round {round}: the window stayed closed"
        );
    }
    assert_eq!(
        p.delivered.len(),
        sent,
        "every message is delivered, none dropped"
    );
    for (k, m) in p.delivered.iter().enumerate() {
        assert!(
            m.starts_with(format!("{k:08}").as_bytes()),
            "message {k} out of order"
        );
    }
    assert_eq!(p.cores[0].held_bytes() + p.cores[1].held_bytes(), 0);
}
