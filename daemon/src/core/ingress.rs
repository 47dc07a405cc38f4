//! Datagrams in: taking a datagram apart and handing each chunk to the part that owns it.
//!
//! Owns the checks every datagram passes before it touches any state (its cluster, a configured
//! sender, the sender's view, timestamps within reach) and the accounting of what is dropped.
//! Hellos go to discovery, membership messages to the view change, data, acknowledgements and
//! NACKs to the cluster's streams and orderer. It never builds a datagram.

use super::packet::{self, Chunk};
use super::{Cluster, Core, Refused};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Addresses remembered so a misbehaving peer is warned about once; more are not remembered.
const MAX_WARNED: usize = 1024;

/// Addresses whose bad datagrams have been logged, so each is logged once as a warning; bounded.
#[derive(Debug, Default)]
pub(super) struct WarnOnce(BTreeSet<SocketAddr>);

impl WarnOnce {
    /// True the first time `addr` is seen (while fewer than `MAX_WARNED` are remembered).
    pub(super) fn first(&mut self, addr: SocketAddr) -> bool {
        self.0.len() < MAX_WARNED && self.0.insert(addr)
    }
}

impl Core {
    pub(super) fn on_datagram(&mut self, from: SocketAddr, bytes: Bytes) {
        self.counters.datagrams_received += 1;
        let (header, chunks) = match packet::decode(bytes) {
            Ok(x) => x,
            Err(e) => return self.drop_datagram(from, e.into()),
        };
        if header.cluster != self.config.cluster {
            let why = Refused::OtherCluster {
                theirs: header.cluster,
                ours: self.config.cluster.clone(),
            };
            return self.drop_datagram(from, why);
        }
        if !self.membership.is_peer(from) {
            return self.drop_datagram(from, Refused::Stranger);
        }
        // Timestamps no honest daemon can have reached: nothing of the datagram is taken, not even
        // as a sign of life, and its sender is suspected, so a daemon that lies about time (or
        // is lied about) is removed by a view change instead of silently stalling the view.
        let in_view = self
            .cluster
            .as_ref()
            .is_some_and(|c| c.is_current(from, &header));
        if in_view && self.beyond_reach(&chunks) {
            if self.membership.suspect(from) {
                tracing::warn!(peer = %from, "suspecting a daemon: it sent timestamps beyond any daemon's reach");
            }
            return self.drop_datagram(from, Refused::ClockJump);
        }
        if self.membership.heard(from, self.now) {
            tracing::info!(peer = %from, "heard from a suspected daemon again");
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
                } => match self.view_change.control_in.receive(
                    from,
                    msg,
                    part,
                    parts,
                    body,
                    self.config.max_membership_message,
                    self.now,
                    self.config.failure_timeout * 4,
                ) {
                    Ok(Some(control)) => self.on_control(from, control),
                    Ok(None) => {}
                    Err(why) => self.drop_datagram(from, why.into()),
                },
                other => rest.push(other),
            }
        }
        if rest.is_empty() {
            return;
        }
        // Asked again: a membership message in this datagram may have installed a view.
        let current = self
            .cluster
            .as_ref()
            .is_some_and(|c| c.is_current(from, &header));
        if !current {
            // Normal around a view change: the sender has installed a view this daemon has not
            // (yet), or is still in one this daemon has left. Whatever matters is sent again.
            self.counters.datagrams_dropped += 1;
            tracing::debug!(%from, view = header.view, "dropped a datagram of another daemon view");
            return;
        }
        if !in_view && self.beyond_reach(&rest) {
            return self.drop_datagram(from, Refused::ClockJump);
        }
        // The sender's retransmission credit matters only to a datagram that asks for some.
        let asks = rest.iter().any(|c| matches!(c, Chunk::Nack { .. }));
        let allowance = if asks {
            self.membership.retransmit_allowance(
                from,
                self.now,
                self.config.max_retransmit_bytes_per_second,
            )
        } else {
            0
        };
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let intake = c.take_in(header.sender, rest, allowance);
        if asks {
            self.membership.charge_retransmit(from, intake.resent_bytes);
        }
        self.tx.ack_due |= intake.ack_due;
        self.counters.duplicates_dropped += intake.duplicates;
        self.counters.datagrams_dropped += intake.undecodable;
        self.counters.retransmissions += intake.resend.len() as u64;
        self.tx
            .queue_all_for(from, intake.resend.into_iter().map(Chunk::Data));
        for d in intake.deliveries {
            self.apply(d);
        }
    }

    /// True if any of `chunks` carries a timestamp beyond every honest clock's reach.
    fn beyond_reach(&self, chunks: &[Chunk]) -> bool {
        let reach = self.clock_reach();
        chunks.iter().any(|chunk| Cluster::is_absurd(chunk, reach))
    }

    /// Drops a datagram, or a part of one, and counts it. The first from each address is logged
    /// as a warning with the reason and the likely culprit, the rest at debug level, so a
    /// misconfiguration is visible without a flood of log lines.
    pub(super) fn drop_datagram(&mut self, from: SocketAddr, why: Refused) {
        self.counters.datagrams_dropped += 1;
        let culprit = why.culprit();
        if self.warned.first(from) {
            tracing::warn!(%from, touched_state = why.touched_state(), "ignoring a datagram (further ones from there are logged at debug level): {why}; {culprit}");
        } else {
            tracing::debug!(%from, "dropped a datagram: {why}; {culprit}");
        }
    }
}
