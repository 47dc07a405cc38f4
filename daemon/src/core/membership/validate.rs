//! What a membership message must be before it touches any state: rounds within reach, member
//! lists that name configured daemons once each, messages about a daemon only from that daemon,
//! the coordinator's messages only from the coordinator, clocks and counts an honest daemon can
//! have reached.
//!
//! A peer that holds the cluster key may still be buggy or compromised, so nothing a membership
//! message says is taken on trust. Owns the checks and the reasons for refusal ([`Invalid`]); it
//! never changes state. What depends on the attempt under way (is this the attempt, is this the
//! step) stays with the roles that own it.

use super::control::{Attempt, Control, Cut, Install, ReadyState};
use super::peers::DaemonId;
use crate::core::cluster::{CLOCK_CEILING, MAX_CLOCK_JUMP};
use crate::core::groups::daemon_of;
use crate::core::Core;
use std::net::SocketAddr;

/// Group views one flush may make, at most, as a member or an install announces it. Honest
/// counts are twice the number of groups plus the operations in flight; this keeps the id
/// arithmetic far from overflow.
const MAX_FLUSH_VIEWS: u64 = 1 << 32;

/// Why a membership message was refused. Nothing was changed by the message itself (the
/// datagram that carried it still counted as a sign of life); the sender is at fault: a bug, a
/// lie, or someone forging a peer's address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A round further beyond this daemon's than any honest daemon runs ahead.
    #[error(
        "round {round} is more than {step} beyond this daemon's round {ours} \
         (limits.max_round_step)"
    )]
    RoundOutOfReach {
        /// The round the message names.
        round: u64,
        /// This daemon's round.
        ours: u64,
        /// The limit.
        step: u64,
    },
    /// A proposal, commit or install from another address than the attempt's coordinator.
    #[error("{what} of an attempt coordinated by {coordinator}, sent by another daemon")]
    NotFromCoordinator {
        /// The kind of message.
        what: &'static str,
        /// The attempt's coordinator.
        coordinator: SocketAddr,
    },
    /// A message that speaks for another daemon than its sender.
    #[error("{what} on behalf of {who}, sent by another daemon")]
    NotItsOwn {
        /// The kind of message.
        what: &'static str,
        /// The daemon it speaks for.
        who: SocketAddr,
    },
    /// A member list that is not a set of configured daemons in address order.
    #[error("{what} whose members {why}")]
    Members {
        /// The kind of message.
        what: &'static str,
        /// What is wrong with them.
        why: &'static str,
    },
    /// A clock beyond what any daemon in the cluster can have reached.
    #[error("{what} with clock {clock}, beyond any daemon's reach ({reach})")]
    ClockOutOfReach {
        /// The kind of message.
        what: &'static str,
        /// The clock it names.
        clock: u64,
        /// The most this daemon accepts.
        reach: u64,
    },
    /// A list or count larger than the cluster or the protocol allows.
    #[error("{what} with {len} {of}, more than the {max} possible")]
    TooMany {
        /// The kind of message.
        what: &'static str,
        /// What was counted.
        of: &'static str,
        /// How many it has.
        len: u64,
        /// How many it may have.
        max: u64,
    },
    /// A goodbye of another life than the one in the view at the sender's address.
    #[error("a goodbye of life {theirs}, but the view holds life {ours} at that address")]
    OtherLife {
        /// The life the message names.
        theirs: u64,
        /// The life in the view.
        ours: u64,
    },
    /// A daemon announcing a group member that lives on another daemon.
    #[error("a ready state announcing {member}, a client of another daemon")]
    ForeignMember {
        /// The member.
        member: String,
    },
}

