//! The failure detector: a member that falls silent for longer than the failure timeout is
//! suspected and removed by a view change, and merged back once it is heard again.

mod common;

use common::Pair;
use std::time::Duration;

fn state_of_peer(p: &Pair, core: usize) -> String {
    let s = p.cores[core].status(p.now);
    assert_eq!(s.peers.len(), 1);
    s.peers[0].state.clone()
}

#[test]
fn a_silent_member_is_removed_and_merged_back_when_heard_again() {
    let mut p = Pair::new();
    assert_eq!(state_of_peer(&p, 0), "member");
    let first = p.cores[0].daemon_view();
    assert_eq!(first.members.len(), 2);
    // Daemon 1 falls silent: time passes for daemon 0 only.
    let start = p.now;
    loop {
        p.now = p.now + Duration::from_millis(50);
        p.cores[0].handle_timeout(p.now);
        p.drain(0);
        p.net.clear();
        if p.cores[0].daemon_view().members.len() == 1 {
            break;
        }
        // The default failure timeout is 500 ms: not before.
        let heard = p.cores[0].status(p.now).peers[0].last_heard_ms;
        assert!(
            heard.is_some_and(|ms| ms <= 550),
            "not removed after {heard:?} ms"
        );
        assert!(p.now - start < Duration::from_secs(2), "never removed");
    }
    let silent = p.cores[0].status(p.now).peers[0].last_heard_ms;
    assert!(
        silent.is_some_and(|ms| ms > 500),
        "removed too early: {silent:?}"
    );
    let alone = p.cores[0].daemon_view();
    assert!(alone.view_id > first.view_id);
    assert!(!alone.primary, "one daemon of two is not a majority");
    assert_ne!(state_of_peer(&p, 0), "member");
    // Daemon 1 speaks again: the two merge into one view.
    let back = p.now;
    loop {
        p.now = p.now + Duration::from_millis(20);
        p.cores[0].handle_timeout(p.now);
        p.cores[1].handle_timeout(p.now);
        p.settle_at_now();
        let (a, b) = (p.cores[0].daemon_view(), p.cores[1].daemon_view());
        if a == b && a.members.len() == 2 {
            assert!(a.view_id > alone.view_id);
            assert!(a.primary);
            break;
        }
        assert!(
            p.now - back < Duration::from_secs(5),
            "never merged: {a:?} {b:?}"
        );
    }
    assert_eq!(state_of_peer(&p, 0), "member");
    assert_eq!(state_of_peer(&p, 1), "member");
}

#[test]
fn heartbeats_keep_an_idle_member_from_being_suspected() {
    let mut p = Pair::new();
    // Both daemons idle for ten seconds, their timers and the network running as usual.
    for _ in 0..200 {
        p.now = p.now + Duration::from_millis(50);
        p.cores[0].handle_timeout(p.now);
        p.cores[1].handle_timeout(p.now);
        p.settle_at_now();
        assert_eq!(state_of_peer(&p, 0), "member");
        assert_eq!(state_of_peer(&p, 1), "member");
    }
}
