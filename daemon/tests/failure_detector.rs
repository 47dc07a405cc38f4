//! The failure detector: a member that falls silent for longer than the failure timeout is
//! suspected, and is a member again as soon as anything arrives from it.

mod common;

use common::Pair;
use std::time::Duration;

fn state_of_peer(p: &Pair, core: usize) -> String {
    let s = p.cores[core].status(p.now);
    assert_eq!(s.peers.len(), 1);
    s.peers[0].state.clone()
}

#[test]
fn a_silent_member_is_suspected_and_forgiven_when_heard_again() {
    let mut p = Pair::new();
    assert_eq!(state_of_peer(&p, 0), "member");
    // Daemon 1 falls silent: time passes for daemon 0 only.
    let start = p.now;
    loop {
        p.now = p.now + Duration::from_millis(50);
        p.cores[0].handle_timeout(p.now);
        p.drain(0);
        p.net.clear();
        if state_of_peer(&p, 0) == "suspected" {
            break;
        }
        assert!(p.now - start < Duration::from_secs(2), "never suspected");
    }
    // The default failure timeout is 500 ms: not before.
    let silent = p.cores[0].status(p.now).peers[0].last_heard_ms;
    assert!(silent.is_some_and(|ms| ms > 500), "{silent:?}");
    // A heartbeat from daemon 1 clears the suspicion.
    p.cores[1].handle_timeout(p.now);
    p.settle();
    assert_eq!(state_of_peer(&p, 0), "member");
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
