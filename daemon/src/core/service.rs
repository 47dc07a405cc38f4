//! The schedule: what is due after every input, and when the core next needs the driver.
//!
//! Owns the order in which the parts run after an input (hellos, the failure detector, the view
//! change, deliveries, acknowledgements and NACKs) and the earliest deadline of them all. It
//! keeps no state of its own.

use super::{Core, Time};

impl Core {
    /// Everything due at `self.now`: deliveries that became possible, hellos, acknowledgements,
    /// NACKs; and, while stopping, whether the daemon is done.
    pub(super) fn service(&mut self) {
        self.service_protocol();
        self.check_stopping();
    }

    fn service_protocol(&mut self) {
        let now = self.now;
        self.send_hellos_if_due();
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
        if c.is_alone() {
            return;
        }
        if now >= self.tx.next_heartbeat || c.wants_ack(now, self.tx.next_busy_ack) {
            self.tx.ack_due = true;
        }
        for (to, nack) in c.due_nacks(now, self.config.retransmit) {
            self.counters.nacks_sent += 1;
            self.tx.queue_for(to, nack);
        }
    }

    /// The next time [`Core::service`] has something to do.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        let mut t = self.next_change_deadline();
        if let Some(stop) = self.stop_deadline() {
            t = Some(t.map_or(stop, |t| t.min(stop)));
        }
        // Called for every turn of the driver's loop: no allocation.
        if self.membership.peers().any(|a| self.is_outsider(a)) {
            t = Some(t.map_or(self.tx.next_hello, |t| t.min(self.tx.next_hello)));
        }
        let Some(c) = &self.cluster else {
            return t;
        };
        if c.view.len() == 1 {
            return t;
        }
        let mut t = t.map_or(self.tx.next_heartbeat, |t| t.min(self.tx.next_heartbeat));
        if c.streams.busy() || c.orderer.busy() {
            t = t.min(self.tx.next_busy_ack);
        }
        if let Some(s) = self.next_suspicion() {
            t = t.min(s);
        }
        if let Some(n) = c.streams.next_nack() {
            t = t.min(n);
        }
        Some(t)
    }
}