impl Core {
    /// Checks `control` from `from` against everything that does not depend on the attempt
    /// under way.
    pub(crate) fn validate_control(
        &self,
        from: SocketAddr,
        control: &Control,
    ) -> Result<(), Invalid> {
        match control {
            Control::Bye { incarnation } => self.own_life(from, *incarnation),
            Control::Behind { .. } => Ok(()), // only ever raises the round by a bounded step
            Control::Propose { attempt, members } => {
                by_coordinator("a proposal", from, attempt)?;
                self.round_in_reach(attempt.round)?;
                // A proposal may name an earlier life of this daemon: its coordinator has not
                // heard of the restart yet. The member ignores it (see `on_propose`).
                self.valid_members("a proposal", members)
            }
            Control::State { attempt, state } => {
                self.round_in_reach(attempt.round)?;
                own("a state", from, &state.who)?;
                let n = self.membership.cluster_size() as u64;
                at_most("a state", "streams", state.contiguous.len(), n)?;
                at_most("a state", "streams", state.heard.len(), n)
            }
            Control::Commit { attempt, cuts } => {
                by_coordinator("a commit", from, attempt)?;
                self.round_in_reach(attempt.round)?;
                let n = self.membership.cluster_size() as u64;
                at_most("a commit", "cuts", cuts.len(), n)?;
                cuts.iter().try_for_each(|cut| self.valid_cut(cut))
            }
            Control::Ready { attempt, ready } => {
                self.round_in_reach(attempt.round)?;
                own("a ready state", from, &ready.who)?;
                self.valid_ready(ready)
            }
            Control::Install { attempt, install } => {
                by_coordinator("an install", from, attempt)?;
                self.round_in_reach(attempt.round)?;
                self.valid_install(install)
            }
        }
    }

    /// A goodbye speaks only for the life of its sender that is in the view (if it is).
    fn own_life(&self, from: SocketAddr, incarnation: u64) -> Result<(), Invalid> {
        let ours = self
            .cluster
            .as_ref()
            .and_then(|c| c.view.ids.iter().find(|d| d.addr == from))
            .map(|d| d.incarnation);
        match ours {
            Some(ours) if ours != incarnation => Err(Invalid::OtherLife {
                theirs: incarnation,
                ours,
            }),
            _ => Ok(()),
        }
    }

    /// The most a round may be: this daemon's round and a bounded step beyond.
    pub(crate) fn round_reach(&self) -> u64 {
        self.view_change
            .round
            .saturating_add(self.config.max_round_step)
    }

    fn round_in_reach(&self, round: u64) -> Result<(), Invalid> {
        if round > self.round_reach() {
            return Err(Invalid::RoundOutOfReach {
                round,
                ours: self.view_change.round,
                step: self.config.max_round_step,
            });
        }
        Ok(())
    }

    /// The most a clock or timestamp a peer names may be. Clocks in a view start at the
    /// install's clock and grow by one per item stamped, far slower than one per microsecond;
    /// a daemon new to the cluster starts at its start time, which the wall clock (this daemon's
    /// incarnation is its start time) bounds. Beyond the larger of the two and the microseconds
    /// since the install, a slack of `MAX_CLOCK_JUMP` covers skew and bursts. The reach does not
    /// follow this daemon's own clock, so what a peer sends can raise that clock only once by the
    /// slack, never step by step out of its peers' reach.
    pub(crate) fn clock_reach(&self) -> u64 {
        let wall = self.config.incarnation.saturating_add(self.now.as_micros());
        let since = self
            .now
            .as_micros()
            .saturating_sub(self.view_change.installed_at.as_micros());
        self.view_change
            .installed_clock
            .max(wall)
            .saturating_add(since)
            .saturating_add(MAX_CLOCK_JUMP)
            .min(CLOCK_CEILING)
    }

    /// A clock a view change carries (a member's ready state, an install) is judged with twice
    /// the slack of a timestamp: a daemon whose clock a peer raised by up to the slack (the most
    /// a timestamp may raise it) is beyond the reach of a daemon whose own reach starts lower, so
    /// that daemon suspects it; the view change that follows must still take its clock, so that
    /// the new view starts every daemon's reach beyond it and the cluster is whole again.
    fn clock_in_reach(&self, what: &'static str, clock: u64) -> Result<(), Invalid> {
        let reach = self
            .clock_reach()
            .saturating_add(MAX_CLOCK_JUMP)
            .min(CLOCK_CEILING);
        if clock > reach {
            return Err(Invalid::ClockOutOfReach { what, clock, reach });
        }
        Ok(())
    }

