//! What the hand-driven daemon tests share: a formed pair of cores on the simulator's harness
//! ([`gcsd::sim::harness::Rig`]), the one network every multi-core test runs on.

#![allow(dead_code, unused_imports)] // each test file uses part of it

pub use gcsd::sim::harness::{rig_addr as addr, Rig};

/// The send window of the pair's daemons.
pub const WINDOW: usize = 64 * 1024;

/// The size of the messages the tests send.
pub const SIZE: usize = 1000;

/// Two daemons that have formed their view together, with a send window of [`WINDOW`].
pub fn pair() -> Rig {
    Rig::formed(2, |c| c.send_window = WINDOW)
}

/// A client named `name` of daemon `d` that has joined group `g`, once the rig has settled.
pub fn member_of_g(p: &mut Rig, d: usize, name: &str) -> gcsd::core::ClientId {
    let c = p.client(d, name);
    p.request(
        d,
        c,
        gcs::wire::Request::Join {
            id: gcs::wire::RequestId(1),
            group: "g".into(),
        },
    );
    p.settle();
    c
}
