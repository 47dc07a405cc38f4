//! Process groups: who is a member of which group, who watches it, and the views that follow
//! from each join and leave.
//!
//! Owns the group table. Members are kept by private name in sorted order, so every daemon that
//! applies the same joins and leaves in the same order computes identical views. It also owns how
//! group view ids are numbered (`view_id_at`, `ViewIds`). It never decides *when* a change happens
//! or which numbering applies (the caller orders joins and leaves and picks the id) and never
//! sends anything: it returns the new view and the caller delivers it.

use super::ids::{ClientId, ViewId};
use gcs::wire::{GroupInfo, GroupView, Reason};
use std::collections::{BTreeMap, BTreeSet};

/// The id of a group view made at Lamport time `ts` by the daemon of rank `rank` among
/// `cluster_size`: ids follow the total order, and the daemon's rank is the id modulo the cluster
/// size, so views made in two partitions at once never share an id.
pub(crate) fn view_id_at(ts: u64, cluster_size: u64, rank: u64) -> ViewId {
    ViewId(ts.saturating_mul(cluster_size).saturating_add(rank))
}

/// Numbers a run of group views (those made while a daemon view is installed), each `step`
/// beyond the one before, so the run keeps its daemon's rank modulo the cluster size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewIds {
    next: u64,
    step: u64,
}

impl ViewIds {
    /// A run whose first id is `first`.
    pub(crate) fn starting_at(first: ViewId, step: u64) -> ViewIds {
        ViewIds {
            next: first.0,
            step,
        }
    }

    /// The id the next view would take.
    pub(crate) fn next_id(&self) -> ViewId {
        ViewId(self.next)
    }

    /// Takes the next id.
    pub(crate) fn take(&mut self) -> ViewId {
        let id = self.next;
        self.next = self.next.saturating_add(self.step);
        ViewId(id)
    }
}

/// One group.
#[derive(Debug)]
struct Group {
    /// Members by private name; `Some` for clients of this daemon.
    members: BTreeMap<String, Option<ClientId>>,
    /// Local clients observing the group without being members.
    watchers: BTreeSet<ClientId>,
    /// The view last installed.
    current: GroupView,
}

impl Group {
    fn is_unused(&self) -> bool {
        self.members.is_empty() && self.watchers.is_empty()
    }
}

/// Why a membership change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipError {
    /// Joining a group the process is already in.
    AlreadyMember,
    /// Leaving a group the process is not in.
    NotMember,
}

/// The group table.
#[derive(Debug, Default)]
pub struct Groups {
    groups: BTreeMap<String, Group>,
}

