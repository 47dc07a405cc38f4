//! Membership messages no honest peer sends, from a configured peer's address (a buggy or
//! compromised peer, or a forged source): none may crash a daemon, wedge the view change, or make
//! a daemon install a view its coordinator did not propose.

use gcsd::core::{Attempt, Control, DaemonId, Install};
use gcsd::sim::harness::{control_datagram, rig_addr as addr, rig_config, Fate, Rig};
use std::time::Duration;

/// Daemon `i` of `n` starts again: a new life, knowing nothing.
fn restart(net: &mut Rig, i: usize, n: usize) {
    let config = gcsd::core::CoreConfig {
        incarnation: 1_000_000 + net.now().as_micros(),
        ..rig_config(i, n)
    };
    net.restart(i, config);
}

fn members(net: &Rig, i: usize) -> Vec<String> {
    net.core(i).daemon_view().members
}

/// Daemon `i` of a rig in its first life.
fn id(i: usize) -> DaemonId {
    DaemonId {
        addr: addr(i),
        name: format!("d{i}"),
        incarnation: 1000 + i as u64,
    }
}

/// d2 dies and comes back, twice: each time the survivors must remove it and then merge it again.
fn d2_dies_and_returns_twice(net: &mut Rig) {
    for _ in 0..2 {
        net.kill(2);
        net.run_for(Duration::from_secs(3));
        assert_eq!(members(net, 0), vec!["d0", "d1"], "d2 was not removed");
        assert_eq!(members(net, 1), vec!["d0", "d1"], "d2 was not removed");
        restart(net, 2, 3);
        net.run_for(Duration::from_secs(3));
        for i in 0..3 {
            assert_eq!(members(net, i), vec!["d0", "d1", "d2"], "d2 did not return");
        }
    }
}

#[test]
fn a_behind_with_the_largest_round_does_not_wedge_the_view_change() {
    let mut net = Rig::formed(3, |_| {});
    let view = net.core(0).daemon_view().view_id;
    for (to, from) in [(0, 1), (1, 0), (2, 0)] {
        let forged = Control::Behind { round: u64::MAX };
        net.datagram(to, addr(from), control_datagram(from as u16, view, &forged));
    }
    d2_dies_and_returns_twice(&mut net);
}

#[test]
fn a_proposal_with_the_largest_round_that_leaves_the_daemon_out_does_not_wedge_it() {
    let mut net = Rig::formed(3, |_| {});
    let view = net.core(0).daemon_view().view_id;
    for (to, from) in [(0, 1), (1, 0), (2, 0)] {
        let forged = Control::Propose {
            attempt: Attempt {
                round: u64::MAX,
                coordinator: addr(from),
                incarnation: 1000 + from as u64,
            },
            members: vec![id(from)],
        };
        net.datagram(to, addr(from), control_datagram(from as u16, view, &forged));
    }
    d2_dies_and_returns_twice(&mut net);
}

/// d2 dies; d0 coordinates the change to [d0, d1], but every install to d1 is lost. Returns the
/// rig with d1 ready and waiting, and the attempt.
fn d1_waits_for_its_install() -> (Rig, Attempt) {
    let mut net = Rig::formed(3, |_| {});
    net.kill(2);
    net.set_fate(|s| {
        if s.to == 1
            && s.controls()
                .iter()
                .any(|c| matches!(c, Control::Install { .. }))
        {
            Fate::Lose
        } else {
            Fate::Deliver
        }
    });
    let deadline = net.now() + Duration::from_secs(5);
    while net.now() < deadline {
        net.run_for(Duration::from_millis(5));
        let status = net.core(1).status(net.now());
        if let Some(change) = status.view_change.filter(|c| c.step == "ready") {
            let attempt = Attempt {
                round: change.round,
                coordinator: addr(0),
                incarnation: 1000,
            };
            return (net, attempt);
        }
    }
    panic!("d1 never became ready");
}

/// An install made by `make` (from the attempt under way) reaches d1 from `from`; then the real
/// installs get through: d1 must not have taken the forged one, and must end in [d0, d1].
fn offer_install(from: usize, make: impl Fn() -> Install) {
    let (mut net, attempt) = d1_waits_for_its_install();
    let view = net.core(1).daemon_view().view_id;
    let forged = Control::Install {
        attempt,
        install: make(),
    };
    net.datagram(1, addr(from), control_datagram(from as u16, view, &forged));
    assert_eq!(
        members(&net, 1),
        vec!["d0", "d1", "d2"],
        "d1 installed a view its coordinator did not send"
    );
    net.set_fate(|_| Fate::Deliver);
    net.run_for(Duration::from_secs(3));
    assert_eq!(members(&net, 0), vec!["d0", "d1"]);
    assert_eq!(members(&net, 1), vec!["d0", "d1"]);
}

fn install_of(members: Vec<DaemonId>) -> Install {
    Install {
        view: 1 << 40,
        members,
        ts: 5000,
        components: vec![],
        views: 4,
        clock: 6000,
        local: vec![],
    }
}

#[test]
fn an_install_without_members_is_refused() {
    offer_install(0, || install_of(vec![]));
}

#[test]
fn an_install_of_members_that_were_not_proposed_is_refused() {
    let stranger = DaemonId {
        addr: "127.0.99.1:4804".parse().unwrap(),
        name: "x".into(),
        incarnation: 1,
    };
    offer_install(0, || install_of(vec![id(1), stranger.clone()]));
    offer_install(0, || install_of(vec![id(1)]));
}

#[test]
fn an_install_from_anyone_but_the_coordinator_is_refused() {
    offer_install(2, || install_of(vec![id(0), id(1)]));
}

#[test]
fn an_install_whose_clock_no_daemon_can_have_reached_is_refused() {
    offer_install(0, || Install {
        ts: u64::MAX - 10,
        clock: u64::MAX,
        ..install_of(vec![id(0), id(1)])
    });
}

#[test]
fn a_goodbye_of_another_life_removes_nobody() {
    let mut net = Rig::formed(3, |_| {});
    let view = net.core(0).daemon_view().view_id;
    let forged = Control::Bye { incarnation: 99 };
    net.datagram(0, addr(1), control_datagram(1, view, &forged));
    net.run_for(Duration::from_secs(2));
    assert_eq!(members(&net, 0), vec!["d0", "d1", "d2"]);
    // The real goodbye of d1's life is heard.
    let bye = Control::Bye { incarnation: 1001 };
    net.datagram(0, addr(1), control_datagram(1, view, &bye));
    net.kill(1);
    net.run_for(Duration::from_millis(300));
    assert_eq!(members(&net, 0), vec!["d0", "d2"]);
}
