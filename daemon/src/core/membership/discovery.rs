//! Discovery: hellos, by which daemons outside a view find each other.
//!
//! Owns when hellos go out (every hello interval to every configured peer outside the view, and
//! at once in answer to an outsider's) and what a hello received does to the peer table. It never
//! starts a view change itself; `decide` reads what the hellos recorded.

use super::HelloOutcome;
use crate::core::packet::Chunk;
use crate::core::Core;
use std::net::SocketAddr;

impl Core {
    /// Every hello interval: a hello to each configured peer outside the view.
    pub(crate) fn send_hellos_if_due(&mut self) {
        let now = self.now;
        if now < self.tx.next_hello {
            return;
        }
        let hello = self.hello_chunk();
        let outsiders: Vec<SocketAddr> = self
            .membership
            .peers()
            .filter(|a| self.is_outsider(*a))
            .collect();
        for peer in outsiders {
            self.tx.queue_for(peer, hello.clone());
        }
        self.membership.new_hello_round();
        self.tx.next_hello = now + self.config.hello;
    }

    pub(crate) fn on_peer_hello(
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
            HelloOutcome::Rejected(why) => return self.drop_datagram(from, why.into()),
            HelloOutcome::Stale => return,
            HelloOutcome::Accepted => {}
        }
        // A new life of a daemon that stopped is back.
        self.membership.forget_departure_unless(from, incarnation);
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
            let queued = self
                .tx
                .unicast
                .get(&from)
                .is_some_and(|q| q.iter().any(|c| matches!(c, Chunk::Hello { .. })));
            if !queued && self.membership.answer_hello(from) {
                self.tx.queue_for(from, hello);
            }
        }
    }

    pub(crate) fn hello_chunk(&self) -> Chunk {
        Chunk::Hello {
            name: self.config.daemon_name.clone(),
            cluster_size: self.membership.cluster_size() as u16,
            incarnation: self.config.incarnation,
            view: self.cluster.as_ref().map_or(0, |c| c.view.view.view_id),
        }
    }

    /// True if the configured peer at `addr` is not a member of the view (with its current
    /// life; a hello from a later life means it restarted): it is sent hellos.
    pub(crate) fn is_outsider(&self, addr: SocketAddr) -> bool {
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
}
