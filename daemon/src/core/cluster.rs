//! The cluster side of the core: items into this daemon's stream, datagrams in and out, timers.
//!
//! Owns the glue between the layers: stamping items (order), splitting them into chunks
//! (reliable), packing chunks and acknowledgements into datagrams (packet), taking datagrams
//! apart, forming the view (membership), asking for gaps and answering NACKs, and handing
//! deliverable items to the client side (`apply`). It never reads a clock: `self.now` is the time
//! of the input being handled.

use super::membership::HelloOutcome;
use super::packet::{self, header_len, max_chunk_body, Ack, Chunk, DatagramBuilder, Header, Item};
use super::reliable::Received;
use super::{Core, Time};
use bytes::Bytes;
use std::net::SocketAddr;

/// Retransmitted bytes sent in answer to one NACK at most, so one request cannot cause a burst.
const RETRANSMIT_BUDGET: usize = 256 * 1024;

/// No timestamp above this is accepted, whatever the local clock: a daemon's own stamps must
/// always have room to grow.
const CLOCK_CEILING: u64 = u64::MAX / 2;

/// How far ahead of this daemon's clock a peer's timestamp may be. Clocks move by one per item,
/// so an honest peer is never near this; a larger value is a bug or a lie that could exhaust the
/// clock.
const MAX_CLOCK_JUMP: u64 = 1 << 40;

/// Addresses remembered so a misbehaving peer is warned about once; more are not remembered.
const MAX_WARNED: usize = 1024;

impl Core {
    /// Hands an item to this daemon's stream, or keeps it until the view forms.
    pub(super) fn submit(&mut self, item: Item) {
        if self.cluster.is_none() || self.change.is_some() {
            self.unsent_bytes += item_bytes(&item);
            self.unsent.push_back(item);
            return;
        }
        self.stamp_and_send(item);
    }

