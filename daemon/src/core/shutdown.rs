//! Stopping: a daemon told to stop first gets the messages it accepted to every other daemon,
//! within a bounded time, and only then says goodbye and ends its clients' sessions, telling each
//! client whose messages may not have reached every daemon how many.
//!
//! Owns the stopping state and the decision when the daemon is done. It never drops or delays a
//! delivery: local clients go on receiving while the daemon drains, and it takes no new requests
//! or sessions meanwhile.

use super::packet::Item;
use super::{shutdown_error, Core, Time};
use gcs::wire::ErrorInfo;
use std::collections::BTreeMap;

/// Where the daemon is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Stopping {
    /// Serving.
    #[default]
    No,
    /// Told to stop: getting its own messages to every daemon until they all have them, or
    /// until `until`.
    Draining {
        /// The end of the grace period.
        until: Time,
    },
    /// It said goodbye and every session has ended.
    Stopped,
}

impl Core {
    /// The daemon is to stop: it drains (see the module comment), then stops.
    pub fn handle_shutdown(&mut self, now: Time) {
        self.advance(now);
        if self.stopping != Stopping::No {
            return;
        }
        self.stopping = Stopping::Draining {
            until: now + self.config.shutdown_grace,
        };
        // Nobody may start a session now; the ones not yet welcomed end at once.
        for id in self.clients.sessions.ids() {
            if self.clients.sessions.member(id).is_none() {
                self.close(id, Some(shutdown_error()));
            }
        }
        self.service();
    }

    /// True once the daemon has said goodbye and ended every session: the driver may exit.
    pub fn has_stopped(&self) -> bool {
        self.stopping == Stopping::Stopped
    }

    /// True while the daemon is stopping or stopped.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping != Stopping::No
    }

    /// The end of the grace period, while draining.
    pub(crate) fn stop_deadline(&self) -> Option<Time> {
        match self.stopping {
            Stopping::Draining { until } => Some(until),
            _ => None,
        }
    }

    /// Stops if draining and every own message is held by every daemon, or the time is up.
    pub(super) fn check_stopping(&mut self) {
        let Stopping::Draining { until } = self.stopping else {
            return;
        };
        if self.now < until && !self.own_messages_everywhere() {
            return;
        }
        self.stopping = Stopping::Stopped;
        let unsent = self.unsent_by_sender();
        if !unsent.is_empty() {
            tracing::warn!(
                messages = unsent.values().sum::<usize>(),
                "stopping before every daemon had every message this daemon accepted"
            );
        }
        self.say_goodbye();
        for id in self.clients.sessions.ids() {
            let name = self
                .clients
                .sessions
                .member(id)
                .map(|m| m.private_name.clone());
            let error = match name.and_then(|n| unsent.get(&n).copied()) {
                Some(n) => ErrorInfo::new(
                    gcs::ErrorCode::Shutdown,
                    format!(
                        "gcsd is shutting down; {n} of the messages this client sent had not \
                         reached every daemon when its grace period (protocol.shutdown_grace_ms) \
                         ended and may be lost; connect again once it is back"
                    ),
                ),
                None => shutdown_error(),
            };
            self.close(id, Some(error));
        }
    }

    /// True if no message of this daemon's is waiting for a view or missing at some daemon.
    fn own_messages_everywhere(&self) -> bool {
        self.backlog.items.is_empty()
            && !self.view_change.is_running()
            && self
                .cluster
                .as_ref()
                .is_none_or(|c| c.is_alone() || c.streams.own_unstable_bytes() == 0)
    }

    /// Per sending client: its messages that not every daemon has.
    fn unsent_by_sender(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        let own = self
            .cluster
            .as_ref()
            .filter(|c| !c.is_alone())
            .map(|c| c.streams.own_unstable_items())
            .unwrap_or_default();
        for item in own.iter().chain(&self.backlog.items) {
            if let Item::Multicast { sender, .. } = item {
                *out.entry(sender.clone()).or_default() += 1;
            }
        }
        out
    }
}