    /// Members must be configured daemons, each once, in address order. Whether this daemon is
    /// among them is the roles' question: a message may be meant for an earlier or later life of
    /// it, which ignores it.
    fn valid_members(&self, what: &'static str, members: &[DaemonId]) -> Result<(), Invalid> {
        let bad = |why| Err(Invalid::Members { what, why });
        if members.is_empty() {
            return bad("are none");
        }
        if members.windows(2).any(|w| w[0].addr >= w[1].addr) {
            return bad("are not in address order, or repeat one");
        }
        let me = self.membership.me();
        let configured = |m: &DaemonId| m.addr == me.addr || self.membership.is_peer(m.addr);
        if !members.iter().all(configured) {
            return bad("include a daemon that is not configured");
        }
        Ok(())
    }

    fn valid_cut(&self, cut: &Cut) -> Result<(), Invalid> {
        self.valid_members("a commit", &cut.survivors)?;
        let n = self.membership.cluster_size() as u64;
        at_most("a commit", "streams", cut.cut.len(), n)?;
        at_most("a commit", "streams", cut.heard.len(), n)?;
        // This daemon knows its own stream of the old view exactly: no cut may go beyond it.
        let Some(c) = self
            .cluster
            .as_ref()
            .filter(|c| c.view.view.view_id == cut.view)
        else {
            return Ok(());
        };
        let me = c.view.me;
        let sent = c.streams.contiguous(me);
        match cut.cut.get(me as usize) {
            Some(&seq) if seq > sent => Err(Invalid::TooMany {
                what: "a commit",
                of: "items of this daemon's own stream",
                len: seq,
                max: sent,
            }),
            _ => Ok(()),
        }
    }

    fn valid_ready(&self, ready: &ReadyState) -> Result<(), Invalid> {
        self.clock_in_reach("a ready state", ready.clock)?;
        if ready.views > MAX_FLUSH_VIEWS {
            return Err(Invalid::TooMany {
                what: "a ready state",
                of: "group views",
                len: ready.views,
                max: MAX_FLUSH_VIEWS,
            });
        }
        match ready
            .local
            .iter()
            .find(|(_, m)| daemon_of(m) != ready.who.name)
        {
            Some((_, member)) => Err(Invalid::ForeignMember {
                member: member.clone(),
            }),
            None => Ok(()),
        }
    }

    fn valid_install(&self, install: &Install) -> Result<(), Invalid> {
        // An install may reach a later life of one of its members, which ignores it (it is not
        // in that attempt).
        self.valid_members("an install", &install.members)?;
        self.clock_in_reach("an install", install.clock)?;
        if install.ts > install.clock {
            return Err(Invalid::ClockOutOfReach {
                what: "an install",
                clock: install.ts,
                reach: install.clock,
            });
        }
        if install.views > MAX_FLUSH_VIEWS {
            return Err(Invalid::TooMany {
                what: "an install",
                of: "group views",
                len: install.views,
                max: MAX_FLUSH_VIEWS,
            });
        }
        let n = self.membership.cluster_size() as u64;
        at_most("an install", "old views", install.components.len(), n)
    }
}

/// A message about `who` must come from `who`.
fn own(what: &'static str, from: SocketAddr, who: &DaemonId) -> Result<(), Invalid> {
    if who.addr != from {
        return Err(Invalid::NotItsOwn {
            what,
            who: who.addr,
        });
    }
    Ok(())
}

fn at_most(what: &'static str, of: &'static str, len: usize, max: u64) -> Result<(), Invalid> {
    let len = len as u64;
    if len > max {
        return Err(Invalid::TooMany { what, of, len, max });
    }
    Ok(())
}

/// A message only the attempt's coordinator sends must come from it.
fn by_coordinator(what: &'static str, from: SocketAddr, attempt: &Attempt) -> Result<(), Invalid> {
    if attempt.coordinator != from {
        return Err(Invalid::NotFromCoordinator {
            what,
            coordinator: attempt.coordinator,
        });
    }
    Ok(())
}
