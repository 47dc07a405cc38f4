//! Identifiers the core hands out: client sessions and group views.
//!
//! Owns only the id types; who numbers them is elsewhere (sessions number clients, `groups`
//! numbers views). Nothing here holds state.

use std::fmt;

/// One client session of this daemon. Never reused while the daemon runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client-{}", self.0)
    }
}

/// Numbers views. One counter serves every group, so a group that empties and is created again
/// still sees its view ids grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ViewId(pub u64);

impl ViewId {
    /// The id after this one.
    pub fn next(self) -> ViewId {
        ViewId(self.0 + 1)
    }
}
