//! What the role tests share: a cluster of three in which a daemon dies, and membership
//! messages made by hand.

use crate::core::membership::{Control, DaemonId};
pub(crate) use crate::sim::harness::control_datagram as control_from;
use crate::sim::harness::{rig_addr, Rig};
use bytes::Bytes;
use gcs::wire::{Request, RequestId, WatchTarget};
use std::time::Duration;

/// The round of the first view change after the cluster formed (forming it took round 1).
pub(crate) const ATTEMPT_ROUND: u64 = 2;

/// Daemon `i` of a rig, in its first life.
pub(crate) fn id(i: usize) -> DaemonId {
    DaemonId {
        addr: rig_addr(i),
        name: format!("d{i}"),
        incarnation: 1000 + i as u64,
    }
}

/// Three formed daemons with a client each (a, b, c) in group `g`, `a` watching the daemon
/// views, one agreed message from `b`; then d2 dies and the other two change view without it.
/// Returns the rig and where its logs stood when d2 died.
pub(crate) fn lost_d2() -> Lost {
    let mut rig = Rig::formed(3, |_| {});
    let mut clients = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let c = rig.client(i, name);
        rig.request(
            i,
            c,
            Request::Join {
                id: RequestId(1),
                group: "g".into(),
            },
        );
        clients.push(c);
    }
    rig.request(
        0,
        clients[0],
        Request::Watch {
            id: RequestId(2),
            target: WatchTarget::Daemons,
        },
    );
    rig.settle();
    rig.request(
        1,
        clients[1],
        Request::Multicast {
            id: RequestId(3),
            groups: vec!["g".into()],
            order: gcs::Order::Agreed,
            payload: Bytes::from_static(b"hi"),
        },
    );
    rig.settle();
    let datagrams = rig.transmitted.len();
    let responses = rig.responses.len();
    rig.kill(2);
    rig.run_for(Duration::from_secs(2));
    Lost {
        rig,
        datagrams,
        responses,
    }
}

/// A cluster after [`lost_d2`].
pub(crate) struct Lost {
    /// The two survivors (and d2, dead).
    pub(crate) rig: Rig,
    /// Datagrams sent before d2 died.
    pub(crate) datagrams: usize,
    /// Client frames sent before d2 died.
    pub(crate) responses: usize,
}

impl Lost {
    /// The membership messages daemon `d` sent since d2 died, each with the index of the daemon
    /// it went to.
    pub(crate) fn controls_from(&self, d: usize) -> Vec<(usize, Control)> {
        self.rig
            .controls_since(self.datagrams)
            .into_iter()
            .filter(|(from, ..)| *from == d)
            .map(|(_, to, c)| (to, c))
            .collect()
    }
}
