//! The member's side of a view change: joining an attempt and reporting where it stands, fetching
//! up to the commit's cut, saying it is ready with its local group members, and installing.
//!
//! Owns the member's rounds. It never computes cuts or view ids (the coordinator does) and never
//! delivers anything before the install.

use super::control::{Attempt, Control, Cut, FlushState, Install, ReadyState};
use super::peers::DaemonId;
use super::{Change, Lead, Step};
use crate::core::groups::daemon_of;
use crate::core::packet::Item;
use crate::core::Core;
use std::collections::BTreeSet;
use std::net::SocketAddr;

impl Core {
    pub(crate) fn on_propose(
        &mut self,
        from: SocketAddr,
        attempt: Attempt,
        members: Vec<DaemonId>,
    ) {
        // Checked before: it comes from its coordinator and its round is within reach.
        self.view_change.round = self.view_change.round.max(attempt.round);
        let me = self.my_id();
        if !members.contains(&me) {
            return; // an earlier life of this daemon: the coordinator will hear of this one
        }
        if let Some(j) = &self.view_change.joined {
            if attempt < *j {
                // A proposer that is behind (restarted, or from a side with fewer attempts):
                // tell it the round to go beyond, or its attempt only times out.
                let round = j.round;
                return self.send_control(from, Control::Behind { round });
            }
            if attempt <= *j {
                return;
            }
        }
        self.view_change.joined = Some(attempt.clone());
        let (view, contiguous, heard, delivered) = match self.cluster.as_mut() {
            Some(c) => {
                c.orderer.freeze();
                c.streams.cap_acks(c.orderer.clock());
                let n = c.view.len() as u16;
                let me = c.view.me;
                let clock = c.orderer.clock();
                (
                    c.view.view.view_id,
                    (0..n).map(|o| c.streams.contiguous(o)).collect(),
                    (0..n)
                        .map(|o| {
                            if o == me {
                                clock
                            } else {
                                c.streams.heard_ts(o)
                            }
                        })
                        .collect(),
                    c.orderer.delivered_position(),
                )
            }
            None => (0, Vec::new(), Vec::new(), (0, 0)),
        };
        let state = FlushState {
            who: me,
            view,
            contiguous,
            heard,
            delivered,
        };
        let lead = (from == self.config.listen).then(Lead::default);
        self.view_change.change = Some(Change {
            attempt: attempt.clone(),
            members,
            since: self.now,
            resend_at: self.now + self.resend_interval(),
            step: Step::Stated(state.clone()),
            lead,
        });
        self.view_change.wish_since = None;
        self.send_control(from, Control::State { attempt, state });
    }

    /// A member refused this daemon's proposal as older than an attempt it joined: if this
    /// daemon still runs that proposal, it proposes the same members again in a later round.
    /// Only a member of that proposal makes it propose again. The round moves at most
    /// `limits.max_round_step` per message (a peer far ahead is caught up with over a few
    /// attempts), so no message can use the rounds up.
    pub(crate) fn on_behind(&mut self, from: SocketAddr, round: u64) {
        self.view_change.round = self.view_change.round.max(round.min(self.round_reach()));
        let Some(ch) = &self.view_change.change else {
            return;
        };
        let running = ch.lead.as_ref().is_some_and(|l| l.cuts.is_none());
        if !running || !ch.members.iter().any(|m| m.addr == from) || ch.attempt.round > round {
            return;
        }
        let members = ch.members.clone();
        self.propose(members);
    }

    pub(crate) fn on_commit(&mut self, attempt: Attempt, cuts: Vec<Cut>) {
        let Some(ch) = self.view_change.change.as_mut() else {
            return;
        };
        if ch.attempt != attempt || !matches!(ch.step, Step::Stated(_)) {
            return;
        }
        let mine = self
            .cluster
            .as_ref()
            .and_then(|c| cuts.iter().find(|cut| cut.view == c.view.view.view_id))
            .cloned();
        if let (Some(c), Some(cut)) = (self.cluster.as_mut(), &mine) {
            let departed: Vec<bool> = c
                .view
                .ids
                .iter()
                .map(|id| !cut.survivors.contains(id))
                .collect();
            c.streams.set_departed(departed);
            c.streams.raise_ack_cap(&cut.cut);
            for (o, seq) in cut.cut.iter().enumerate() {
                c.streams.expect(o as u16, *seq);
            }
        }
        ch.step = Step::Fetching(mine);
        self.check_fetched();
    }

