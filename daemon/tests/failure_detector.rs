//! The failure detector: a member that falls silent for longer than the failure timeout is
//! suspected and removed by a view change, and merged back once it is heard again.

mod common;

use common::Rig;
use std::time::Duration;

fn state_of_peer(p: &Rig, core: usize) -> String {
    let s = p.core(core).status(p.now());
    assert_eq!(s.peers.len(), 1);
    s.peers[0].state.clone()
}

#[test]
fn a_silent_member_is_removed_and_merged_back_when_heard_again() {
    let mut p = common::pair();
    assert_eq!(state_of_peer(&p, 0), "member");
    let first = p.core(0).daemon_view();
    assert_eq!(first.members.len(), 2);
    // Daemon 1 falls silent: it stops, and what is sent to it is lost; time passes for
    // daemon 0 only.
    p.net.nodes[1].alive = false;
    let start = p.now();
    loop {
        p.run_for(Duration::from_millis(50));
        if p.core(0).daemon_view().members.len() == 1 {
            break;
        }
        // The default failure timeout is 500 ms: not before.
        let heard = p.core(0).status(p.now()).peers[0].last_heard_ms;
        assert!(
            heard.is_some_and(|ms| ms <= 550),
            "not removed after {heard:?} ms"
        );
        assert!(p.now() - start < Duration::from_secs(2), "never removed");
    }
    let silent = p.core(0).status(p.now()).peers[0].last_heard_ms;
    assert!(
        silent.is_some_and(|ms| ms > 500),
        "removed too early: {silent:?}"
    );
    let alone = p.core(0).daemon_view();
    assert!(alone.view_id > first.view_id);
    assert!(!alone.primary, "one daemon of two is not a majority");
    assert_ne!(state_of_peer(&p, 0), "member");
    // Daemon 1 runs again and speaks: the two merge into one view.
    p.net.nodes[1].alive = true;
    let back = p.now();
    loop {
        p.run_for(Duration::from_millis(20));
        let (a, b) = (p.core(0).daemon_view(), p.core(1).daemon_view());
        if a == b && a.members.len() == 2 {
            assert!(a.view_id > alone.view_id);
            assert!(a.primary);
            break;
        }
        assert!(
            p.now() - back < Duration::from_secs(5),
            "never merged: {a:?} {b:?}"
        );
    }
    assert_eq!(state_of_peer(&p, 0), "member");
    assert_eq!(state_of_peer(&p, 1), "member");
}

#[test]
fn heartbeats_keep_an_idle_member_from_being_suspected() {
    let mut p = common::pair();
    // Both daemons idle for ten seconds, their timers and the network running as usual.
    for _ in 0..200 {
        p.run_for(Duration::from_millis(50));
        assert_eq!(state_of_peer(&p, 0), "member");
        assert_eq!(state_of_peer(&p, 1), "member");
    }
}
