//! The hostile member: one daemon of the cluster that holds the key (its datagrams carry its own
//! address) and, besides running the honest protocol, sends forgeries of every kind during the
//! chaos phase; and an outsider that sends the same from an address that is not configured.
//!
//! Owns what the forgeries are and when they go. It draws from a random stream of its own, and
//! it never touches a core except by the datagrams it sends. What it does not forge is the one
//! thing no check can catch: its own stream (its content, and the progress it announces, the
//! clock, last sequence number and epoch of its acknowledgements): a member that says different
//! things of its own stream to different daemons can make them deliver its own clients' messages
//! differently, which only a signature per message and an agreement on every stream's progress
//! could prevent; see the security notes.

use super::Sim;
use crate::core::packet::{Chunk, DataChunk, DatagramBuilder, Frag, Header};
use crate::core::{Attempt, Control, DaemonId};
use crate::sim::harness;
use bytes::Bytes;
use std::net::SocketAddr;

/// Whether the hostile member's acknowledgements claim more of the streams than it holds. Off:
/// such claims are not yet defended against. The other daemons take them and drop chunks it does
/// not have; when it asks for them later, nobody holds them any more, and a view change that
/// needs them waits until it is removed. Agreed and self delivery then fail on about 40% of the
/// seeds. Turn it on to work on that defence.
const LIES_ABOUT_WHAT_IT_HOLDS: bool = false;

/// Whether the hostile member's acknowledgements misstate its clock, the progress of its own
/// stream. Off: that is one of the lies about its own stream the module comment leaves out. Its
/// receivers wait for its items beyond the clock it named, and its next real item, stamped lower,
/// is then delivered out of place, after items that follow it causally (seed 3005 of the hostile
/// batch with this on). The other harm it did, raising a daemon's clock so far that a daemon
/// whose reach starts lower dropped its install for good, is defended: a view change's clocks are
/// judged with twice a timestamp's slack (seed 640 failed before that).
const LIES_ABOUT_ITS_CLOCK: bool = false;

/// Membership messages the hostile member keeps to replay, at most.
const SEEN: usize = 32;

/// A number of any size, small ones as likely as large: the value of a forged field.
fn huge(r: &mut super::Rng) -> u64 {
    r.next_u64() >> r.below(64)
}

/// Where the outsider sends from: an address no daemon lists.
fn outsider() -> SocketAddr {
    SocketAddr::from(([127, 0, 10, 250], 4804))
}

impl Sim {
    /// The hostile member's index, when the run has one.
    pub(super) fn hostile(&self) -> Option<usize> {
        (self.cfg.hostile_rate > 0.0 && self.cfg.daemons >= 2).then(|| self.cfg.daemons - 1)
    }

    /// Keeps a membership message that reached or left the hostile member, to replay later.
    pub(super) fn note_for_hostile(&mut self, from: usize, to: usize, bytes: &Bytes) {
        if self.hostile().is_none_or(|h| h != from && h != to) {
            return;
        }
        if self.hostile() == Some(from) {
            let ack = harness::chunks(bytes).into_iter().find_map(|c| match c {
                Chunk::Ack(a) => Some(a),
                _ => None,
            });
            if ack.is_some() {
                self.hostile_ack = ack;
            }
        }
        for c in harness::controls(bytes) {
            if self.hostile_seen.len() == SEEN {
                self.hostile_seen.pop_front();
            }
            self.hostile_seen.push_back(c);
        }
    }

