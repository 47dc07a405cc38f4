//! The view change's rounds by hand: three daemon cores on a network the test controls, where it
//! can kill a daemon at a chosen moment of the protocol or lose a chosen membership message.

use gcsd::core::Control;
use gcsd::sim::harness::{rig_addr as addr, rig_config, Fate, Rig, Sent};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// `n` daemons that have formed their first view together.
fn formed(n: usize) -> Rig {
    Rig::formed(n, |_| {})
}

/// Daemon `i` of `n` starts again: a new life, knowing nothing.
fn restart(net: &mut Rig, i: usize, n: usize) {
    let config = gcsd::core::CoreConfig {
        incarnation: 1_000_000 + net.now().as_micros(),
        ..rig_config(i, n)
    };
    net.restart(i, config);
}

fn has(s: &Sent<'_>, pick: impl Fn(&Control) -> bool) -> bool {
    s.controls().iter().any(pick)
}

/// A counter a fate hook can keep while the test reads it.
#[derive(Clone, Default)]
struct Count(Rc<Cell<usize>>);

impl Count {
    fn add(&self, n: usize) -> usize {
        self.0.set(self.0.get() + n);
        self.0.get()
    }

    fn get(&self) -> usize {
        self.0.get()
    }
}

#[test]
fn a_coordinator_that_dies_mid_change_is_replaced_and_the_change_restarts() {
    let mut net = formed(3);
    let first = net.core(1).daemon_view();
    // d2 dies; d0, the lowest, runs the change to [d0, d1] and dies as it sends the commit.
    net.kill(2);
    let killed_at_commit = Count::default();
    let seen = killed_at_commit.clone();
    net.set_fate(move |s| {
        if s.from == 0 && has(s, |c| matches!(c, Control::Commit { .. })) {
            seen.add(1);
            Fate::KillSender
        } else {
            Fate::Deliver
        }
    });
    net.run_for(Duration::from_millis(700));
    assert!(
        killed_at_commit.get() > 0,
        "the coordinator never sent a commit"
    );
    // d1 stated its place and waits for a commit that will not come: `status` shows it.
    let status = net.core(1).status(net.now());
    let change = status.view_change.expect("a change under way at d1");
    assert_eq!(change.coordinator, addr(0).to_string());
    assert_eq!(change.step, "stated");
    assert_eq!(change.members, vec!["d0", "d1"]);
    assert_eq!(
        net.core(1).daemon_view(),
        first,
        "nothing is installed before the install"
    );
    // It gives up on the silent coordinator and forms a view alone.
    net.deliver_all();
    net.run_for(Duration::from_secs(3));
    let alone = net.core(1).daemon_view();
    assert_eq!(alone.members, vec!["d1"]);
    assert!(alone.view_id > first.view_id);
    assert!(!alone.primary);
    assert!(net.core(1).status(net.now()).view_change.is_none());
}

#[test]
fn a_lost_install_is_sent_again() {
    let mut net = formed(3);
    let first = net.core(0).daemon_view();
    net.kill(2);
    let installs_to_d1 = Count::default();
    let seen = installs_to_d1.clone();
    net.set_fate(move |s| {
        if s.from == 0
            && s.to == 1
            && has(s, |c| matches!(c, Control::Install { .. }))
            && seen.add(1) == 1
        {
            return Fate::Lose;
        }
        Fate::Deliver
    });
    net.run_for(Duration::from_secs(3));
    assert!(installs_to_d1.get() >= 2, "the install was not sent again");
    let (a, b) = (net.core(0).daemon_view(), net.core(1).daemon_view());
    assert_eq!(a, b, "both install the same view");
    assert_eq!(a.members, vec!["d0", "d1"]);
    assert!(a.view_id > first.view_id && a.primary);
}

#[test]
fn a_member_lost_during_the_change_is_left_out_of_a_new_attempt() {
    let mut net = formed(3);
    let first = net.core(0).daemon_view();
    // d2 dies; while d0 runs the change to [d0, d1], d1 dies too as it sends its state.
    net.kill(2);
    net.set_fate(|s| {
        if s.from == 1 && has(s, |c| matches!(c, Control::State { .. })) {
            Fate::KillSender
        } else {
            Fate::Deliver
        }
    });
    net.run_for(Duration::from_secs(3));
    assert!(!net.net.nodes[1].alive);
    let alone = net.core(0).daemon_view();
    assert_eq!(alone.members, vec!["d0"]);
    assert!(alone.view_id > first.view_id);
}

#[test]
fn a_restarted_coordinator_whose_rounds_are_behind_is_told_and_merges_at_once() {
    let mut net = formed(3);
    // d0, the lowest address and so the one to run changes, dies; the others change view
    // without it, so their attempts' rounds move past anything a new d0 starts with.
    net.kill(0);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.core(1).daemon_view().members, vec!["d1", "d2"]);
    restart(&mut net, 0, 3);
    let behind = Count::default();
    let seen = behind.clone();
    net.set_fate(move |s| {
        let n = s
            .controls()
            .iter()
            .filter(|c| matches!(c, Control::Behind { .. }))
            .count();
        seen.add(n);
        Fate::Deliver
    });
    // Well within one failure timeout (500 ms), so not by waiting for a timeout.
    net.run_for(Duration::from_millis(300));
    assert!(
        behind.get() > 0,
        "no member told the new d0 its rounds are behind"
    );
    for i in 0..3 {
        assert_eq!(
            net.core(i).daemon_view().members,
            vec!["d0", "d1", "d2"],
            "d{i}"
        );
    }
}

#[test]
fn a_goodbye_of_an_earlier_life_does_not_keep_its_new_life_out() {
    let mut net = formed(3);
    // d2 stops: its goodbye reaches both others, which go on as [d0, d1].
    {
        let now = net.now();
        net.core_mut(2).handle_shutdown(now);
    }
    net.drain(2);
    assert!(net.core(2).has_stopped());
    net.deliver_now();
    net.kill(2);
    net.run_for(Duration::from_millis(500));
    assert_eq!(net.core(1).daemon_view().members, vec!["d0", "d1"]);
    // Its new life reaches d0 but not d1, so d1 never hears one of its hellos; d0 runs the
    // change that takes it in, and d1 installs it from d0's messages.
    net.set_fate(|s| {
        if s.from == 2 && s.to == 1 {
            Fate::Lose
        } else {
            Fate::Deliver
        }
    });
    restart(&mut net, 2, 3);
    for _ in 0..300 {
        net.run_for(Duration::from_millis(10));
        if net.core(1).daemon_view().members.len() == 3 {
            break;
        }
    }
    assert_eq!(net.core(1).daemon_view().members, vec!["d0", "d1", "d2"]);
    // Once the link is back, d1 hears the new life: the old goodbye must not make it deaf.
    net.deliver_all();
    net.run_for(Duration::from_millis(500));
    let settled = net.core(1).daemon_view();
    net.run_for(Duration::from_secs(2));
    assert_eq!(settled.members, vec!["d0", "d1", "d2"]);
    assert_eq!(net.core(1).daemon_view(), settled, "the view kept changing");
}
