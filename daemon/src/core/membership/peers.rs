//! Daemon membership: the configured daemons, what each has said about itself, and the view.
//!
//! Owns the peer table (each configured peer's name, incarnation and view as its last hello gave
//! them), the ranks that order daemons (by address, the same at every daemon), the current daemon
//! view and the numbering of views. Running a view change is `membership`'s job; this module
//! never sends, delivers or orders anything.

use crate::core::time::Time;
use gcs::DaemonView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One life of one daemon: a restarted daemon has the same address and name but a new
/// incarnation, and is a new member. Ordered by address first, which is the order of a view.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DaemonId {
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Its name.
    pub name: String,
    /// Which life of the daemon.
    pub incarnation: u64,
}

/// What a hello from `addr` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloOutcome {
    /// Not from a configured peer, or inconsistent with what is known; dropped with this reason.
    Rejected(String),
    /// Recorded.
    Accepted,
    /// From an earlier life of the peer than one already heard (it came late): ignored.
    Stale,
}

/// What the last hello of a peer said.
#[derive(Debug, Clone)]
pub struct PeerHello {
    /// Its name.
    pub name: String,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its daemon view id then.
    pub view: u64,
    /// When it arrived.
    pub at: Time,
}

/// The installed view, with each member's identity.
#[derive(Debug, Clone)]
pub struct FormedView {
    /// The view as clients see it.
    pub view: DaemonView,
    /// This daemon's index.
    pub me: u16,
    /// Each member's UDP address, by index (this daemon's own included).
    pub addrs: Vec<SocketAddr>,
    /// Each member's identity, by index.
    pub ids: Vec<DaemonId>,
}

impl FormedView {
    /// A view of `ids` (sorted by address, `me` among them) numbered `view_id`.
    pub fn new(view_id: u64, ids: Vec<DaemonId>, me: &DaemonId, primary: bool) -> FormedView {
        let index = ids.iter().position(|d| d == me).unwrap_or(0) as u16;
        FormedView {
            view: DaemonView {
                view_id,
                members: ids.iter().map(|d| d.name.clone()).collect(),
                primary,
            },
            me: index,
            addrs: ids.iter().map(|d| d.addr).collect(),
            ids,
        }
    }

    /// The index of the member at `addr`, if any.
    pub fn index_of(&self, addr: SocketAddr) -> Option<u16> {
        self.addrs.iter().position(|a| *a == addr).map(|i| i as u16)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True if the view has no members (never).
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Every member's address but this daemon's.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.addrs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.me as usize)
            .map(|(_, a)| *a)
            .collect()
    }
}

/// The configured daemons and what is known of them.
#[derive(Debug)]
pub struct Membership {
    me: DaemonId,
    /// Every configured daemon's address, this one's included, sorted: a daemon's rank is its
    /// place here.
    configured: Vec<SocketAddr>,
    /// Each configured peer's last hello, once it sent one.
    peers: BTreeMap<SocketAddr, Option<PeerHello>>,
}

impl Membership {
    /// A daemon `me` whose configuration lists `peers`.
    pub fn new(me: DaemonId, peers: &[SocketAddr]) -> Self {
        let peers: BTreeMap<SocketAddr, Option<PeerHello>> = peers
            .iter()
            .filter(|p| **p != me.addr)
            .map(|p| (*p, None))
            .collect();
        let mut configured: Vec<SocketAddr> = peers.keys().copied().collect();
        configured.push(me.addr);
        configured.sort();
        Membership {
            me,
            configured,
            peers,
        }
    }

    /// This daemon.
    pub fn me(&self) -> &DaemonId {
        &self.me
    }

    /// How many daemons the configuration lists, this one included.
    pub fn cluster_size(&self) -> usize {
        self.configured.len()
    }

    /// The rank of the daemon at `addr` among the configured ones (0 for a stranger).
    pub fn rank(&self, addr: SocketAddr) -> u64 {
        self.configured.binary_search(&addr).map_or(0, |i| i as u64)
    }

    /// True if a view of `members` daemons holds a majority of the configured ones.
    pub fn is_primary(&self, members: usize) -> bool {
        2 * members > self.cluster_size()
    }

    /// The id of a daemon view coordinated by `coordinator`, larger than `above`. Ids are
    /// numbered so that each is the coordinator's rank modulo the cluster size: two partitions
    /// that install views at once never pick the same id.
    pub fn view_id_after(&self, above: u64, coordinator: SocketAddr) -> u64 {
        let k = self.cluster_size() as u64;
        let id = (above / k) * k + self.rank(coordinator) + 1;
        if id > above {
            id
        } else {
            id + k
        }
    }

    /// The last hello of the peer at `addr`.
    pub fn hello(&self, addr: SocketAddr) -> Option<&PeerHello> {
        self.peers.get(&addr).and_then(Option::as_ref)
    }

    /// The name `addr` said hello with, if it has.
    pub fn peer_name(&self, addr: SocketAddr) -> Option<&str> {
        self.hello(addr).map(|h| h.name.as_str())
    }

    /// True if `addr` is a configured peer.
    pub fn is_peer(&self, addr: SocketAddr) -> bool {
        self.peers.contains_key(&addr)
    }