impl Groups {
    /// True if `member` is a member of `group`.
    pub fn is_member(&self, group: &str, member: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.members.contains_key(member))
    }

    /// Adds `member` (a local client if `client` is set) to `group`, creating the group if needed.
    /// Returns the new view.
    pub fn join(
        &mut self,
        group: &str,
        member: &str,
        client: Option<ClientId>,
        view_id: ViewId,
    ) -> Result<GroupView, MembershipError> {
        if self.is_member(group, member) {
            return Err(MembershipError::AlreadyMember);
        }
        let g = self.entry(group);
        g.members.insert(member.to_string(), client);
        g.current = GroupView {
            group: group.to_string(),
            view_id: view_id.0,
            members: g.members.keys().cloned().collect(),
            joined: vec![member.to_string()],
            left: Vec::new(),
            reason: Reason::Join,
            transitional: false,
        };
        Ok(g.current.clone())
    }

    /// Removes `member` from `group` for `reason`. Returns the new view of the remaining members.
    pub fn leave(
        &mut self,
        group: &str,
        member: &str,
        reason: Reason,
        view_id: ViewId,
    ) -> Result<GroupView, MembershipError> {
        let Some(g) = self
            .groups
            .get_mut(group)
            .filter(|g| g.members.contains_key(member))
        else {
            return Err(MembershipError::NotMember);
        };
        g.members.remove(member);
        g.current = GroupView {
            group: group.to_string(),
            view_id: view_id.0,
            members: g.members.keys().cloned().collect(),
            joined: Vec::new(),
            left: vec![member.to_string()],
            reason,
            transitional: false,
        };
        let view = g.current.clone();
        self.forget_if_unused(group);
        Ok(view)
    }

    /// Makes `client` a watcher of `group`. Returns the group's current view if it has members.
    pub fn watch(&mut self, group: &str, client: ClientId) -> Option<GroupView> {
        let g = self.entry(group);
        g.watchers.insert(client);
        (g.current.view_id != 0).then(|| g.current.clone())
    }

    /// Stops `client` watching `group`. False if it was not watching.
    pub fn unwatch(&mut self, group: &str, client: ClientId) -> bool {
        let removed = self
            .groups
            .get_mut(group)
            .is_some_and(|g| g.watchers.remove(&client));
        self.forget_if_unused(group);
        removed
    }

    /// Stops `client` watching any group (its session ended).
    pub fn unwatch_all(&mut self, client: ClientId) {
        let watched: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.watchers.contains(&client))
            .map(|(name, _)| name.clone())
            .collect();
        for group in watched {
            self.unwatch(&group, client);
        }
    }

    /// True if `client` watches `group`.
    pub fn is_watching(&self, group: &str, client: ClientId) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.watchers.contains(&client))
    }

    /// How many groups `client` watches.
    pub fn watched_by(&self, client: ClientId) -> usize {
        self.groups
            .values()
            .filter(|g| g.watchers.contains(&client))
            .count()
    }

    /// The groups `member` is a member of, sorted.
    pub fn groups_of(&self, member: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.members.contains_key(member))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The local clients that receive messages sent to `group`, in id order.
    pub fn local_members(&self, group: &str) -> impl Iterator<Item = ClientId> + '_ {
        self.groups
            .get(group)
            .into_iter()
            .flat_map(|g| g.members.values().filter_map(|c| *c))
    }

    /// The local clients that receive views of `group`: its local members and its watchers.
    pub fn view_audience(&self, group: &str) -> BTreeSet<ClientId> {
        let mut out: BTreeSet<ClientId> = self.local_members(group).collect();
        if let Some(g) = self.groups.get(group) {
            out.extend(g.watchers.iter().copied());
        }
        out
    }

    /// A line per group for the status, sorted by name.
    pub fn info(&self) -> Vec<GroupInfo> {
        self.groups
            .iter()
            .map(|(name, g)| GroupInfo {
                name: name.clone(),
                members: g.members.len() as u64,
                view_id: g.current.view_id,
            })
            .collect()
    }

    /// The group called `group`, created without members or watchers if it does not exist.
    fn entry(&mut self, group: &str) -> &mut Group {
        self.groups
            .entry(group.to_string())
            .or_insert_with(|| Group {
                members: BTreeMap::new(),
                watchers: BTreeSet::new(),
                current: empty_view(group),
            })
    }

    /// Every group's name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    /// Every (group, member) pair whose member `pick` selects, sorted.
    pub fn memberships(&self, pick: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, g) in &self.groups {
            for m in g.members.keys() {
                if pick(m) {
                    out.push((name.clone(), m.clone()));
                }
            }
        }
        out
    }

    /// The transitional view of `group` when only the members `stays` selects move on together,
    /// or `None` if the group has no members, or every member stays and the view is not
    /// `always` wanted. The table is not changed: the regular view that follows does that.
    pub fn transitional(
        &self,
        group: &str,
        stays: impl Fn(&str) -> bool,
        view_id: ViewId,
        always: bool,
    ) -> Option<GroupView> {
        let g = self.groups.get(group)?;
        let (members, left): (Vec<String>, Vec<String>) =
            g.members.keys().cloned().partition(|m| stays(m));
        if (left.is_empty() && !always) || g.members.is_empty() {
            return None;
        }
        Some(GroupView {
            group: group.to_string(),
            view_id: view_id.0,
            members,
            joined: Vec::new(),
            left,
            reason: Reason::Network,
            transitional: true,
        })
    }

    /// Makes `members` the membership of `group` after a daemon view change (reason `network`).
    /// Returns the new view, or `None` if nothing changed and the view is not `forced` (a group
    /// that had a transitional view always gets the regular view that ends the period, and so
    /// does every group with members after a merge). A group without members gets none.
    pub fn replace_members(
        &mut self,
        group: &str,
        members: BTreeMap<String, Option<ClientId>>,
        view_id: ViewId,
        forced: bool,
    ) -> Option<GroupView> {
        let old: BTreeSet<&String> = self
            .groups
            .get(group)
            .map(|g| g.members.keys().collect())
            .unwrap_or_default();
        let new: BTreeSet<&String> = members.keys().collect();
        if old == new && (!forced || old.is_empty()) {
            return None;
        }
        let joined: Vec<String> = new.difference(&old).map(|m| (*m).clone()).collect();
        let left: Vec<String> = old.difference(&new).map(|m| (*m).clone()).collect();
        let g = self.entry(group);
        g.members = members;
        g.current = GroupView {
            group: group.to_string(),
            view_id: view_id.0,
            members: g.members.keys().cloned().collect(),
            joined,
            left,
            reason: Reason::Network,
            transitional: false,
        };
        let view = g.current.clone();
        self.forget_if_unused(group);
        Some(view)
    }

    fn forget_if_unused(&mut self, group: &str) {
        if self.groups.get(group).is_some_and(Group::is_unused) {
            self.groups.remove(group);
        }
    }
}

