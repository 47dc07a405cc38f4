//! Simulated clients: connects, joins, leaves, multicasts in every order to overlapping groups,
//! disconnects, and the log of what each did and saw.
//!
//! Owns the clients and their logs (the history the checker judges), and the flow control of
//! their requests (a daemon that does not accept input leaves them waiting in its inbox). It
//! never reads a datagram.

use super::Sim;
use crate::check::Event;
use crate::core::ClientId;
use bytes::Bytes;
use gcs::wire::{Request, RequestId, HELLO_MAGIC, PROTOCOL_VERSION};
use gcs::Order;
use std::collections::BTreeSet;

/// One simulated client.
pub(super) struct SimClient {
    pub(super) daemon: usize,
    pub(super) id: ClientId,
    pub(super) name: String,
    pub(super) log: Vec<Event>,
    pub(super) joined: BTreeSet<String>,
    pub(super) sent: u64,
    pub(super) connected: bool,
    pub(super) next_request: u64,
}

pub(super) fn payload_id(p: &Bytes) -> String {
    let text = String::from_utf8_lossy(p);
    text.split('|').next().unwrap_or_default().to_string()
}

impl Sim {
    /// One random client action.
    pub(super) fn act(&mut self) {
        let live: Vec<usize> = (0..self.clients.len())
            .filter(|c| self.clients[*c].connected)
            .collect();
        if live.is_empty() {
            let d = self.live_daemon();
            self.connect(d);
            return;
        }
        let c = live[self.rng.below(live.len() as u64) as usize];
        let group = format!("g{}", self.rng.below(self.cfg.groups as u64));
        match self.rng.below(100) {
            0..=14 => {
                if self.clients[c].joined.contains(&group) {
                    self.leave(c, group);
                } else {
                    self.join(c, group);
                }
            }
            15..=16 => {
                self.disconnect(c);
                let d = self.live_daemon();
                self.connect(d);
            }
            _ => {
                let mut groups = vec![group];
                if self.rng.below(4) == 0 {
                    groups.push(format!("g{}", self.rng.below(self.cfg.groups as u64)));
                }
                let order = Order::ALL[self.rng.below(5) as usize];
                self.multicast(c, groups, order);
            }
        }
    }

    pub(super) fn request_id(&mut self, c: usize) -> RequestId {
        let cl = &mut self.clients[c];
        cl.next_request += 1;
        RequestId(cl.next_request)
    }

    pub(super) fn connect(&mut self, d: usize) {
        let n = self.clients.len();
        let name = format!("p{n}");
        let id = self.net.nodes[d].core.handle_connect(self.net.now);
        self.clients.push(SimClient {
            daemon: d,
            id,
            name: format!("{name}#d{d}"),
            log: Vec::new(),
            joined: BTreeSet::new(),
            sent: 0,
            connected: true,
            next_request: 0,
        });
        self.by_id.insert((d, id), n);
        let hello = Request::Hello {
            magic: HELLO_MAGIC.into(),
            version: PROTOCOL_VERSION,
            name,
        };
        self.request(n, hello);
        // Each client starts in one group so there is traffic from the start.
        let g = format!("g{}", self.rng.below(self.cfg.groups as u64));
        self.join(n, g);
    }

    pub(super) fn join(&mut self, c: usize, group: String) {
        let id = self.request_id(c);
        self.clients[c].joined.insert(group.clone());
        self.clients[c].log.push(Event::Join {
            group: group.clone(),
        });
        self.request(c, Request::Join { id, group });
    }

    pub(super) fn leave(&mut self, c: usize, group: String) {
        let id = self.request_id(c);
        self.clients[c].joined.remove(&group);
        self.clients[c].log.push(Event::Leave {
            group: group.clone(),
        });
        self.request(c, Request::Leave { id, group });
    }

    pub(super) fn multicast(&mut self, c: usize, mut groups: Vec<String>, order: Order) {
        groups.dedup();
        let id = self.request_id(c);
        let cl = &mut self.clients[c];
        cl.sent += 1;
        let msg_id = format!("{}:{}", cl.name, cl.sent);
        let size = self.rng.range(0, self.cfg.max_payload as u64) as usize;
        let mut text = format!("{msg_id}|");
        text.extend(std::iter::repeat_n('x', size));
        self.clients[c].log.push(Event::Send {
            id: msg_id,
            groups: groups.clone(),
            order,
        });
        self.request(
            c,
            Request::Multicast {
                id,
                groups,
                order,
                payload: Bytes::from(text),
            },
        );
    }

    pub(super) fn disconnect(&mut self, c: usize) {
        let cl = &mut self.clients[c];
        cl.connected = false;
        cl.log.push(Event::Disconnect);
        let (d, id) = (cl.daemon, cl.id);
        // Requests still waiting in the inbox die with the connection.
        self.daemons[d].inbox.retain(|(cid, _)| *cid != id);
        self.net.nodes[d]
            .core
            .handle_departure(self.net.now, id, crate::core::Departure::Closed);
        self.drain(d);
    }

    pub(super) fn request(&mut self, c: usize, req: Request) {
        let (d, id) = (self.clients[c].daemon, self.clients[c].id);
        self.daemons[d].inbox.push_back((id, req));
        self.feed(d);
    }

    /// Hands waiting client requests to daemon `d` while it accepts input.
    pub(super) fn feed(&mut self, d: usize) {
        if !self.net.nodes[d].alive || self.net.nodes[d].paused_until.is_some() {
            return;
        }
        while self.net.nodes[d].core.accepts_client_input() {
            let Some((id, req)) = self.daemons[d].inbox.pop_front() else {
                break;
            };
            let _span = tracing::info_span!("sim", d = d, t = %self.net.now).entered();
            self.net.nodes[d].core.handle_request(self.net.now, id, req);
            self.drain(d);
        }
    }
}
