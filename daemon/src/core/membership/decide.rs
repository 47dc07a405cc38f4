//! Deciding to change the daemon view: who this daemon would have in its view, whether the view
//! should change, who runs the change, and what happens when an attempt stalls (resends, timeouts,
//! a new attempt without the silent).
//!
//! Owns the decision and the retries; the rounds themselves are the member's and the
//! coordinator's. It never installs anything.

use super::control::{Attempt, Control};
use super::peers::DaemonId;
use super::Step;
use crate::core::{Core, Time};
use std::net::SocketAddr;

impl Core {
    /// The daemons this one would have in its view: the members it still hears (same
    /// incarnation, not stopped), and every configured daemon outside the view whose hello it
    /// heard within the failure timeout. Sorted by address.
    pub(crate) fn desired_members(&self) -> Vec<DaemonId> {
        let me = self.my_id();
        let mut out = vec![me.clone()];
        let recent = self.now.saturating_sub(self.config.failure_timeout);
        let gone = |id: &DaemonId| self.membership.has_departed(id.addr, id.incarnation);
        if let Some(c) = &self.cluster {
            for id in &c.view.ids {
                if *id == me || self.membership.is_suspected(id.addr) || gone(id) {
                    continue;
                }
                if let Some(h) = self.membership.hello(id.addr) {
                    // Restarted: the old life is gone (the new one is an outsider below). A hello
                    // of an earlier life than the member's says nothing.
                    if h.incarnation > id.incarnation {
                        continue;
                    }
                }
                out.push(id.clone());
            }
        }
        for (addr, h) in self.membership.heard_since(recent) {
            let id = DaemonId {
                addr,
                name: h.name.clone(),
                incarnation: h.incarnation,
            };
            if gone(&id) || out.iter().any(|d| d.addr == addr) {
                continue;
            }
            out.push(id);
        }
        out.sort();
        out
    }

    /// True if a member of the view is known to have left it: its hello names a later view
    /// (every view's id is above its members' earlier ones), or, longer than the failure timeout
    /// after this view was installed, names any other view. A member sends hellos only to
    /// daemons outside its view, so one still coming means it is not in this view (it never
    /// installed it, or went on to one of its own); one naming an earlier view shortly after
    /// the install was merely sent before the member installed it.
    pub(crate) fn member_moved_on(&self) -> bool {
        let Some(c) = &self.cluster else {
            return false;
        };
        c.view.ids.iter().any(|id| {
            self.membership.hello(id.addr).is_some_and(|h| {
                h.incarnation == id.incarnation
                    && h.view != c.view.view.view_id
                    && h.at > self.view_change.installed_at
                    && (h.view > c.view.view.view_id
                        || h.at.saturating_since(self.view_change.installed_at)
                            > self.config.failure_timeout)
            })
        })
    }

    /// Starts a view change if the membership should change and this daemon should run it.
    pub(crate) fn consider_change(&mut self) {
        if self.view_change.is_running() {
            return self.drive_change();
        }
        if self.membership_settled() {
            return;
        }
        let desired = self.desired_members();
        let current = self.cluster.as_ref().map(|c| c.view.ids.clone());
        if current.is_none() {
            // Starting: look for the others for a while before forming a view without them.
            let all_heard = desired.len() == self.membership.cluster_size();
            let waited = self.now.saturating_since(self.started) >= self.config.failure_timeout;
            if !all_heard && !waited {
                return;
            }
        }
        if current.as_ref() == Some(&desired) && !self.member_moved_on() {
            self.view_change.wish_since = None;
            return;
        }
        let since = *self.view_change.wish_since.get_or_insert(self.now);
        let leader = desired
            .first()
            .is_some_and(|d| d.addr == self.config.listen);
        // The lowest member runs the change; if it does not within the failure timeout (it may
        // not see what this daemon sees), this daemon runs it.
        if leader || self.now.saturating_since(since) >= self.config.failure_timeout {
            tracing::debug!(
                suspected = ?self.membership.suspected(),
                departed = ?self.membership.departures(),
                desired = ?desired.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
                "the daemon view should change"
            );
            self.propose(desired);
        }
    }

    /// True if nothing can have made the membership differ from the view: no suspicion, no
    /// member gone, and no hello recent enough to name an outsider or a member that moved on.
    /// Checked on every input, before the full comparison (which allocates).
    pub(crate) fn membership_settled(&self) -> bool {
        let Some(c) = &self.cluster else {
            return false;
        };
        let quiet_since = self
            .now
            .saturating_sub(self.config.failure_timeout)
            .min(self.view_change.installed_at);
        self.view_change.wish_since.is_none()
            && !self.membership.any_suspected()
            && self.membership.last_hello().is_none_or(|t| t < quiet_since)
            && !c.view.ids.iter().any(|id| {
                self.membership.has_departed(id.addr, id.incarnation)
                    || self.membership.is_suspected(id.addr)
            })
    }

