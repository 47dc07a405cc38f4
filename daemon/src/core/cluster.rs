//! The formed cluster: the view with its streams and orderer, and the way of an item into this
//! daemon's stream and out of the orderer.
//!
//! Owns `Cluster` and the backlog of items made while no view could take them. An item is
//! stamped (order), split into chunks (reliable) queued for every peer (transmit), and handed to
//! this daemon's own orderer; what the orderer releases goes to the client side (`apply`). It
//! never takes datagrams apart (ingress) nor decides the membership.

use super::packet::{self, max_chunk_body, Ack, Chunk, DataChunk, Header, Item};
use super::reliable::Received;
use super::{Core, Delivery, FormedView, Orderer, Streams, Time};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// The formed cluster: the view and the layers that need it.
#[derive(Debug)]
pub(super) struct Cluster {
    pub(super) view: FormedView,
    pub(super) streams: Streams,
    pub(super) orderer: Orderer,
}

/// Items made while no view could take them (none formed yet, or a view change under way), in
/// order, and their bytes (which count against the send window).
#[derive(Debug, Default)]
pub(super) struct Backlog {
    pub(super) items: VecDeque<Item>,
    pub(super) bytes: usize,
}

/// Retransmitted bytes sent in answer to the NACKs of one datagram at most, so one request
/// cannot cause a burst.
const RETRANSMIT_BUDGET: usize = 256 * 1024;

/// No timestamp above this is accepted, whatever the local clock: a daemon's own stamps must
/// always have room to grow.
pub(super) const CLOCK_CEILING: u64 = u64::MAX / 2;

/// The slack beyond where honest clocks can be (see `Core::clock_reach`). Clocks move by one per
/// item, so an honest peer is never near it; a timestamp beyond is a bug or a lie that could
/// exhaust the clock or put a daemon out of its peers' reach.
pub(super) const MAX_CLOCK_JUMP: u64 = 1 << 40;

/// What the stream chunks of one datagram did.
#[derive(Debug, Default)]
pub(super) struct Intake {
    /// Items the orderer released, in delivery order.
    pub(super) deliveries: Vec<Delivery>,
    /// Chunks to send back to the sender, in answer to its NACKs.
    pub(super) resend: Vec<DataChunk>,
    /// New data arrived, to be acknowledged.
    pub(super) ack_due: bool,
    /// Data chunks this daemon already had.
    pub(super) duplicates: u64,
    /// Reassembled items that did not decode.
    pub(super) undecodable: u64,
    /// Bytes of `resend`, charged to the sender's retransmission credit.
    pub(super) resent_bytes: u64,
}

impl Cluster {
    /// True if this daemon is alone in its view.
    pub(super) fn is_alone(&self) -> bool {
        self.view.len() == 1
    }

    /// The header of every datagram this daemon sends in this view.
    pub(super) fn header(&self, cluster: &str) -> Header {
        Header {
            cluster: cluster.to_string(),
            sender: self.view.me,
            view: self.view.view.view_id,
        }
    }

    /// True if a datagram with `header` from `from` belongs to this view: its sender is the
    /// member at that address, in this view.
    pub(super) fn is_current(&self, from: std::net::SocketAddr, header: &Header) -> bool {
        self.view.index_of(from) == Some(header.sender) && header.view == self.view.view.view_id
    }

    /// True if a chunk of a peer carries a timestamp beyond `reach` (see `Core::clock_reach`).
    pub(super) fn is_absurd(chunk: &Chunk, reach: u64) -> bool {
        match chunk {
            Chunk::Data(d) => d.ts > reach,
            Chunk::Ack(a) => a.clock > reach,
            _ => false,
        }
    }

    /// Stamps `item`, splits it into chunks of at most `max_body` bytes and hands it to this
    /// daemon's own orderer. Returns the chunks for the peers (none when alone) and what the
    /// orderer released.
    pub(super) fn send(&mut self, item: Item, max_body: usize) -> (Vec<DataChunk>, Vec<Delivery>) {
        let (ts, epoch) = self.orderer.stamp();
        let mut chunks = self.streams.send(ts, epoch, &item, max_body);
        let seq = chunks.last().map_or(0, |ch| ch.seq);
        if self.is_alone() {
            // Alone in the view, this daemon's own copy makes every item stable at once.
            self.streams.collect_garbage();
            chunks.clear();
        }
        let mut out = Vec::new();
        let me = self.view.me;
        self.orderer.push(
            Received {
                origin: me,
                seq,
                ts,
                epoch,
                item,
            },
            &mut out,
        );
        (chunks, out)
    }

