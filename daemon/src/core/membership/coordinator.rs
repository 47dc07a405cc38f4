//! The coordinator's side of a view change: collecting every member's state into one cut per old
//! view, and every member's readiness into the new view.
//!
//! Owns what the coordinator computes (cuts, the install). It never changes this daemon's own
//! view: the coordinator installs like any member, from its own install message.

use super::control::{Attempt, Control, Cut, FlushState, Install, ReadyState};
use crate::core::Core;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

impl Core {
    pub(crate) fn on_state(&mut self, from: SocketAddr, attempt: Attempt, state: FlushState) {
        let Some(ch) = self.view_change.change.as_mut() else {
            return;
        };
        if ch.attempt != attempt || state.who.addr != from || !ch.members.contains(&state.who) {
            return;
        }
        let members = ch.members.clone();
        let Some(lead) = ch.lead.as_mut() else {
            return;
        };
        if let Some(cuts) = &lead.cuts {
            // It lost the commit.
            let cuts = cuts.clone();
            return self.send_control(from, Control::Commit { attempt, cuts });
        }
        lead.states.insert(from, state);
        if lead.states.len() < members.len() {
            return;
        }
        let mut by_view: BTreeMap<u64, Vec<&FlushState>> = BTreeMap::new();
        for s in lead.states.values() {
            if s.view != 0 {
                by_view.entry(s.view).or_default().push(s);
            }
        }
        let cuts: Vec<Cut> = by_view
            .into_iter()
            .map(|(view, states)| {
                let n = states.iter().map(|s| s.contiguous.len()).max().unwrap_or(0);
                let max_at = |f: &dyn Fn(&FlushState) -> &Vec<u64>, i: usize| {
                    states
                        .iter()
                        .filter_map(|s| f(s).get(i).copied())
                        .max()
                        .unwrap_or(0)
                };
                Cut {
                    view,
                    survivors: states.iter().map(|s| s.who.clone()).collect(),
                    cut: (0..n).map(|i| max_at(&|s| &s.contiguous, i)).collect(),
                    heard: (0..n).map(|i| max_at(&|s| &s.heard, i)).collect(),
                    delivered: states.iter().map(|s| s.delivered).max().unwrap_or((0, 0)),
                }
            })
            .collect();
        lead.cuts = Some(cuts.clone());
        for m in members {
            self.send_control(
                m.addr,
                Control::Commit {
                    attempt: attempt.clone(),
                    cuts: cuts.clone(),
                },
            );
        }
    }

