//! Daemon faults: crashes (some in the middle of a view change), stops (SIGTERM: a drain, then a
//! goodbye), restarts as a new incarnation,
//! late starts, pauses longer than the failure timeout, partitions symmetric, one-way and
//! overlapping, and heals; and the liveness check of the calm phase.
//!
//! Owns which fault happens when (drawn from the run's one random stream) and what it does to the
//! simulated daemons. It never touches a core's state except through the core's inputs.

use super::{core_config, Sim};
use crate::check::Event;
use crate::core::Core;
use std::time::Duration;

impl Sim {
    /// Starts the daemons that were not running yet (late joiners), each with its clients.
    pub(super) fn start_late(&mut self) {
        for d in 0..self.net.nodes.len() {
            if !self.daemons[d].waiting_to_start || self.net.nodes[d].alive {
                continue;
            }
            self.restart(d);
            self.faults
                .push(format!("{} start d{d} (late)", self.net.now));
            for _ in 0..self.cfg.clients_per_daemon {
                self.connect(d);
            }
        }
    }

    /// After the calm phase: every live daemon must be in one view of exactly the live daemons.
    pub(super) fn views_disagree(&self) -> Option<String> {
        let live: Vec<String> = self
            .net
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, d)| d.alive)
            .map(|(i, _)| format!("d{i}"))
            .collect();
        let views: Vec<(String, gcs::DaemonView)> = self
            .net
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, d)| d.alive)
            .map(|(i, d)| (format!("d{i}"), d.core.daemon_view()))
            .collect();
        let first = &views.first()?.1;
        let mut sorted_first = first.members.clone();
        sorted_first.sort();
        if views.iter().any(|(_, v)| v != first) || sorted_first != live {
            return Some(format!(
                "after the calm phase the live daemons {live:?} are in views {views:?}"
            ));
        }
        None
    }

    /// One random fault.
    pub(super) fn fault(&mut self) {
        let n = self.net.nodes.len();
        if n < 2 {
            return;
        }
        let d = self.rng.below(n as u64) as usize;
        // Daemons that stay up: a stopping one is about to go.
        let live = self
            .net
            .nodes
            .iter()
            .filter(|d| d.alive && !d.core.is_stopping())
            .count();
        let what = match self.rng.below(8) {
            0 if self.net.nodes[d].alive && !self.net.nodes[d].core.is_stopping() && live > 1 => {
                if self.rng.below(2) == 0 {
                    self.crash(d);
                    format!("crash d{d}")
                } else {
                    // SIGTERM: the daemon drains, then says goodbye; it is gone once stopped.
                    self.net.nodes[d].core.handle_shutdown(self.net.now);
                    self.drain(d);
                    format!("stop d{d}")
                }
            }
            1 if !self.net.nodes[d].alive => {
                self.restart(d);
                format!("restart d{d}")
            }
            2 if self.net.nodes[d].alive && self.net.nodes[d].paused_until.is_none() => {
                let ms = self.cfg.failure_timeout.as_millis() as u64;
                let pause = Duration::from_millis(self.rng.range(ms / 2, ms * 3));
                self.net.nodes[d].paused_until = Some(self.net.now + pause);
                format!("pause d{d} for {pause:?}")
            }
            3 => {
                let side: Vec<usize> = (0..n).filter(|_| self.rng.below(2) == 0).collect();
                for a in 0..n {
                    for b in 0..n {
                        if side.contains(&a) != side.contains(&b) {
                            self.blocked.insert((a, b));
                        }
                    }
                }
                format!("partition {side:?} from the rest")
            }
            4 => {
                let b = self.rng.below(n as u64) as usize;
                if b == d {
                    return;
                }
                self.blocked.insert((d, b));
                format!("cut d{d} -> d{b} one way")
            }
            5 => {
                self.blocked.clear();
                "heal".to_string()
            }
            // Overlapping partitions: two daemons lose each other while both still reach the
            // rest.
            6 => {
                let b = self.rng.below(n as u64) as usize;
                if b == d {
                    return;
                }
                self.blocked.insert((d, b));
                self.blocked.insert((b, d));
                format!("cut d{d} <-> d{b}")
            }
            // A crash in the middle of a view change.
            7 => {
                let changing: Vec<usize> = (0..n)
                    .filter(|i| {
                        self.net.nodes[*i].alive && self.net.nodes[*i].core.in_view_change()
                    })
                    .collect();
                if changing.is_empty() || live < 2 {
                    return;
                }
                let victim = changing[self.rng.below(changing.len() as u64) as usize];
                self.crash(victim);
                format!("crash d{victim} during a view change")
            }
            _ => return,
        };
        self.faults.push(format!("{} {what}", self.net.now));
    }

    /// A daemon that has finished stopping is gone, as its process would be.
    pub(super) fn gone_if_stopped(&mut self, d: usize) {
        if self.net.nodes[d].alive && self.net.nodes[d].core.has_stopped() {
            self.faults.push(format!("{} d{d} stopped", self.net.now));
            self.crash(d);
        }
    }

    pub(super) fn crash(&mut self, d: usize) {
        self.net.nodes[d].alive = false;
        self.net.nodes[d].paused_until = None;
        self.daemons[d].inbox.clear();
        for c in 0..self.clients.len() {
            if self.clients[c].daemon == d && self.clients[c].connected {
                // What was queued for it dies with its daemon.
                self.clients[c].unread.clear();
                self.clients[c].unread_bytes = 0;
                self.clients[c].slow_until = None;
                self.clients[c].connected = false;
                self.clients[c].log.push(Event::Disconnect);
            }
        }
    }

    pub(super) fn restart(&mut self, d: usize) {
        // Like the real daemon's: its start time.
        let incarnation = self
            .net
            .now
            .as_micros()
            .max(self.daemons[d].incarnation + 1);
        self.daemons[d].incarnation = incarnation;
        self.net.nodes[d].core = Core::new(core_config(&self.cfg, d, incarnation), self.net.now);
        // Client ids start again in the new life.
        self.by_id.retain(|(daemon, _), _| *daemon != d);
        self.net.nodes[d].alive = true;
        self.daemons[d].waiting_to_start = false;
        self.drain(d);
    }

    /// A random live daemon.
    pub(super) fn live_daemon(&mut self) -> usize {
        let live: Vec<usize> = (0..self.net.nodes.len())
            .filter(|d| self.net.nodes[*d].alive)
            .collect();
        live[self.rng.below(live.len() as u64) as usize]
    }
}
