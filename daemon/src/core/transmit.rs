//! Sending: the chunks waiting to go out, packed into datagrams, and the timers of hellos,
//! heartbeats and acknowledgements.
//!
//! Owns what is queued for the network (this daemon's new chunks for every peer, chunks for one
//! peer) and when the next hello, heartbeat and busy acknowledgement are due. It decides nothing
//! about what to send: the other parts queue chunks here, and the packing puts an up-to-date
//! acknowledgement in every datagram to the view. It never reads a clock or touches a socket.

use super::packet::{self, header_len, Chunk, DatagramBuilder, Header};
use super::{Core, Output, Time};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// What is queued for the network and when the periodic chunks are next due.
#[derive(Debug)]
pub(super) struct Transmit {
    /// New chunks of this daemon's stream, to send to every peer.
    pub(super) outgoing: VecDeque<packet::DataChunk>,
    /// Chunks for one peer only (retransmissions, NACKs, hellos, membership messages).
    pub(super) unicast: BTreeMap<SocketAddr, Vec<Chunk>>,
    /// Spare memory datagrams are built in.
    pub(super) arena: bytes::BytesMut,
    /// An acknowledgement must go to the view at the next packing, even with no data.
    pub(super) ack_due: bool,
    pub(super) next_hello: Time,
    pub(super) next_heartbeat: Time,
    pub(super) next_busy_ack: Time,
}

impl Transmit {
    /// Nothing queued; every timer due at `now`.
    pub(super) fn new(now: Time) -> Transmit {
        Transmit {
            outgoing: VecDeque::new(),
            unicast: BTreeMap::new(),
            arena: bytes::BytesMut::new(),
            ack_due: false,
            next_hello: now,
            next_heartbeat: now,
            next_busy_ack: now,
        }
    }

    /// Queues `chunk` for `to` alone.
    pub(super) fn queue_for(&mut self, to: SocketAddr, chunk: Chunk) {
        self.unicast.entry(to).or_default().push(chunk);
    }

    /// Queues `chunks` for `to` alone.
    pub(super) fn queue_all_for(
        &mut self,
        to: SocketAddr,
        chunks: impl IntoIterator<Item = Chunk>,
    ) {
        self.unicast.entry(to).or_default().extend(chunks);
    }
}

impl Core {
    /// Packs queued chunks into datagrams: unicast chunks per peer, then this daemon's new chunks
    /// for every peer, each datagram with a current acknowledgement.
    pub(super) fn build_transmissions(&mut self) {
        let header = match &self.cluster {
            Some(c) => c.header(&self.config.cluster),
            None => Header {
                cluster: self.config.cluster.clone(),
                sender: packet::NO_INDEX,
                view: 0,
            },
        };
        let max = self.config.max_datagram;
        let mut arena = std::mem::take(&mut self.tx.arena);
        for (to, chunks) in std::mem::take(&mut self.tx.unicast) {
            let mut b = DatagramBuilder::in_arena(arena, &header, max);
            for chunk in chunks {
                if b.push(&chunk) {
                    continue;
                }
                if !b.is_empty() {
                    let (bytes, rest) = b.finish_in();
                    self.outputs.push_back(Output::Transmit {
                        to: vec![to],
                        bytes,
                    });
                    b = DatagramBuilder::in_arena(rest, &header, max);
                }
                if !b.push(&chunk) {
                    tracing::error!("a chunk does not fit in an empty datagram; dropped");
                }
            }
            let (bytes, rest) = b.finish_in();
            arena = rest;
            if bytes.len() > header_len(header.cluster.len()) {
                self.outputs.push_back(Output::Transmit {
                    to: vec![to],
                    bytes,
                });
            }
        }
        self.tx.arena = arena;
        let Some(c) = &self.cluster else {
            return;
        };
        if c.is_alone() {
            self.tx.outgoing.clear();
            self.tx.ack_due = false;
            return;
        }
        if self.tx.outgoing.is_empty() && !self.tx.ack_due {
            return;
        }
        let peers = c.view.peers();
        let (ack, frontier) = c.ack();
        let mut arena = std::mem::take(&mut self.tx.arena);
        loop {
            let mut b = DatagramBuilder::in_arena(arena, &header, max);
            b.push(&ack);
            let mut added = 0;
            while let Some(front) = self.tx.outgoing.front() {
                if !b.push(&Chunk::Data(front.clone())) {
                    break;
                }
                self.tx.outgoing.pop_front();
                added += 1;
            }
            if added == 0 && !self.tx.outgoing.is_empty() {
                // Cannot happen: chunk bodies are sized to fit beside the acknowledgement.
                tracing::error!("a data chunk does not fit in a datagram; dropped");
                self.tx.outgoing.pop_front();
            }
            let (bytes, rest) = b.finish_in();
            arena = rest;
            self.outputs.push_back(Output::Transmit {
                to: peers.clone(),
                bytes,
            });
            if self.tx.outgoing.is_empty() {
                break;
            }
        }
        self.tx.arena = arena;
        if let Some(c) = self.cluster.as_mut() {
            c.orderer.frontier_announced(frontier);
        }
        self.tx.ack_due = false;
        self.tx.next_heartbeat = self.now + self.config.heartbeat;
        self.tx.next_busy_ack = self.now + self.config.retransmit;
    }
}