    /// After a datagram of daemon `d`: if `d` is the hostile member, now and then a forgery.
    pub(super) fn maybe_lie(&mut self, d: usize) {
        if self.hostile() != Some(d)
            || !self.chaos
            || !self.net.nodes[d].alive
            || !self.hostile_rng.chance(self.cfg.hostile_rate)
        {
            return;
        }
        let n = self.cfg.daemons;
        let view = self.net.nodes[d].core.daemon_view();
        let me = format!("d{d}");
        let sender = view.members.iter().position(|m| *m == me).unwrap_or(0) as u16;
        let header = Header {
            cluster: "gcs".into(),
            sender,
            view: view.view_id,
        };
        let r = &mut self.hostile_rng;
        let last_ack = self.hostile_ack.clone();
        let kind = r.below(7);
        if kind == 0 && !LIES_ABOUT_WHAT_IT_HOLDS && !LIES_ABOUT_ITS_CLOCK {
            return;
        }
        let chunk = match kind {
            // Its true acknowledgement, but for what it says it holds of every stream, or its
            // clock (see the two switches above).
            0 => match last_ack {
                Some(mut ack) => {
                    if LIES_ABOUT_ITS_CLOCK {
                        ack.clock = ack.clock.saturating_add(huge(r));
                    }
                    if LIES_ABOUT_WHAT_IT_HOLDS {
                        ack.frontier = huge(r).min(ack.clock);
                        ack.received = (0..n).map(|_| huge(r)).collect();
                    }
                    Chunk::Ack(ack)
                }
                None => return,
            },
            1 => Chunk::Nack {
                origin: r.below(n as u64) as u16,
                ranges: vec![(1, u64::MAX)],
            },
            2 => Chunk::Data(DataChunk {
                // Another daemon's stream, unasked, with any timestamp.
                origin: (sender as u64 + 1 + r.below(n as u64 - 1)) as u16 % n as u16,
                seq: r.range(1, 64),
                ts: huge(r),
                epoch: r.below(4),
                frag: Frag::Whole,
                body: Bytes::from(vec![r.below(4) as u8; r.range(1, 64) as usize]),
            }),
            3 => Chunk::Hello {
                name: me.clone(),
                cluster_size: n as u16,
                incarnation: huge(r),
                view: huge(r),
            },
            _ => {
                let control = self.forged_control();
                return self
                    .send_forgery(d, harness::control_datagram(sender, view.view_id, &control));
            }
        };
        let mut b = DatagramBuilder::new(&header, 65_000);
        if b.push(&chunk) {
            let bytes = b.finish();
            self.send_forgery(d, bytes);
        }
    }

    /// A membership message: one seen, sent again under the hostile member's own address with
    /// its numbers changed, or one made up.
    fn forged_control(&mut self) -> Control {
        let n = self.cfg.daemons;
        let r = &mut self.hostile_rng;
        let mut ids = Vec::new();
        for i in 0..n {
            if r.below(3) == 0 {
                continue;
            }
            let incarnation = if r.chance(0.5) {
                self.daemons[i].incarnation
            } else {
                huge(r)
            };
            ids.push(DaemonId {
                addr: super::addr(i),
                name: format!("d{i}"),
                incarnation,
            });
        }
        let seen = (!self.hostile_seen.is_empty())
            .then(|| self.hostile_seen[r.below(self.hostile_seen.len() as u64) as usize].clone());
        match (r.below(3), seen) {
            (0, _) | (_, None) => Control::Behind { round: huge(r) },
            (1, _) => Control::Propose {
                attempt: Attempt {
                    round: huge(r),
                    coordinator: super::addr(r.below(n as u64) as usize),
                    incarnation: huge(r),
                },
                members: ids,
            },
            (_, Some(mut c)) => {
                match &mut c {
                    Control::State { state, .. } => {
                        if LIES_ABOUT_WHAT_IT_HOLDS {
                            for s in state.contiguous.iter_mut() {
                                *s = s.saturating_add(huge(r));
                            }
                        }
                        for s in state.heard.iter_mut() {
                            *s = s.saturating_add(huge(r));
                        }
                        state.delivered.1 = r.below(n as u64 + 2) as u16;
                    }
                    Control::Ready { ready, .. } => {
                        ready.clock = huge(r);
                        ready.views = huge(r);
                    }
                    Control::Install { install, .. } => install.members = ids,
                    Control::Propose { members, .. } => *members = ids,
                    Control::Commit { cuts, .. } => {
                        for c in cuts.iter_mut() {
                            for s in c.cut.iter_mut() {
                                *s = s.saturating_add(huge(r));
                            }
                        }
                    }
                    Control::Behind { round } => *round = huge(r),
                    Control::Bye { incarnation } => *incarnation = huge(r),
                }
                c
            }
        }
    }

    /// Sends `bytes` from the hostile member to one other daemon, and now and then the same
    /// from the outsider's address.
    fn send_forgery(&mut self, d: usize, bytes: Bytes) {
        let n = self.cfg.daemons as u64;
        let to = (d + 1 + self.hostile_rng.below(n - 1) as usize) % self.cfg.daemons;
        let from = if self.hostile_rng.chance(0.2) {
            outsider()
        } else {
            self.net.nodes[d].addr
        };
        self.hostile_lies += 1;
        self.send_datagram(from, self.net.nodes[to].addr, bytes);
    }
}