    /// Every configured peer's address.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers().collect()
    }

    /// Every configured peer's address, without collecting them.
    pub fn peers(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.peers.keys().copied()
    }

    /// Peers whose last hello arrived at `since` or later, with what it said.
    pub fn heard_since(&self, since: Time) -> impl Iterator<Item = (SocketAddr, &PeerHello)> {
        self.peers
            .iter()
            .filter_map(move |(a, h)| h.as_ref().filter(|h| h.at >= since).map(|h| (*a, h)))
    }

    /// Records a hello from `from` at `now`. A hello of an earlier life than one heard since
    /// `stale_before` is ignored (it came late).
    #[allow(clippy::too_many_arguments)]
    pub fn on_hello(
        &mut self,
        now: Time,
        stale_before: Time,
        from: SocketAddr,
        name: &str,
        cluster_size: u16,
        incarnation: u64,
        view: u64,
    ) -> HelloOutcome {
        let size = self.configured.len();
        let Some(slot) = self.peers.get_mut(&from) else {
            return HelloOutcome::Rejected(format!(
                "hello from {from} ({name}), which is not a configured peer"
            ));
        };
        if cluster_size as usize != size {
            return HelloOutcome::Rejected(format!(
                "{name} at {from} is configured with {cluster_size} daemons, this one with \
                 {size}; give every daemon the same peer list"
            ));
        }
        if name == self.me.name {
            return HelloOutcome::Rejected(format!(
                "{from} uses this daemon's own name '{name}'; daemon names must be unique"
            ));
        }
        if let Some(known) = slot {
            if known.name != name {
                return HelloOutcome::Rejected(format!(
                    "{from} was '{}' and now says it is '{name}'",
                    known.name
                ));
            }
            // A late hello of an earlier life; but only while the later life is heard from (a
            // clock stepped back between restarts must not shut a daemon out for good).
            if incarnation < known.incarnation && known.at >= stale_before {
                return HelloOutcome::Stale;
            }
        }
        *slot = Some(PeerHello {
            name: name.to_string(),
            incarnation,
            view,
            at: now,
        });
        HelloOutcome::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 1, i], 4804))
    }

    fn id(name: &str, i: u8) -> DaemonId {
        DaemonId {
            addr: addr(i),
            name: name.into(),
            incarnation: 1,
        }
    }

    #[test]
    fn ranks_follow_addresses_and_view_ids_carry_the_coordinator() {
        let m = Membership::new(id("b", 2), &[addr(3), addr(1)]);
        assert_eq!(m.rank(addr(1)), 0);
        assert_eq!(m.rank(addr(2)), 1);
        assert_eq!(m.rank(addr(3)), 2);
        assert!(m.is_primary(2));
        assert!(!m.is_primary(1));
        let a = m.view_id_after(0, addr(1));
        let b = m.view_id_after(0, addr(2));
        assert!(a > 0 && b > 0 && a != b);
        assert!(m.view_id_after(a, addr(1)) > a);
        assert!(m.view_id_after(b, addr(1)) > b);
        for above in 0..20 {
            for c in 1..=3 {
                let v = m.view_id_after(above, addr(c));
                assert!(v > above);
                assert_eq!(v % 3, (m.rank(addr(c)) + 1) % 3);
            }
        }
    }

    #[test]
    fn a_view_is_numbered_by_address() {
        let ids = vec![id("z", 1), id("a", 2)];
        let v = FormedView::new(4, ids, &id("a", 2), true);
        assert_eq!(v.view.members, ["z", "a"]);
        assert_eq!(v.me, 1);
        assert_eq!(v.index_of(addr(1)), Some(0));
        assert_eq!(v.peers(), vec![addr(1)]);
    }

    #[test]
    fn strangers_and_inconsistent_peers_are_rejected() {
        let mut m = Membership::new(id("b", 2), &[addr(1)]);
        let t = Time::ZERO;
        assert!(matches!(
            m.on_hello(t, t, addr(9), "x", 2, 1, 0),
            HelloOutcome::Rejected(_)
        ));
        assert!(matches!(
            m.on_hello(t, t, addr(1), "x", 3, 1, 0),
            HelloOutcome::Rejected(_)
        ));
        assert!(matches!(
            m.on_hello(t, t, addr(1), "b", 2, 1, 0),
            HelloOutcome::Rejected(_)
        ));
        assert_eq!(
            m.on_hello(t, t, addr(1), "a", 2, 1, 0),
            HelloOutcome::Accepted
        );
        assert!(matches!(
            m.on_hello(t, t, addr(1), "z", 2, 1, 0),
            HelloOutcome::Rejected(_)
        ));
        assert_eq!(m.peer_name(addr(1)), Some("a"));
        assert_eq!(m.heard_since(t).count(), 1);
    }

    #[test]
    fn a_late_hello_of_an_earlier_life_is_ignored_while_the_later_one_is_heard() {
        let mut m = Membership::new(id("b", 2), &[addr(1)]);
        let (t1, t2, t3) = (Time(1_000), Time(2_000), Time(900_000));
        assert_eq!(
            m.on_hello(t1, t1, addr(1), "a", 2, 50, 0),
            HelloOutcome::Accepted
        );
        // The earlier life's hello, late: the later life was heard within the window.
        assert_eq!(
            m.on_hello(t2, t1, addr(1), "a", 2, 40, 0),
            HelloOutcome::Stale
        );
        assert_eq!(m.hello(addr(1)).map(|h| h.incarnation), Some(50));
        // Long silent: a lower incarnation is a new life after all (the clock went back).
        assert_eq!(
            m.on_hello(t3, t2, addr(1), "a", 2, 40, 0),
            HelloOutcome::Accepted
        );
        assert_eq!(m.hello(addr(1)).map(|h| h.incarnation), Some(40));
    }
}