    pub(super) fn stamp_and_send(&mut self, item: Item) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let n = c.view.len();
        let max_body = max_chunk_body(self.config.max_datagram, self.config.cluster.len(), n);
        let (ts, epoch) = c.orderer.stamp();
        let chunks = c.streams.send(ts, epoch, &item, max_body);
        let seq = chunks.last().map_or(0, |ch| ch.seq);
        if n > 1 {
            self.outgoing.extend(chunks);
        } else {
            // Alone in the view, this daemon's own copy makes every item stable at once.
            c.streams.collect_garbage();
        }
        let mut out = Vec::new();
        let me = c.view.me;
        c.orderer.push(
            Received {
                origin: me,
                seq,
                ts,
                epoch,
                item,
            },
            &mut out,
        );
        for d in out {
            self.apply(d);
        }
    }

    pub(super) fn on_datagram(&mut self, from: SocketAddr, bytes: Bytes) {
        self.counters.datagrams_received += 1;
        let (header, chunks) = match packet::decode(bytes) {
            Ok(x) => x,
            Err(e) => return self.drop_datagram(from, &e.to_string()),
        };
        if header.cluster != self.config.cluster {
            let why = format!(
                "it belongs to cluster '{}', this daemon to '{}'",
                header.cluster, self.config.cluster
            );
            return self.drop_datagram(from, &why);
        }
        if !self.membership.is_peer(from) {
            return self.drop_datagram(from, "the sender is not a configured peer");
        }
        // Late datagrams of a daemon that said goodbye are no sign of life.
        if !self.departed.contains_key(&from) {
            self.last_heard.insert(from, self.now);
            if self.suspected.remove(&from) {
                tracing::info!(peer = %from, "heard from a suspected daemon again");
            }
        }
        let mut rest = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            match chunk {
                Chunk::Hello {
                    name,
                    cluster_size,
                    incarnation,
                    view,
                } => self.on_peer_hello(from, &name, cluster_size, incarnation, view),
                Chunk::Control {
                    msg,
                    part,
                    parts,
                    body,
                } => match self.control_in.receive(
                    from,
                    msg,
                    part,
                    parts,
                    body,
                    self.config.max_membership_message,
                ) {
                    Ok(Some(control)) => self.on_control(from, control),
                    Ok(None) => {}
                    Err(why) => self.drop_datagram(from, &why),
                },
                other => rest.push(other),
            }
        }
        if rest.is_empty() {
            return;
        }
        let current = match &self.cluster {
            None => false,
            Some(c) => {
                c.view.index_of(from) == Some(header.sender) && header.view == c.view.view.view_id
            }
        };
        if !current {
            // Normal around a view change: the sender has installed a view this daemon has not
            // (yet), or is still in one this daemon has left. Whatever matters is sent again.
            self.counters.datagrams_dropped += 1;
            tracing::debug!(%from, view = header.view, "dropped a datagram of another daemon view");
            return;
        }
        if let Some(c) = &self.cluster {
            let limit = c
                .orderer
                .clock()
                .saturating_add(MAX_CLOCK_JUMP)
                .min(CLOCK_CEILING);
            let absurd = rest.iter().any(|chunk| match chunk {
                Chunk::Data(d) => d.ts > limit,
                Chunk::Ack(a) => a.clock > limit,
                _ => false,
            });
            if absurd {
                return self.drop_datagram(from, "a timestamp far beyond any clock in the cluster");
            }
        }
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let sender = header.sender;
        let mut deliveries = Vec::new();
        // One budget for every NACK in the datagram, so packing many NACKs into one datagram
        // cannot multiply what it makes this daemon send.
        let mut budget = RETRANSMIT_BUDGET;
        for chunk in rest {
            match chunk {
                Chunk::Data(d) => {
                    c.orderer.observe(d.ts);
                    let receipt = c.streams.receive(d);
                    if receipt.new {
                        self.ack_due = true;
                    } else {
                        self.counters.duplicates_dropped += 1;
                    }
                    self.counters.datagrams_dropped += receipt.undecodable;
                    for r in receipt.items {
                        c.orderer.push(r, &mut deliveries);
                    }
                }
                Chunk::Ack(a) => {
                    c.orderer.observe(a.clock);
                    c.streams.on_ack(sender, &a);
                }
                Chunk::Nack { origin, ranges } => {
                    if budget == 0 {
                        continue;
                    }
                    let resend = c.streams.chunks_for(origin, &ranges, budget);
                    let sent: usize = resend
                        .iter()
                        .map(|d| d.body.len() + packet::DATA_CHUNK_OVERHEAD)
                        .sum();
                    budget = budget.saturating_sub(sent.max(1));
                    self.counters.retransmissions += resend.len() as u64;
                    self.unicast
                        .entry(from)
                        .or_default()
                        .extend(resend.into_iter().map(Chunk::Data));
                }
                Chunk::Hello { .. } | Chunk::Control { .. } => {}
            }
        }
        for d in deliveries {
            self.apply(d);
        }
    }

    fn on_peer_hello(
        &mut self,
        from: SocketAddr,
        name: &str,
        cluster_size: u16,
        incarnation: u64,
        view: u64,
    ) {
        let now = self.now;
        match self.membership.on_hello(
            now,
            now.saturating_sub(self.config.failure_timeout),
            from,
            name,
            cluster_size,
            incarnation,
            view,
        ) {
            HelloOutcome::Rejected(why) => {
                self.counters.datagrams_dropped += 1;
                if self.warned.len() < MAX_WARNED && self.warned.insert(from) {
                    tracing::warn!(%from, "ignoring a daemon: {why}");
                }
                return;
            }
            HelloOutcome::Stale => return,
            HelloOutcome::Accepted => self.last_hello = Some(self.now),
        }
        if self.departed.get(&from).is_some_and(|i| *i != incarnation) {
            // A new life of a daemon that stopped.
            self.departed.remove(&from);
        }
        // A daemon outside the view hears from this one only by hellos: answer at once, so a
        // daemon that starts or comes back is seen without waiting for the next round.
        let member = self.cluster.as_ref().is_some_and(|c| {
            c.view
                .ids
                .iter()
                .any(|d| d.addr == from && d.incarnation == incarnation)
        });
        if !member {
            let hello = self.hello_chunk();
            let queue = self.unicast.entry(from).or_default();
            if !queue.iter().any(|c| matches!(c, Chunk::Hello { .. }))
                && !self.hello_answered.contains(&from)
            {
                self.hello_answered.insert(from);
                queue.push(hello);
            }
        }
    }

    fn hello_chunk(&self) -> Chunk {
        Chunk::Hello {
            name: self.config.daemon_name.clone(),
            cluster_size: self.membership.cluster_size() as u16,
            incarnation: self.config.incarnation,
            view: self.cluster.as_ref().map_or(0, |c| c.view.view.view_id),
        }
    }

    /// True if the configured peer at `addr` is not a member of the view (with its current
    /// life; a hello from a later life means it restarted): it is sent hellos.
    fn is_outsider(&self, addr: SocketAddr) -> bool {
        !self.cluster.as_ref().is_some_and(|c| {
            c.view.ids.iter().any(|d| {
                d.addr == addr
                    && self
                        .membership
                        .hello(addr)
                        .is_none_or(|h| h.incarnation <= d.incarnation)
            })
        })
    }

    /// Drops a datagram and counts it. The first from each address is logged as a warning with
    /// the reason (another cluster, another version, a stranger), the rest at debug level, so a
    /// misconfiguration is visible without a flood of log lines.
    fn drop_datagram(&mut self, from: SocketAddr, why: &str) {
        self.counters.datagrams_dropped += 1;
        if self.warned.len() < MAX_WARNED && self.warned.insert(from) {
            tracing::warn!(%from, "ignoring a datagram (further ones from there are logged at debug level): {why}");
        } else {
            tracing::debug!(%from, "dropped a datagram: {why}");
        }
    }

    /// Everything due at `self.now`: deliveries that became possible, hellos, acknowledgements,
    /// NACKs.
    pub(super) fn service(&mut self) {
        let now = self.now;
        if now >= self.next_hello {
            let hello = self.hello_chunk();
            let outsiders: Vec<SocketAddr> = self
                .membership
                .peers()
                .filter(|a| self.is_outsider(*a))
                .collect();
            for peer in outsiders {
                self.unicast.entry(peer).or_default().push(hello.clone());
            }
            self.hello_answered.clear();
            self.next_hello = now + self.config.hello;
        }
        self.detect_failures();
        self.consider_change();
        self.check_fetched();
        if self.cluster.is_none() {
            return;
        }
        self.deliver_ready();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if c.view.len() == 1 {
            return;
        }
        if now >= self.next_heartbeat {
            self.ack_due = true;
        }
        // A safe item waits for every daemon's frontier: tell the others at once when ours
        // passes it, rather than at the next heartbeat.
        if let Some(ts) = c.orderer.first_safe_unannounced() {
            if c.streams.frontier(c.orderer.clock()) >= ts {
                self.ack_due = true;
            }
        }
        let busy = c.streams.busy() || c.orderer.busy();
        if busy && now >= self.next_busy_ack {
            self.ack_due = true;
        }
        for nack in c.streams.due_nacks(now, self.config.retransmit) {
            let to = c.view.addrs[nack.target as usize];
            self.counters.nacks_sent += 1;
            self.unicast.entry(to).or_default().push(Chunk::Nack {
                origin: nack.origin,
                ranges: nack.ranges,
            });
        }
    }

    /// The failure detector: a member not heard from (any datagram counts, so a busy peer is never
    /// suspected) within the failure timeout is suspected, and a view change removes it.
    fn detect_failures(&mut self) {
        let Some(c) = &self.cluster else {
            return;
        };
        let me = c.view.me as usize;
        for (i, &addr) in c.view.addrs.iter().enumerate() {
            if i == me {
                continue;
            }
            let heard = self.heard_at(addr);
            if self.now.saturating_since(heard) > self.config.failure_timeout
                && self.suspected.insert(addr)
            {
                let name = self.membership.peer_name(addr).unwrap_or("?");
                tracing::warn!(peer = %addr, %name, "suspecting a daemon: not heard from within the failure timeout");
            }
        }
    }

    /// When `addr` was last heard from, counting the installation of the view as a sign of life
    /// (every member has just taken part in it).
    pub(super) fn heard_at(&self, addr: SocketAddr) -> Time {
        self.last_heard
            .get(&addr)
            .copied()
            .unwrap_or(self.installed_at)
            .max(self.installed_at)
    }

    /// When the next member becomes suspect if it stays silent.
    fn next_suspicion(&self) -> Option<Time> {
        // Called for every turn of the driver's loop: no allocation.
        let c = self.cluster.as_ref()?;
        let me = c.view.me as usize;
        c.view
            .addrs
            .iter()
            .enumerate()
            .filter(|(i, a)| *i != me && !self.suspected.contains(a))
            .map(|(_, a)| {
                let heard = self.heard_at(*a);
                heard + self.config.failure_timeout + std::time::Duration::from_micros(1)
            })
            .min()
    }

    /// Delivers every totally ordered item that has become deliverable.
    fn deliver_ready(&mut self) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let before = c.orderer.epoch();
        let mut out = Vec::new();
        c.orderer.advance(&c.streams, &mut out);
        if c.orderer.epoch() != before && c.view.len() > 1 {
            // Other daemons wait to hear that this one moved to the new epoch.
            self.ack_due = true;
        }
        for d in out {
            self.apply(d);
        }
    }

    /// The next time [`Core::service`] has something to do.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        let mut t = self.next_change_deadline();
        // Called for every turn of the driver's loop: no allocation.
        if self.membership.peers().any(|a| self.is_outsider(a)) {
            t = Some(t.map_or(self.next_hello, |t| t.min(self.next_hello)));
        }
        let Some(c) = &self.cluster else {
            return t;
        };
        if c.view.len() == 1 {
            return t;
        }
        let mut t = t.map_or(self.next_heartbeat, |t| t.min(self.next_heartbeat));
        if c.streams.busy() || c.orderer.busy() {
            t = t.min(self.next_busy_ack);
        }
        if let Some(s) = self.next_suspicion() {
            t = t.min(s);
        }
        if let Some(n) = c.streams.next_nack() {
            t = t.min(n);
        }
        Some(t)
    }

    /// Packs queued chunks into datagrams: unicast chunks per peer, then this daemon's new chunks
    /// for every peer, each datagram with a current acknowledgement.
    pub(super) fn build_transmissions(&mut self) {
        let header = match &self.cluster {
            Some(c) => Header {
                cluster: self.config.cluster.clone(),
                sender: c.view.me,
                view: c.view.view.view_id,
            },
            None => Header {
                cluster: self.config.cluster.clone(),
                sender: packet::NO_INDEX,
                view: 0,
            },
        };
        let max = self.config.max_datagram;
        let mut arena = std::mem::take(&mut self.tx_arena);
        for (to, chunks) in std::mem::take(&mut self.unicast) {
            let mut b = DatagramBuilder::in_arena(arena, &header, max);
            for chunk in chunks {
                if b.push(&chunk) {
                    continue;
                }
                if !b.is_empty() {
                    let (bytes, rest) = b.finish_in();
                    self.outputs.push_back(super::Output::Transmit {
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
                self.outputs.push_back(super::Output::Transmit {
                    to: vec![to],
                    bytes,
                });
            }
        }
        self.tx_arena = arena;
        let Some(c) = &self.cluster else {
            return;
        };
        if c.view.len() == 1 {
            self.outgoing.clear();
            self.ack_due = false;
            return;
        }
        if self.outgoing.is_empty() && !self.ack_due {
            return;
        }
        let peers = c.view.peers();
        let frontier = c.streams.frontier(c.orderer.clock());
        let ack = Chunk::Ack(Ack {
            clock: c.orderer.clock(),
            last_seq: c.streams.last_own_seq(),
            epoch: c.orderer.epoch(),
            frontier,
            received: c.streams.received_vector(),
        });
        let mut arena = std::mem::take(&mut self.tx_arena);
        loop {
            let mut b = DatagramBuilder::in_arena(arena, &header, max);
            b.push(&ack);
            let mut added = 0;
            while let Some(front) = self.outgoing.front() {
                if !b.push(&Chunk::Data(front.clone())) {
                    break;
                }
                self.outgoing.pop_front();
                added += 1;
            }
            if added == 0 && !self.outgoing.is_empty() {
                // Cannot happen: chunk bodies are sized to fit beside the acknowledgement.
                tracing::error!("a data chunk does not fit in a datagram; dropped");
                self.outgoing.pop_front();
            }
            let (bytes, rest) = b.finish_in();
            arena = rest;
            self.outputs.push_back(super::Output::Transmit {
                to: peers.clone(),
                bytes,
            });
            if self.outgoing.is_empty() {
                break;
            }
        }
        self.tx_arena = arena;
        if let Some(c) = self.cluster.as_mut() {
            c.orderer.frontier_announced(frontier);
        }
        self.ack_due = false;
        self.next_heartbeat = self.now + self.config.heartbeat;
        self.next_busy_ack = self.now + self.config.retransmit;
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
