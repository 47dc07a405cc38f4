//! The history checker: decides whether what client processes did and saw obeys the guarantees
//! in DESIGN.md.
//!
//! A test run records, for every client process, the ordered list of what it asked for (joins,
//! leaves, multicasts) and what it received (views, messages). [`check`] takes those logs and
//! returns every broken guarantee it can prove from them, grouped by guarantee and capped so a
//! badly broken run stays readable. An empty answer means the history is correct as far as the
//! logs show.
//!
//! This module only reasons about data it is given. It never does I/O, never looks at clocks and
//! never panics on any input, however malformed: a strange log is reported, not trusted. Output
//! is deterministic (no hash maps anywhere) so two checks of the same history print the same
//! text.
//!
//! Safety properties (views and transitional views, integrity, same and sending view delivery,
//! virtual synchrony, ordering) are checked on every history. Properties that say something
//! must eventually be delivered or installed (agreement, safe delivery, self delivery, views
//! converge) only mean something once the run was allowed to settle, so they are checked only
//! when [`History::complete`] is set.
//!
//! Daemons crash, and partitions split the cluster and later merge it again. View ids stay unique
//! cluster-wide through all of it: one (group, view id) names one membership everywhere, which is
//! what lets processes on either side of a partition be compared by the views they installed.
//!
//! Where DESIGN.md leaves room, the checker reads the guarantees this way:
//! - A Leave is logged when requested, but messages ordered before it still arrive. So after a
//!   Leave the process still receives the group in its current view until it gets a view that
//!   no longer lists it; only then is a delivery to it a delivery to a non-member.
//! - A Join starts a fresh membership: a view from an earlier membership is not its current view.
//! - Integrity is only provable for senders that were logged; a delivery naming an unlogged
//!   sender is taken on trust. A delivery's groups are compared with the send's as sets.
//! - Total order is pairwise: any two processes agree on the order of the agreed and safe
//!   messages they both deliver.
//! - Transitional views (extended virtual synchrony) come in chains. When a network event removes
//!   members, each survivor first gets a transitional view of reason network listing the members
//!   of its previous view that move on with it (a subset of that view, never right after another
//!   transitional view). Group operations the old view had not delivered everywhere then take
//!   effect inside this transitional period, each as a transitional view of its own reason: a
//!   join adds the joiner, a leave or disconnect removes one. These only ever follow a
//!   transitional view, except that a joiner's first view of the group may be the transitional
//!   view of its own join, and a leaver's membership may end with the transitional view of its
//!   own leave. Messages may be delivered between and after them, and a regular view ends the
//!   period. Every transitional view is a view like any other (self inclusion, monotonicity,
//!   view agreement, deliveries after it are in it, and the next view event of the group, be it
//!   transitional or not, is its next view for virtual synchrony). A message delivered in a
//!   regular view V at some processes may be delivered at others in any transitional view of the
//!   period that directly follows V: they had it, but were cut off before they could deliver it
//!   in V. Processes on different sides of the event may each do so in their own transitional
//!   views. Same-view delivery accepts exactly that.
//! - A network transitional view may reach a process that left and joined again before its
//!   leave's view came: it is still a member from its earlier membership, and the transitional
//!   view belongs to that membership, like any view before the leave's.
//! - Virtual synchrony compares two processes' deliveries in view V only when both moved on from V
//!   directly to the same next view; a process whose log ends in V, or that joined again before
//!   its next view, has no known next view and is not compared.
//! - Sending view delivery is weak: the daemons deliver a message in the view in which the
//!   sender's daemon took it in, which can be newer than the sender's view at the Send when a
//!   view change was in flight, but never older. So a delivery is only required to be in a view
//!   of the group no older than the sender's, and only for groups the sender was in with a view.
//! - Crashes: a process whose log ends with Disconnect crashed (its daemon died, or its session
//!   was cut). Nothing is demanded of it afterwards: not delivery of others' messages, not
//!   delivery of its own, not a place in the final view. Nothing demands that a message be
//!   delivered merely because it was sent; the guarantees that require deliveries start from a
//!   delivery, so a crashed sender's message may reach nobody.
//! - Agreement is partition-tolerant: a member of the view a message was delivered in must also
//!   deliver it unless it crashed or it and every deliverer moved on from that view to different
//!   next views (a partition separated them). Safe delivery allows no such excuse for messages
//!   delivered in a regular view.
//!
//! # Where each guarantee is checked
//!
//! | label | DESIGN.md | file |
//! |---|---|---|
//! | `0 well-formed log` (the logs, not the system) | - | `index.rs` |
//! | `1 self inclusion`, `1 local monotonicity`, `1 view agreement` | 1 | `views.rs` |
//! | `2 integrity`, `2 no duplication` | 2 | `integrity.rs` |
//! | `3 same-view delivery` | 3 | `same_view.rs` |
//! | `3 sending view delivery` | 3 | `sending_view.rs` |
//! | `4 transitional views` | 4 | `transitional.rs` |
//! | `4 virtual synchrony` | 4 | `virtual_synchrony.rs` |
//! | `5 fifo` | 5 | `fifo.rs` |
//! | `5 causal` | 5 | `causal.rs` |
//! | `5 total order` | 5 | `total_order.rs` |
//! | `6 agreement` (complete histories) | 6 | `agreement.rs` |
//! | `6 safe delivery` (complete histories) | 6 | `safe.rs` |
//! | `7 self delivery` (complete histories) | 7 | `self_delivery.rs` |
//! | `8 view liveness` (complete histories) | 8 | `view_liveness.rs` |
//!
//! Two passes come first and judge nothing: `index.rs` numbers messages, groups and processes,
//! and `walk.rs` walks each log once and records the facts the checks read (views and what the
//! holder knew when each came, deliveries per view, sends). `report.rs` caps and orders what
//! the checks find. Tests live in `tests/`, one file per guarantee.

