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

/// Why a hello was not taken. None changes the peer table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloRejected {
    /// From an address that is not a configured peer. Culprit: configuration.
    #[error("a hello from {name}, which is not a configured peer")]
    NotConfigured {
        /// The name it gave.
        name: String,
    },
    /// The peer's configuration lists another number of daemons. Culprit: configuration.
    #[error(
        "{name} is configured with {theirs} daemons, this one with {ours}; give every daemon the \
         same peer list"
    )]
    ClusterSize {
        /// The name it gave.
        name: String,
        /// How many daemons its configuration lists.
        theirs: usize,
        /// How many this daemon's lists.
        ours: usize,
    },
    /// The peer uses this daemon's own name. Culprit: configuration.
    #[error("the peer uses this daemon's own name '{name}'; daemon names must be unique")]
    SameName {
        /// The name.
        name: String,
    },
    /// The peer gave another name than before at the same address. Culprit: the sender (a name
    /// is fixed for the life of a cluster) or a configuration changed without a restart.
    #[error("the peer was '{was}' and now says it is '{now}'")]
    Renamed {
        /// The name it gave first.
        was: String,
        /// The name it gives now.
        now: String,
    },
}

impl HelloRejected {
    /// Who is likely at fault.
    pub fn culprit(&self) -> crate::core::Culprit {
        match self {
            HelloRejected::Renamed { .. } => crate::core::Culprit::Sender,
            _ => crate::core::Culprit::Configuration,
        }
    }
}

/// What a hello from `addr` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloOutcome {
    /// Not taken, for this reason; nothing changed.
    Rejected(HelloRejected),
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

/// Everything known of one configured peer: one record, so no per-peer fact lives in a map of its
/// own that must be kept in step with the others.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// Its last hello, once it sent one.
    pub hello: Option<PeerHello>,
    /// When a datagram of it last arrived (none of a life that said goodbye counts).
    pub last_heard: Option<Time>,
    /// Not heard from within the failure timeout, silent in a view change, or stopped: the next
    /// view leaves it out.
    pub suspected: bool,
    /// It said it is stopping: the incarnation that stopped.
    pub departed: Option<u64>,
    /// It is outside the view and its hello was answered this hello round (two outsiders must
    /// not answer each other without end).
    pub hello_answered: bool,
    /// What it may still make this daemon retransmit: bytes of credit, refilled at a fixed rate
    /// (`limits.max_retransmit_bytes_per_second`) since the time given, up to one second's worth.
    pub retransmit_credit: Option<(u64, Time)>,
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
    /// One record per configured peer (this daemon excluded).
    peers: BTreeMap<SocketAddr, Peer>,
    /// When the last hello was accepted.
    last_hello: Option<Time>,
}

