//! Guarantee 5, causal order: replays all logs together and checks every causal message is
//! delivered after its causal past.

use super::bits::Bits;
use super::index::{Index, Sent};
use super::names::name;
use super::report::Report;
use super::walk::Walk;
use super::{Event, History, CAUSAL};
use std::collections::{BTreeMap, VecDeque};

/// Replays all logs together so that every send is seen before its deliveries, computing each
/// message's causal past, and checks causal messages are delivered after their past.
///
/// The causal past of a message is what its sender had sent or delivered before sending it,
/// transitively. Because a sender's own earlier sends are always in the past of its later ones,
/// the past holds, for every process, a prefix of that process's sends: it is exactly a vector
/// clock (one count per process). That keeps the state at one small vector per message, which is
/// far smaller than a set of messages and makes 20k-message histories cheap.
pub(super) fn check(history: &History, ix: &Index<'_>, walk: &Walk<'_>, report: &mut Report) {
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
