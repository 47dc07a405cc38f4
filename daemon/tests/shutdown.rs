//! A stopping daemon first gets the messages it accepted to the other daemons, and says goodbye
//! only then, or when its grace period ends, telling each client how many of its messages may be
//! lost.

mod common;

use bytes::Bytes;
use common::Rig;
use gcs::wire::{Request, RequestId, Response};
use gcs::Order;
use gcsd::core::packet::Chunk;
use gcsd::core::Control;
use gcsd::sim::harness::{Fate, Sent};
use std::time::Duration;

/// Every datagram of daemon 0's that carries data is lost; its acknowledgements and heartbeats
/// get through, so it stays a member.
fn data_from_0_lost(s: &Sent<'_>) -> Fate {
    if s.from == 0 && s.chunks().iter().any(|c| matches!(c, Chunk::Data(_))) {
        Fate::Lose
    } else {
        Fate::Deliver
    }
}

/// A formed pair, a receiver in `g` on daemon 1, and a sender on daemon 0 whose `count` messages
/// to `g` the network loses on their way from daemon 0. Returns the sender.
fn messages_not_yet_out(p: &mut Rig, count: usize) -> gcsd::core::ClientId {
    common::member_of_g(p, 1, "receiver");
    let sender = p.client(0, "sender");
    p.set_fate(data_from_0_lost);
    for k in 0..count {
        p.request(
            0,
            sender,
            Request::Multicast {
                id: RequestId(k as u64 + 10),
                groups: vec!["g".into()],
                order: Order::Agreed,
                payload: Bytes::from(format!("m{k}")),
            },
        );
    }
    p.drain(0);
    sender
}

/// What daemon 0 told `client` when it ended the session, if it did.
fn closing_message(p: &Rig, client: gcsd::core::ClientId) -> Option<String> {
    p.responses.iter().find_map(|(d, to, r)| match r {
        Response::Closing { error } if *d == 0 && to.contains(&client) => {
            Some(error.message.clone())
        }
        _ => None,
    })
}

fn goodbyes_since(p: &Rig, since: usize) -> usize {
    p.controls_since(since)
        .iter()
        .filter(|(from, _, c)| *from == 0 && matches!(c, Control::Bye { .. }))
        .count()
}

#[test]
fn a_stopping_daemon_gets_its_messages_out_before_it_says_goodbye() {
    let mut p = common::pair();
    let sender = messages_not_yet_out(&mut p, 3);
    let since = p.transmitted.len();
    {
        let now = p.now();
        p.core_mut(0).handle_shutdown(now)
    };
    p.drain(0);
    assert!(
        !p.core(0).has_stopped(),
        "stopped with messages only it has"
    );
    assert_eq!(goodbyes_since(&p, since), 0, "said goodbye at once");
    assert_eq!(
        closing_message(&p, sender),
        None,
        "ended the session at once"
    );
    p.set_fate(|_| Fate::Deliver);
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.payloads(1),
        vec!["m0", "m1", "m2"],
        "the other daemon missed some"
    );
    assert!(p.core(0).has_stopped());
    assert!(goodbyes_since(&p, since) > 0, "no goodbye");
    let told = closing_message(&p, sender).expect("the client was told");
    assert!(!told.contains("may be lost"), "{told}");
}

#[test]
fn a_daemon_that_cannot_get_its_messages_out_stops_after_its_grace_and_says_what_may_be_lost() {
    let mut p = common::pair();
    let sender = messages_not_yet_out(&mut p, 3);
    {
        let now = p.now();
        p.core_mut(0).handle_shutdown(now)
    };
    p.drain(0);
    p.run_for(Duration::from_millis(1500));
    assert!(
        !p.core(0).has_stopped(),
        "stopped before its grace period ended"
    );
    p.run_for(Duration::from_secs(1));
    assert!(
        p.core(0).has_stopped(),
        "still waiting after its grace period"
    );
    let told = closing_message(&p, sender).expect("the client was told");
    assert!(told.contains("3 of the messages"), "{told}");
}

#[test]
fn a_stopping_daemon_takes_no_new_sessions() {
    let mut p = common::pair();
    let _ = messages_not_yet_out(&mut p, 1);
    {
        let now = p.now();
        p.core_mut(0).handle_shutdown(now)
    };
    p.drain(0);
    let late = {
        let now = p.now();
        p.core_mut(0).handle_connect(now)
    };
    p.drain(0);
    let told = closing_message(&p, late).expect("the late client was turned away");
    assert!(told.contains("shutting down"), "{told}");
}
