//! Session names across a cluster: the name of a session that ended is not handed to a new one
//! while the old session's group operations are still on their way.

mod common;

use common::Rig;
use gcs::wire::{ErrorCode, Request, RequestId, Response};
use gcsd::core::Departure;

fn refused_with(p: &Rig, core: usize) -> Option<ErrorCode> {
    p.responses.iter().rev().find_map(|(i, _, r)| match r {
        Response::Closing { error } if *i == core => Some(error.code),
        _ => None,
    })
}

fn welcomed(p: &Rig, core: usize) -> usize {
    p.responses
        .iter()
        .filter(|(i, _, r)| *i == core && matches!(r, Response::Welcome { .. }))
        .count()
}

#[test]
fn a_name_is_free_again_only_once_its_old_sessions_operations_are_delivered() {
    let mut p = common::pair();
    let x = p.client(0, "x");
    p.drain(0);
    p.request(
        0,
        x,
        Request::Join {
            id: RequestId(1),
            group: "g".into(),
        },
    );
    p.depart(0, x, Departure::Closed);
    p.drain(0);
    // The join and the leave are in flight (the network has not run): the name is reserved.
    p.client(0, "x");
    p.drain(0);
    assert_eq!(refused_with(&p, 0), Some(ErrorCode::NameTaken));
    assert_eq!(welcomed(&p, 0), 1);
    // Once both are delivered the name is free.
    p.settle();
    p.client(0, "x");
    p.drain(0);
    assert_eq!(welcomed(&p, 0), 2);
}
