//! The view change with flush: how the daemons agree on a new daemon view, finish the old one
//! identically, and install the new one.
//!
//! Owns the daemon view and everything that changes it: the peer table (`peers`), the failure
//! detector, the membership messages (`control`), the decision to start a change (`decide`), both
//! roles of the protocol (`member`, `coordinator`), and the installation of a view (`install`): the flush of the old view's items, transitional group views, the
//! group table rebuilt from every daemon's announced local members, and fresh streams. It never
//! reads a clock or touches a socket; `notes/membership.md` explains the protocol.
//!
//! A change runs in rounds, all driven by the coordinator (the proposer):
//! 1. `Propose`: the members of the new view. A member accepts an attempt later than any it
//!    joined (it answers an earlier one with `Behind`, so a coordinator that is behind proposes
//!    again above it), stops delivering, and stops its acknowledgements from growing beyond what
//!    it reports.
//! 2. `State`: each member's old view and how much of each old stream it holds.
//! 3. `Commit`: per old view, its survivors (the members that reported it), the cut every
//!    survivor fetches up to (the most any survivor holds of each stream), and what bounds the
//!    flush.
//! 4. `Ready`: the member has everything up to its cut, and announces its local group members.
//! 5. `Install`: the new view; every member delivers the flush and installs it.
//!
//! Nothing is delivered before `Install`, so a change that fails midway (a member or the
//! coordinator dies, a newer proposal arrives) leaves nothing to undo: the next attempt starts
//! from the same old view.

mod control;
mod coordinator;
mod decide;
mod install;
mod member;
mod peers;

pub(crate) use control::{encode, ControlIn};
pub use control::{Attempt, Control, Cut, FlushState, Install, ReadyState};
pub(crate) use install::Installing;
pub use peers::{DaemonId, FormedView, HelloOutcome, Membership};

use super::packet;
use super::{Core, Time};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Where this daemon is in a view change.
#[derive(Debug)]
pub(crate) struct Change {
    attempt: Attempt,
    members: Vec<DaemonId>,
    /// When this daemon joined the attempt.
    since: Time,
    resend_at: Time,
    step: Step,
    /// The coordinator's side, if this daemon runs the attempt.
    lead: Option<Lead>,
}

#[derive(Debug)]
pub(crate) enum Step {
    /// State sent; waiting for the commit.
    Stated(FlushState),
    /// Fetching up to the cut (`None`: no old view to flush).
    Fetching(Option<Cut>),
    /// Ready sent; waiting for the install.
    Ready(Option<Cut>, ReadyState),
}

#[derive(Debug, Default)]
pub(crate) struct Lead {
    states: BTreeMap<SocketAddr, FlushState>,
    cuts: Option<Vec<Cut>>,
    readies: BTreeMap<SocketAddr, ReadyState>,
}

impl Core {
    /// This daemon's identity.
    pub(crate) fn my_id(&self) -> DaemonId {
        self.membership.me().clone()
    }

    /// Queues `control` for `to` (handled at once if `to` is this daemon).
    pub(crate) fn send_control(&mut self, to: SocketAddr, control: Control) {
        if to == self.config.listen {
            self.on_control(to, control);
            return;
        }
        self.control_seq += 1;
        let max_body =
            packet::max_control_body(self.config.max_datagram, self.config.cluster.len());
        let chunks = encode(
            &control,
            self.control_seq,
            max_body,
            self.config.max_membership_message,
        );
        self.unicast.entry(to).or_default().extend(chunks);
    }

    /// Tells the view this daemon is stopping.
    pub(crate) fn say_goodbye(&mut self) {
        let Some(c) = &self.cluster else {
            return;
        };
        let incarnation = self.config.incarnation;
        for peer in c.view.peers() {
            self.send_control(peer, Control::Bye { incarnation });
        }
    }

    /// A complete control message from `from`.
    pub(crate) fn on_control(&mut self, from: SocketAddr, control: Control) {
        match control {
            Control::Bye { incarnation } => {
                tracing::info!(peer = %from, "a daemon said it is stopping");
                self.departed.insert(from, incarnation);
                self.suspected.insert(from);
            }
            Control::Propose { attempt, members } => self.on_propose(from, attempt, members),
            Control::Behind { round } => self.on_behind(round),
            Control::State { attempt, state } => self.on_state(from, attempt, state),
            Control::Commit { attempt, cuts } => self.on_commit(attempt, cuts),
            Control::Ready { attempt, ready } => self.on_ready(from, attempt, ready),
            Control::Install { attempt, install } => self.on_install(attempt, install),
        }
    }

    /// The view change under way, for `status`.
    pub(crate) fn view_change_info(&self, now: Time) -> Option<gcs::ViewChangeInfo> {
        let ch = self.change.as_ref()?;
        let step = match ch.step {
            Step::Stated(_) => "stated",
            Step::Fetching(_) => "fetching",
            Step::Ready(..) => "ready",
        };
        Some(gcs::ViewChangeInfo {
            round: ch.attempt.round,
            coordinator: ch.attempt.coordinator.to_string(),
            members: ch.members.iter().map(|m| m.name.clone()).collect(),
            step: step.to_string(),
            since_ms: u64::try_from(now.saturating_since(ch.since).as_millis()).unwrap_or(u64::MAX),
        })
    }
}
