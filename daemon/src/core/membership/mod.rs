//! The view change with flush: how the daemons agree on a new daemon view, finish the old one
//! identically, and install the new one.
//!
//! Owns the daemon view and everything that changes it: the peer table (`peers`), hellos
//! (`discovery`), the failure detector (`detector`), the membership messages and their codec
//! (`control`), the decision to start a change (`decide`), both roles of the protocol (`member`,
//! `coordinator`), and the installation of a view (`install`): the flush of the old view's items,
//! transitional group views, the group table rebuilt from every daemon's announced local members,
//! and fresh streams. The view-change state that lives across attempts is [`ViewChange`]. It never
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
mod detector;
mod discovery;
mod install;
mod member;
mod peers;
#[cfg(test)]
mod testkit;
mod validate;

pub use control::{
    decode as decode_control, encode as encode_control, Attempt, Control, ControlError, Cut,
    FlushState, Install, ReadyState,
};
pub(crate) use control::{encode, ControlIn};
pub(crate) use install::Installing;
pub use peers::{DaemonId, FormedView, HelloOutcome, HelloRejected, Membership};
pub use validate::Invalid;

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

/// The view-change state of one daemon: everything that lives across attempts.
#[derive(Debug, Default)]
pub(crate) struct ViewChange {
    /// The attempt under way, if any.
    pub(crate) change: Option<Change>,
    /// The largest view-change round seen.
    pub(crate) round: u64,
    /// The latest attempt this daemon joined: it never joins that one again, nor an earlier one
    /// (a late or repeated proposal).
    pub(crate) joined: Option<Attempt>,
    /// Membership messages being reassembled.
    pub(crate) control_in: ControlIn,
    /// Numbers this daemon's membership messages.
    pub(crate) control_seq: u64,
    /// The last view this daemon installed as coordinator, to send again to a member that lost
    /// it.
    pub(crate) last_install: Option<(Attempt, Install)>,
    /// Since when the membership should change (and nobody has started to).
    pub(crate) wish_since: Option<Time>,
    /// When the current view was installed (the core's start until one is).
    pub(crate) installed_at: Time,
    /// Where the current view's clocks started: every honest clock in the view is near it, plus
    /// at most one per item stamped since.
    pub(crate) installed_clock: u64,
    /// While a view is being installed: the ids its group views take, and the groups that got a
    /// transitional view (their later operations in the old view are transitional too).
    pub(crate) installing: Option<Installing>,
}

impl ViewChange {
    /// The state of a daemon that started at `now` and has never changed its view.
    pub(crate) fn new(now: Time) -> ViewChange {
        ViewChange {
            installed_at: now,
            ..ViewChange::default()
        }
    }

    /// True while an attempt is under way.
    pub(crate) fn is_running(&self) -> bool {
        self.change.is_some()
    }
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
        self.view_change.control_seq += 1;
        let max_body =
            packet::max_control_body(self.config.max_datagram, self.config.cluster.len());
        let chunks = encode(
            &control,
            self.view_change.control_seq,
            max_body,
            self.config.max_membership_message,
        );
        self.tx.queue_all_for(to, chunks);
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
        if let Err(why) = self.validate_control(from, &control) {
            return self.drop_datagram(from, why.into());
        }
        match control {
            Control::Bye { incarnation } => {
                tracing::info!(peer = %from, "a daemon said it is stopping");
                self.membership.departed(from, incarnation);
            }
            Control::Propose { attempt, members } => self.on_propose(from, attempt, members),
            Control::Behind { round } => self.on_behind(from, round),
            Control::State { attempt, state } => self.on_state(from, attempt, state),
            Control::Commit { attempt, cuts } => self.on_commit(attempt, cuts),
            Control::Ready { attempt, ready } => self.on_ready(from, attempt, ready),
            Control::Install { attempt, install } => self.on_install(attempt, install),
        }
    }

    /// The view change under way, for `status`.
    pub(crate) fn view_change_info(&self, now: Time) -> Option<gcs::ViewChangeInfo> {
        let ch = self.view_change.change.as_ref()?;
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
