//! How reports name things: group lists as sets and as text, processes and messages by name.
//! Nothing here decides a guarantee.

use super::index::Index;
use super::History;
use std::collections::BTreeSet;

/// The distinct names in `names`, sorted, so group lists can be compared as sets: the daemon may
/// normalise the order of a multicast's groups, which does not change which groups it went to.
pub(super) fn name_set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

pub(super) fn same_groups(a: &[String], b: &[String]) -> bool {
    a == b || name_set(a) == name_set(b)
}

pub(super) fn list(names: &[String]) -> String {
    format!("[{}]", names.join(", "))
}

/// The first few of `msgs` by id, and how many more there are: enough to find them in the logs.
pub(super) fn some_ids(ix: &Index<'_>, msgs: &[usize]) -> String {
    const SHOWN: usize = 5;
    let ids: Vec<&str> = msgs.iter().take(SHOWN).map(|&m| ix.id(m)).collect();
    let more = msgs.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("{} and {more} more", ids.join(", "))
    } else {
        ids.join(", ")
    }
}

pub(super) fn name(history: &History, p: usize) -> &str {
    history
        .processes
        .get(p)
        .map_or("?", |log| log.name.as_str())
}

pub(super) fn names(history: &History, procs: &[usize]) -> String {
    let names: Vec<&str> = procs.iter().map(|&p| name(history, p)).collect();
    names.join(", ")
}
