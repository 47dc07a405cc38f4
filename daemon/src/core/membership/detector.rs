//! The failure detector: which members of the view have been silent too long.
//!
//! Owns the rule (any datagram counts as a sign of life, so a busy peer is never suspected; the
//! installation of a view counts for every member) and when the next suspicion falls due. It
//! only marks peers suspected; removing them is the view change's job.

use crate::core::{Core, Time};
use std::net::SocketAddr;

impl Core {
    /// The failure detector: a member not heard from (any datagram counts, so a busy peer is never
    /// suspected) within the failure timeout is suspected, and a view change removes it.
    pub(crate) fn detect_failures(&mut self) {
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
                && self.membership.suspect(addr)
            {
                let name = self.membership.peer_name(addr).unwrap_or("?");
                tracing::warn!(peer = %addr, %name, "suspecting a daemon: not heard from within the failure timeout");
            }
        }
    }

    /// When `addr` was last heard from, counting the installation of the view as a sign of life
    /// (every member has just taken part in it).
    pub(crate) fn heard_at(&self, addr: SocketAddr) -> Time {
        let installed = self.view_change.installed_at;
        self.membership
            .last_heard(addr)
            .unwrap_or(installed)
            .max(installed)
    }

    /// When the next member becomes suspect if it stays silent.
    pub(crate) fn next_suspicion(&self) -> Option<Time> {
        // Called for every turn of the driver's loop: no allocation.
        let c = self.cluster.as_ref()?;
        let me = c.view.me as usize;
        c.view
            .addrs
            .iter()
            .enumerate()
            .filter(|(i, a)| *i != me && !self.membership.is_suspected(**a))
            .map(|(_, a)| {
                let heard = self.heard_at(*a);
                heard + self.config.failure_timeout + std::time::Duration::from_micros(1)
            })
            .min()
    }
}