fn empty_view(group: &str) -> GroupView {
    GroupView {
        group: group.to_string(),
        view_id: 0,
        members: Vec::new(),
        joined: Vec::new(),
        left: Vec::new(),
        reason: Reason::Join,
        transitional: false,
    }
}

/// The daemon a private name belongs to.
pub(crate) fn daemon_of(member: &str) -> &str {
    member
        .rsplit_once(gcs::names::PRIVATE_NAME_SEPARATOR)
        .map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_leave_produce_sorted_views_with_growing_ids() {
        let mut g = Groups::default();
        let v1 = g
            .join("chat", "bob#h", Some(ClientId(2)), ViewId(1))
            .unwrap();
        let v2 = g
            .join("chat", "alice#h", Some(ClientId(1)), ViewId(2))
            .unwrap();
        assert_eq!(v2.members, vec!["alice#h", "bob#h"]);
        assert_eq!(v2.joined, vec!["alice#h"]);
        assert!(v2.view_id > v1.view_id);
        let v3 = g
            .leave("chat", "bob#h", Reason::Disconnect, ViewId(3))
            .unwrap();
        assert_eq!(v3.members, vec!["alice#h"]);
        assert_eq!(v3.left, vec!["bob#h"]);
        assert_eq!(v3.reason, Reason::Disconnect);
        assert!(v3.view_id > v2.view_id);
    }

    #[test]
    fn double_join_and_stray_leave_are_refused() {
        let mut g = Groups::default();
        g.join("chat", "a#h", None, ViewId(4)).unwrap();
        assert_eq!(
            g.join("chat", "a#h", None, ViewId(5)),
            Err(MembershipError::AlreadyMember)
        );
        assert_eq!(
            g.leave("other", "a#h", Reason::Leave, ViewId(6)),
            Err(MembershipError::NotMember)
        );
    }

    #[test]
    fn empty_groups_are_forgotten_but_ids_keep_growing() {
        let mut g = Groups::default();
        let v1 = g.join("x", "a#h", Some(ClientId(1)), ViewId(7)).unwrap();
        g.leave("x", "a#h", Reason::Leave, ViewId(8)).unwrap();
        assert!(g.info().is_empty());
        let v3 = g.join("x", "a#h", Some(ClientId(1)), ViewId(9)).unwrap();
        assert!(v3.view_id > v1.view_id + 1);
    }

    #[test]
    fn watchers_see_views_and_keep_the_group_alive() {
        let mut g = Groups::default();
        assert_eq!(g.watch("x", ClientId(9)), None);
        g.join("x", "a#h", Some(ClientId(1)), ViewId(10)).unwrap();
        assert_eq!(
            g.view_audience("x").into_iter().collect::<Vec<_>>(),
            vec![ClientId(1), ClientId(9)]
        );
        let last = g.leave("x", "a#h", Reason::Leave, ViewId(11)).unwrap();
        assert_eq!(g.watch("x", ClientId(8)), Some(last));
        assert!(g.unwatch("x", ClientId(9)));
        assert!(g.unwatch("x", ClientId(8)));
        assert!(!g.unwatch("x", ClientId(8)));
        assert!(g.info().is_empty());
    }

    #[test]
    fn remote_members_are_not_local_recipients() {
        let mut g = Groups::default();
        g.join("x", "a#h1", Some(ClientId(1)), ViewId(12)).unwrap();
        g.join("x", "b#h2", None, ViewId(13)).unwrap();
        assert_eq!(g.local_members("x").collect::<Vec<_>>(), vec![ClientId(1)]);
    }
}
