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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

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
const WELL_FORMED: &str = "0 well-formed log";
const SELF_INCLUSION: &str = "1 self inclusion";
const MONOTONICITY: &str = "1 local monotonicity";
const VIEW_AGREEMENT: &str = "1 view agreement";
const INTEGRITY: &str = "2 integrity";
const NO_DUPLICATION: &str = "2 no duplication";
const SAME_VIEW: &str = "3 same-view delivery";
const SENDING_VIEW: &str = "3 sending view delivery";
const TRANSITIONAL: &str = "4 transitional views";
const VIRTUAL_SYNCHRONY: &str = "4 virtual synchrony";
const FIFO: &str = "5 fifo";
const CAUSAL: &str = "5 causal";
const TOTAL_ORDER: &str = "5 total order";
const AGREEMENT: &str = "6 agreement";
const SAFE: &str = "6 safe delivery";
const SELF_DELIVERY: &str = "7 self delivery";
const VIEW_LIVENESS: &str = "8 view liveness";

/// Every label, in the order reports list them.
const GUARANTEES: [&str; 17] = [
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

/// How many violations of one guarantee are spelled out. One bug usually breaks a guarantee many
/// times over; the first few say what is wrong, the rest would only bury the other guarantees.
const MAX_PER_GUARANTEE: usize = 20;

/// Checks `history` against every guarantee and returns each violation found, grouped by
/// guarantee in DESIGN.md order. An empty result means the history is correct.
pub fn check(history: &History) -> Vec<Violation> {
    let mut report = Report::default();
    let index = Index::build(history, &mut report);
    let walk = Walk::run(history, &index, &mut report);
    check_same_view(history, &index, &walk, &mut report);
    check_sending_view(history, &index, &walk, &mut report);
    check_virtual_synchrony(history, &index, &walk, &mut report);
    check_causal(history, &index, &walk, &mut report);
    check_total_order(history, &index, &walk, &mut report);
    if history.complete {
        check_agreement(history, &index, &walk, &mut report);
        check_safe(history, &index, &walk, &mut report);
        check_self_delivery(history, &index, &walk, &mut report);
        check_view_liveness(history, &index, &walk, &mut report);
    }
    report.finish()
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// Collects violations per guarantee, keeping only the first few of each.
#[derive(Default)]
struct Report {
    /// Guarantee -> (violations kept, how many more were seen).
    found: BTreeMap<&'static str, (Vec<Violation>, usize)>,
}

impl Report {
    /// Records one violation. The detail is built lazily: a broken run may break a guarantee
    /// millions of times, and formatting text that is then thrown away would dominate the check.
    fn add(&mut self, guarantee: &'static str, detail: impl FnOnce() -> String) {
        let (kept, more) = self.found.entry(guarantee).or_default();
        if kept.len() < MAX_PER_GUARANTEE {
            kept.push(Violation {
                guarantee,
                detail: detail(),
            });
        } else {
            *more += 1;
        }
    }

    /// The violations in guarantee order, each capped list followed by a note of what was left out.
    fn finish(mut self) -> Vec<Violation> {
        let mut out = Vec::new();
        for guarantee in GUARANTEES {
            if let Some((kept, more)) = self.found.remove(guarantee) {
                out.extend(kept);
                if more > 0 {
                    out.push(Violation {
                        guarantee,
                        detail: format!(
                            "... and {more} more violations of this guarantee not shown"
                        ),
                    });
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// A fixed-size set of small integers. Delivered-message sets are queried millions of times on
/// large histories; a bit per element keeps that cheap in time and memory.
#[derive(Debug, Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    /// Adds `i`; false if it was already there (or out of range, which callers never ask for).
    fn insert(&mut self, i: usize) -> bool {
        match self.0.get_mut(i / 64) {
            Some(word) => {
                let bit = 1u64 << (i % 64);
                let fresh = *word & bit == 0;
                *word |= bit;
                fresh
            }
            None => false,
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0
            .get(i / 64)
            .is_some_and(|word| word & (1u64 << (i % 64)) != 0)
    }
}

/// Counts fit in `u32` for any history that fits in memory; saturate rather than panic if not.
fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The distinct names in `names`, sorted, so group lists can be compared as sets: the daemon may
/// normalise the order of a multicast's groups, which does not change which groups it went to.
fn name_set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

fn same_groups(a: &[String], b: &[String]) -> bool {
    a == b || name_set(a) == name_set(b)
}

fn list(names: &[String]) -> String {
    format!("[{}]", names.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Index: names to numbers, and who sent what
// ---------------------------------------------------------------------------------------------

/// The one registered send of a message.
struct Sent<'a> {
    /// The sending process.
    proc: usize,
    /// Where the Send event is in the sender's log.
    pos: usize,
    /// How many messages the sender had sent before this one. FIFO and causality compare these.
    seq: u32,
    groups: &'a [String],
    order: gcs::Order,
}

/// Numbers for messages, groups and processes, and the facts every later pass needs about them.
/// Working on dense numbers instead of strings is what keeps large histories fast.
struct Index<'a> {
    msg_of: BTreeMap<&'a str, usize>,
    ids: Vec<&'a str>,
    /// The send of each message, if a logged process sent it.
    sent: Vec<Option<Sent<'a>>>,
    /// The order of each message: as sent if known, else as first delivered (the sender may not
    /// be logged).
    order: Vec<Option<gcs::Order>>,
    /// Per process, its messages by `seq`.
    sends_of: Vec<Vec<usize>>,
    group_of: BTreeMap<&'a str, usize>,
    group_names: Vec<&'a str>,
    /// Private name -> the logged processes carrying it (a name may be reused by a later session).
    procs_named: BTreeMap<&'a str, Vec<usize>>,
    /// Per process, where its first Disconnect is.
    disconnect: Vec<Option<usize>>,
    /// Per process and event, the number of what the event is about: the message of a Send or
    /// Deliver, the group of a Join, Leave or View. Resolving names once here spares every later
    /// pass a map lookup per event, which dominated the cost on large histories.
    keys: Vec<Vec<usize>>,
}

impl<'a> Index<'a> {
    fn build(history: &'a History, report: &mut Report) -> Self {
        let mut ix = Index {
            msg_of: BTreeMap::new(),
            ids: Vec::new(),
            sent: Vec::new(),
            order: Vec::new(),
            sends_of: vec![Vec::new(); history.processes.len()],
            group_of: BTreeMap::new(),
            group_names: Vec::new(),
            procs_named: BTreeMap::new(),
            disconnect: vec![None; history.processes.len()],
            keys: Vec::with_capacity(history.processes.len()),
        };
        // The message most recently resolved, as a guess for the next: processes mostly deliver
        // in the same order, and messages are numbered in the order first seen, so the next
        // delivery is usually the next number and costs one comparison instead of a lookup.
        let mut last_msg = usize::MAX;
        // Likewise the group most recently resolved: most events name the same group as the last.
        let mut last_group = usize::MAX;
        for (p, log) in history.processes.iter().enumerate() {
            ix.procs_named.entry(&log.name).or_default().push(p);
            let mut keys = Vec::with_capacity(log.events.len());
            for (pos, event) in log.events.iter().enumerate() {
                let key = match event {
                    Event::Join { group } | Event::Leave { group } => {
                        ix.group(group, &mut last_group)
                    }
                    Event::View(v) => ix.group(&v.group, &mut last_group),
                    Event::Send { id, groups, order } => {
                        for g in groups {
                            ix.group(g, &mut last_group);
                        }
                        let m = ix.msg(id, last_msg);
                        last_msg = m;
                        if let Some(first) = &ix.sent[m] {
                            // Ids are unique by contract; a reused one makes every later check
                            // ambiguous, so the first send stands and the reuse is reported.
                            let first_name = &history.processes[first.proc].name;
                            report.add(WELL_FORMED, || {
                                format!(
                                    "{} sends message {id} again; {first_name} already sent it",
                                    log.name
                                )
                            });
                        } else {
                            let seq = small(ix.sends_of[p].len());
                            ix.sends_of[p].push(m);
                            ix.sent[m] = Some(Sent {
                                proc: p,
                                pos,
                                seq,
                                groups,
                                order: *order,
                            });
                            ix.order[m] = Some(*order);
                        }
                        m
                    }
                    Event::Deliver {
                        id, groups, order, ..
                    } => {
                        for g in groups {
                            ix.group(g, &mut last_group);
                        }
                        let m = ix.msg(id, last_msg);
                        last_msg = m;
                        if ix.order[m].is_none() {
                            ix.order[m] = Some(*order);
                        }
                        m
                    }
                    Event::Disconnect => {
                        if ix.disconnect[p].is_none() {
                            ix.disconnect[p] = Some(pos);
                            let after = log.events.len() - pos - 1;
                            if after > 0 {
                                report.add(WELL_FORMED, || {
                                    format!("{} has {after} events after its Disconnect", log.name)
                                });
                            }
                        }
                        usize::MAX
                    }
                };
                keys.push(key);
            }
            ix.keys.push(keys);
        }
        // A delivery seen before the send (in log iteration order) recorded the delivered order;
        // the send is the authority, so apply it now.
        for (m, sent) in ix.sent.iter().enumerate() {
            if let Some(s) = sent {
                ix.order[m] = Some(s.order);
            }
        }
        ix
    }

    /// The number of message `id`, tried first as `guess + 1`.
    fn msg(&mut self, id: &'a str, guess: usize) -> usize {
        let next = guess.wrapping_add(1);
        if self.ids.get(next) == Some(&id) {
            return next;
        }
        if let Some(&m) = self.msg_of.get(id) {
            return m;
        }
        let m = self.ids.len();
        self.msg_of.insert(id, m);
        self.ids.push(id);
        self.sent.push(None);
        self.order.push(None);
        m
    }

    /// The number of group `name`, tried first as `*last`, which is then set to the answer.
    fn group(&mut self, name: &'a str, last: &mut usize) -> usize {
        if self.group_names.get(*last) == Some(&name) {
            return *last;
        }
        let g = match self.group_of.get(name) {
            Some(&g) => g,
            None => {
                let g = self.group_names.len();
                self.group_of.insert(name, g);
                self.group_names.push(name);
                g
            }
        };
        *last = g;
        g
    }

    /// The message or group event `pos` of process `p` is about (see `keys`).
    fn key(&self, p: usize, pos: usize) -> usize {
        self.keys
            .get(p)
            .and_then(|k| k.get(pos))
            .copied()
            .unwrap_or(usize::MAX)
    }

    /// Every name was interned by `build`; the fallback only keeps this total.
    fn group_no(&self, name: &str) -> usize {
        self.group_of.get(name).copied().unwrap_or(usize::MAX)
    }

    fn msgs(&self) -> usize {
        self.ids.len()
    }

    /// Whether process `p` crashed: its log has a Disconnect, which in a well-formed log is its
    /// last event. Its daemon died or its session was cut, so no liveness check asks anything
    /// more of it. (An unknown process counts as crashed: nothing is demanded of it either.)
    fn crashed(&self, p: usize) -> bool {
        self.disconnect.get(p).is_none_or(Option::is_some)
    }

    fn id(&self, m: usize) -> &str {
        self.ids.get(m).copied().unwrap_or("?")
    }

    fn gname(&self, g: usize) -> &str {
        self.group_names.get(g).copied().unwrap_or("?")
    }
}

// ---------------------------------------------------------------------------------------------
// The per-process walk: views, transitional views, membership, integrity, duplication, FIFO
// ---------------------------------------------------------------------------------------------

/// What one process knows about one group at a point in its log.
#[derive(Debug, Clone, Default)]
struct GroupState {
    /// Join issued and no Leave since.
    joined: bool,
    /// Leave issued, but no view without the process has arrived yet. The Leave is recorded when
    /// the request is issued, and messages ordered before the leave still reach the process in
    /// its old view, so until that view changes it still counts as a receiver of the group.
    /// Counted, because a process may leave and join again before the first leave takes effect;
    /// each leave ends with one view without the process.
    leaving: u32,
    /// The view received last since the latest Join (index into `Walk::views`).
    view: Option<usize>,
    /// The current view of an earlier membership the process is still leaving: set when it
    /// joins again before its leave's view arrived, and dropped at its next view. Views that
    /// arrive meanwhile still belong to that membership (the new join takes effect only after
    /// the leave), so a transitional view among them is compared with this one.
    stale: Option<usize>,
    /// The id of the last view of the group ever received, for monotonicity.
    last_view_id: Option<u64>,
    /// Whether that view was transitional: only a transitional view of a group operation may
    /// follow a transitional view.
    last_transitional: bool,
    last_join: Option<usize>,
    last_leave: Option<usize>,
}

impl GroupState {
    /// Whether a delivery to this group is a delivery to a member.
    fn receives(&self) -> bool {
        self.joined || self.leaving > 0
    }
}

/// One View event, and where it stands in its holder's log of the group.
struct ViewEntry<'a> {
    view: &'a gcs::GroupView,
    /// The process that received it.
    holder: usize,
    /// The holder received it as a member: it lists the holder and became the holder's current
    /// view. False for the view that ends a membership and for views seen without being a member
    /// (a watcher's); only members' views carry deliveries and obligations.
    member: bool,
    /// The holder's current view of the group when this one arrived.
    prev: Option<usize>,
    /// The view that directly replaced this one as the holder's current view. None if the log
    /// ends in this view, or if a Join started a new membership before the next view came:
    /// deliveries made between that Join and the next view are in no known view, so what the
    /// holder delivered "in this view" is not fully known.
    next: Option<usize>,
}

/// A message delivered by `proc` while its current view of `group` was `view`.
struct Record {
    proc: usize,
    group: usize,
    view: usize,
}

/// A send that its sender must eventually deliver itself, if it stays in one of `groups`.
struct Obligation {
    proc: usize,
    msg: usize,
    pos: usize,
    groups: Vec<usize>,
}

/// What the walk learned, for the cross-process checks.
struct Walk<'a> {
    views: Vec<ViewEntry<'a>>,
    /// Per message, the views it was delivered in.
    records: Vec<Vec<Record>>,
    /// Per process, the messages it delivered.
    delivered: Vec<Bits>,
    /// Per process, its first delivery of each message, in order.
    deliveries: Vec<Vec<usize>>,
    /// Per process, its group states at the end of its log.
    groups: Vec<BTreeMap<usize, GroupState>>,
    obligations: Vec<Obligation>,
    /// (group, view id) -> every View event naming that view, in log order. One id names one
    /// view cluster-wide, even across partitions, so these are the processes that installed it.
    installs: BTreeMap<(usize, u64), Vec<usize>>,
    /// Per message, (group, the sender's current view of it) at the Send, for each group of the
    /// message the sender was a member of with a view.
    send_views: Vec<Vec<(usize, usize)>>,
    /// (view, message): deliveries a leaver got through another group while its view of the group
    /// it is leaving was `view`. They may belong to that view or to a later one it never sees, so
    /// they are left out of `records`; virtual synchrony only uses them as an excuse.
    loose: Vec<(usize, usize)>,
}

impl<'a> Walk<'a> {
    fn run(history: &'a History, ix: &Index<'a>, report: &mut Report) -> Self {
        let procs = history.processes.len();
        let mut walk = Walk {
            views: Vec::new(),
            records: (0..ix.msgs()).map(|_| Vec::new()).collect(),
            delivered: vec![Bits::new(ix.msgs()); procs],
            deliveries: vec![Vec::new(); procs],
            groups: vec![BTreeMap::new(); procs],
            obligations: Vec::new(),
            installs: BTreeMap::new(),
            send_views: (0..ix.msgs()).map(|_| Vec::new()).collect(),
            loose: Vec::new(),
        };
        for (p, log) in history.processes.iter().enumerate() {
            let mut states: BTreeMap<usize, GroupState> = BTreeMap::new();
            // Per sender, the latest-sent FIFO message delivered so far: (seq, message).
            let mut fifo: BTreeMap<usize, (u32, usize)> = BTreeMap::new();
            let mut last_groups: (&[String], Vec<usize>) = (&[], Vec::new());
            for (pos, event) in log.events.iter().enumerate() {
                match event {
                    Event::Join { .. } => {
                        let st = states.entry(ix.key(p, pos)).or_default();
                        st.joined = true;
                        // A new membership starts without a view: one from an earlier membership
                        // says nothing about the group this process is joining now. Only the
                        // transitional check still looks at it while that membership lasts.
                        st.stale = if st.leaving > 0 {
                            st.view.or(st.stale)
                        } else {
                            None
                        };
                        st.view = None;
                        st.last_join = Some(pos);
                    }
                    Event::Leave { .. } => {
                        let st = states.entry(ix.key(p, pos)).or_default();
                        if st.joined {
                            st.joined = false;
                            st.leaving += 1;
                        }
                        st.last_leave = Some(pos);
                    }
                    Event::View(v) => {
                        let g = ix.key(p, pos);
                        let st = states.entry(g).or_default();
                        if let Some(last) = st.last_view_id {
                            if v.view_id <= last {
                                report.add(MONOTONICITY, || {
                                    format!(
                                        "{} receives view {} of {} after view {last}",
                                        log.name, v.view_id, v.group
                                    )
                                });
                            }
                        }
                        // A process that joined again while still leaving is in its earlier
                        // membership until the leave's view: that view comes next after it.
                        let prev = st.view.or(st.stale);
                        if v.transitional {
                            check_transitional(log, v, st, &walk.views, report);
                        }
                        st.last_view_id = Some(v.view_id);
                        st.last_transitional = v.transitional;
                        st.stale = None;
                        let lists_self = v.members.contains(&log.name);
                        let ends_membership = st.leaving > 0 && !lists_self;
                        if ends_membership {
                            // A leave has taken effect: this is the view that ends it.
                            st.leaving -= 1;
                        } else if st.joined && !lists_self {
                            report.add(SELF_INCLUSION, || {
                                format!(
                                    "{} is a member of {} but receives view {} without itself: {}",
                                    log.name,
                                    v.group,
                                    v.view_id,
                                    list(&v.members)
                                )
                            });
                        }
                        let here = walk.views.len();
                        if let Some(before) = prev.and_then(|e| walk.views.get_mut(e)) {
                            before.next = Some(here);
                        }
                        walk.views.push(ViewEntry {
                            view: v,
                            holder: p,
                            member: !ends_membership && lists_self && st.receives(),
                            prev,
                            next: None,
                        });
                        // The view that ends a membership is no view of a later one: a process
                        // that joined again is in no view of the group until its join's view.
                        st.view = (!ends_membership).then_some(here);
                        let installs = walk.installs.entry((g, v.view_id)).or_default();
                        let first = installs.first().copied();
                        installs.push(here);
                        match first {
                            None => {}
                            Some(first) => {
                                let other = &walk.views[first];
                                if let Some(diff) = view_difference(other.view, v) {
                                    let other_name = &history.processes[other.holder].name;
                                    report.add(VIEW_AGREEMENT, || {
                                        format!(
                                            "view {} of {} differs between {other_name} and {}: \
                                             {diff}",
                                            v.view_id, v.group, log.name
                                        )
                                    });
                                }
                            }
                        }
                    }
                    Event::Send { .. } => {
                        let m = ix.key(p, pos);
                        let Some(Some(sent)) = ix.sent.get(m) else {
                            continue;
                        };
                        if sent.proc != p || sent.pos != pos {
                            continue; // a reused id, already reported
                        }
                        let mut groups: Vec<usize> = sent
                            .groups
                            .iter()
                            .map(|g| ix.group_no(g))
                            .filter(|g| states.get(g).is_some_and(|st| st.joined))
                            .collect();
                        groups.sort_unstable();
                        groups.dedup();
                        if !groups.is_empty() {
                            walk.obligations.push(Obligation {
                                proc: p,
                                msg: m,
                                pos,
                                groups,
                            });
                        }
                        // The sender's view of each group it sends to as a member: no delivery
                        // of the message may be in an older one.
                        let mut in_views: Vec<(usize, usize)> = sent
                            .groups
                            .iter()
                            .map(|g| ix.group_no(g))
                            .filter_map(|g| {
                                let st = states.get(&g).filter(|st| st.receives())?;
                                Some((g, st.view.or(st.stale)?))
                            })
                            .collect();
                        in_views.sort_unstable();
                        in_views.dedup();
                        if let Some(slot) = walk.send_views.get_mut(m) {
                            *slot = in_views;
                        }
                    }
                    Event::Deliver { id, groups, .. } => {
                        let m = ix.key(p, pos);
                        let sent = ix.sent.get(m).and_then(Option::as_ref);
                        check_integrity(history, ix, log, event, sent, report);
                        if !walk.delivered[p].insert(m) {
                            report.add(NO_DUPLICATION, || {
                                format!("{} delivers message {id} more than once", log.name)
                            });
                            continue;
                        }
                        walk.deliveries[p].push(m);
                        if let Some(s) = sent.filter(|s| s.order >= gcs::Order::Fifo) {
                            match fifo.get(&s.proc) {
                                Some(&(seq, later)) if seq > s.seq => {
                                    report.add(FIFO, || {
                                        format!(
                                            "{} delivers {id} after {}, but {} sent {id} first",
                                            log.name,
                                            ix.id(later),
                                            history.processes[s.proc].name
                                        )
                                    });
                                }
                                _ => {
                                    fifo.insert(s.proc, (s.seq, m));
                                }
                            }
                        }
                        let mut member = false;
                        // Consecutive deliveries almost always name the same groups; resolve
                        // the names only when they change.
                        if last_groups.0 != groups.as_slice() {
                            let mut numbers: Vec<usize> =
                                groups.iter().map(|g| ix.group_no(g)).collect();
                            numbers.sort_unstable();
                            numbers.dedup();
                            last_groups = (groups.as_slice(), numbers);
                        }
                        // A process that asked to leave a group gets no view without itself, so
                        // its view of that group is stale once the leave is ordered. A message it
                        // also receives through a group it is fully in says nothing about the
                        // group it is leaving; only one that can have come through that group
                        // alone is known to be in its last view.
                        let through_full = last_groups
                            .1
                            .iter()
                            .any(|g| states.get(g).is_some_and(|st| st.joined && st.leaving == 0));
                        for &g in &last_groups.1 {
                            if let Some(st) = states.get(&g).filter(|st| st.receives()) {
                                member = true;
                                // Joined again while leaving: the earlier membership is still
                                // the one in effect.
                                let current = st.view.or(st.stale);
                                if st.leaving > 0 && through_full {
                                    if let Some(view) = current {
                                        walk.loose.push((view, m));
                                    }
                                    continue;
                                }
                                if let Some(view) = current {
                                    walk.records[m].push(Record {
                                        proc: p,
                                        group: g,
                                        view,
                                    });
                                }
                            }
                        }
                        if !member {
                            report.add(SAME_VIEW, || {
                                format!(
                                    "{} delivers {id} but is a member of none of its groups {}",
                                    log.name,
                                    list(groups)
                                )
                            });
                        }
                    }
                    Event::Disconnect => {}
                }
            }
            walk.groups[p] = states;
        }
        walk
    }
}

impl<'a> Walk<'a> {
    /// The id of the view that directly replaced view entry `e` at its holder, if known.
    fn next_id(&self, e: usize) -> Option<u64> {
        let next = self.views.get(e)?.next?;
        Some(self.views.get(next)?.view.view_id)
    }

    /// The transitional views of group operations in the chain that view entry `e` ends (`e`
    /// included), back to the regular view before it.
    fn chain_operations(&self, e: usize) -> Vec<&'a gcs::GroupView> {
        let mut out = Vec::new();
        let mut cur = Some(e);
        while let Some(entry) = cur.and_then(|c| self.views.get(c)) {
            if !entry.view.transitional {
                break;
            }
            if entry.view.reason != gcs::Reason::Network {
                out.push(entry.view);
            }
            cur = entry.prev;
        }
        out
    }

    /// The id of the first view of the transitional chain that view entry `e` ends, when the
    /// holder had no regular view before it; None if `e` is its own first view.
    fn first_of_period(&self, e: usize) -> Option<u64> {
        let mut cur = self.views.get(e)?.prev?;
        loop {
            let entry = self.views.get(cur)?;
            match entry.prev {
                Some(p) => cur = p,
                None => return Some(entry.view.view_id),
            }
        }
    }

    /// The id of the regular view the holder had before view entry `e`, looking back through
    /// the transitional views before `e`; None if the holder had no regular view before them
    /// (its first view of the group was a transitional one).
    fn regular_before(&self, e: usize) -> Option<u64> {
        let mut cur = self.views.get(e)?.prev?;
        loop {
            // `prev` always points to an earlier entry, so this ends.
            let entry = self.views.get(cur)?;
            if !entry.view.transitional {
                return Some(entry.view.view_id);
            }
            cur = entry.prev?;
        }
    }
}

/// Which fields of two views with the same group and id differ, or None if they are identical.
fn view_difference(a: &gcs::GroupView, b: &gcs::GroupView) -> Option<String> {
    let mut diffs = Vec::new();
    if a.members != b.members {
        diffs.push(format!(
            "members {} vs {}",
            list(&a.members),
            list(&b.members)
        ));
    }
    // Who joined and who left with a network view depends on where the receiver came from: when
    // two partitions merge, each side sees the other side join. Only members and flag must agree.
    let network = a.reason == gcs::Reason::Network && b.reason == gcs::Reason::Network;
    if a.joined != b.joined && !network {
        diffs.push(format!("joined {} vs {}", list(&a.joined), list(&b.joined)));
    }
    if a.left != b.left && !network {
        diffs.push(format!("left {} vs {}", list(&a.left), list(&b.left)));
    }
    if a.reason != b.reason {
        diffs.push(format!("reason {} vs {}", a.reason, b.reason));
    }
    if a.transitional != b.transitional {
        diffs.push(format!(
            "transitional {} vs {}",
            a.transitional, b.transitional
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// Guarantee 4, transitional views. A network event opens a transitional period with a
/// transitional view of reason network, announcing which members of the receiver's previous view
/// move on with it: a subset of that view's members, including the receiver, and never right
/// after another transitional view. Group operations the old view had not delivered everywhere
/// then take effect inside the period as transitional views of their own reason (join, leave,
/// disconnect), each right after a transitional view, or, for a join, as the joiner's first view.
/// A regular view ends the period.
///
/// `st` is the receiver's state of the group before this view is applied: its `view` is the
/// receiver's previous view, `last_view_id` the last one received.
fn check_transitional(
    log: &ProcessLog,
    v: &gcs::GroupView,
    st: &GroupState,
    views: &[ViewEntry<'_>],
    report: &mut Report,
) {
    let network = v.reason == gcs::Reason::Network;
    let last = || st.last_view_id.map_or("?".to_string(), |id| id.to_string());
    // A process that asked to join may first see the group in the transitional view of its join.
    let own_join = v.reason == gcs::Reason::Join && v.joined.contains(&log.name);
    // Joined again before its leave's view came: it is still in its earlier membership, whose
    // view the walk set aside at the Join.
    let rejoined = st.joined && st.leaving > 0;
    if network && st.last_transitional {
        report.add(TRANSITIONAL, || {
            format!(
                "{} receives transitional view {} of {} right after transitional view {}",
                log.name,
                v.view_id,
                v.group,
                last()
            )
        });
    }
    // A group operation's transitional view belongs inside a period, or starts a joiner's view.
    let in_period = st.last_transitional || (own_join && st.view.is_none());
    if !network && !in_period {
        report.add(TRANSITIONAL, || {
            let after = match st.last_view_id {
                Some(id) => format!("right after regular view {id}"),
                None => "as its first view".to_string(),
            };
            format!(
                "{} receives transitional {} view {} of {} {after}, outside a transitional period",
                log.name, v.reason, v.view_id, v.group
            )
        });
    }
    // Joined again (and maybe left again) before the first leave's view came: the earlier
    // membership is still the one in effect.
    let before = st.view.or(st.stale).and_then(|e| views.get(e));
    match before {
        // A group operation's transitional view adds or removes a member: only the network
        // view that opens the period is a subset of the view before it.
        Some(before) if network => {
            let outside = |m: &&String| !before.view.members.contains(m);
            if v.members.iter().any(|m| outside(&m)) {
                report.add(TRANSITIONAL, || {
                    let extra: Vec<String> = v.members.iter().filter(outside).cloned().collect();
                    format!(
                        "{} receives transitional view {} of {} listing {}, absent from its \
                         previous view {} {}",
                        log.name,
                        v.view_id,
                        v.group,
                        list(&extra),
                        before.view.view_id,
                        list(&before.view.members)
                    )
                });
            }
        }
        Some(_) => {}
        None if st.receives() && !own_join && !rejoined => report.add(TRANSITIONAL, || {
            format!(
                "{} receives transitional view {} of {} without a view of it before",
                log.name, v.view_id, v.group
            )
        }),
        None => {}
    }
    // A member that lacks itself is already a self-inclusion violation, unless it is leaving:
    // then the walk takes the view as the end of its membership, which only a regular view is,
    // or the transitional view of its own leave, taking effect inside the period.
    let own_leave = v.reason == gcs::Reason::Leave && v.left.contains(&log.name);
    if st.leaving > 0 && !v.members.contains(&log.name) && !own_leave {
        report.add(TRANSITIONAL, || {
            format!(
                "{} receives transitional view {} of {} without itself while leaving",
                log.name, v.view_id, v.group
            )
        });
    }
}

/// Guarantee 2, integrity: a delivery must match the send of the process it names.
fn check_integrity(
    history: &History,
    ix: &Index<'_>,
    log: &ProcessLog,
    delivery: &Event,
    sent: Option<&Sent<'_>>,
    report: &mut Report,
) {
    let Event::Deliver {
        id,
        sender,
        groups,
        order,
    } = delivery
    else {
        return;
    };
    let order = *order;
    let Some(s) = sent else {
        // Only provable when the named sender was logged: runs may log only some clients, and a
        // message from an unlogged one has no Send to find.
        if ix.procs_named.contains_key(sender.as_str()) {
            report.add(INTEGRITY, || {
                format!(
                    "{} delivers {id} from {sender}, which never sent it",
                    log.name
                )
            });
        }
        return;
    };
    let real_sender = name(history, s.proc);
    if real_sender != sender {
        report.add(INTEGRITY, || {
            format!(
                "{} delivers {id} as sent by {sender}, but {real_sender} sent it",
                log.name
            )
        });
    }
    if !same_groups(s.groups, groups) {
        report.add(INTEGRITY, || {
            format!(
                "{} delivers {id} for groups {}, but it was sent to {}",
                log.name,
                list(groups),
                list(s.groups)
            )
        });
    }
    if s.order != order {
        report.add(INTEGRITY, || {
            format!(
                "{} delivers {id} as {order}, but it was sent as {}",
                log.name, s.order
            )
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Guarantee 3: same-view delivery
// ---------------------------------------------------------------------------------------------

/// Every process that receives a message as a member of one of its groups receives it in the
/// same view of that group, or in a transitional view of the period that directly follows that
/// view.
///
/// The exception is extended virtual synchrony's: a process that delivered a message in a
/// regular view V may be cut off from one that had it but could not yet deliver it; the latter
/// then delivers it in the transitional period after V: in its network transitional view or in
/// any transitional view of a group operation after it, before the regular view that ends the
/// period. Processes cut off from each other may each do so in a transitional view of their
/// own. Two processes that move on together through the same transitional view still deliver in
/// the same view: virtual synchrony checks that.
///
/// The regular view a transitional view follows is read from every process that installed it,
/// so a process whose first view is the transitional view of its own join shares it too.
fn check_same_view(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    // (group, transitional view id) -> the regular views its holders had before the transitional
    // period it belongs to.
    // A holder whose period began before its first view (it joined inside the period) passes on
    // what the other holders of its earlier transitional view had. Installs are keyed by (group,
    // id) and ids grow along a chain, so the earlier view is always done first.
    //
    // A group operation delivered inside the period (by daemons that had not installed it when
    // the view change began) has a transitional view of its own; daemons that had installed it
    // made its regular view. A period therefore also follows the regular views of the
    // operations in its chain so far: those of the same operation, after the chain's start.
    let regular_ops = regular_operations(walk);
    let mut after: BTreeMap<(usize, u64), BTreeSet<u64>> = BTreeMap::new();
    for (&key, entries) in &walk.installs {
        let transitional = |e: &&usize| walk.views.get(**e).is_some_and(|x| x.view.transitional);
        if entries.iter().any(|e| transitional(&e)) {
            let mut bases = BTreeSet::new();
            for &e in entries.iter().filter(transitional) {
                let start = walk.regular_before(e);
                // Without a start the operation cannot be told from an earlier one alike.
                for op in start.map(|_| walk.chain_operations(e)).unwrap_or_default() {
                    let same = regular_ops.get(&(key.0, op_key(op)));
                    let after_start = |id: &&u64| start.is_some_and(|s| **id > s);
                    if let Some(id) = same.and_then(|ids| ids.iter().find(after_start)) {
                        bases.insert(*id);
                    }
                }
                match start {
                    Some(b) => {
                        bases.insert(b);
                    }
                    None => {
                        let first = walk.first_of_period(e);
                        if let Some(earlier) = first.and_then(|f| after.get(&(key.0, f))) {
                            bases.extend(earlier.iter().copied());
                        }
                    }
                }
            }
            after.insert(key, bases);
        }
    }
    let no_bases = BTreeSet::new();
    // A transitional view whose period no holder saw begin (every holder joined inside it, and
    // the view that opened it listed none of them) cannot be placed: it fits any view.
    let unplaced = |g: usize, id: u64| after.get(&(g, id)).is_some_and(BTreeSet::is_empty);
    for (m, records) in walk.records.iter().enumerate() {
        // Group -> view id -> the processes that delivered the message in that view.
        let mut by_group: BTreeMap<usize, BTreeMap<u64, Vec<usize>>> = BTreeMap::new();
        for r in records {
            if let Some(entry) = walk.views.get(r.view) {
                by_group
                    .entry(r.group)
                    .or_default()
                    .entry(entry.view.view_id)
                    .or_default()
                    .push(r.proc);
            }
        }
        for (g, views) in by_group {
            if views.len() < 2 {
                continue;
            }
            let bases = |id: u64| after.get(&(g, id)).unwrap_or(&no_bases);
            // Some view V must account for every delivery: made in V itself, or in a
            // transitional view of the period that directly followed V.
            let fits = |v: u64| {
                views
                    .keys()
                    .all(|&id| id == v || bases(id).contains(&v) || unplaced(g, id))
            };
            if views
                .keys()
                .any(|&id| fits(id) || bases(id).iter().any(|&b| fits(b)))
            {
                continue;
            }
            report.add(SAME_VIEW, || {
                let parts: Vec<String> = views
                    .iter()
                    .map(|(&id, procs)| match after.get(&(g, id)) {
                        None => format!("view {id} at {}", names(history, procs)),
                        Some(b) if b.is_empty() => {
                            format!("transitional view {id} at {}", names(history, procs))
                        }
                        Some(b) => {
                            let b: Vec<String> = b.iter().map(u64::to_string).collect();
                            format!(
                                "transitional view {id} (after view {}) at {}",
                                b.join(", "),
                                names(history, procs)
                            )
                        }
                    })
                    .collect();
                format!(
                    "{} is delivered in different views of {}: {}",
                    ix.id(m),
                    ix.gname(g),
                    parts.join("; ")
                )
            });
        }
    }
}

/// What a group operation's view did: its reason, who joined and who left.
type OpKey<'a> = (u8, &'a [String], &'a [String]);

fn op_key(v: &gcs::GroupView) -> OpKey<'_> {
    (v.reason as u8, &v.joined, &v.left)
}

/// The regular views of group operations, by group and what they did, with their ids.
fn regular_operations<'a>(walk: &Walk<'a>) -> BTreeMap<(usize, OpKey<'a>), BTreeSet<u64>> {
    let mut out: BTreeMap<(usize, OpKey<'a>), BTreeSet<u64>> = BTreeMap::new();
    for (&(g, id), entries) in &walk.installs {
        let Some(e) = entries.first().and_then(|&e| walk.views.get(e)) else {
            continue;
        };
        if !e.view.transitional && e.view.reason != gcs::Reason::Network {
            out.entry((g, op_key(e.view))).or_default().insert(id);
        }
    }
    out
}

/// Guarantee 3, sending view delivery, in the weak form the daemons promise: a message is
/// delivered in the view in which the sender's daemon took it in, which may be newer than the
/// view the sender had when it sent (a view change was in flight) but is never older. So every
/// delivery of a message to a group is in a view of it no older than the sender's view of that
/// group at the Send. View ids grow, so "older" is "smaller id".
fn check_sending_view(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (m, sends) in walk.send_views.iter().enumerate() {
        for &(g, sent_in) in sends {
            let Some(sent_in) = walk.views.get(sent_in) else {
                continue;
            };
            let since = sent_in.view.view_id;
            for r in walk.records.get(m).into_iter().flatten() {
                if r.group != g {
                    continue;
                }
                let Some(entry) = walk.views.get(r.view) else {
                    continue;
                };
                if entry.view.view_id < since {
                    report.add(SENDING_VIEW, || {
                        format!(
                            "{} delivers {} in view {} of {}, older than view {} in which {} \
                             sent it",
                            name(history, r.proc),
                            ix.id(m),
                            entry.view.view_id,
                            ix.gname(g),
                            since,
                            name(history, sent_in.holder)
                        )
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Guarantee 4: virtual synchrony
// ---------------------------------------------------------------------------------------------

/// Two processes that install the same view V of a group and both move on from it directly to
/// the same next view V' delivered the same messages to that group while in V. This is what the
/// flush before a view change buys; with transitional views it holds for them too, so two
/// processes that leave V through the same transitional view agree on V, and then on that
/// transitional view if they also reach the same next view (transitional or regular) after it.
///
/// Processes that move on to different views (they ended up on different sides of a partition)
/// are not compared, nor is one whose log ends in V (it crashed in V, or the run ended there).
fn check_virtual_synchrony(
    history: &History,
    ix: &Index<'_>,
    walk: &Walk<'_>,
    report: &mut Report,
) {
    let views = walk.views.len();
    // Per view entry, the messages its holder surely delivered to its group in it. Messages are
    // visited in ascending order, so each list comes out sorted.
    let mut sure: Vec<Vec<usize>> = vec![Vec::new(); views];
    for (m, records) in walk.records.iter().enumerate() {
        for r in records {
            if let Some(set) = sure.get_mut(r.view) {
                set.push(m);
            }
        }
    }
    // Per view entry, what a leaver got while in it but perhaps in a later view.
    let mut maybe: Vec<Vec<usize>> = vec![Vec::new(); views];
    for &(v, m) in &walk.loose {
        if let Some(set) = maybe.get_mut(v) {
            set.push(m);
        }
    }
    for set in sure.iter_mut().chain(maybe.iter_mut()) {
        set.sort_unstable();
        set.dedup();
    }
    for (&(g, id), entries) in &walk.installs {
        // Next view id -> the members that moved on from this view to it.
        let mut by_next: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for &e in entries {
            if !walk.views.get(e).is_some_and(|entry| entry.member) {
                continue;
            }
            if let Some(next) = walk.next_id(e) {
                by_next.entry(next).or_default().push(e);
            }
        }
        for (next, together) in by_next {
            let Some((&first, rest)) = together.split_first() else {
                continue;
            };
            for &e in rest {
                if of(&sure, first) == of(&sure, e) {
                    continue;
                }
                let only_first = missing(of(&sure, first), of(&sure, e), of(&maybe, e));
                let only_e = missing(of(&sure, e), of(&sure, first), of(&maybe, first));
                if only_first.is_empty() && only_e.is_empty() {
                    continue;
                }
                let (p, q) = (walk.views[first].holder, walk.views[e].holder);
                report.add(VIRTUAL_SYNCHRONY, || {
                    let mut parts = Vec::new();
                    if !only_first.is_empty() {
                        parts.push(format!(
                            "only {} delivers {}",
                            name(history, p),
                            some_ids(ix, &only_first)
                        ));
                    }
                    if !only_e.is_empty() {
                        parts.push(format!(
                            "only {} delivers {}",
                            name(history, q),
                            some_ids(ix, &only_e)
                        ));
                    }
                    format!(
                        "{} and {} both move from view {id} of {} to view {next}, but in view \
                         {id} {}",
                        name(history, p),
                        name(history, q),
                        ix.gname(g),
                        parts.join(" and ")
                    )
                });
            }
        }
    }
}

/// The set of view entry `e` in `sets`; empty for an unknown entry.
fn of(sets: &[Vec<usize>], e: usize) -> &[usize] {
    sets.get(e).map_or(&[], Vec::as_slice)
}

/// The elements of sorted `from` that are in neither sorted `other` nor sorted `excused`.
fn missing(from: &[usize], other: &[usize], excused: &[usize]) -> Vec<usize> {
    from.iter()
        .copied()
        .filter(|m| other.binary_search(m).is_err() && excused.binary_search(m).is_err())
        .collect()
}

/// The first few of `msgs` by id, and how many more there are: enough to find them in the logs.
fn some_ids(ix: &Index<'_>, msgs: &[usize]) -> String {
    const SHOWN: usize = 5;
    let ids: Vec<&str> = msgs.iter().take(SHOWN).map(|&m| ix.id(m)).collect();
    let more = msgs.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("{} and {more} more", ids.join(", "))
    } else {
        ids.join(", ")
    }
}

fn name(history: &History, p: usize) -> &str {
    history
        .processes
        .get(p)
        .map_or("?", |log| log.name.as_str())
}

fn names(history: &History, procs: &[usize]) -> String {
    let names: Vec<&str> = procs.iter().map(|&p| name(history, p)).collect();
    names.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Guarantee 5: causal order
// ---------------------------------------------------------------------------------------------

/// Replays all logs together so that every send is seen before its deliveries, computing each
/// message's causal past, and checks causal messages are delivered after their past.
///
/// The causal past of a message is what its sender had sent or delivered before sending it,
/// transitively. Because a sender's own earlier sends are always in the past of its later ones,
/// the past holds, for every process, a prefix of that process's sends: it is exactly a vector
/// clock (one count per process). That keeps the state at one small vector per message, which is
/// far smaller than a set of messages and makes 20k-message histories cheap.
fn check_causal(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    let procs = history.processes.len();
    let mut run = CausalRun {
        history,
        ix,
        past: vec![None; ix.msgs()],
        know: vec![vec![0; procs]; procs],
        pending: Vec::with_capacity(procs),
        floor: Vec::with_capacity(procs),
        seen: vec![Bits::new(ix.msgs()); procs],
        cursor: vec![0; procs],
        blocked_on: vec![None; procs],
        waiting: BTreeMap::new(),
        ready: (0..procs).collect(),
    };
    // What each process will deliver, so a delivery can tell which of its past is still to come.
    for deliveries in &walk.deliveries {
        let mut by_sender: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for &m in deliveries {
            if let Some(Some(s)) = ix.sent.get(m) {
                by_sender.entry(s.proc).or_default().push(s.seq);
            }
        }
        let pending = by_sender
            .into_iter()
            .map(|(sender, mut seqs)| {
                seqs.sort_unstable();
                seqs.dedup();
                let done = vec![false; seqs.len()];
                (
                    sender,
                    Pending {
                        seqs,
                        done,
                        head: 0,
                    },
                )
            })
            .collect::<Vec<_>>();
        let mut floor = vec![u32::MAX; procs];
        for (sender, p) in &pending {
            if let (Some(f), Some(first)) = (floor.get_mut(*sender), p.first()) {
                *f = first;
            }
        }
        run.floor.push(floor);
        run.pending.push(pending);
    }
    loop {
        while let Some(p) = run.ready.pop_front() {
            run.advance(p, false, report);
        }
        // Nothing can move: every blocked process waits for a send that comes after a delivery
        // that itself waits. Such a cycle cannot happen in a real run; report it and break it.
        let Some(start) = run.blocked_on.iter().position(Option::is_some) else {
            break;
        };
        let cycle = run.cycle_from(start);
        let culprit = cycle.first().copied().unwrap_or(start);
        report.add(CAUSAL, || {
            let parts: Vec<String> = cycle
                .iter()
                .map(|&p| {
                    let m = run.blocked_on[p].unwrap_or(usize::MAX);
                    let sender = ix
                        .sent
                        .get(m)
                        .and_then(Option::as_ref)
                        .map_or(usize::MAX, |s| s.proc);
                    format!(
                        "{} delivers {} before {} sends it",
                        name(history, p),
                        ix.id(m),
                        name(history, sender)
                    )
                })
                .collect();
            format!(
                "deliveries precede their own sends in a cycle: {}",
                parts.join("; ")
            )
        });
        run.advance(culprit, true, report);
    }
}

/// The state of the joint replay in [`check_causal`].
struct CausalRun<'h, 'i, 'a> {
    history: &'h History,
    ix: &'i Index<'a>,
    /// Per message, its causal past as a vector clock, once its send has been replayed.
    past: Vec<Option<Vec<u32>>>,
    /// Per process, the vector clock of everything it has sent or delivered so far.
    know: Vec<Vec<u32>>,
    /// Per process, for each sender it delivers from (sorted by sender), which of that sender's
    /// messages it has yet to deliver.
    pending: Vec<Vec<(usize, Pending)>>,
    /// Per process and sender, the `seq` of the earliest-sent message still to be delivered
    /// (`u32::MAX` if none): a flat copy of what `pending` says, so the check at each causal
    /// delivery is one pass over two arrays.
    floor: Vec<Vec<u32>>,
    /// Per process, the messages already replayed as delivered (later copies are duplicates).
    seen: Vec<Bits>,
    cursor: Vec<usize>,
    /// Per process, the message whose send it waits for.
    blocked_on: Vec<Option<usize>>,
    /// Message -> processes waiting for its send.
    waiting: BTreeMap<usize, Vec<usize>>,
    ready: VecDeque<usize>,
}

impl CausalRun<'_, '_, '_> {
    /// Replays `p`'s log until it ends or reaches a delivery whose send has not been replayed.
    /// With `force`, the first such delivery is replayed anyway, without its (unknowable) past.
    fn advance(&mut self, p: usize, mut force: bool, report: &mut Report) {
        self.blocked_on[p] = None;
        let ix = self.ix;
        let history = self.history;
        let Some(log) = history.processes.get(p) else {
            return;
        };
        while let Some(event) = log.events.get(self.cursor[p]) {
            let pos = self.cursor[p];
            match event {
                Event::Send { .. } => {
                    let m = ix.key(p, pos);
                    if let Some(Some(s)) = ix.sent.get(m) {
                        if s.proc == p && s.pos == pos {
                            self.past[m] = Some(self.know[p].clone());
                            let own = &mut self.know[p][p];
                            *own = (*own).max(s.seq.saturating_add(1));
                            if let Some(waiters) = self.waiting.remove(&m) {
                                self.ready.extend(waiters);
                            }
                        }
                    }
                }
                Event::Deliver { .. } => {
                    let m = ix.key(p, pos);
                    if let Some(Some(s)) = ix.sent.get(m) {
                        if !self.seen[p].contains(m) {
                            if self.past[m].is_none() && !force {
                                self.blocked_on[p] = Some(m);
                                self.waiting.entry(m).or_default().push(p);
                                return;
                            }
                            force = false;
                            self.deliver(p, m, s, report);
                        }
                    }
                }
                _ => {}
            }
            self.cursor[p] += 1;
        }
    }

    /// Replays `p`'s first delivery of `m`: checks its past is already delivered, then learns it.
    fn deliver(&mut self, p: usize, m: usize, s: &Sent<'_>, report: &mut Report) {
        self.seen[p].insert(m);
        let pending = &mut self.pending[p];
        if let Ok(i) = pending.binary_search_by_key(&s.proc, |(sender, _)| *sender) {
            pending[i].1.mark(s.seq);
            if let Some(f) = self.floor[p].get_mut(s.proc) {
                *f = pending[i].1.first().unwrap_or(u32::MAX);
            }
        }
        // A forced delivery has no known past: nothing to check and nothing to learn beyond it.
        let Some(past) = &self.past[m] else {
            return;
        };
        let floor = &self.floor[p];
        // Fast path first: in a correct history no sender has an undelivered message that the
        // past includes. Only on failure look at which senders and messages are involved.
        let behind = |(f, b): (&u32, &u32)| f < b;
        if s.order >= gcs::Order::Causal && floor.iter().zip(past).any(behind) {
            for (q, (&first, &bound)) in floor.iter().zip(past).enumerate() {
                if first < bound {
                    let early = self.ix.sends_of[q]
                        .get(first as usize)
                        .copied()
                        .unwrap_or(usize::MAX);
                    report.add(CAUSAL, || {
                        format!(
                            "{} delivers {} before {}, which is in its causal past",
                            name(self.history, p),
                            self.ix.id(m),
                            self.ix.id(early)
                        )
                    });
                }
            }
        }
        for (k, &v) in self.know[p].iter_mut().zip(past) {
            *k = (*k).max(v);
        }
        if let Some(k) = self.know[p].get_mut(s.proc) {
            *k = (*k).max(s.seq.saturating_add(1));
        }
    }

    /// Follows "waits for the sender of" links from `start` until a process repeats, and returns
    /// the cycle found (every blocked process waits on a blocked sender, so one always exists).
    fn cycle_from(&self, start: usize) -> Vec<usize> {
        let mut path: Vec<usize> = Vec::new();
        let mut cur = start;
        loop {
            if let Some(i) = path.iter().position(|&q| q == cur) {
                return path.split_off(i);
            }
            path.push(cur);
            let next = self.blocked_on[cur]
                .and_then(|m| self.ix.sent.get(m))
                .and_then(Option::as_ref)
                .map(|s| s.proc);
            match next {
                Some(q) if self.blocked_on.get(q).is_some_and(Option::is_some) => cur = q,
                // Defensive: a chain that ends (it cannot) is reported from where it started.
                _ => return vec![start],
            }
        }
    }
}

/// The messages of one sender that one process delivers, and which of them it already has.
///
/// The causal check asks, at every causal delivery and for every sender, for the earliest-sent
/// message still to come. Knowing the full list up front makes that a constant-time read.
struct Pending {
    /// Sequence numbers, ascending.
    seqs: Vec<u32>,
    done: Vec<bool>,
    /// Everything before `head` is done.
    head: usize,
}

impl Pending {
    fn mark(&mut self, seq: u32) {
        // Deliveries mostly come in send order, so the message is usually the one at `head`.
        let found = if self.seqs.get(self.head) == Some(&seq) {
            Ok(self.head)
        } else {
            self.seqs.binary_search(&seq)
        };
        if let Ok(i) = found {
            self.done[i] = true;
            while self.done.get(self.head) == Some(&true) {
                self.head += 1;
            }
        }
    }

    /// The earliest-sent message not delivered yet.
    fn first(&self) -> Option<u32> {
        self.seqs.get(self.head).copied()
    }
}

// ---------------------------------------------------------------------------------------------
// Guarantee 5: total order
// ---------------------------------------------------------------------------------------------

/// Any two processes deliver the agreed and safe messages they both deliver in the same order.
///
/// For each process p, its agreed deliveries are ranked; every other process q's agreed
/// deliveries, read in q's order, must then have increasing ranks in p. Any drop is a pair of
/// messages the two deliver in opposite orders.
fn check_total_order(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    let agreed = |m: &usize| {
        ix.order
            .get(*m)
            .copied()
            .flatten()
            .is_some_and(|o| o >= gcs::Order::Agreed)
    };
    let sequences: Vec<Vec<usize>> = walk
        .deliveries
        .iter()
        .map(|d| d.iter().copied().filter(agreed).collect())
        .collect();
    let mut rank = vec![u32::MAX; ix.msgs()];
    for (p, seq_p) in sequences.iter().enumerate() {
        for (i, &m) in seq_p.iter().enumerate() {
            rank[m] = small(i);
        }
        for (q, seq_q) in sequences.iter().enumerate().skip(p + 1) {
            // The message q delivered so far that p delivers latest.
            let mut latest: Option<(u32, usize)> = None;
            for &x in seq_q {
                let r = rank[x];
                if r == u32::MAX {
                    continue;
                }
                match latest {
                    Some((lr, y)) if r < lr => report.add(TOTAL_ORDER, || {
                        format!(
                            "{} delivers {} before {}, but {} delivers {} before {}",
                            name(history, p),
                            ix.id(x),
                            ix.id(y),
                            name(history, q),
                            ix.id(y),
                            ix.id(x)
                        )
                    }),
                    _ => latest = Some((r, x)),
                }
            }
        }
        for &m in seq_p {
            rank[m] = u32::MAX;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Liveness (complete histories only)
// ---------------------------------------------------------------------------------------------

/// Guarantee 6, agreement: a message delivered in a view reaches every member of that view that
/// stayed with the deliverer and did not crash.
///
/// Members are the processes that installed the view as members (one id names one view
/// cluster-wide); members that were not logged are not known and so not checked. Staying
/// together is read from what came next: a member is excused if it and every process that
/// delivered the message in the view moved on from it to views other than each other's, i.e. a
/// partition put them on different sides before the message reached it. A member whose log ends
/// in the view (it is still there, or leaving) has not moved away from anyone, and neither has a
/// live deliverer whose log ends there. A deliverer that crashed in the view binds only members
/// that also stayed in it: the others may have lost it together with the message. Where two
/// moved on to the same view, virtual synchrony already compares what they delivered; this
/// check adds that it was delivered at all.
fn check_agreement(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (m, records) in walk.records.iter().enumerate() {
        let mut reported = BTreeSet::new();
        // (group, view id) -> where the deliverers in that view went -> one such deliverer.
        // Every receiver usually delivered in the same view; look at each view once.
        let mut in_views: BTreeMap<(usize, u64), BTreeMap<Went, usize>> = BTreeMap::new();
        for r in records {
            let Some(entry) = walk.views.get(r.view) else {
                continue;
            };
            let went = match walk.next_id(r.view) {
                Some(next) => Went::To(next),
                None if ix.crashed(r.proc) => Went::Crashed,
                None => Went::Stayed,
            };
            in_views
                .entry((r.group, entry.view.view_id))
                .or_default()
                .entry(went)
                .or_insert(r.proc);
        }
        for (key, went) in &in_views {
            for &e in walk.installs.get(key).into_iter().flatten() {
                let Some(entry) = walk.views.get(e) else {
                    continue;
                };
                let x = entry.holder;
                let delivered = walk.delivered.get(x).is_none_or(|d| d.contains(m));
                if !entry.member || ix.crashed(x) || delivered {
                    continue;
                }
                // A deliverer x stayed together with, if any.
                let with = match walk.next_id(e) {
                    None => went.values().next(),
                    Some(next) => went
                        .get(&Went::Stayed)
                        .or_else(|| went.get(&Went::To(next))),
                };
                let Some(&p) = with else {
                    continue;
                };
                if reported.insert(x) {
                    report.add(AGREEMENT, || {
                        format!(
                            "{} never delivers {}, though it is in view {} of {} in which {} \
                             delivered it",
                            name(history, x),
                            ix.id(m),
                            entry.view.view_id,
                            entry.view.group,
                            name(history, p)
                        )
                    });
                }
            }
        }
    }
}

/// Where a process went from the view it delivered a message in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Went {
    /// Its log ends in the view and it did not crash: it is still there (or leaving).
    Stayed,
    /// Its log ends in the view with a crash.
    Crashed,
    /// It moved on directly to the view with this id.
    To(u64),
}

/// Guarantee 6, safe delivery: a safe message delivered in a regular view was received by every
/// member of that view before anyone delivered it, so every member that installed the view and
/// did not crash delivers it, there or, if a partition cut it off first, in the transitional
/// view that follows. Unlike agreement, moving on to different views is no excuse. A delivery
/// in a transitional view promises nothing about the members left behind: that is what the
/// transitional view is for.
fn check_safe(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for (m, records) in walk.records.iter().enumerate() {
        if ix.order.get(m).copied().flatten() != Some(gcs::Order::Safe) {
            continue;
        }
        let mut reported = BTreeSet::new();
        // (group, regular view id) -> one process that delivered the message in it.
        let mut in_views: BTreeMap<(usize, u64), usize> = BTreeMap::new();
        for r in records {
            if let Some(entry) = walk.views.get(r.view).filter(|e| !e.view.transitional) {
                in_views
                    .entry((r.group, entry.view.view_id))
                    .or_insert(r.proc);
            }
        }
        for (key, &p) in &in_views {
            for &e in walk.installs.get(key).into_iter().flatten() {
                let Some(entry) = walk.views.get(e) else {
                    continue;
                };
                let x = entry.holder;
                let delivered = walk.delivered.get(x).is_none_or(|d| d.contains(m));
                if entry.member && !ix.crashed(x) && !delivered && reported.insert(x) {
                    report.add(SAFE, || {
                        format!(
                            "{} never delivers safe message {}, though it installed view {} of \
                             {} in which {} delivered it",
                            name(history, x),
                            ix.id(m),
                            entry.view.view_id,
                            entry.view.group,
                            name(history, p)
                        )
                    });
                }
            }
        }
    }
}

/// Guarantee 7: a sender that stays in a group it multicast to as a member, and does not crash,
/// gets its own message. A sender that crashed owes nothing, and nobody else is owed its
/// messages: they may die with its daemon.
fn check_self_delivery(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    for ob in &walk.obligations {
        if ix.crashed(ob.proc) {
            continue;
        }
        let states = &walk.groups[ob.proc];
        let stayed = ob.groups.iter().find(|g| {
            states
                .get(g)
                .and_then(|st| st.last_leave)
                .is_none_or(|leave| leave < ob.pos)
        });
        if let Some(&g) = stayed {
            if !walk.delivered[ob.proc].contains(ob.msg) {
                report.add(SELF_DELIVERY, || {
                    format!(
                        "{} never delivers its own message {}, though it stayed in {}",
                        name(history, ob.proc),
                        ix.id(ob.msg),
                        ix.gname(g)
                    )
                });
            }
        }
    }
}

/// Guarantee 8: once the run settles, the processes still in a group all end in the same view of
/// it, that view is regular (a transitional period always ends with a regular view), and it lists exactly them among the logged processes. Crashed processes are
/// neither asked to be in it nor allowed to be listed.
fn check_view_liveness(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
    let procs = history.processes.len();
    for g in 0..ix.group_names.len() {
        let state = |p: usize| walk.groups.get(p).and_then(|s| s.get(&g));
        let connected = |p: usize| ix.disconnect.get(p).is_some_and(Option::is_none);
        let stay: Vec<usize> = (0..procs)
            .filter(|&p| connected(p) && state(p).is_some_and(|st| st.joined))
            .collect();
        if stay.is_empty() {
            continue;
        }
        let stay_names: BTreeSet<&str> = stay.iter().map(|&p| name(history, p)).collect();
        // Processes that went away after their last join; a name reused by a process that stays
        // is not counted as gone.
        let gone_names: BTreeSet<&str> = (0..procs)
            .filter(|&p| {
                state(p).is_some_and(|st| match st.last_join {
                    Some(join) => {
                        !st.joined
                            || ix
                                .disconnect
                                .get(p)
                                .copied()
                                .flatten()
                                .is_some_and(|d| d > join)
                    }
                    None => false,
                })
            })
            .map(|p| name(history, p))
            .filter(|n| !stay_names.contains(n))
            .collect();
        let group = ix.gname(g);
        // Final view id -> (one view entry with that id, the processes ending in it).
        let mut finals: BTreeMap<u64, (usize, Vec<usize>)> = BTreeMap::new();
        for &p in &stay {
            match state(p).and_then(|st| st.view) {
                None => report.add(VIEW_LIVENESS, || {
                    format!(
                        "{} ends as a member of {group} without a view of it",
                        name(history, p)
                    )
                }),
                Some(v) => {
                    let id = walk.views.get(v).map_or(0, |e| e.view.view_id);
                    finals.entry(id).or_insert((v, Vec::new())).1.push(p);
                }
            }
        }
        if finals.len() > 1 {
            report.add(VIEW_LIVENESS, || {
                let parts: Vec<String> = finals
                    .iter()
                    .map(|(id, (_, ps))| format!("view {id} at {}", names(history, ps)))
                    .collect();
                format!(
                    "the members of {group} end in different views: {}",
                    parts.join("; ")
                )
            });
        }
        for (id, (v, _)) in &finals {
            let Some(entry) = walk.views.get(*v) else {
                continue;
            };
            if entry.view.transitional {
                report.add(VIEW_LIVENESS, || {
                    format!(
                        "the members of {group} end in transitional view {id}, never followed by \
                         a regular view"
                    )
                });
            }
            let listed: BTreeSet<&str> = entry.view.members.iter().map(String::as_str).collect();
            let missing: Vec<&str> = stay_names.difference(&listed).copied().collect();
            let extra: Vec<&str> = gone_names.intersection(&listed).copied().collect();
            if !missing.is_empty() {
                report.add(VIEW_LIVENESS, || {
                    format!(
                        "final view {id} of {group} lacks members that stayed: {}",
                        missing.join(", ")
                    )
                });
            }
            if !extra.is_empty() {
                report.add(VIEW_LIVENESS, || {
                    format!(
                        "final view {id} of {group} still lists processes that left or \
                         disconnected: {}",
                        extra.join(", ")
                    )
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gcs::{GroupView, Order, Reason};

    fn join(g: &str) -> Event {
        Event::Join { group: g.into() }
    }

    fn leave(g: &str) -> Event {
        Event::Leave { group: g.into() }
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn send(id: &str, groups: &[&str], order: Order) -> Event {
        Event::Send {
            id: id.into(),
            groups: strings(groups),
            order,
        }
    }

    fn deliver(id: &str, sender: &str, groups: &[&str], order: Order) -> Event {
        Event::Deliver {
            id: id.into(),
            sender: sender.into(),
            groups: strings(groups),
            order,
        }
    }

    /// A view whose `joined`/`left` are given explicitly.
    fn view_with(
        g: &str,
        id: u64,
        members: &[&str],
        joined: &[&str],
        left: &[&str],
        reason: Reason,
    ) -> Event {
        Event::View(GroupView {
            group: g.into(),
            view_id: id,
            members: strings(members),
            joined: strings(joined),
            left: strings(left),
            reason,
            transitional: false,
        })
    }

    /// The view produced by `who` joining.
    fn joined(g: &str, id: u64, members: &[&str], who: &str) -> Event {
        view_with(g, id, members, &[who], &[], Reason::Join)
    }

    /// A transitional view: the members of the receiver's previous view that move on with it.
    fn transitional(g: &str, id: u64, members: &[&str]) -> Event {
        Event::View(GroupView {
            group: g.into(),
            view_id: id,
            members: strings(members),
            joined: Vec::new(),
            left: Vec::new(),
            reason: Reason::Network,
            transitional: true,
        })
    }

    /// A transitional view of a group operation taking effect inside a transitional period.
    fn transitional_op(
        g: &str,
        id: u64,
        members: &[&str],
        joined: &[&str],
        left: &[&str],
        reason: Reason,
    ) -> Event {
        Event::View(GroupView {
            group: g.into(),
            view_id: id,
            members: strings(members),
            joined: strings(joined),
            left: strings(left),
            reason,
            transitional: true,
        })
    }

    fn history(complete: bool, logs: Vec<(&str, Vec<Event>)>) -> History {
        History {
            processes: logs
                .into_iter()
                .map(|(name, events)| ProcessLog {
                    name: name.into(),
                    events,
                })
                .collect(),
            complete,
        }
    }

    fn guarantees(violations: &[Violation]) -> BTreeSet<&'static str> {
        violations.iter().map(|v| v.guarantee).collect()
    }

    /// Asserts the history breaks exactly `guarantee` and nothing else.
    fn assert_only(h: &History, guarantee: &'static str) {
        let found = check(h);
        assert!(
            !found.is_empty(),
            "expected a {guarantee} violation, found none"
        );
        assert_eq!(
            guarantees(&found),
            BTreeSet::from([guarantee]),
            "unexpected violations: {found:#?}"
        );
    }

    /// `a` and `b` both in `g`, ending in view 2.
    fn pair_in_g() -> (Vec<Event>, Vec<Event>) {
        (
            vec![
                join("g"),
                joined("g", 1, &["a"], "a"),
                joined("g", 2, &["a", "b"], "b"),
            ],
            vec![join("g"), joined("g", 2, &["a", "b"], "b")],
        )
    }

    /// Three processes, two groups, every order, a leave: everything as it should be.
    fn good_history(complete: bool) -> History {
        let (a, b, c) = ("a#d1", "b#d1", "c#d2");
        let v1 = || joined("g1", 1, &[a], a);
        let v2 = || joined("g1", 2, &[a, b], b);
        let v3 = || joined("g1", 3, &[a, b, c], c);
        let v4 = || joined("g2", 4, &[a], a);
        let v5 = || joined("g2", 5, &[a, b], b);
        let v6 = || view_with("g1", 6, &[a, b], &[], &[c], Reason::Leave);
        let m1 = || deliver("m1", a, &["g1"], Order::Reliable);
        let m2 = || deliver("m2", b, &["g1"], Order::Fifo);
        let m3 = || deliver("m3", c, &["g1"], Order::Causal);
        let m4 = || deliver("m4", a, &["g2"], Order::Agreed);
        let m5 = || deliver("m5", b, &["g1", "g2"], Order::Safe);
        let m6 = || deliver("m6", a, &["g1"], Order::Agreed);
        history(
            complete,
            vec![
                (
                    a,
                    vec![
                        join("g1"),
                        v1(),
                        v2(),
                        v3(),
                        join("g2"),
                        v4(),
                        v5(),
                        send("m1", &["g1"], Order::Reliable),
                        m1(),
                        m2(),
                        m3(),
                        send("m4", &["g2"], Order::Agreed),
                        m4(),
                        m5(),
                        v6(),
                        send("m6", &["g1"], Order::Agreed),
                        m6(),
                    ],
                ),
                (
                    b,
                    vec![
                        join("g1"),
                        v2(),
                        v3(),
                        join("g2"),
                        v5(),
                        m1(),
                        send("m2", &["g1"], Order::Fifo),
                        m2(),
                        m3(),
                        m4(),
                        send("m5", &["g1", "g2"], Order::Safe),
                        m5(),
                        v6(),
                        m6(),
                    ],
                ),
                (
                    c,
                    vec![
                        join("g1"),
                        v3(),
                        m1(),
                        m2(),
                        send("m3", &["g1"], Order::Causal),
                        m3(),
                        m5(),
                        leave("g1"),
                    ],
                ),
            ],
        )
    }

    #[test]
    fn good_history_passes() {
        assert_eq!(check(&good_history(true)), vec![]);
        assert_eq!(check(&good_history(false)), vec![]);
    }

    #[test]
    fn empty_history_passes() {
        assert_eq!(check(&History::default()), vec![]);
    }

    #[test]
    fn duplicate_delivery_is_reported() {
        let h = history(
            false,
            vec![(
                "a",
                vec![
                    join("g"),
                    joined("g", 1, &["a"], "a"),
                    send("m1", &["g"], Order::Reliable),
                    deliver("m1", "a", &["g"], Order::Reliable),
                    deliver("m1", "a", &["g"], Order::Reliable),
                ],
            )],
        );
        assert_only(&h, NO_DUPLICATION);
    }

    #[test]
    fn delivery_of_unsent_message_is_reported() {
        let h = history(
            false,
            vec![(
                "a",
                vec![
                    join("g"),
                    joined("g", 1, &["a"], "a"),
                    deliver("ghost", "a", &["g"], Order::Agreed),
                ],
            )],
        );
        assert_only(&h, INTEGRITY);
    }

    #[test]
    fn delivery_with_wrong_sender_is_reported() {
        let (mut a, mut b) = pair_in_g();
        a.push(send("m1", &["g"], Order::Reliable));
        a.push(deliver("m1", "a", &["g"], Order::Reliable));
        b.push(deliver("m1", "b", &["g"], Order::Reliable));
        assert_only(&history(false, vec![("a", a), ("b", b)]), INTEGRITY);
    }

    #[test]
    fn message_from_unlogged_sender_is_not_an_integrity_violation() {
        let h = history(
            false,
            vec![(
                "a",
                vec![
                    join("g"),
                    joined("g", 2, &["a", "z"], "a"),
                    deliver("mz", "z", &["g"], Order::Fifo),
                ],
            )],
        );
        assert_eq!(check(&h), vec![]);
    }

    #[test]
    fn fifo_reordering_is_reported() {
        let (mut a, mut b) = pair_in_g();
        a.extend([
            send("m1", &["g"], Order::Fifo),
            send("m2", &["g"], Order::Fifo),
            deliver("m1", "a", &["g"], Order::Fifo),
            deliver("m2", "a", &["g"], Order::Fifo),
        ]);
        b.extend([
            deliver("m2", "a", &["g"], Order::Fifo),
            deliver("m1", "a", &["g"], Order::Fifo),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), FIFO);
    }

    #[test]
    fn reliable_messages_may_be_reordered() {
        let (mut a, mut b) = pair_in_g();
        a.extend([
            send("m1", &["g"], Order::Reliable),
            send("m2", &["g"], Order::Reliable),
            deliver("m1", "a", &["g"], Order::Reliable),
            deliver("m2", "a", &["g"], Order::Reliable),
        ]);
        b.extend([
            deliver("m2", "a", &["g"], Order::Reliable),
            deliver("m1", "a", &["g"], Order::Reliable),
        ]);
        assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
    }

    /// `a`, `b`, `c` all in `g`, ending in view 3.
    fn trio_in_g() -> [Vec<Event>; 3] {
        let v3 = || joined("g", 3, &["a", "b", "c"], "c");
        [
            vec![
                join("g"),
                joined("g", 1, &["a"], "a"),
                joined("g", 2, &["a", "b"], "b"),
                v3(),
            ],
            vec![join("g"), joined("g", 2, &["a", "b"], "b"), v3()],
            vec![join("g"), v3()],
        ]
    }

    #[test]
    fn causal_violation_is_reported() {
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Causal);
        let m2 = || deliver("m2", "b", &["g"], Order::Causal);
        a.extend([send("m1", &["g"], Order::Causal), m1(), m2()]);
        b.extend([m1(), send("m2", &["g"], Order::Causal), m2()]);
        c.extend([m2(), m1()]);
        let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
        assert_only(&h, CAUSAL);
    }

    #[test]
    fn causality_through_a_reliable_message_counts() {
        // m1 (causal, from a) reaches c only through b's reliable relay r, then m2.
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Causal);
        let r = || deliver("r", "b", &["g"], Order::Reliable);
        let m2 = || deliver("m2", "c", &["g"], Order::Causal);
        a.extend([send("m1", &["g"], Order::Causal), m1()]);
        b.extend([m1(), send("r", &["g"], Order::Reliable), r()]);
        c.extend([r(), send("m2", &["g"], Order::Causal), m2()]);
        a.extend([m2(), r()]);
        let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
        // a delivers m2 before r, which c had delivered before sending m2.
        assert_only(&h, CAUSAL);
    }

    #[test]
    fn delivery_before_its_own_send_is_reported_not_looped() {
        let (mut a, mut b) = pair_in_g();
        a.extend([
            deliver("m2", "b", &["g"], Order::Reliable),
            send("m1", &["g"], Order::Reliable),
        ]);
        b.extend([
            deliver("m1", "a", &["g"], Order::Reliable),
            send("m2", &["g"], Order::Reliable),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), CAUSAL);
    }

    #[test]
    fn opposite_agreed_orders_are_reported() {
        let (mut a, mut b) = pair_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        let m2 = || deliver("m2", "b", &["g"], Order::Agreed);
        a.extend([send("m1", &["g"], Order::Agreed), m1(), m2()]);
        b.extend([send("m2", &["g"], Order::Agreed), m2(), m1()]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), TOTAL_ORDER);
    }

    #[test]
    fn view_without_its_member_is_reported() {
        let h = history(
            false,
            vec![(
                "a",
                vec![join("g"), view_with("g", 1, &[], &[], &[], Reason::Join)],
            )],
        );
        assert_only(&h, SELF_INCLUSION);
    }

    #[test]
    fn view_id_going_backwards_is_reported() {
        let h = history(
            false,
            vec![(
                "a",
                vec![
                    join("g"),
                    joined("g", 2, &["a"], "a"),
                    view_with("g", 1, &["a"], &[], &[], Reason::Network),
                ],
            )],
        );
        assert_only(&h, MONOTONICITY);
    }

    #[test]
    fn two_views_with_one_id_are_reported() {
        let (a, mut b) = pair_in_g();
        b[1] = joined("g", 2, &["a", "b"], "a");
        assert_only(&history(false, vec![("a", a), ("b", b)]), VIEW_AGREEMENT);
    }

    #[test]
    fn delivery_in_different_views_is_reported() {
        let (mut a, mut b) = pair_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        a.extend([send("m1", &["g"], Order::Agreed), m1()]);
        b.extend([
            view_with("g", 3, &["a", "b"], &[], &[], Reason::Network),
            m1(),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), SAME_VIEW);
    }

    #[test]
    fn delivery_to_a_non_member_is_reported() {
        let (mut a, b) = pair_in_g();
        a.push(send("m1", &["g"], Order::Reliable));
        a.push(deliver("m1", "a", &["g"], Order::Reliable));
        let c = vec![deliver("m1", "a", &["g"], Order::Reliable)];
        let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
        assert_only(&h, SAME_VIEW);
    }

    #[test]
    fn delivery_after_a_leave_request_counts_in_the_old_view() {
        // The leave is recorded when requested; messages ordered before it still arrive.
        let (mut a, mut b) = pair_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Safe);
        a.extend([
            send("m1", &["g"], Order::Safe),
            m1(),
            view_with("g", 3, &["a"], &[], &["b"], Reason::Leave),
        ]);
        b.extend([leave("g"), m1()]);
        assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
    }

    #[test]
    fn joining_again_before_the_leave_takes_effect_is_no_violation() {
        // b leaves and joins again at once: its leave's view (without b) arrives after the second
        // join was requested, then the view of the second join.
        let (mut a, mut b) = pair_in_g();
        let out = || view_with("g", 3, &["a"], &[], &["b"], Reason::Leave);
        let back = || joined("g", 4, &["a", "b"], "b");
        a.extend([out(), back()]);
        b.extend([leave("g"), join("g"), out(), back()]);
        assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
    }

    #[test]
    fn a_message_reaching_a_leaver_through_another_group_is_not_put_in_the_left_groups_view() {
        // b is leaving g but stays in h; a message to both groups, ordered after b's leave, comes
        // to b through h. It was delivered in g's view 3 (without b), which b never sees.
        let (mut a, mut b) = pair_in_g();
        a.extend([
            join("h"),
            joined("h", 3, &["a"], "a"),
            joined("h", 4, &["a", "b"], "b"),
            view_with("g", 5, &["a"], &[], &["b"], Reason::Leave),
            send("m", &["g", "h"], Order::Fifo),
            deliver("m", "a", &["g", "h"], Order::Fifo),
        ]);
        b.extend([
            join("h"),
            joined("h", 4, &["a", "b"], "b"),
            leave("g"),
            deliver("m", "a", &["g", "h"], Order::Fifo),
            view_with("g", 5, &["a"], &[], &["b"], Reason::Leave),
        ]);
        assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
    }

    fn missing_delivery(complete: bool) -> History {
        let (mut a, b) = pair_in_g();
        a.extend([
            send("m1", &["g"], Order::Agreed),
            deliver("m1", "a", &["g"], Order::Agreed),
        ]);
        history(complete, vec![("a", a), ("b", b)])
    }

    #[test]
    fn missing_delivery_is_reported_when_complete() {
        assert_only(&missing_delivery(true), AGREEMENT);
    }

    #[test]
    fn missing_delivery_is_not_reported_when_incomplete() {
        assert_eq!(check(&missing_delivery(false)), vec![]);
    }

    #[test]
    fn missing_delivery_to_a_disconnected_member_is_allowed() {
        let mut h = missing_delivery(true);
        h.processes[1].events.push(Event::Disconnect);
        // b's disconnect is allowed to lose m1; a is then alone in a view still listing b.
        h.processes[0]
            .events
            .push(view_with("g", 3, &["a"], &[], &["b"], Reason::Disconnect));
        assert_eq!(check(&h), vec![]);
    }

    #[test]
    fn sender_missing_its_own_message_is_reported() {
        let h = history(
            true,
            vec![(
                "a",
                vec![
                    join("g"),
                    joined("g", 1, &["a"], "a"),
                    send("m1", &["g"], Order::Fifo),
                ],
            )],
        );
        assert_only(&h, SELF_DELIVERY);
    }

    #[test]
    fn differing_last_views_are_reported() {
        let (a, mut b) = pair_in_g();
        b.push(view_with("g", 3, &["a", "b"], &[], &[], Reason::Network));
        assert_only(&history(true, vec![("a", a), ("b", b)]), VIEW_LIVENESS);
    }

    #[test]
    fn final_view_listing_a_leaver_is_reported() {
        let (a, mut b) = pair_in_g();
        b.push(leave("g"));
        assert_only(&history(true, vec![("a", a), ("b", b)]), VIEW_LIVENESS);
    }

    /// `a`, `b`, `c` in view 3 of `g`. `a` sends `m1` with `order` and delivers it in view 3, and
    /// so does `b`; then a partition puts `c` apart (transitional views 4 and 5, regular views 6
    /// and 7) before `c` gets `m1`, and the sides merge again in view 8.
    fn split_and_merge(order: Order) -> History {
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], order);
        let ab = || {
            [
                transitional("g", 4, &["a", "b"]),
                view_with("g", 6, &["a", "b"], &[], &["c"], Reason::Network),
            ]
        };
        let merged = || view_with("g", 8, &["a", "b", "c"], &["c"], &[], Reason::Network);
        a.extend([send("m1", &["g"], order), m1()]);
        a.extend(ab());
        a.push(merged());
        b.push(m1());
        b.extend(ab());
        b.push(merged());
        c.extend([
            transitional("g", 5, &["c"]),
            view_with("g", 7, &["c"], &[], &["a", "b"], Reason::Network),
            merged(),
        ]);
        history(true, vec![("a", a), ("b", b), ("c", c)])
    }

    #[test]
    fn message_cut_off_by_a_partition_need_not_reach_the_other_side() {
        assert_eq!(check(&split_and_merge(Order::Agreed)), vec![]);
    }

    #[test]
    fn safe_message_delivered_in_a_regular_view_missing_across_a_partition_is_reported() {
        assert_only(&split_and_merge(Order::Safe), SAFE);
    }

    #[test]
    fn safe_message_may_reach_the_far_side_in_its_transitional_view() {
        let mut h = split_and_merge(Order::Safe);
        // c had m1 but could not deliver it in view 3 before the partition: it does in view 5.
        h.processes[2]
            .events
            .insert(3, deliver("m1", "a", &["g"], Order::Safe));
        assert_eq!(check(&h), vec![]);
    }

    /// `a` and `c` install a join of `d` as regular view 4, and `a` sends `m1` in it; `b`, cut
    /// off, gets the same join (or `other`'s, if given) as a transitional view of its period
    /// after view 3 and delivers `m1` there.
    fn join_seen_apart(other: Option<&str>) -> History {
        let [mut a, mut b, mut c] = trio_in_g();
        let v4 = || joined("g", 4, &["a", "b", "c", "d"], "d");
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        a.extend([v4(), send("m1", &["g"], Order::Agreed), m1()]);
        c.extend([v4(), m1()]);
        let who = other.unwrap_or("d");
        b.extend([
            transitional("g", 10, &["b"]),
            transitional_op("g", 12, &["b"], &[who], &[], Reason::Join),
            m1(),
            view_with("g", 20, &["b"], &[], &["a", "c"], Reason::Network),
        ]);
        history(false, vec![("a", a), ("b", b), ("c", c)])
    }

    #[test]
    fn a_transitional_view_of_an_operation_stands_for_its_regular_view_elsewhere() {
        assert_eq!(check(&join_seen_apart(None)), vec![]);
        assert_only(&join_seen_apart(Some("e")), SAME_VIEW);
    }

    /// `b` leaves `g`, joins again and leaves again before its first leave's view arrives: it is
    /// still a member of view 3, so what it delivers there counts, and so does what it misses.
    fn rejoined_while_leaving(b_delivers: bool) -> History {
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        let v4 = || view_with("g", 4, &["a", "c"], &[], &["b"], Reason::Leave);
        a.extend([send("m1", &["g"], Order::Agreed), m1(), v4()]);
        c.extend([m1(), v4()]);
        b.extend([leave("g"), join("g"), leave("g")]);
        if b_delivers {
            b.push(m1());
        }
        b.push(v4());
        history(false, vec![("a", a), ("b", b), ("c", c)])
    }

    #[test]
    fn a_process_that_joins_again_while_leaving_stays_in_its_first_membership() {
        assert_eq!(check(&rejoined_while_leaving(true)), vec![]);
        assert_only(&rejoined_while_leaving(false), VIRTUAL_SYNCHRONY);
    }

    #[test]
    fn crashed_member_owes_no_safe_delivery() {
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Safe);
        let ab = || {
            [
                transitional("g", 4, &["a", "b"]),
                view_with("g", 5, &["a", "b"], &[], &["c"], Reason::Network),
            ]
        };
        a.extend([send("m1", &["g"], Order::Safe), m1()]);
        a.extend(ab());
        b.push(m1());
        b.extend(ab());
        c.push(Event::Disconnect);
        assert_eq!(
            check(&history(true, vec![("a", a), ("b", b), ("c", c)])),
            vec![]
        );
    }

    #[test]
    fn message_of_a_crashed_sender_may_reach_nobody() {
        // a's daemon dies right after a sends m1; b sees a go with a network event.
        let (mut a, mut b) = pair_in_g();
        a.extend([send("m1", &["g"], Order::Safe), Event::Disconnect]);
        b.extend([
            transitional("g", 3, &["b"]),
            view_with("g", 4, &["b"], &[], &["a"], Reason::Network),
        ]);
        assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
    }

    /// `a` delivers its own `m1` in view 2 of `g`, then its daemon dies; `b` never gets `m1`
    /// and sees `a` go with a network event.
    fn deliverer_crashes(order: Order) -> History {
        let (mut a, mut b) = pair_in_g();
        a.extend([
            send("m1", &["g"], order),
            deliver("m1", "a", &["g"], order),
            Event::Disconnect,
        ]);
        b.extend([
            transitional("g", 3, &["b"]),
            view_with("g", 4, &["b"], &[], &["a"], Reason::Network),
        ]);
        history(true, vec![("a", a), ("b", b)])
    }

    #[test]
    fn message_delivered_only_by_a_member_that_crashed_binds_nobody_who_moved_on() {
        assert_eq!(check(&deliverer_crashes(Order::Agreed)), vec![]);
    }

    #[test]
    fn safe_message_delivered_by_a_member_that_crashed_is_still_owed() {
        // a could only deliver a safe message once b had it too.
        assert_only(&deliverer_crashes(Order::Safe), SAFE);
    }

    #[test]
    fn missing_delivery_to_a_leaver_still_in_the_view_is_reported() {
        // c asked to leave and its log ends in view 3: it has not moved away from a and b, so it
        // still gets what they delivered in view 3.
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        let out = || view_with("g", 4, &["a", "b"], &[], &["c"], Reason::Leave);
        a.extend([send("m1", &["g"], Order::Agreed), m1(), out()]);
        b.extend([m1(), out()]);
        c.push(leave("g"));
        assert_only(
            &history(true, vec![("a", a), ("b", b), ("c", c)]),
            AGREEMENT,
        );
    }

    #[test]
    fn differing_deliveries_before_the_same_next_view_are_reported() {
        // a and b leave view 3 through the same transitional view 4, but only a delivered m1 in
        // view 3; b delivers it in view 4.
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        a.extend([
            send("m1", &["g"], Order::Agreed),
            m1(),
            transitional("g", 4, &["a", "b"]),
        ]);
        b.extend([transitional("g", 4, &["a", "b"]), m1()]);
        c.push(transitional("g", 5, &["c"]));
        let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
        assert_only(&h, VIRTUAL_SYNCHRONY);
    }

    #[test]
    fn delivery_in_a_view_older_than_the_senders_is_reported() {
        // a sends m1 in view 3; b, still in view 2, delivers it there.
        let (mut a, mut b) = pair_in_g();
        a.extend([
            view_with("g", 3, &["a", "b"], &[], &[], Reason::Network),
            send("m1", &["g"], Order::Reliable),
        ]);
        b.push(deliver("m1", "a", &["g"], Order::Reliable));
        assert_only(&history(false, vec![("a", a), ("b", b)]), SENDING_VIEW);
    }

    #[test]
    fn delivery_in_a_transitional_view_after_another_view_is_reported() {
        // a delivers m1 in view 2; b in transitional view 5, which follows view 4, not view 2.
        let (mut a, mut b) = pair_in_g();
        a.extend([
            send("m1", &["g"], Order::Reliable),
            deliver("m1", "a", &["g"], Order::Reliable),
        ]);
        b.extend([
            view_with("g", 4, &["a", "b"], &[], &[], Reason::Network),
            transitional("g", 5, &["b"]),
            deliver("m1", "a", &["g"], Order::Reliable),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), SAME_VIEW);
    }

    #[test]
    fn transitional_view_with_a_member_new_to_the_receiver_is_reported() {
        let (a, mut b) = pair_in_g();
        b.push(transitional("g", 3, &["b", "c"]));
        assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
    }

    #[test]
    fn transitional_view_after_a_transitional_view_is_reported() {
        let (a, mut b) = pair_in_g();
        b.extend([transitional("g", 3, &["b"]), transitional("g", 4, &["b"])]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
    }

    #[test]
    fn transitional_view_without_a_view_before_it_is_reported() {
        let h = history(
            false,
            vec![("a", vec![join("g"), transitional("g", 1, &["a"])])],
        );
        assert_only(&h, TRANSITIONAL);
    }

    #[test]
    fn transitional_view_ending_a_leavers_membership_is_reported() {
        let (a, mut b) = pair_in_g();
        b.extend([leave("g"), transitional("g", 3, &["a"])]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
    }

    /// `a`, `b`, `c` in view 3 of `g`; `b` sent `m0` and `a` sent `m1` there, and `a` delivered
    /// `m1`. A partition puts `a` apart (transitional view 4, regular view 6). On the other side,
    /// `b` and `c` deliver `m0` in their transitional view 5; `d`'s join takes effect inside the
    /// period (transitional view 7, `d`'s first view), and `b`, `c`, `d` deliver `m1` in it;
    /// `c`'s leave takes effect too (transitional view 8, `c`'s last); `d` sends `m2` and regular
    /// view 9 ends the period. The sides merge in view 10.
    fn transitional_chain() -> History {
        let [mut a, mut b, mut c] = trio_in_g();
        let m0 = || deliver("m0", "b", &["g"], Order::Fifo);
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        let m2 = || deliver("m2", "d", &["g"], Order::Causal);
        let t5 = || transitional("g", 5, &["b", "c"]);
        let t7 = || transitional_op("g", 7, &["b", "c", "d"], &["d"], &[], Reason::Join);
        let t8 = || transitional_op("g", 8, &["b", "d"], &[], &["c"], Reason::Leave);
        let v9 = || view_with("g", 9, &["b", "d"], &[], &["a"], Reason::Network);
        let merged = || view_with("g", 10, &["a", "b", "d"], &["a"], &[], Reason::Network);
        a.extend([
            send("m1", &["g"], Order::Agreed),
            m1(),
            transitional("g", 4, &["a"]),
            view_with("g", 6, &["a"], &[], &["b", "c"], Reason::Network),
            view_with("g", 10, &["a", "b", "d"], &["b", "d"], &[], Reason::Network),
        ]);
        b.extend([
            send("m0", &["g"], Order::Fifo),
            t5(),
            m0(),
            t7(),
            m1(),
            t8(),
            m2(),
            v9(),
            merged(),
        ]);
        c.extend([t5(), m0(), t7(), m1(), leave("g"), t8()]);
        let d = vec![
            join("g"),
            t7(),
            m1(),
            t8(),
            send("m2", &["g"], Order::Causal),
            m2(),
            v9(),
            merged(),
        ];
        history(true, vec![("a", a), ("b", b), ("c", c), ("d", d)])
    }

    #[test]
    fn a_transitional_chain_with_a_join_and_a_leave_is_no_violation() {
        assert_eq!(check(&transitional_chain()), vec![]);
    }

    #[test]
    fn delivery_in_a_later_transitional_view_than_the_others_in_it_is_reported() {
        // d delivers m1 in transitional view 8 while b and c, who move on with it from view 7
        // to view 8, deliver it in view 7. Both follow view 3, so same-view delivery holds; it
        // is virtual synchrony that breaks.
        let mut h = transitional_chain();
        h.processes[3].events.swap(2, 3);
        let found = guarantees(&check(&h));
        assert_eq!(found, BTreeSet::from([VIRTUAL_SYNCHRONY]));
    }

    #[test]
    fn partitions_may_each_flush_a_view_in_their_own_transitional_views() {
        // Nobody delivers m1 in view 3: a in its transitional view 4, b, c and the joiner d in
        // the transitional view 6 of d's join, after transitional view 5.
        let [mut a, mut b, mut c] = trio_in_g();
        let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
        let t6 = || transitional_op("g", 6, &["b", "c", "d"], &["d"], &[], Reason::Join);
        let v7 = || view_with("g", 7, &["b", "c", "d"], &["d"], &["a"], Reason::Network);
        a.extend([
            send("m1", &["g"], Order::Agreed),
            transitional("g", 4, &["a"]),
            m1(),
            view_with("g", 8, &["a"], &[], &["b", "c"], Reason::Network),
        ]);
        b.extend([transitional("g", 5, &["b", "c"]), t6(), m1(), v7()]);
        c.extend([transitional("g", 5, &["b", "c"]), t6(), m1(), v7()]);
        let d = vec![join("g"), t6(), m1(), v7()];
        let h = history(false, vec![("a", a), ("b", b), ("c", c), ("d", d)]);
        assert_eq!(check(&h), vec![]);
    }

    #[test]
    fn delivery_in_a_transitional_chain_after_another_view_is_reported() {
        // a delivers m1 in view 2; b in transitional view 6, in the period after view 4.
        let (mut a, mut b) = pair_in_g();
        a.extend([
            send("m1", &["g"], Order::Reliable),
            deliver("m1", "a", &["g"], Order::Reliable),
        ]);
        b.extend([
            view_with("g", 4, &["a", "b"], &[], &[], Reason::Network),
            transitional("g", 5, &["b"]),
            transitional_op("g", 6, &["b", "c"], &["c"], &[], Reason::Join),
            deliver("m1", "a", &["g"], Order::Reliable),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), SAME_VIEW);
    }

    #[test]
    fn network_transitional_view_after_a_transitional_join_view_is_reported() {
        let (a, mut b) = pair_in_g();
        b.extend([
            transitional("g", 3, &["b"]),
            transitional_op("g", 4, &["b", "c"], &["c"], &[], Reason::Join),
            transitional("g", 5, &["b"]),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
    }

    #[test]
    fn transitional_join_view_after_a_regular_view_is_reported() {
        let (a, mut b) = pair_in_g();
        b.push(transitional_op(
            "g",
            3,
            &["a", "b", "c"],
            &["c"],
            &[],
            Reason::Join,
        ));
        assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
    }

    #[test]
    fn transitional_view_of_another_processs_join_as_a_first_view_is_reported() {
        let h = history(
            false,
            vec![(
                "c",
                vec![
                    join("g"),
                    transitional_op("g", 3, &["a", "c"], &["a"], &[], Reason::Join),
                ],
            )],
        );
        assert_only(&h, TRANSITIONAL);
    }

    #[test]
    fn transitional_leave_view_as_a_first_view_is_reported() {
        let h = history(
            false,
            vec![(
                "c",
                vec![
                    join("g"),
                    transitional_op("g", 3, &["c"], &[], &["a"], Reason::Leave),
                ],
            )],
        );
        assert_only(&h, TRANSITIONAL);
    }

    #[test]
    fn transitional_view_of_another_processs_leave_ending_a_leavers_membership_is_reported() {
        let (a, mut b) = pair_in_g();
        b.extend([
            transitional("g", 3, &["a", "b"]),
            leave("g"),
            transitional_op("g", 4, &["a"], &[], &["c"], Reason::Leave),
        ]);
        assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
    }

    /// The simulator's run: p6 leaves g0 and joins it again at once; a network event comes
    /// before its leave takes effect, then a join, then its leave's view and its join's view.
    fn p6_rejoins(transitional_members: &[&str]) -> History {
        let p6 = "p6#d0";
        let t188 = Event::View(GroupView {
            group: "g0".into(),
            view_id: 188,
            members: strings(transitional_members),
            joined: Vec::new(),
            left: strings(&["p3#d1"]),
            reason: Reason::Network,
            transitional: true,
        });
        let events = vec![
            join("g0"),
            joined("g0", 145, &["p3#d1", p6], p6),
            leave("g0"),
            join("g0"),
            t188,
            deliver("m1", "p1#d2", &["g0"], Order::Agreed),
            joined("g0", 190, &["p1#d2", "p3#d1", p6], "p1#d2"),
            deliver("m2", "p1#d2", &["g0"], Order::Agreed),
            view_with("g0", 194, &["p1#d2", "p3#d1"], &[], &[p6], Reason::Leave),
            joined("g0", 198, &["p1#d2", "p3#d1", p6], p6),
        ];
        history(true, vec![(p6, events)])
    }

    #[test]
    fn transitional_view_after_joining_again_before_the_leave_takes_effect_is_no_violation() {
        assert_eq!(check(&p6_rejoins(&["p6#d0"])), vec![]);
    }

    #[test]
    fn transitional_view_after_joining_again_is_compared_with_the_earlier_membership() {
        assert_only(&p6_rejoins(&["p6#d0", "p9#d0"]), TRANSITIONAL);
    }

    #[test]
    fn ending_in_a_transitional_view_is_reported() {
        let [mut a, mut b, mut c] = trio_in_g();
        a.push(transitional("g", 4, &["a", "b"]));
        b.push(transitional("g", 4, &["a", "b"]));
        c.push(Event::Disconnect);
        let h = history(true, vec![("a", a), ("b", b), ("c", c)]);
        assert_only(&h, VIEW_LIVENESS);
    }

    #[test]
    fn reports_are_capped_per_guarantee() {
        let mut events = vec![join("g"), joined("g", 1, &["a"], "a")];
        events.push(send("m", &["g"], Order::Reliable));
        for _ in 0..(MAX_PER_GUARANTEE + 6) {
            events.push(deliver("m", "a", &["g"], Order::Reliable));
        }
        let found = check(&history(false, vec![("a", events)]));
        assert_eq!(found.len(), MAX_PER_GUARANTEE + 1);
        assert!(found[MAX_PER_GUARANTEE].detail.contains("5 more"));
    }

    #[test]
    fn violation_displays_guarantee_then_detail() {
        let v = Violation {
            guarantee: FIFO,
            detail: "x".into(),
        };
        assert_eq!(v.to_string(), "[5 fifo] x");
    }

    /// A tiny deterministic generator, so the robustness test needs no extra crates and always
    /// explores the same histories.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n.max(1)
        }

        fn pick<'x>(&mut self, from: &[&'x str]) -> &'x str {
            from[self.below(from.len())]
        }

        fn some<'x>(&mut self, from: &[&'x str]) -> Vec<&'x str> {
            from.iter()
                .copied()
                .filter(|_| self.below(2) == 0)
                .collect()
        }
    }

    #[test]
    fn arbitrary_histories_never_panic() {
        // Names repeat and collide on purpose: duplicate process names, reused ids, deliveries
        // before sends, views of unknown groups, events after a disconnect.
        let names = ["a", "b", "c", "zz"];
        let groups = ["g", "h"];
        let ids = ["m0", "m1", "m2", "m3", "m4", "m5"];
        let mut rng = Lcg(7);
        for _ in 0..3000 {
            let logs = (0..rng.below(5))
                .map(|_| {
                    let name = rng.pick(&names);
                    let events = (0..rng.below(25))
                        .map(|_| {
                            let order = Order::ALL[rng.below(5)];
                            match rng.below(7) {
                                0 => join(rng.pick(&groups)),
                                1 => leave(rng.pick(&groups)),
                                2 => send(rng.pick(&ids), &rng.some(&groups), order),
                                3 => {
                                    let id = rng.pick(&ids);
                                    let from = rng.pick(&names);
                                    deliver(id, from, &rng.some(&groups), order)
                                }
                                4 => {
                                    let g = rng.pick(&groups);
                                    let id = rng.below(4) as u64;
                                    let members = rng.some(&names);
                                    if rng.below(3) == 0 {
                                        let reason = [
                                            Reason::Network,
                                            Reason::Join,
                                            Reason::Leave,
                                            Reason::Disconnect,
                                        ][rng.below(4)];
                                        let who = rng.some(&names);
                                        transitional_op(g, id, &members, &who, &who, reason)
                                    } else {
                                        view_with(g, id, &members, &[], &[], Reason::Join)
                                    }
                                }
                                5 => Event::Disconnect,
                                _ => deliver(rng.pick(&ids), name, &[], order),
                            }
                        })
                        .collect();
                    (name, events)
                })
                .collect();
            let h = history(rng.below(2) == 0, logs);
            for v in check(&h) {
                assert!(!v.detail.is_empty());
            }
        }
    }

    /// `procs` processes in one group; `msgs` messages of rotating orders, each sent after its
    /// sender delivered everything before it, and delivered by everyone in one global order.
    fn large_history(procs: usize, msgs: usize) -> History {
        let names: Vec<String> = (0..procs).map(|p| format!("p{p}#d{}", p % 3)).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut logs: Vec<Vec<Event>> = (0..procs)
            .map(|p| {
                let mut events = vec![join("g")];
                for v in p..procs {
                    events.push(joined("g", v as u64 + 1, &all[..=v], all[v]));
                }
                events
            })
            .collect();
        for i in 0..msgs {
            let s = i % procs;
            let order = Order::ALL[i % Order::ALL.len()];
            let id = format!("m{i}");
            logs[s].push(send(&id, &["g"], order));
            for log in logs.iter_mut() {
                log.push(deliver(&id, &names[s], &["g"], order));
            }
        }
        history(true, names.iter().map(String::as_str).zip(logs).collect())
    }

    #[test]
    fn large_consistent_history_passes() {
        assert_eq!(check(&large_history(30, 4000)), vec![]);
    }
}
