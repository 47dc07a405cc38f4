//! Local access control: which local users may connect, and what each may do with which groups.
//!
//! The kernel tells the daemon who is at the other end of a connection (`SO_PEERCRED`: user and
//! group id); this module holds the `[access]` policy and answers two questions about such a
//! peer: may it connect, and may it join, send to or watch a group. It never sees the protocol
//! state; the driver asks before a request reaches the core.

use gcs::wire::{ErrorCode, ErrorInfo, Request, Status, WatchTarget};
use serde::Deserialize;

/// Who is at the other end of a client connection, as the kernel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its (primary) group id.
    pub gid: u32,
}

/// An operation on a group that a rule may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Joining the group.
    Join,
    /// Multicasting to it.
    Send,
    /// Watching its views without joining.
    Watch,
}

impl Operation {
    /// How a refusal says it: "may not join group g".
    fn verb(self) -> &'static str {
        match self {
            Operation::Join => "join",
            Operation::Send => "send to",
            Operation::Watch => "watch",
        }
    }
}

/// One `[[access.group]]` rule: who may do what with the groups it matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    /// A group name, or a prefix followed by `*` (`"chat.*"`); `"*"` matches every group.
    pub pattern: String,
    /// Users the rule speaks for.
    #[serde(default)]
    pub uids: Vec<u32>,
    /// Groups (primary group ids) the rule speaks for.
    #[serde(default)]
    pub gids: Vec<u32>,
    /// What they may do; everyone else may do nothing with a matching group.
    #[serde(default)]
    pub allow: Vec<Operation>,
}

impl GroupRule {
    fn matches(&self, group: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => group.starts_with(prefix),
            None => group == self.pattern,
        }
    }

    fn covers(&self, peer: Peer) -> bool {
        self.uids.contains(&peer.uid) || self.gids.contains(&peer.gid)
    }
}

/// The `[access]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Users who may connect (`allow_uids`). With this and `allow_gids` both empty, every local
    /// user who can open the socket may.
    pub allow_uids: Vec<u32>,
    /// Groups whose members may connect (`allow_gids`).
    pub allow_gids: Vec<u32>,
    /// Rules per group name pattern (`[[access.group]]`), the first that matches a group
    /// deciding; a group no rule matches is open to every connected client.
    pub group: Vec<GroupRule>,
    /// Users who see the whole status (`admin_uids`). With this and `admin_gids` both empty,
    /// everyone does; otherwise the others see it without the lists of clients and groups.
    pub admin_uids: Vec<u32>,
    /// Groups whose members see the whole status (`admin_gids`).
    pub admin_gids: Vec<u32>,
}

impl AccessConfig {
    /// Whether `peer` may connect. Root and the daemon's own user always may.
    pub fn may_connect(&self, peer: Peer, daemon_uid: u32) -> Result<(), ErrorInfo> {
        if listed(&self.allow_uids, &self.allow_gids, peer, daemon_uid) {
            return Ok(());
        }
        Err(ErrorInfo::new(
            ErrorCode::NotPermitted,
            format!(
                "user {} (group {}) may not connect to this daemon (access.allow_uids, \
                 access.allow_gids)",
                peer.uid, peer.gid
            ),
        ))
    }

    /// The status as `peer` may see it: whole for an administrator (root, the daemon's own user,
    /// or one named in `admin_uids` / `admin_gids`; everyone if both are empty), else without
    /// the clients and groups of the daemon.
    pub fn status_for(&self, peer: Peer, daemon_uid: u32, status: &Status) -> Option<Status> {
        if listed(&self.admin_uids, &self.admin_gids, peer, daemon_uid) {
            return None;
        }
        Some(Status {
            clients: Vec::new(),
            groups: Vec::new(),
            ..status.clone()
        })
    }

    /// Whether `peer` may make `request`: the first rule matching each group it names decides.
    pub fn may_request(&self, peer: Peer, request: &Request) -> Result<(), ErrorInfo> {
        match request {
            Request::Join { group, .. } => self.may(peer, Operation::Join, group),
            Request::Multicast { groups, .. } => groups
                .iter()
                .try_for_each(|g| self.may(peer, Operation::Send, g)),
            Request::Watch {
                target: WatchTarget::Group(group),
                ..
            } => self.may(peer, Operation::Watch, group),
            _ => Ok(()),
        }
    }