mod agreement;
mod bits;
mod causal;
mod fifo;
mod index;
mod integrity;
mod names;
mod report;
mod safe;
mod same_view;
mod self_delivery;
mod sending_view;
#[cfg(test)]
mod tests;
mod total_order;
mod transitional;
mod view_liveness;
mod views;
mod virtual_synchrony;
mod walk;

use index::Index;
use report::Report;
use std::fmt;
use walk::Walk;

/// Identifies one message. Chosen by the sender and unique across the whole history.
pub type MsgId = String;

/// One thing a client process did or saw, in the order the process did or saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The process asked to join `group` (recorded when the request is issued).
    Join {
        /// The group.
        group: String,
    },
    /// The process asked to leave `group` (recorded when the request is issued).
    Leave {
        /// The group.
        group: String,
    },
    /// The process multicast a message.
    Send {
        /// The message.
        id: MsgId,
        /// The groups it was addressed to.
        groups: Vec<String>,
        /// The order it was sent with.
        order: gcs::Order,
    },
    /// The process received a view of a group.
    View(gcs::GroupView),
    /// The process received a message.
    Deliver {
        /// The message.
        id: MsgId,
        /// The private name of the sender, as the delivery states it.
        sender: String,
        /// The groups the delivery says the message was addressed to.
        groups: Vec<String>,
        /// The order the delivery says the message was sent with.
        order: gcs::Order,
    },
    /// The process's session ended (closed or crashed); nothing follows.
    Disconnect,
}

/// Everything one client process did and saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessLog {
    /// The process's private name, e.g. `p3#d1`, as views list it.
    pub name: String,
    /// What it did and saw, in its own order.
    pub events: Vec<Event>,
}

/// The logs of one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct History {
    /// One log per client process. Processes that were not logged are simply absent.
    pub processes: Vec<ProcessLog>,
    /// True when the run ended with the network calm and everything given time to settle, so
    /// liveness properties (everything sent is delivered, views converge) must hold.
    pub complete: bool,
}

/// One broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which guarantee, numbered and named as in DESIGN.md, e.g. `"1 self inclusion"`.
    pub guarantee: &'static str,
    /// What happened, naming the processes, messages and views involved.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.guarantee, self.detail)
    }
}

// The guarantee labels, numbered as in DESIGN.md. `WELL_FORMED` is not a guarantee of the
// system: it flags logs no client could have produced (a reused message id, events after a
// Disconnect), which point at the test harness rather than the daemons.
pub(crate) const WELL_FORMED: &str = "0 well-formed log";
pub(crate) const SELF_INCLUSION: &str = "1 self inclusion";
pub(crate) const MONOTONICITY: &str = "1 local monotonicity";
pub(crate) const VIEW_AGREEMENT: &str = "1 view agreement";
pub(crate) const INTEGRITY: &str = "2 integrity";
pub(crate) const NO_DUPLICATION: &str = "2 no duplication";
pub(crate) const SAME_VIEW: &str = "3 same-view delivery";
pub(crate) const SENDING_VIEW: &str = "3 sending view delivery";
pub(crate) const TRANSITIONAL: &str = "4 transitional views";
pub(crate) const VIRTUAL_SYNCHRONY: &str = "4 virtual synchrony";
pub(crate) const FIFO: &str = "5 fifo";
pub(crate) const CAUSAL: &str = "5 causal";
pub(crate) const TOTAL_ORDER: &str = "5 total order";
pub(crate) const AGREEMENT: &str = "6 agreement";
pub(crate) const SAFE: &str = "6 safe delivery";
pub(crate) const SELF_DELIVERY: &str = "7 self delivery";
pub(crate) const VIEW_LIVENESS: &str = "8 view liveness";

/// Every label, in the order reports list them.
pub(crate) const GUARANTEES: [&str; 17] = [
    WELL_FORMED,
    SELF_INCLUSION,
    MONOTONICITY,
    VIEW_AGREEMENT,
    INTEGRITY,
    NO_DUPLICATION,
    SAME_VIEW,
    SENDING_VIEW,
    TRANSITIONAL,
    VIRTUAL_SYNCHRONY,
    FIFO,
    CAUSAL,
    TOTAL_ORDER,
    AGREEMENT,
    SAFE,
    SELF_DELIVERY,
    VIEW_LIVENESS,
];

/// Checks `history` against every guarantee and returns each violation found, grouped by
/// guarantee in DESIGN.md order. An empty result means the history is correct.
pub fn check(history: &History) -> Vec<Violation> {
    let mut report = Report::default();
    let index = Index::build(history, &mut report);
    let walk = Walk::run(history, &index);
    views::check(history, &index, &walk, &mut report);
    transitional::check(history, &walk, &mut report);
    integrity::check(history, &index, &walk, &mut report);
    fifo::check(history, &index, &walk, &mut report);
    same_view::check(history, &index, &walk, &mut report);
    sending_view::check(history, &index, &walk, &mut report);
    virtual_synchrony::check(history, &index, &walk, &mut report);
    causal::check(history, &index, &walk, &mut report);
    total_order::check(history, &index, &walk, &mut report);
    if history.complete {
        agreement::check(history, &index, &walk, &mut report);
        safe::check(history, &index, &walk, &mut report);
        self_delivery::check(history, &index, &walk, &mut report);
        view_liveness::check(history, &index, &walk, &mut report);
    }
    report.finish()
}