    /// Sends `Ready` once everything up to the cut has arrived.
    pub(crate) fn check_fetched(&mut self) {
        let Some(ch) = self.view_change.change.as_ref() else {
            return;
        };
        let Step::Fetching(cut) = &ch.step else {
            return;
        };
        let cut = cut.clone();
        let (clock, views) = match (&self.cluster, &cut) {
            (Some(c), Some(cut)) => {
                let have_all = cut
                    .cut
                    .iter()
                    .enumerate()
                    .all(|(o, seq)| c.streams.contiguous(o as u16) >= *seq);
                if !have_all {
                    return;
                }
                let groups = self.groups.names().len() as u64;
                (
                    c.orderer.clock(),
                    2 * groups + c.orderer.pending_ops(&cut.cut) as u64,
                )
            }
            (Some(c), None) => (c.orderer.clock(), 2 * self.groups.names().len() as u64),
            // A daemon in its first view starts its clock at its incarnation (its start time), so
            // a restarted daemon never makes the ids of its previous life again.
            (None, _) => (self.config.incarnation, 0),
        };
        let ready = ReadyState {
            who: self.my_id(),
            clock,
            views,
            local: self.local_projection(),
        };
        let Some(ch) = self.view_change.change.as_mut() else {
            return;
        };
        ch.step = Step::Ready(cut, ready.clone());
        let to = ch.attempt.coordinator;
        let attempt = ch.attempt.clone();
        self.send_control(to, Control::Ready { attempt, ready });
    }

    /// This daemon's group members as they will be once its own pending joins and leaves are
    /// delivered (a flush delivers every one of them).
    pub(crate) fn local_projection(&self) -> Vec<(String, String)> {
        let me = self.config.daemon_name.as_str();
        let mut set: BTreeSet<(String, String)> = self
            .groups
            .memberships(|m| daemon_of(m) == me)
            .into_iter()
            .collect();
        if let Some(c) = &self.cluster {
            for op in c.orderer.own_pending_ops() {
                match op {
                    Item::Join { group, member } => {
                        set.insert((group, member));
                    }
                    Item::Leave { group, member, .. } => {
                        set.remove(&(group, member));
                    }
                    Item::Multicast { .. } => {}
                }
            }
        }
        set.into_iter().collect()
    }

    pub(crate) fn on_install(&mut self, attempt: Attempt, install: Install) {
        let Some(ch) = self.view_change.change.as_ref() else {
            return;
        };
        if ch.attempt != attempt {
            return;
        }
        if install.members != ch.members {
            let why = super::Invalid::Members {
                what: "an install",
                why: "differ from the proposal's",
            };
            return self.drop_datagram(attempt.coordinator, why.into());
        }
        let Step::Ready(cut, _) = &ch.step else {
            return;
        };
        let cut = cut.clone();
        self.view_change.change = None;
        self.install(attempt.coordinator, install, cut);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{control_from, id, lost_d2, ATTEMPT_ROUND};
    use crate::core::membership::{Attempt, Control, FlushState, ReadyState};
    use crate::sim::harness::rig_addr;

    #[test]
    fn a_member_states_what_it_holds_and_readies_with_its_local_members() {
        let lost = lost_d2();
        let from_d1 = lost.controls_from(1);
        let attempt = Attempt {
            round: ATTEMPT_ROUND,
            coordinator: rig_addr(0),
            incarnation: 1000,
        };
        assert_eq!(
            from_d1,
            vec![
                (
                    0,
                    Control::State {
                        attempt: attempt.clone(),
                        state: FlushState {
                            who: id(1),
                            view: 1,
                            // d0's stream: a's join; d1's: b's join and b's message; d2's: c's
                            // join.
                            contiguous: vec![1, 2, 1],
                            heard: vec![1006, 1006, 1006],
                            // b's message, the last item d1 delivered, stamped 1006 by d1.
                            delivered: (1006, 1),
                        },
                    }
                ),
                (
                    0,
                    Control::Ready {
                        attempt,
                        ready: ReadyState {
                            who: id(1),
                            clock: 1006,
                            // A transitional view and the regular one of `g`.
                            views: 2,
                            local: vec![("g".into(), "b#d1".into())],
                        },
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_member_answers_an_attempt_older_than_the_one_it_joined_with_behind() {
        let mut lost = lost_d2();
        let view = lost.rig.core(1).daemon_view();
        let since = lost.rig.transmitted.len();
        let stale = Control::Propose {
            attempt: Attempt {
                round: ATTEMPT_ROUND - 1,
                coordinator: rig_addr(0),
                incarnation: 1000,
            },
            members: vec![id(0), id(1)],
        };
        lost.rig
            .datagram(1, rig_addr(0), control_from(0, view.view_id, &stale));
        assert_eq!(
            lost.rig.controls_since(since),
            vec![(
                1,
                0,
                Control::Behind {
                    round: ATTEMPT_ROUND
                }
            )]
        );
        assert!(!lost.rig.core(1).in_view_change(), "it joined nothing");
        assert_eq!(lost.rig.core(1).daemon_view(), view);
    }
}
