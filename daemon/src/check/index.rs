//! The index: numbers for messages, groups and processes, and who sent what. Built once, before
//! every other pass; the only pass that reports malformed logs (`0 well-formed log`). It never
//! judges a guarantee.

use super::bits::small;
use super::report::Report;
use super::{Event, History, WELL_FORMED};
use std::collections::BTreeMap;

/// The one registered send of a message.
pub(super) struct Sent<'a> {
    /// The sending process.
    pub(super) proc: usize,
    /// Where the Send event is in the sender's log.
    pub(super) pos: usize,
    /// How many messages the sender had sent before this one. FIFO and causality compare these.
    pub(super) seq: u32,
    pub(super) groups: &'a [String],
    pub(super) order: gcs::Order,
}

/// Numbers for messages, groups and processes, and the facts every later pass needs about them.
/// Working on dense numbers instead of strings is what keeps large histories fast.
pub(super) struct Index<'a> {
    pub(super) msg_of: BTreeMap<&'a str, usize>,
    pub(super) ids: Vec<&'a str>,
    /// The send of each message, if a logged process sent it.
    pub(super) sent: Vec<Option<Sent<'a>>>,
    /// The order of each message: as sent if known, else as first delivered (the sender may not
    /// be logged).
    pub(super) order: Vec<Option<gcs::Order>>,
    /// Per process, its messages by `seq`.
    pub(super) sends_of: Vec<Vec<usize>>,
    pub(super) group_of: BTreeMap<&'a str, usize>,
    pub(super) group_names: Vec<&'a str>,
    /// Private name -> the logged processes carrying it (a name may be reused by a later session).
    pub(super) procs_named: BTreeMap<&'a str, Vec<usize>>,
    /// Per process, where its first Disconnect is.
    pub(super) disconnect: Vec<Option<usize>>,
    /// Per process and event, the number of what the event is about: the message of a Send or
    /// Deliver, the group of a Join, Leave or View. Resolving names once here spares every later
    /// pass a map lookup per event, which dominated the cost on large histories.
    pub(super) keys: Vec<Vec<usize>>,
}

impl<'a> Index<'a> {
    pub(super) fn build(history: &'a History, report: &mut Report) -> Self {
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
    pub(super) fn msg(&mut self, id: &'a str, guess: usize) -> usize {
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
    pub(super) fn group(&mut self, name: &'a str, last: &mut usize) -> usize {
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
    pub(super) fn key(&self, p: usize, pos: usize) -> usize {
        self.keys
            .get(p)
            .and_then(|k| k.get(pos))
            .copied()
            .unwrap_or(usize::MAX)
    }

    /// Every name was interned by `build`; the fallback only keeps this total.
    pub(super) fn group_no(&self, name: &str) -> usize {
        self.group_of.get(name).copied().unwrap_or(usize::MAX)
    }

    pub(super) fn msgs(&self) -> usize {
        self.ids.len()
    }

    /// Whether process `p` crashed: its log has a Disconnect, which in a well-formed log is its
    /// last event. Its daemon died or its session was cut, so no liveness check asks anything
    /// more of it. (An unknown process counts as crashed: nothing is demanded of it either.)
    pub(super) fn crashed(&self, p: usize) -> bool {
        self.disconnect.get(p).is_none_or(Option::is_some)
    }

    pub(super) fn id(&self, m: usize) -> &str {
        self.ids.get(m).copied().unwrap_or("?")
    }

    pub(super) fn gname(&self, g: usize) -> &str {
        self.group_names.get(g).copied().unwrap_or("?")
    }
}