    fn may(&self, peer: Peer, op: Operation, group: &str) -> Result<(), ErrorInfo> {
        let Some(rule) = self.group.iter().find(|r| r.matches(group)) else {
            return Ok(());
        };
        if rule.covers(peer) && rule.allow.contains(&op) {
            return Ok(());
        }
        Err(ErrorInfo::new(
            ErrorCode::NotPermitted,
            format!(
                "user {} (group {}) may not {} group {group} (the access rule for '{}')",
                peer.uid,
                peer.gid,
                op.verb(),
                rule.pattern
            ),
        ))
    }

    /// Checks the patterns; an empty one is refused.
    pub fn validate(&self) -> Result<(), String> {
        match self.group.iter().find(|r| r.pattern.is_empty()) {
            Some(_) => Err("a group rule's pattern is empty; use \"*\" for every group".into()),
            None => Ok(()),
        }
    }
}

/// True if `peer` is in `uids` or `gids`, is root or the daemon's own user, or both lists are
/// empty (nobody singled out, so everyone).
fn listed(uids: &[u32], gids: &[u32], peer: Peer, daemon_uid: u32) -> bool {
    (uids.is_empty() && gids.is_empty())
        || peer.uid == 0
        || peer.uid == daemon_uid
        || uids.contains(&peer.uid)
        || gids.contains(&peer.gid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gcs::wire::RequestId;

    fn join(group: &str) -> Request {
        Request::Join {
            id: RequestId(1),
            group: group.into(),
        }
    }

    fn send(groups: &[&str]) -> Request {
        Request::Multicast {
            id: RequestId(2),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            order: gcs::Order::Agreed,
            payload: Bytes::new(),
        }
    }

    fn watch(group: &str) -> Request {
        Request::Watch {
            id: RequestId(3),
            target: WatchTarget::Group(group.into()),
        }
    }

    const ALICE: Peer = Peer {
        uid: 1000,
        gid: 100,
    };
    const BOB: Peer = Peer {
        uid: 1001,
        gid: 200,
    };

    #[test]
    fn without_lists_everyone_may_connect_with_lists_only_those_named_and_root() {
        let open = AccessConfig::default();
        assert!(open.may_connect(BOB, 0).is_ok());
        let closed = AccessConfig {
            allow_gids: vec![100],
            ..AccessConfig::default()
        };
        assert!(closed.may_connect(ALICE, 0).is_ok());
        let e = closed.may_connect(BOB, 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotPermitted);
        assert!(e.message.contains("1001"), "{}", e.message);
        assert!(closed.may_connect(Peer { uid: 0, gid: 0 }, 1).is_ok());
        assert!(
            closed.may_connect(BOB, 1001).is_ok(),
            "the daemon's own user"
        );
    }

    #[test]
    fn the_first_matching_rule_decides_and_unmatched_groups_are_open() {
        let access = AccessConfig {
            group: vec![
                GroupRule {
                    pattern: "ops.audit".into(),
                    uids: vec![1000],
                    gids: vec![],
                    allow: vec![Operation::Watch],
                },
                GroupRule {
                    pattern: "ops.*".into(),
                    uids: vec![],
                    gids: vec![100],
                    allow: vec![Operation::Join, Operation::Send, Operation::Watch],
                },
            ],
            ..AccessConfig::default()
        };
        assert!(access.may_request(ALICE, &join("ops.deploy")).is_ok());
        assert!(access.may_request(ALICE, &watch("ops.audit")).is_ok());
        let e = access.may_request(ALICE, &join("ops.audit")).unwrap_err();
        assert!(
            e.message.contains("may not join group ops.audit"),
            "{}",
            e.message
        );
        assert!(access.may_request(BOB, &join("ops.deploy")).is_err());
        assert!(access.may_request(BOB, &send(&["chat", "ops.x"])).is_err());
        assert!(access.may_request(BOB, &send(&["chat"])).is_ok());
        assert!(access.may_request(BOB, &watch("chat")).is_ok());
    }
}
