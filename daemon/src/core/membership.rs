//! Daemon membership: which daemons form the cluster and each one's place in the view.
//!
//! Owns the peer table and view formation. In this release the view is static: the daemons of the
//! configuration (this one and its peers), formed once every peer has introduced itself with a
//! hello. Members are sorted by name, so every daemon gives each member the same index; the index
//! identifies a daemon's stream on the wire. It never delivers or orders anything.

use gcs::DaemonView;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// What a hello from `addr` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloOutcome {
    /// Not from a configured peer, or inconsistent with what is known; dropped with this reason.
    Rejected(String),
    /// Recorded.
    Accepted,
}

/// The formed view, with the address of each member.
#[derive(Debug, Clone)]
pub struct FormedView {
    /// The view as clients see it.
    pub view: DaemonView,
    /// This daemon's index.
    pub me: u16,
    /// Each member's UDP address, by index (this daemon's own included).
    pub addrs: Vec<SocketAddr>,
}

impl FormedView {
    /// The index of the member at `addr`, if any.
    pub fn index_of(&self, addr: SocketAddr) -> Option<u16> {
        self.addrs.iter().position(|a| *a == addr).map(|i| i as u16)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True if the view has no members (never, once formed).
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
    name: String,
    addr: SocketAddr,
    /// Each configured peer's address and, once it has said hello, its name.
    peers: BTreeMap<SocketAddr, Option<String>>,
    formed: Option<FormedView>,
}

impl Membership {
    /// A daemon named `name` at `addr` whose configuration lists `peers`.
    pub fn new(name: String, addr: SocketAddr, peers: &[SocketAddr]) -> Self {
        let peers = peers
            .iter()
            .filter(|p| **p != addr)
            .map(|p| (*p, None))
            .collect();
        let mut m = Membership {
            name,
            addr,
            peers,
            formed: None,
        };
        m.try_form();
        m
    }

    /// This daemon's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many daemons the configuration lists, this one included.
    pub fn cluster_size(&self) -> usize {
        self.peers.len() + 1
    }

    /// The formed view, if every peer has said hello.
    pub fn formed(&self) -> Option<&FormedView> {
        self.formed.as_ref()
    }

    /// The daemon view as clients see it: the formed one, or this daemon alone (view id 0) while
    /// waiting for peers.
    pub fn daemon_view(&self) -> DaemonView {
        match &self.formed {
            Some(f) => f.view.clone(),
            None => DaemonView {
                view_id: 0,
                members: vec![self.name.clone()],
                primary: 2 > self.cluster_size(),
            },
        }
    }

    /// Configured peers that have not said hello yet.
    pub fn silent_peers(&self) -> Vec<SocketAddr> {
        self.peers
            .iter()
            .filter(|(_, n)| n.is_none())
            .map(|(a, _)| *a)
            .collect()
    }

    /// The name `addr` said hello with, if it has.
    pub fn peer_name(&self, addr: SocketAddr) -> Option<&str> {
        self.peers.get(&addr).and_then(|n| n.as_deref())
    }

    /// True if `addr` is a configured peer.
    pub fn is_peer(&self, addr: SocketAddr) -> bool {
        self.peers.contains_key(&addr)
    }

    /// Every configured peer's address.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers.keys().copied().collect()
    }

    /// Records a hello from `from`. Returns whether it was accepted; the view may now be formed.
    pub fn on_hello(&mut self, from: SocketAddr, name: &str, cluster_size: u16) -> HelloOutcome {
        let size = self.peers.len() + 1;
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
        if name == self.name {
            return HelloOutcome::Rejected(format!(
                "{from} uses this daemon's own name '{name}'; daemon names must be unique"
            ));
        }
        match slot {
            Some(known) if known != name => {
                return HelloOutcome::Rejected(format!(
                    "{from} was '{known}' and now says it is '{name}'"
                ))
            }
            _ => *slot = Some(name.to_string()),
        }
        if self.formed.is_none() {
            self.try_form();
        }
        HelloOutcome::Accepted
    }

    fn try_form(&mut self) {
        if self.peers.values().any(Option::is_none) {
            return;
        }
        let mut members: Vec<(String, SocketAddr)> = self
            .peers
            .iter()
            .filter_map(|(a, n)| n.clone().map(|n| (n, *a)))
            .collect();
        members.push((self.name.clone(), self.addr));
        members.sort();
        if members.windows(2).any(|w| w[0].0 == w[1].0) {
            return; // duplicate names: on_hello reports them
        }
        let me = members
            .iter()
            .position(|(n, _)| *n == self.name)
            .unwrap_or(0) as u16;
        self.formed = Some(FormedView {
            view: DaemonView {
                view_id: 1,
                members: members.iter().map(|(n, _)| n.clone()).collect(),
                primary: true,
            },
            me,
            addrs: members.iter().map(|(_, a)| *a).collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 1, i], 4804))
    }

    #[test]
    fn a_daemon_without_peers_is_formed_at_once() {
        let m = Membership::new("solo".into(), addr(1), &[]);
        let f = m.formed().unwrap();
        assert_eq!(f.view.members, ["solo"]);
        assert_eq!(f.me, 0);
        assert!(f.view.primary);
    }

    #[test]
    fn the_view_forms_when_every_peer_said_hello_and_is_sorted_by_name() {
        let mut m = Membership::new("b".into(), addr(2), &[addr(1), addr(3)]);
        assert!(m.formed().is_none());
        assert_eq!(m.daemon_view().view_id, 0);
        assert_eq!(m.on_hello(addr(3), "a", 3), HelloOutcome::Accepted);
        assert!(m.formed().is_none());
        assert_eq!(m.silent_peers(), vec![addr(1)]);
        assert_eq!(m.on_hello(addr(1), "c", 3), HelloOutcome::Accepted);
        let f = m.formed().unwrap();
        assert_eq!(f.view.members, ["a", "b", "c"]);
        assert_eq!(f.me, 1);
        assert_eq!(f.addrs, vec![addr(3), addr(2), addr(1)]);
        assert_eq!(f.index_of(addr(1)), Some(2));
        assert_eq!(f.peers(), vec![addr(3), addr(1)]);
    }

    #[test]
    fn strangers_and_inconsistent_peers_are_rejected() {
        let mut m = Membership::new("b".into(), addr(2), &[addr(1)]);
        assert!(matches!(
            m.on_hello(addr(9), "x", 2),
            HelloOutcome::Rejected(_)
        ));
        assert!(matches!(
            m.on_hello(addr(1), "x", 3),
            HelloOutcome::Rejected(_)
        ));
        assert!(matches!(
            m.on_hello(addr(1), "b", 2),
            HelloOutcome::Rejected(_)
        ));
        assert_eq!(m.on_hello(addr(1), "a", 2), HelloOutcome::Accepted);
        assert!(matches!(
            m.on_hello(addr(1), "z", 2),
            HelloOutcome::Rejected(_)
        ));
    }
}