    /// When [`Core::consider_change`] has something to do next.
    pub(crate) fn next_change_deadline(&self) -> Option<Time> {
        match &self.view_change.change {
            Some(ch) => Some(ch.resend_at),
            None => self
                .view_change
                .wish_since
                .map(|t| t + self.config.failure_timeout)
                .or_else(|| {
                    self.cluster
                        .is_none()
                        .then_some(self.started + self.config.failure_timeout)
                }),
        }
    }

    pub(crate) fn resend_interval(&self) -> std::time::Duration {
        (self.config.retransmit * 4).max(std::time::Duration::from_millis(1))
    }

    pub(crate) fn propose(&mut self, members: Vec<DaemonId>) {
        self.view_change.round = self.view_change.round.saturating_add(1);
        let attempt = Attempt {
            round: self.view_change.round,
            coordinator: self.config.listen,
            incarnation: self.config.incarnation,
        };
        tracing::info!(
            members = ?members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            round = attempt.round,
            "proposing a new daemon view"
        );
        self.view_change.wish_since = None;
        for m in members.clone() {
            self.send_control(
                m.addr,
                Control::Propose {
                    attempt: attempt.clone(),
                    members: members.clone(),
                },
            );
        }
    }

    /// Timeouts and resends of the change under way.
    pub(crate) fn drive_change(&mut self) {
        let Some(ch) = self.view_change.change.as_ref() else {
            return;
        };
        if self.now < ch.resend_at {
            return;
        }
        let waited = self.now.saturating_since(ch.since);
        let coordinator = ch.attempt.coordinator;
        let leading = ch.lead.is_some();
        if leading && waited >= self.config.failure_timeout {
            // Someone did not answer: go on without the silent.
            let answered: Vec<DaemonId> = {
                let lead = ch.lead.as_ref();
                ch.members
                    .iter()
                    .filter(|m| {
                        lead.is_some_and(|l| {
                            if l.cuts.is_some() {
                                l.readies.contains_key(&m.addr)
                            } else {
                                l.states.contains_key(&m.addr)
                            }
                        })
                    })
                    .cloned()
                    .collect()
            };
            for m in &ch.members {
                if !answered.contains(m) {
                    tracing::warn!(peer = %m.addr, name = %m.name, "a daemon did not answer a view change; going on without it");
                    self.membership.suspect(m.addr);
                }
            }
            let mut members = answered;
            if !members.iter().any(|m| m.addr == self.config.listen) {
                members.push(self.my_id());
                members.sort();
            }
            return self.propose(members);
        }
        if !leading && waited >= self.config.failure_timeout * 2 {
            tracing::warn!(coordinator = %coordinator, "a view change did not finish; starting another");
            if self.now.saturating_since(self.heard_at(coordinator)) > self.config.failure_timeout {
                self.membership.suspect(coordinator);
            }
            let desired = self.desired_members();
            return self.propose(desired);
        }
        // Resend whatever the other side may have lost.
        let resend_at = self.now + self.resend_interval();
        let ch = self.view_change.change.as_mut().map(|ch| {
            ch.resend_at = resend_at;
            (
                ch.attempt.clone(),
                ch.members.clone(),
                &ch.step,
                ch.lead.as_ref(),
            )
        });
        let Some((attempt, members, step, lead)) = ch else {
            return;
        };
        let mut out: Vec<(SocketAddr, Control)> = Vec::new();
        match step {
            Step::Stated(state) => out.push((
                coordinator,
                Control::State {
                    attempt: attempt.clone(),
                    state: state.clone(),
                },
            )),
            Step::Ready(_, ready) => out.push((
                coordinator,
                Control::Ready {
                    attempt: attempt.clone(),
                    ready: ready.clone(),
                },
            )),
            Step::Fetching(_) => {}
        }
        if let Some(lead) = lead {
            for m in &members {
                match &lead.cuts {
                    None if !lead.states.contains_key(&m.addr) => out.push((
                        m.addr,
                        Control::Propose {
                            attempt: attempt.clone(),
                            members: members.clone(),
                        },
                    )),
                    Some(cuts) if !lead.readies.contains_key(&m.addr) => out.push((
                        m.addr,
                        Control::Commit {
                            attempt: attempt.clone(),
                            cuts: cuts.clone(),
                        },
                    )),
                    _ => {}
                }
            }
        }
        for (to, c) in out {
            if to != self.config.listen {
                self.send_control(to, c);
            }
        }
    }
}