    /// Takes in the stream chunks (data, acknowledgements, NACKs) of one datagram from the
    /// member `sender`.
    /// Takes in the stream chunks of one datagram of `sender`, whose NACKs may make this daemon
    /// retransmit at most `allowance` bytes (the sender's credit; see `Intake::resent_bytes`).
    pub(super) fn take_in(&mut self, sender: u16, chunks: Vec<Chunk>, allowance: u64) -> Intake {
        let mut intake = Intake::default();
        // One budget for every NACK in the datagram, so packing many NACKs into one datagram
        // cannot multiply what it makes this daemon send; and never beyond the sender's credit.
        let mut budget = RETRANSMIT_BUDGET.min(usize::try_from(allowance).unwrap_or(usize::MAX));
        let start = budget;
        for chunk in chunks {
            match chunk {
                Chunk::Data(d) => {
                    let ts = d.ts;
                    let receipt = self.streams.receive_from(sender, d);
                    if receipt.new {
                        // Only a chunk taken moves the clock: one dropped (passed on unasked,
                        // or past a bound) must not.
                        self.orderer.observe(ts);
                        intake.ack_due = true;
                    } else {
                        intake.duplicates += 1;
                    }
                    intake.undecodable += receipt.undecodable;
                    for r in receipt.items {
                        self.orderer.push(r, &mut intake.deliveries);
                    }
                }
                Chunk::Ack(a) => {
                    self.orderer.observe(a.clock);
                    self.streams.on_ack(sender, &a);
                }
                Chunk::Nack { origin, ranges } => {
                    if budget == 0 {
                        continue;
                    }
                    let resend = self.streams.chunks_for(origin, &ranges, budget);
                    let sent: usize = resend
                        .iter()
                        .map(|d| d.body.len() + packet::DATA_CHUNK_OVERHEAD)
                        .sum();
                    budget = budget.saturating_sub(sent.max(1));
                    intake.resend.extend(resend);
                }
                Chunk::Hello { .. } | Chunk::Control { .. } => {}
            }
        }
        intake.resent_bytes = (start - budget) as u64;
        intake
    }

    /// Every totally ordered item that has become deliverable, and whether this daemon moved to
    /// a new epoch (the others wait to hear it).
    pub(super) fn advance(&mut self) -> (Vec<Delivery>, bool) {
        let before = self.orderer.epoch();
        let mut out = Vec::new();
        self.orderer.advance(&self.streams, &mut out);
        (out, self.orderer.epoch() != before)
    }

    /// True if an acknowledgement should go out now although no heartbeat is due: a safe item
    /// waits for a frontier this daemon has just passed, or something is unfinished and the
    /// busy interval (ending at `busy_due`) is over at `now`.
    pub(super) fn wants_ack(&self, now: Time, busy_due: Time) -> bool {
        // A safe item waits for every daemon's frontier: tell the others at once when ours
        // passes it, rather than at the next heartbeat.
        let safe = self
            .orderer
            .first_safe_unannounced()
            .is_some_and(|ts| self.streams.frontier(self.orderer.clock()) >= ts);
        let busy = self.streams.busy() || self.orderer.busy();
        safe || (busy && now >= busy_due)
    }

    /// The NACKs due at `now`, each with the member to send it to.
    pub(super) fn due_nacks(
        &mut self,
        now: Time,
        retransmit: Duration,
    ) -> Vec<(SocketAddr, Chunk)> {
        self.streams
            .due_nacks(now, retransmit)
            .into_iter()
            .map(|nack| {
                let to = self.view.addrs[nack.target as usize];
                let chunk = Chunk::Nack {
                    origin: nack.origin,
                    ranges: nack.ranges,
                };
                (to, chunk)
            })
            .collect()
    }

    /// This daemon's acknowledgement as of now, and the frontier it announces.
    pub(super) fn ack(&self) -> (Chunk, u64) {
        let frontier = self.streams.frontier(self.orderer.clock());
        let ack = Chunk::Ack(Ack {
            clock: self.orderer.clock(),
            last_seq: self.streams.last_own_seq(),
            epoch: self.orderer.epoch(),
            frontier,
            received: self.streams.received_vector(),
        });
        (ack, frontier)
    }
}

impl Core {
    /// Hands an item to this daemon's stream, or keeps it until the view forms.
    pub(super) fn submit(&mut self, item: Item) {
        if self.cluster.is_none() || self.view_change.is_running() {
            self.backlog.bytes += item_bytes(&item);
            self.backlog.items.push_back(item);
            return;
        }
        self.stamp_and_send(item);
    }

    /// Sends an item in the current view.
    pub(super) fn stamp_and_send(&mut self, item: Item) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let max_body = max_chunk_body(
            self.config.max_datagram,
            self.config.cluster.len(),
            c.view.len(),
        );
        let (chunks, deliveries) = c.send(item, max_body);
        self.tx.outgoing.extend(chunks);
        for d in deliveries {
            self.apply(d);
        }
    }

    /// Delivers every totally ordered item that has become deliverable.
    pub(super) fn deliver_ready(&mut self) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let (deliveries, new_epoch) = c.advance();
        if new_epoch && !c.is_alone() {
            self.tx.ack_due = true;
        }
        for d in deliveries {
            self.apply(d);
        }
    }
}

/// Roughly how many bytes an item takes, for the send window.
fn item_bytes(item: &Item) -> usize {
    match item {
        Item::Multicast {
            groups,
            sender,
            frame,
            ..
        } => frame.len() + sender.len() + groups.iter().map(String::len).sum::<usize>() + 8,
        Item::Join { group, member } | Item::Leave { group, member, .. } => {
            group.len() + member.len() + 8
        }
    }
}
