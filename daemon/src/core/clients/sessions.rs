//! Client sessions: which clients are connected, their private names, and the groups each will
//! be in once its requests are delivered.
//!
//! Owns client ids and the private-name registry. What a client is a member of or watches is the
//! group table's (`groups`), never kept here: the group table is the one place that says it.

use crate::core::ids::ClientId;
use std::collections::{BTreeMap, BTreeSet};

/// A connected client after its hello.
#[derive(Debug, Default)]
pub struct Member {
    /// `name#daemon`.
    pub private_name: String,
    /// Groups it will be a member of once its pending joins and leaves are delivered: what its
    /// next join or leave is checked against.
    pub intended: BTreeSet<String>,
}

/// Where a session is in its life.
#[derive(Debug)]
pub enum Session {
    /// Connected; the hello has not come yet.
    AwaitingHello,
    /// Welcomed.
    Ready(Member),
}

/// The session table.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: BTreeMap<ClientId, Session>,
    names: BTreeMap<String, ClientId>,
    next_id: u64,
    ready: usize,
}

impl Sessions {
    /// Registers a new connection and returns its id.
    pub fn open(&mut self) -> ClientId {
        self.next_id += 1;
        let id = ClientId(self.next_id);
        self.sessions.insert(id, Session::AwaitingHello);
        id
    }

    /// The session of `id`, if it is open.
    pub fn get(&self, id: ClientId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// The welcomed session of `id`, if any.
    pub fn member_mut(&mut self, id: ClientId) -> Option<&mut Member> {
        match self.sessions.get_mut(&id) {
            Some(Session::Ready(m)) => Some(m),
            _ => None,
        }
    }

    /// The welcomed session of `id`, if any.
    pub fn member(&self, id: ClientId) -> Option<&Member> {
        match self.sessions.get(&id) {
            Some(Session::Ready(m)) => Some(m),
            _ => None,
        }
    }

    /// True if a welcomed client already uses `private_name`.
    pub fn name_taken(&self, private_name: &str) -> bool {
        self.names.contains_key(private_name)
    }

    /// The welcomed client of this daemon called `private_name`, if connected.
    pub fn client_named(&self, private_name: &str) -> Option<ClientId> {
        self.names.get(private_name).copied()
    }

    /// How many sessions have been welcomed and are still open.
    pub fn ready_count(&self) -> usize {
        self.ready
    }

    /// Marks `id` welcomed under `private_name`, which must be free.
    pub fn welcome(&mut self, id: ClientId, private_name: String) {
        if let Some(s) = self.sessions.get_mut(&id) {
            if matches!(s, Session::AwaitingHello) {
                self.ready += 1;
            }
            self.names.insert(private_name.clone(), id);
            *s = Session::Ready(Member {
                private_name,
                ..Member::default()
            });
        }
    }

    /// Removes the session of `id` and returns it, if it was open.
    pub fn close(&mut self, id: ClientId) -> Option<Session> {
        let s = self.sessions.remove(&id)?;
        if let Session::Ready(m) = &s {
            self.ready -= 1;
            self.names.remove(&m.private_name);
        }
        Some(s)
    }

    /// Every open session's id, in order.
    pub fn ids(&self) -> Vec<ClientId> {
        self.sessions.keys().copied().collect()
    }

    /// Every welcomed session, in id order.
    pub fn members(&self) -> impl Iterator<Item = (ClientId, &Member)> {
        self.sessions.iter().filter_map(|(id, s)| match s {
            Session::Ready(m) => Some((*id, m)),
            Session::AwaitingHello => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_released_on_close() {
        let mut s = Sessions::default();
        let a = s.open();
        let b = s.open();
        assert_ne!(a, b);
        s.welcome(a, "x#h".into());
        assert!(s.name_taken("x#h"));
        assert_eq!(s.ready_count(), 1);
        assert!(matches!(s.close(a), Some(Session::Ready(_))));
        assert!(!s.name_taken("x#h"));
        assert_eq!(s.ready_count(), 0);
        assert!(s.close(a).is_none());
        assert!(matches!(s.close(b), Some(Session::AwaitingHello)));
    }
}