impl Membership {
    /// A daemon `me` whose configuration lists `peers`.
    pub fn new(me: DaemonId, peers: &[SocketAddr]) -> Self {
        let peers: BTreeMap<SocketAddr, Peer> = peers
            .iter()
            .filter(|p| **p != me.addr)
            .map(|p| (*p, Peer::default()))
            .collect();
        let mut configured: Vec<SocketAddr> = peers.keys().copied().collect();
        configured.push(me.addr);
        configured.sort();
        Membership {
            me,
            configured,
            peers,
            last_hello: None,
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
        self.peers.get(&addr).and_then(|p| p.hello.as_ref())
    }

    /// The record of the configured peer at `addr`.
    pub fn peer(&self, addr: SocketAddr) -> Option<&Peer> {
        self.peers.get(&addr)
    }

    /// When the last hello was accepted, if one was.
    pub fn last_hello(&self) -> Option<Time> {
        self.last_hello
    }

    /// A datagram of `addr` arrived at `now`. Returns true if the peer was suspected (and no
    /// longer is). A daemon that said goodbye stays gone: its late datagrams are no sign of life.
    pub fn heard(&mut self, addr: SocketAddr, now: Time) -> bool {
        match self.peers.get_mut(&addr) {
            Some(p) if p.departed.is_none() => {
                p.last_heard = Some(now);
                std::mem::replace(&mut p.suspected, false)
            }
            _ => false,
        }
    }

    /// How many bytes `addr` may still make this daemon retransmit at `now`, with credit refilled
    /// at `rate` bytes a second (a full second's worth to start with).
    pub fn retransmit_allowance(&mut self, addr: SocketAddr, now: Time, rate: u64) -> u64 {
        let Some(p) = self.peers.get_mut(&addr) else {
            return 0;
        };
        let (credit, since) = p.retransmit_credit.unwrap_or((rate, now));
        let elapsed = now.saturating_since(since).as_micros();
        let refill =
            u64::try_from(elapsed.saturating_mul(u128::from(rate)) / 1_000_000).unwrap_or(u64::MAX);
        let credit = credit.saturating_add(refill).min(rate);
        p.retransmit_credit = Some((credit, now));
        credit
    }

    /// `addr` made this daemon retransmit `bytes`.
    pub fn charge_retransmit(&mut self, addr: SocketAddr, bytes: u64) {
        if let Some(p) = self.peers.get_mut(&addr) {
            if let Some((credit, _)) = &mut p.retransmit_credit {
                *credit = credit.saturating_sub(bytes);
            }
        }
    }

    /// When `addr` was last heard from, if ever.
    pub fn last_heard(&self, addr: SocketAddr) -> Option<Time> {
        self.peers.get(&addr).and_then(|p| p.last_heard)
    }

    /// True if the daemon at `addr` is suspected. A member of a view that is not a configured
    /// peer (this daemon aside) can never be heard from, since its datagrams are dropped, and
    /// counts as suspected.
    pub fn is_suspected(&self, addr: SocketAddr) -> bool {
        match self.peers.get(&addr) {
            Some(p) => p.suspected,
            None => addr != self.me.addr,
        }
    }

    /// True if any configured peer is suspected.
    pub fn any_suspected(&self) -> bool {
        self.peers.values().any(|p| p.suspected)
    }

    /// The suspected peers, for the log.
    pub fn suspected(&self) -> Vec<SocketAddr> {
        self.peers
            .iter()
            .filter(|(_, p)| p.suspected)
            .map(|(a, _)| *a)
            .collect()
    }

    /// Suspects `addr`. Returns true if it was not suspected before.
    pub fn suspect(&mut self, addr: SocketAddr) -> bool {
        self.peers
            .get_mut(&addr)
            .is_some_and(|p| !std::mem::replace(&mut p.suspected, true))
    }

    /// A view with the life `incarnation` of the daemon at `addr` was installed at `now`: it
    /// counts as heard, and a goodbye of any other life of it is over (the view is the proof of
    /// the new life, whether or not one of its hellos reached this daemon).
    pub fn installed_with(&mut self, addr: SocketAddr, incarnation: u64, now: Time) {
        if let Some(p) = self.peers.get_mut(&addr) {
            p.last_heard = Some(now);
            p.suspected = false;
        }
        self.forget_departure_unless(addr, incarnation);
    }

    /// The daemon at `addr` said that its life `incarnation` is stopping.
    pub fn departed(&mut self, addr: SocketAddr, incarnation: u64) {
        if let Some(p) = self.peers.get_mut(&addr) {
            p.departed = Some(incarnation);
            p.suspected = true;
        }
    }

    /// True if the life `incarnation` of the daemon at `addr` said it is stopping.
    pub fn has_departed(&self, addr: SocketAddr, incarnation: u64) -> bool {
        self.peers
            .get(&addr)
            .is_some_and(|p| p.departed == Some(incarnation))
    }

    /// The peers that said they are stopping, for the log.
    pub fn departures(&self) -> Vec<(SocketAddr, u64)> {
        self.peers
            .iter()
            .filter_map(|(a, p)| p.departed.map(|i| (*a, i)))
            .collect()
    }

    /// A hello of life `incarnation` came from `addr`: a departure of any other life is over.
    pub fn forget_departure_unless(&mut self, addr: SocketAddr, incarnation: u64) {
        if let Some(p) = self.peers.get_mut(&addr) {
            if p.departed.is_some_and(|i| i != incarnation) {
                p.departed = None;
            }
        }
    }

    /// Marks the outsider `addr` answered this hello round; false if it already was.
    pub fn answer_hello(&mut self, addr: SocketAddr) -> bool {
        self.peers
            .get_mut(&addr)
            .is_some_and(|p| !std::mem::replace(&mut p.hello_answered, true))
    }

    /// A new hello round: every outsider may be answered again.
    pub fn new_hello_round(&mut self) {
        for p in self.peers.values_mut() {
            p.hello_answered = false;
        }
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
            .filter_map(move |(a, p)| p.hello.as_ref().filter(|h| h.at >= since).map(|h| (*a, h)))
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
        let Some(peer) = self.peers.get_mut(&from) else {
            return HelloOutcome::Rejected(HelloRejected::NotConfigured {
                name: name.to_string(),
            });
        };
        if cluster_size as usize != size {
            return HelloOutcome::Rejected(HelloRejected::ClusterSize {
                name: name.to_string(),
                theirs: cluster_size as usize,
                ours: size,
            });
        }
        if name == self.me.name {
            return HelloOutcome::Rejected(HelloRejected::SameName {
                name: name.to_string(),
            });
        }
        if let Some(known) = &peer.hello {
            if known.name != name {
                return HelloOutcome::Rejected(HelloRejected::Renamed {
                    was: known.name.clone(),
                    now: name.to_string(),
                });
            }
            // A late hello of an earlier life; but only while the later life is heard from (a
            // clock stepped back between restarts must not shut a daemon out for good).
            if incarnation < known.incarnation && known.at >= stale_before {
                return HelloOutcome::Stale;
            }
        }
        peer.hello = Some(PeerHello {
            name: name.to_string(),
            incarnation,
            view,
            at: now,
        });
        self.last_hello = Some(now);
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