    pub(crate) fn on_ready(&mut self, from: SocketAddr, attempt: Attempt, ready: ReadyState) {
        if let Some((done, install)) = &self.view_change.last_install {
            if *done == attempt && install.members.contains(&ready.who) {
                // It lost the install.
                let (attempt, install) = (done.clone(), install.clone());
                return self.send_control(from, Control::Install { attempt, install });
            }
        }
        let Some(ch) = self.view_change.change.as_mut() else {
            return;
        };
        if ch.attempt != attempt || ready.who.addr != from || !ch.members.contains(&ready.who) {
            return;
        }
        let members = ch.members.clone();
        let Some(lead) = ch.lead.as_mut() else {
            return;
        };
        if lead.cuts.is_none() {
            return;
        }
        lead.readies.insert(from, ready);
        if lead.readies.len() < members.len() {
            return;
        }
        let above = lead.states.values().map(|s| s.view).max().unwrap_or(0);
        let ts = lead
            .readies
            .values()
            .map(|r| r.clock)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let views = lead.readies.values().map(|r| r.views).max().unwrap_or(0);
        let mut local: Vec<(String, String)> = lead
            .readies
            .values()
            .flat_map(|r| r.local.iter().cloned())
            .collect();
        local.sort();
        local.dedup();
        let groups = local
            .iter()
            .map(|(g, _)| g.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let components: Vec<u64> = lead
            .cuts
            .as_ref()
            .map(|cuts| cuts.iter().map(|c| c.view).collect())
            .unwrap_or_default();
        let install = Install {
            view: self.membership.view_id_after(above, self.config.listen),
            members: members.clone(),
            ts,
            clock: ts
                .saturating_add((components.len() as u64 + 1).saturating_mul(views))
                .saturating_add(groups)
                .saturating_add(1),
            components,
            views,
            local,
        };
        self.view_change.last_install = Some((attempt.clone(), install.clone()));
        for m in members {
            self.send_control(
                m.addr,
                Control::Install {
                    attempt: attempt.clone(),
                    install: install.clone(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{control_from, id, lost_d2, ATTEMPT_ROUND};
    use crate::core::membership::{Attempt, Control, Cut};
    use crate::core::packet::Chunk;
    use crate::sim::harness::{chunks, rig_addr};
    use std::time::Duration;

    fn attempt(round: u64) -> Attempt {
        Attempt {
            round,
            coordinator: rig_addr(0),
            incarnation: 1000,
        }
    }

    #[test]
    fn the_coordinator_proposes_the_survivors_commits_their_cut_and_installs() {
        let lost = lost_d2();
        let from_d0 = lost.controls_from(0);
        let a = attempt(ATTEMPT_ROUND);
        let survivors = vec![id(0), id(1)];
        // The cut is what d1 reported holding (one item of d0's stream, the join and the
        // message of d1's, d2's join), which is also what d0 holds.
        let cut = Cut {
            view: 1,
            survivors: survivors.clone(),
            cut: vec![1, 2, 1],
            heard: vec![1006, 1006, 1006],
            delivered: (1006, 1),
        };
        let Some((
            _,
            Control::Install {
                attempt: installed,
                install,
            },
        )) = from_d0.get(2).cloned()
        else {
            panic!("no install third: {from_d0:?}");
        };
        assert_eq!(
            from_d0,
            vec![
                (
                    1,
                    Control::Propose {
                        attempt: a.clone(),
                        members: survivors.clone(),
                    }
                ),
                (
                    1,
                    Control::Commit {
                        attempt: a.clone(),
                        cuts: vec![cut],
                    }
                ),
                (
                    1,
                    Control::Install {
                        attempt: installed.clone(),
                        install: install.clone(),
                    }
                ),
            ]
        );
        assert_eq!(installed, a);
        // The view id after 1 that carries d0's rank (0) modulo the three configured daemons.
        assert_eq!(install.view, 4);
        assert_eq!(install.members, survivors);
        // Both members' local members, as their readies announced them.
        assert_eq!(
            install.local,
            vec![
                ("g".to_string(), "a#d0".to_string()),
                ("g".into(), "b#d1".into())
            ]
        );
        // The old view numbers its transitional view and the flush's operations (two views at
        // most, as d1's ready said) from the install's timestamp on.
        assert_eq!((install.components, install.views), (vec![1], 2));
        assert!(install.ts > 1006 && install.clock > install.ts);
    }

    #[test]
    fn a_coordinator_told_it_is_behind_proposes_again_above_that_round() {
        let mut rig = crate::sim::harness::Rig::formed(3, |_| {});
        rig.kill(2);
        // Until d0 proposes; d1's answers are lost, so the attempt stays open.
        rig.set_fate(|s| {
            if s.from == 1 && !s.controls().is_empty() {
                crate::sim::harness::Fate::Lose
            } else {
                crate::sim::harness::Fate::Deliver
            }
        });
        let mut since = rig.transmitted.len();
        while !rig
            .controls_since(since)
            .iter()
            .any(|(_, _, c)| matches!(c, Control::Propose { .. }))
        {
            rig.run_for(Duration::from_millis(10));
        }
        since = rig.transmitted.len();
        assert!(rig.core(0).in_view_change());
        rig.datagram(
            0,
            rig_addr(1),
            control_from(1, 1, &Control::Behind { round: 41 }),
        );
        let sent = &rig.transmitted[since..];
        // At once, in one datagram to d1 that carries nothing but the new proposal.
        assert_eq!(sent.len(), 1, "{sent:?}");
        let (from, to, bytes) = &sent[0];
        assert_eq!((*from, to.as_slice()), (0, [1].as_slice()));
        let parts = chunks(bytes);
        assert!(
            matches!(
                parts.as_slice(),
                [Chunk::Control {
                    part: 0,
                    parts: 1,
                    ..
                }]
            ),
            "{parts:?}"
        );
        assert_eq!(
            rig.controls_since(since),
            vec![(
                0,
                1,
                Control::Propose {
                    attempt: attempt(42),
                    members: vec![id(0), id(1)],
                }
            )]
        );
    }
}
