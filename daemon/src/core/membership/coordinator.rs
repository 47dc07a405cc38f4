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
            if *done == attempt {
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
