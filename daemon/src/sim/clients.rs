//! Simulated clients: connects, joins, leaves, multicasts in every order to overlapping groups,
//! disconnects, and the log of what each did and saw.
//!
//! Owns the clients and their logs (the history the checker judges), and the flow control of
//! their requests (a daemon that does not accept input leaves them waiting in its inbox). It
//! never reads a datagram.

use super::Sim;
use crate::check::Event;
use crate::core::{ClientId, Departure, Time};
use bytes::Bytes;
use gcs::wire::{Request, RequestId, Response, HELLO_MAGIC, PROTOCOL_VERSION};
use gcs::Order;
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

/// What happened to a frame handed to a client.
pub(super) enum Handed {
    /// Read (or waiting to be read), or dropped after an overflow already reported.
    Taken,
    /// It did not fit in the client's queue: the daemon must end the session.
    Overflow,
}

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
    /// Not reading until then: frames wait in `unread`, and the client does nothing.
    pub(super) slow_until: Option<Time>,
    /// Frames its daemon queued that it has not read, and their bytes.
    pub(super) unread: VecDeque<Response>,
    pub(super) unread_bytes: usize,
    /// Its queue overflowed: like the driver's, the queue was emptied and takes nothing more
    /// until the session ends.
    pub(super) overflowed: bool,
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
        if self.clients[c].slow_until.is_some() {
            return; // stalled: it does nothing until it reads again
        }
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
            slow_until: None,
            unread: VecDeque::new(),
            unread_bytes: 0,
            overflowed: false,
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

    /// Hands client `c` a frame of `size` bytes its daemon sent: a reading client sees it at
    /// once, a slow one queues it, up to the queue's limit.
    pub(super) fn hand(&mut self, c: usize, response: &Response, size: usize) -> Handed {
        let limit = self.cfg.client_queue_bytes;
        let cl = &mut self.clients[c];
        if cl.overflowed {
            return Handed::Taken;
        }
        if cl.slow_until.is_none() {
            self.see(c, response);
            return Handed::Taken;
        }
        if cl.unread_bytes + size > limit {
            // The driver empties the queue: the client never reads what was in it.
            cl.overflowed = true;
            cl.unread.clear();
            cl.unread_bytes = 0;
            return Handed::Overflow;
        }
        cl.unread_bytes += size;
        cl.unread.push_back(response.clone());
        Handed::Taken
    }

    /// Client `c` reads `response`: it goes into its log.
    fn see(&mut self, c: usize, response: &Response) {
        let cl = &mut self.clients[c];
        match response {
            Response::Message(m) => {
                self.delivered += 1;
                cl.log.push(Event::Deliver {
                    id: payload_id(&m.payload),
                    sender: m.sender.clone(),
                    groups: m.groups.clone(),
                    order: m.order,
                });
            }
            Response::View(v) => cl.log.push(Event::View(v.clone())),
            _ => {}
        }
    }

    /// Client `c` reads everything queued for it and reads on from now on.
    pub(super) fn read_all(&mut self, c: usize) {
        self.clients[c].slow_until = None;
        self.clients[c].unread_bytes = 0;
        let unread = std::mem::take(&mut self.clients[c].unread);
        for r in &unread {
            self.see(c, r);
        }
    }

    /// Maybe stalls a client (from the slow readers' own random stream), and lets those whose
    /// stall is over read again.
    pub(super) fn stall_or_wake_readers(&mut self) {
        let now = self.net.now;
        for c in 0..self.clients.len() {
            if self.clients[c].slow_until.is_some_and(|t| t <= now) {
                self.read_all(c);
            }
        }
        if !self.slow_rng.chance(self.cfg.slow_reader_rate) {
            return;
        }
        let reading: Vec<usize> = (0..self.clients.len())
            .filter(|c| self.clients[*c].connected && self.clients[*c].slow_until.is_none())
            .collect();
        if reading.is_empty() {
            return;
        }
        let c = reading[self.slow_rng.below(reading.len() as u64) as usize];
        let ms = self.cfg.failure_timeout.as_millis() as u64;
        let stall = Duration::from_millis(self.slow_rng.range(ms / 2, ms * 4));
        self.clients[c].slow_until = Some(now + stall);
        self.faults
            .push(format!("{now} p{c} stops reading for {stall:?}"));
    }

    /// The daemon of client `c` ended its session (`overflowed`: because its queue was full):
    /// it reads what is still queued (nothing, after an overflow), then sees the connection
    /// close.
    pub(super) fn closed_by_daemon(&mut self, c: usize, overflowed: bool) {
        if !self.clients[c].connected {
            return; // it went first
        }
        self.read_all(c);
        self.clients[c].connected = false;
        self.clients[c].log.push(Event::Disconnect);
        if overflowed {
            self.overflows += 1;
        }
    }

    /// Daemon `d` ends the session of its client `id`, whose queue is full.
    pub(super) fn overflow(&mut self, d: usize, id: ClientId) {
        self.daemons[d].inbox.retain(|(cid, _)| *cid != id);
        let now = self.net.now;
        self.net.nodes[d]
            .core
            .handle_departure(now, id, Departure::Overflow);
    }
}
