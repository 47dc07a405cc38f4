//! A pair of daemon cores joined by a hand-run network, for tests that need to hold messages in
//! flight and then let them go.

#![allow(dead_code)] // each test file uses part of it

use bytes::Bytes;
use gcs::wire::{Request, Response, HELLO_MAGIC, PROTOCOL_VERSION};
use gcsd::core::{ClientId, Core, CoreConfig, Output, Time};
use std::collections::VecDeque;
use std::net::SocketAddr;

pub const WINDOW: usize = 64 * 1024;

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 20, i as u8 + 1], 4804))
}

pub struct Pair {
    pub cores: [Core; 2],
    pub net: VecDeque<(usize, SocketAddr, Bytes)>,
    pub delivered: Vec<Bytes>,
    /// Frames other than messages, per core, with their recipients.
    pub responses: Vec<(usize, Vec<ClientId>, Response)>,
    pub now: Time,
}

impl Pair {
    pub fn new() -> Pair {
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
            responses: Vec::new(),
            now: Time(0),
        };
        p.settle();
        p
    }

    /// Collects the outputs of core `i`: datagrams go on the network, messages to the receiver.
    pub fn drain(&mut self, i: usize) {
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
                Output::Send { to, response } => self.responses.push((i, to, response)),
                Output::Close {
                    client,
                    error: Some(error),
                } => self
                    .responses
                    .push((i, vec![client], Response::Closing { error })),
                _ => {}
            }
        }
    }

    /// Runs the network and timers until nothing is in flight.
    pub fn settle(&mut self) {
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

    /// Delivers everything in flight without letting time pass.
    pub fn settle_at_now(&mut self) {
        for _ in 0..10_000 {
            self.drain(0);
            self.drain(1);
            let Some((to, from, bytes)) = self.net.pop_front() else {
                return;
            };
            self.cores[to].handle_datagram(self.now, from, bytes);
        }
        panic!("the pair never settled");
    }

    pub fn client(&mut self, i: usize, name: &str) -> ClientId {
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

/// The size of the messages the tests send.
pub const SIZE: usize = 1000;
