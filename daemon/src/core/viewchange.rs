//! The view change with flush: how the daemons agree on a new daemon view, finish the old one
//! identically, and install the new one.
//!
//! Owns the membership messages (their encoding into control chunks and reassembly), the
//! decision to start a change, both roles of the protocol (coordinator and member), and the
//! installation of a view: the flush of the old view's items, transitional group views, the
//! group table rebuilt from every daemon's announced local members, and fresh streams. It never
//! reads a clock or touches a socket; `notes/membership.md` explains the protocol.
//!
//! A change runs in rounds, all driven by the coordinator (the proposer):
//! 1. `Propose`: the members of the new view. A member accepts an attempt later than any it
//!    joined (it answers an earlier one with `Behind`, so a coordinator that is behind proposes
//!    again above it), stops delivering, and stops its acknowledgements from growing beyond what
//!    it reports.
//! 2. `State`: each member's old view and how much of each old stream it holds.
//! 3. `Commit`: per old view, its survivors (the members that reported it), the cut every
//!    survivor fetches up to (the most any survivor holds of each stream), and what bounds the
//!    flush.
//! 4. `Ready`: the member has everything up to its cut, and announces its local group members.
//! 5. `Install`: the new view; every member delivers the flush and installs it.
//!
//! Nothing is delivered before `Install`, so a change that fails midway (a member or the
//! coordinator dies, a newer proposal arrives) leaves nothing to undo: the next attempt starts
//! from the same old view.

use super::membership::{DaemonId, FormedView};
use super::order::FlushPlan;
use super::packet::{Chunk, Item, CONTROL_CHUNK_OVERHEAD};
use super::reliable::Streams;
use super::{Cluster, Core, Orderer, Time, ViewId};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// Identifies one attempt at a view change; a later attempt replaces an earlier one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attempt {
    /// Grows with every attempt anyone makes.
    pub round: u64,
    /// Who runs it.
    pub coordinator: SocketAddr,
    /// The coordinator's life: a restarted coordinator's attempts are new ones, even where its
    /// rounds start again from the beginning.
    pub incarnation: u64,
}

/// A membership message.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum Control {
    /// From the coordinator: "let us form a view of these daemons".
    Propose {
        /// The attempt.
        attempt: Attempt,
        /// The proposed members, sorted.
        members: Vec<DaemonId>,
    },
    /// To the coordinator: where this member stands in its old view.
    State {
        /// The attempt.
        attempt: Attempt,
        /// The member's state.
        state: FlushState,
    },
    /// From the coordinator: what each old view's survivors deliver before the new view.
    Commit {
        /// The attempt.
        attempt: Attempt,
        /// One per old view among the members.
        cuts: Vec<Cut>,
    },
    /// To the coordinator: the member holds its cut.
    Ready {
        /// The attempt.
        attempt: Attempt,
        /// What it announces.
        ready: ReadyState,
    },
    /// From the coordinator: the new view.
    Install {
        /// The attempt.
        attempt: Attempt,
        /// The view.
        install: Install,
    },
    /// To a coordinator whose proposal is older than an attempt this daemon already joined:
    /// "propose again above this round".
    Behind {
        /// The round of the attempt this daemon joined.
        round: u64,
    },
    /// "This daemon is stopping": remove it now rather than after the failure timeout.
    Bye {
        /// The life that ends.
        incarnation: u64,
    },
}

/// A member's place in its old view.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FlushState {
    /// Who.
    pub who: DaemonId,
    /// Its view id (0 if it has none yet).
    pub view: u64,
    /// How much of each stream of the old view it holds.
    pub contiguous: Vec<u64>,
    /// Per stream: the timestamp below which it holds every item of the stream.
    pub heard: Vec<u64>,
    /// The place in the total order of the last item it delivered.
    pub delivered: (u64, u16),
}

/// What the survivors of one old view agree to deliver.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The old view.
    pub view: u64,
    /// The members of the new view that come from it (a daemon that moved on to another view
    /// meanwhile has left it, even if it is in the new view too), sorted.
    pub survivors: Vec<DaemonId>,
    /// Per stream: deliver up to here.
    pub cut: Vec<u64>,
    /// Per stream: the largest `heard` of any survivor.
    pub heard: Vec<u64>,
    /// The furthest any survivor delivered in the total order.
    pub delivered: (u64, u16),
}

/// A member that holds its cut.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReadyState {
    /// Who.
    pub who: DaemonId,
    /// Its Lamport clock.
    pub clock: u64,
    /// At most how many group views its flush makes.
    pub views: u64,
    /// Its local group members as they will be after the flush: (group, member).
    pub local: Vec<(String, String)>,
}

/// The new view.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Install {
    /// Its id.
    pub view: u64,
    /// Its members, sorted.
    pub members: Vec<DaemonId>,
    /// Views made while installing are numbered from this timestamp on.
    pub ts: u64,
    /// The old views being merged (those with a flush), sorted: each numbers its own views
    /// (transitional views, operations after them) in a range of its own.
    pub components: Vec<u64>,
    /// How many ids each old view's range holds.
    pub views: u64,
    /// The new view's clocks start here (beyond every view made while installing).
    pub clock: u64,
    /// Every member's local group members: (group, member).
    pub local: Vec<(String, String)>,
}

/// Where this daemon is in a view change.
#[derive(Debug)]
pub(super) struct Change {
    attempt: Attempt,
    members: Vec<DaemonId>,
    /// When this daemon joined the attempt.
    since: Time,
    resend_at: Time,
    step: Step,
    /// The coordinator's side, if this daemon runs the attempt.
    lead: Option<Lead>,
}

#[derive(Debug)]
enum Step {
    /// State sent; waiting for the commit.
    Stated(FlushState),
    /// Fetching up to the cut (`None`: no old view to flush).
    Fetching(Option<Cut>),
    /// Ready sent; waiting for the install.
    Ready(Option<Cut>, ReadyState),
}

#[derive(Debug, Default)]
struct Lead {
    states: BTreeMap<SocketAddr, FlushState>,
    cuts: Option<Vec<Cut>>,
    readies: BTreeMap<SocketAddr, ReadyState>,
}

/// Reassembles control messages from their parts, one message per sender at a time.
#[derive(Debug, Default)]
pub(super) struct ControlIn {
    partial: BTreeMap<SocketAddr, Assembly>,
}

#[derive(Debug)]
struct Assembly {
    msg: u64,
    parts: Vec<Option<Bytes>>,
    bytes: usize,
}

impl ControlIn {
    /// Takes in one part; returns the message once it is complete and decodes. A message of
    /// more than `max` bytes (`limits.max_membership_message`) is refused.
    pub(super) fn receive(
        &mut self,
        from: SocketAddr,
        msg: u64,
        part: u16,
        parts: u16,
        body: Bytes,
        max: usize,
    ) -> Result<Option<Control>, String> {
        if parts == 1 {
            return decode(&body).map(Some);
        }
        let a = self.partial.entry(from).or_insert_with(|| Assembly {
            msg,
            parts: vec![None; parts as usize],
            bytes: 0,
        });
        if a.msg != msg || a.parts.len() != parts as usize {
            if msg < a.msg {
                return Ok(None); // a late part of an older message
            }
            *a = Assembly {
                msg,
                parts: vec![None; parts as usize],
                bytes: 0,
            };
        }
        let Some(slot) = a.parts.get_mut(part as usize) else {
            return Err("a part number beyond the message".into());
        };
        if slot.is_none() {
            a.bytes += body.len();
            if a.bytes > max {
                self.partial.remove(&from);
                return Err(format!(
                    "a membership message larger than {max} bytes (limits.max_membership_message)"
                ));
            }
            *slot = Some(body);
        }
        if a.parts.iter().any(Option::is_none) {
            return Ok(None);
        }
        let Some(a) = self.partial.remove(&from) else {
            return Ok(None);
        };
        let mut whole = Vec::with_capacity(a.bytes);
        for p in a.parts.into_iter().flatten() {
            whole.extend_from_slice(&p);
        }
        decode(&whole).map(Some)
    }
}

fn decode(bytes: &[u8]) -> Result<Control, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("an undecodable membership message: {e}"))
}

/// Splits `control` into chunks of at most `max_body` bytes each; nothing if it is larger than
/// `max` bytes in all (`limits.max_membership_message`).
pub(super) fn encode(control: &Control, msg: u64, max_body: usize, max: usize) -> Vec<Chunk> {
    let Ok(bytes) = rmp_serde::to_vec(control) else {
        return Vec::new();
    };
    if bytes.len() > max {
        tracing::error!(
            bytes = bytes.len(),
            "a membership message is larger than limits.max_membership_message ({max} bytes); \
             not sent, so this daemon will be left out of the new view: raise the limit on \
             every daemon"
        );
        return Vec::new();
    }
    let bytes = Bytes::from(bytes);
    let size = max_body.max(1);
    let parts = bytes.len().div_ceil(size).max(1);
    if parts > u16::MAX as usize {
        tracing::error!("a membership message is too large to send; dropped");
        return Vec::new();
    }
    (0..parts)
        .map(|i| Chunk::Control {
            msg,
            part: i as u16,
            parts: parts as u16,
            body: bytes.slice(i * size..((i + 1) * size).min(bytes.len())),
        })
        .collect()
}

/// The daemon a private name belongs to.
pub(super) fn daemon_of(member: &str) -> &str {
    member
        .rsplit_once(gcs::names::PRIVATE_NAME_SEPARATOR)
        .map_or("", |(_, d)| d)
}

/// A view being installed: what group operations delivered in the old view's flush need.
#[derive(Debug)]
pub(super) struct Installing {
    ids: ViewIds,
    /// Groups that got a transitional view in this flush.
    transitional: BTreeSet<String>,
    /// The names of the old view's daemons that move on to the new view.
    staying: BTreeSet<String>,
}

/// Numbers the group views made while a view is installed, beyond every earlier id.
#[derive(Debug, Clone, Copy)]
pub(super) struct ViewIds {
    next: u64,
    step: u64,
}

impl ViewIds {
    fn next_id(&self) -> ViewId {
        ViewId(self.next)
    }

    fn take(&mut self) -> ViewId {
        let id = self.next;
        self.next = self.next.saturating_add(self.step);
        ViewId(id)
    }
}

impl Core {
    /// This daemon's identity.
    fn my_id(&self) -> DaemonId {
        self.membership.me().clone()
    }

    /// Marks the view of a group operation delivered in a flush as transitional if its group is
    /// in a transitional period (the flush gave it a transitional view, and the regular view that
    /// ends the period is still to come). Such a view lists only the members that move on
    /// together, like the transitional view before it.
    pub(super) fn mark_transitional(&self, view: &mut gcs::GroupView) {
        let Some(i) = &self.installing else {
            return;
        };
        if i.transitional.contains(&view.group) {
            view.transitional = true;
            view.members.retain(|m| i.staying.contains(daemon_of(m)));
        }
    }

    /// The id of the group view made by a group operation at (`ts`, daemon at `origin`). Ids
    /// follow the total order, and differ between daemons (the daemon's rank is the id modulo the
    /// cluster size), so views made in two partitions at once never share an id.
    ///
    /// Operations delivered in a flush after the transitional views are the exception: they
    /// happen in the transitional configuration, so their group enters a transitional period
    /// (opened here if the flush did not already) and their views take fresh ids beyond it. Such
    /// a view still names a member on a departing daemon that joined or left, though it lists
    /// only the members that move on.
    pub(super) fn op_view_id(&mut self, group: &str, ts: u64, origin: u16) -> ViewId {
        if self.installing.is_some() {
            self.open_period(group);
            if let Some(i) = self.installing.as_mut() {
                return i.ids.take();
            }
        }
        let k = self.membership.cluster_size() as u64;
        let rank = self
            .cluster
            .as_ref()
            .and_then(|c| c.view.addrs.get(origin as usize))
            .map_or(0, |a| self.membership.rank(*a));
        ViewId(ts.saturating_mul(k).saturating_add(rank))
    }

    /// Starts `group`'s transitional period in the flush under way, if one is under way and the
    /// period has not started: its transitional view lists the members that move on together
    /// (all of them, if none leave).
    pub(super) fn open_period(&mut self, group: &str) {
        let Some(i) = self.installing.as_mut() else {
            return;
        };
        if !i.transitional.insert(group.to_string()) {
            return;
        }
        let staying = &i.staying;
        let stays = |m: &str| staying.contains(daemon_of(m));
        let Some(view) = self
            .groups
            .transitional(group, stays, i.ids.next_id(), true)
        else {
            return;
        };
        i.ids.take();
        self.deliver_view(view);
    }

    /// Queues `control` for `to` (handled at once if `to` is this daemon).
    fn send_control(&mut self, to: SocketAddr, control: Control) {
        if to == self.config.listen {
            self.on_control(to, control);
            return;
        }
        self.control_seq += 1;
        let max_body = self
            .config
            .max_datagram
            .saturating_sub(super::cluster::header_len(self.config.cluster.len()))
            .saturating_sub(CONTROL_CHUNK_OVERHEAD);
        let chunks = encode(
            &control,
            self.control_seq,
            max_body,
            self.config.max_membership_message,
        );
        self.unicast.entry(to).or_default().extend(chunks);
    }

    /// Tells the view this daemon is stopping.
    pub(super) fn say_goodbye(&mut self) {
        let Some(c) = &self.cluster else {
            return;
        };
        let incarnation = self.config.incarnation;
        for peer in c.view.peers() {
            self.send_control(peer, Control::Bye { incarnation });
        }
    }

    /// A complete control message from `from`.
    pub(super) fn on_control(&mut self, from: SocketAddr, control: Control) {
        match control {
            Control::Bye { incarnation } => {
                tracing::info!(peer = %from, "a daemon said it is stopping");
                self.departed.insert(from, incarnation);
                self.suspected.insert(from);
            }
            Control::Propose { attempt, members } => self.on_propose(from, attempt, members),
            Control::Behind { round } => self.on_behind(round),
            Control::State { attempt, state } => self.on_state(from, attempt, state),
            Control::Commit { attempt, cuts } => self.on_commit(attempt, cuts),
            Control::Ready { attempt, ready } => self.on_ready(from, attempt, ready),
            Control::Install { attempt, install } => self.on_install(attempt, install),
        }
    }

    // ---- deciding to change ----

    /// The daemons this one would have in its view: the members it still hears (same
    /// incarnation, not stopped), and every configured daemon outside the view whose hello it
    /// heard within the failure timeout. Sorted by address.
    fn desired_members(&self) -> Vec<DaemonId> {
        let me = self.my_id();
        let mut out = vec![me.clone()];
        let recent = self.now.saturating_sub(self.config.failure_timeout);
        let gone = |id: &DaemonId| self.departed.get(&id.addr) == Some(&id.incarnation);
        if let Some(c) = &self.cluster {
            for id in &c.view.ids {
                if *id == me || self.suspected.contains(&id.addr) || gone(id) {
                    continue;
                }
                if let Some(h) = self.membership.hello(id.addr) {
                    // Restarted: the old life is gone (the new one is an outsider below). A hello
                    // of an earlier life than the member's says nothing.
                    if h.incarnation > id.incarnation {
                        continue;
                    }
                }
                out.push(id.clone());
            }
        }
        for (addr, h) in self.membership.heard_since(recent) {
            let id = DaemonId {
                addr,
                name: h.name.clone(),
                incarnation: h.incarnation,
            };
            if gone(&id) || out.iter().any(|d| d.addr == addr) {
                continue;
            }
            out.push(id);
        }
        out.sort();
        out
    }

    /// True if a member of the view is known to have left it: its hello names a later view
    /// (every view's id is above its members' earlier ones), or, longer than the failure timeout
    /// after this view was installed, names any other view. A member sends hellos only to
    /// daemons outside its view, so one still coming means it is not in this view (it never
    /// installed it, or went on to one of its own); one naming an earlier view shortly after
    /// the install was merely sent before the member installed it.
    fn member_moved_on(&self) -> bool {
        let Some(c) = &self.cluster else {
            return false;
        };
        c.view.ids.iter().any(|id| {
            self.membership.hello(id.addr).is_some_and(|h| {
                h.incarnation == id.incarnation
                    && h.view != c.view.view.view_id
                    && h.at > self.installed_at
                    && (h.view > c.view.view.view_id
                        || h.at.saturating_since(self.installed_at) > self.config.failure_timeout)
            })
        })
    }

    /// The view change under way, for `status`.
    pub(super) fn view_change_info(&self, now: Time) -> Option<gcs::ViewChangeInfo> {
        let ch = self.change.as_ref()?;
        let step = match ch.step {
            Step::Stated(_) => "stated",
            Step::Fetching(_) => "fetching",
            Step::Ready(..) => "ready",
        };
        Some(gcs::ViewChangeInfo {
            round: ch.attempt.round,
            coordinator: ch.attempt.coordinator.to_string(),
            members: ch.members.iter().map(|m| m.name.clone()).collect(),
            step: step.to_string(),
            since_ms: u64::try_from(now.saturating_since(ch.since).as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Starts a view change if the membership should change and this daemon should run it.
    pub(super) fn consider_change(&mut self) {
        if self.change.is_some() {
            return self.drive_change();
        }
        if self.membership_settled() {
            return;
        }
        let desired = self.desired_members();
        let current = self.cluster.as_ref().map(|c| c.view.ids.clone());
        if current.is_none() {
            // Starting: look for the others for a while before forming a view without them.
            let all_heard = desired.len() == self.membership.cluster_size();
            let waited = self.now.saturating_since(self.started) >= self.config.failure_timeout;
            if !all_heard && !waited {
                return;
            }
        }
        if current.as_ref() == Some(&desired) && !self.member_moved_on() {
            self.wish_since = None;
            return;
        }
        let since = *self.wish_since.get_or_insert(self.now);
        let leader = desired
            .first()
            .is_some_and(|d| d.addr == self.config.listen);
        // The lowest member runs the change; if it does not within the failure timeout (it may
        // not see what this daemon sees), this daemon runs it.
        if leader || self.now.saturating_since(since) >= self.config.failure_timeout {
            tracing::debug!(
                suspected = ?self.suspected,
                departed = ?self.departed,
                desired = ?desired.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
                "the daemon view should change"
            );
            self.propose(desired);
        }
    }

    /// True if nothing can have made the membership differ from the view: no suspicion, no
    /// member gone, and no hello recent enough to name an outsider or a member that moved on.
    /// Checked on every input, before the full comparison (which allocates).
    fn membership_settled(&self) -> bool {
        let Some(c) = &self.cluster else {
            return false;
        };
        let quiet_since = self
            .now
            .saturating_sub(self.config.failure_timeout)
            .min(self.installed_at);
        self.wish_since.is_none()
            && self.suspected.is_empty()
            && self.last_hello.is_none_or(|t| t < quiet_since)
            && !c
                .view
                .ids
                .iter()
                .any(|id| self.departed.get(&id.addr) == Some(&id.incarnation))
    }

    /// When [`Core::consider_change`] has something to do next.
    pub(super) fn next_change_deadline(&self) -> Option<Time> {
        match &self.change {
            Some(ch) => Some(ch.resend_at),
            None => self
                .wish_since
                .map(|t| t + self.config.failure_timeout)
                .or_else(|| {
                    self.cluster
                        .is_none()
                        .then_some(self.started + self.config.failure_timeout)
                }),
        }
    }

    fn resend_interval(&self) -> std::time::Duration {
        (self.config.retransmit * 4).max(std::time::Duration::from_millis(1))
    }

    fn propose(&mut self, members: Vec<DaemonId>) {
        self.round = self.round.saturating_add(1);
        let attempt = Attempt {
            round: self.round,
            coordinator: self.config.listen,
            incarnation: self.config.incarnation,
        };
        tracing::info!(
            members = ?members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            round = attempt.round,
            "proposing a new daemon view"
        );
        self.wish_since = None;
        for m in members.clone() {
            self.send_control(
                m.addr,
                Control::Propose {
                    attempt: attempt.clone(),
                    members: members.clone(),
                },
            );
        }
    }

    /// Timeouts and resends of the change under way.
    fn drive_change(&mut self) {
        let Some(ch) = self.change.as_ref() else {
            return;
        };
        if self.now < ch.resend_at {
            return;
        }
        let waited = self.now.saturating_since(ch.since);
        let coordinator = ch.attempt.coordinator;
        let leading = ch.lead.is_some();
        if leading && waited >= self.config.failure_timeout {
            // Someone did not answer: go on without the silent.
            let answered: Vec<DaemonId> = {
                let lead = ch.lead.as_ref();
                ch.members
                    .iter()
                    .filter(|m| {
                        lead.is_some_and(|l| {
                            if l.cuts.is_some() {
                                l.readies.contains_key(&m.addr)
                            } else {
                                l.states.contains_key(&m.addr)
                            }
                        })
                    })
                    .cloned()
                    .collect()
            };
            for m in &ch.members {
                if !answered.contains(m) {
                    tracing::warn!(peer = %m.addr, name = %m.name, "a daemon did not answer a view change; going on without it");
                    self.suspected.insert(m.addr);
                }
            }
            let mut members = answered;
            if !members.iter().any(|m| m.addr == self.config.listen) {
                members.push(self.my_id());
                members.sort();
            }
            return self.propose(members);
        }
        if !leading && waited >= self.config.failure_timeout * 2 {
            tracing::warn!(coordinator = %coordinator, "a view change did not finish; starting another");
            if self.now.saturating_since(self.heard_at(coordinator)) > self.config.failure_timeout {
                self.suspected.insert(coordinator);
            }
            let desired = self.desired_members();
            return self.propose(desired);
        }
        // Resend whatever the other side may have lost.
        let resend_at = self.now + self.resend_interval();
        let ch = self.change.as_mut().map(|ch| {
            ch.resend_at = resend_at;
            (
                ch.attempt.clone(),
                ch.members.clone(),
                &ch.step,
                ch.lead.as_ref(),
            )
        });
        let Some((attempt, members, step, lead)) = ch else {
            return;
        };
        let mut out: Vec<(SocketAddr, Control)> = Vec::new();
        match step {
            Step::Stated(state) => out.push((
                coordinator,
                Control::State {
                    attempt: attempt.clone(),
                    state: state.clone(),
                },
            )),
            Step::Ready(_, ready) => out.push((
                coordinator,
                Control::Ready {
                    attempt: attempt.clone(),
                    ready: ready.clone(),
                },
            )),
            Step::Fetching(_) => {}
        }
        if let Some(lead) = lead {
            for m in &members {
                match &lead.cuts {
                    None if !lead.states.contains_key(&m.addr) => out.push((
                        m.addr,
                        Control::Propose {
                            attempt: attempt.clone(),
                            members: members.clone(),
                        },
                    )),
                    Some(cuts) if !lead.readies.contains_key(&m.addr) => out.push((
                        m.addr,
                        Control::Commit {
                            attempt: attempt.clone(),
                            cuts: cuts.clone(),
                        },
                    )),
                    _ => {}
                }
            }
        }
        for (to, c) in out {
            if to != self.config.listen {
                self.send_control(to, c);
            }
        }
    }

    // ---- the member's side ----

    fn on_propose(&mut self, from: SocketAddr, attempt: Attempt, members: Vec<DaemonId>) {
        if attempt.coordinator != from {
            return;
        }
        self.round = self.round.max(attempt.round);
        let me = self.my_id();
        if !members.contains(&me) {
            return;
        }
        if let Some(j) = &self.joined {
            if attempt < *j {
                // A proposer that is behind (restarted, or from a side with fewer attempts):
                // tell it the round to go beyond, or its attempt only times out.
                let round = j.round;
                return self.send_control(from, Control::Behind { round });
            }
            if attempt <= *j {
                return;
            }
        }
        self.joined = Some(attempt.clone());
        let (view, contiguous, heard, delivered) = match self.cluster.as_mut() {
            Some(c) => {
                c.orderer.freeze();
                c.streams.cap_acks(c.orderer.clock());
                let n = c.view.len() as u16;
                let me = c.view.me;
                let clock = c.orderer.clock();
                (
                    c.view.view.view_id,
                    (0..n).map(|o| c.streams.contiguous(o)).collect(),
                    (0..n)
                        .map(|o| {
                            if o == me {
                                clock
                            } else {
                                c.streams.heard_ts(o)
                            }
                        })
                        .collect(),
                    c.orderer.delivered_position(),
                )
            }
            None => (0, Vec::new(), Vec::new(), (0, 0)),
        };
        let state = FlushState {
            who: me,
            view,
            contiguous,
            heard,
            delivered,
        };
        let lead = (from == self.config.listen).then(Lead::default);
        self.change = Some(Change {
            attempt: attempt.clone(),
            members,
            since: self.now,
            resend_at: self.now + self.resend_interval(),
            step: Step::Stated(state.clone()),
            lead,
        });
        self.wish_since = None;
        self.send_control(from, Control::State { attempt, state });
    }

    /// A member refused this daemon's proposal as older than an attempt it joined: if this
    /// daemon still runs that proposal, it proposes the same members again in a later round.
    fn on_behind(&mut self, round: u64) {
        self.round = self.round.max(round);
        let Some(ch) = &self.change else {
            return;
        };
        if ch.lead.is_none()
            || ch.attempt.round > round
            || ch.lead.as_ref().is_some_and(|l| l.cuts.is_some())
        {
            return;
        }
        let members = ch.members.clone();
        self.propose(members);
    }

    fn on_commit(&mut self, attempt: Attempt, cuts: Vec<Cut>) {
        let Some(ch) = self.change.as_mut() else {
            return;
        };
        if ch.attempt != attempt || !matches!(ch.step, Step::Stated(_)) {
            return;
        }
        let mine = self
            .cluster
            .as_ref()
            .and_then(|c| cuts.iter().find(|cut| cut.view == c.view.view.view_id))
            .cloned();
        if let (Some(c), Some(cut)) = (self.cluster.as_mut(), &mine) {
            let departed: Vec<bool> = c
                .view
                .ids
                .iter()
                .map(|id| !cut.survivors.contains(id))
                .collect();
            c.streams.set_departed(departed);
            c.streams.raise_ack_cap(&cut.cut);
            for (o, seq) in cut.cut.iter().enumerate() {
                c.streams.expect(o as u16, *seq);
            }
        }
        ch.step = Step::Fetching(mine);
        self.check_fetched();
    }

    /// Sends `Ready` once everything up to the cut has arrived.
    pub(super) fn check_fetched(&mut self) {
        let Some(ch) = self.change.as_ref() else {
            return;
        };
        let Step::Fetching(cut) = &ch.step else {
            return;
        };
        let cut = cut.clone();
        let (clock, views) = match (&self.cluster, &cut) {
            (Some(c), Some(cut)) => {
                let have_all = cut
                    .cut
                    .iter()
                    .enumerate()
                    .all(|(o, seq)| c.streams.contiguous(o as u16) >= *seq);
                if !have_all {
                    return;
                }
                let groups = self.groups.names().len() as u64;
                (
                    c.orderer.clock(),
                    2 * groups + c.orderer.pending_ops(&cut.cut) as u64,
                )
            }
            (Some(c), None) => (c.orderer.clock(), 2 * self.groups.names().len() as u64),
            // A daemon in its first view starts its clock at its incarnation (its start time), so
            // a restarted daemon never makes the ids of its previous life again.
            (None, _) => (self.config.incarnation, 0),
        };
        let ready = ReadyState {
            who: self.my_id(),
            clock,
            views,
            local: self.local_projection(),
        };
        let Some(ch) = self.change.as_mut() else {
            return;
        };
        ch.step = Step::Ready(cut, ready.clone());
        let to = ch.attempt.coordinator;
        let attempt = ch.attempt.clone();
        self.send_control(to, Control::Ready { attempt, ready });
    }

    /// This daemon's group members as they will be once its own pending joins and leaves are
    /// delivered (a flush delivers every one of them).
    fn local_projection(&self) -> Vec<(String, String)> {
        let me = self.config.daemon_name.as_str();
        let mut set: BTreeSet<(String, String)> = self
            .groups
            .memberships(|m| daemon_of(m) == me)
            .into_iter()
            .collect();
        if let Some(c) = &self.cluster {
            for op in c.orderer.own_pending_ops() {
                match op {
                    Item::Join { group, member } => {
                        set.insert((group, member));
                    }
                    Item::Leave { group, member, .. } => {
                        set.remove(&(group, member));
                    }
                    Item::Multicast { .. } => {}
                }
            }
        }
        set.into_iter().collect()
    }

    fn on_install(&mut self, attempt: Attempt, install: Install) {
        let Some(ch) = self.change.as_ref() else {
            return;
        };
        if ch.attempt != attempt {
            return;
        }
        let Step::Ready(cut, _) = &ch.step else {
            return;
        };
        let cut = cut.clone();
        self.change = None;
        self.install(attempt.coordinator, install, cut);
    }

    // ---- the coordinator's side ----

    fn on_state(&mut self, from: SocketAddr, attempt: Attempt, state: FlushState) {
        let Some(ch) = self.change.as_mut() else {
            return;
        };
        if ch.attempt != attempt || state.who.addr != from || !ch.members.contains(&state.who) {
            return;
        }
        let members = ch.members.clone();
        let Some(lead) = ch.lead.as_mut() else {
            return;
        };
        if let Some(cuts) = &lead.cuts {
            // It lost the commit.
            let cuts = cuts.clone();
            return self.send_control(from, Control::Commit { attempt, cuts });
        }
        lead.states.insert(from, state);
        if lead.states.len() < members.len() {
            return;
        }
        let mut by_view: BTreeMap<u64, Vec<&FlushState>> = BTreeMap::new();
        for s in lead.states.values() {
            if s.view != 0 {
                by_view.entry(s.view).or_default().push(s);
            }
        }
        let cuts: Vec<Cut> = by_view
            .into_iter()
            .map(|(view, states)| {
                let n = states.iter().map(|s| s.contiguous.len()).max().unwrap_or(0);
                let max_at = |f: &dyn Fn(&FlushState) -> &Vec<u64>, i: usize| {
                    states
                        .iter()
                        .filter_map(|s| f(s).get(i).copied())
                        .max()
                        .unwrap_or(0)
                };
                Cut {
                    view,
                    survivors: states.iter().map(|s| s.who.clone()).collect(),
                    cut: (0..n).map(|i| max_at(&|s| &s.contiguous, i)).collect(),
                    heard: (0..n).map(|i| max_at(&|s| &s.heard, i)).collect(),
                    delivered: states.iter().map(|s| s.delivered).max().unwrap_or((0, 0)),
                }
            })
            .collect();
        lead.cuts = Some(cuts.clone());
        for m in members {
            self.send_control(
                m.addr,
                Control::Commit {
                    attempt: attempt.clone(),
                    cuts: cuts.clone(),
                },
            );
        }
    }

    fn on_ready(&mut self, from: SocketAddr, attempt: Attempt, ready: ReadyState) {
        if let Some((done, install)) = &self.last_install {
            if *done == attempt {
                // It lost the install.
                let (attempt, install) = (done.clone(), install.clone());
                return self.send_control(from, Control::Install { attempt, install });
            }
        }
        let Some(ch) = self.change.as_mut() else {
            return;
        };
        if ch.attempt != attempt || ready.who.addr != from || !ch.members.contains(&ready.who) {
            return;
        }
        let members = ch.members.clone();
        let Some(lead) = ch.lead.as_mut() else {
            return;
        };
        if lead.cuts.is_none() {
            return;
        }
        lead.readies.insert(from, ready);
        if lead.readies.len() < members.len() {
            return;
        }
        let above = lead.states.values().map(|s| s.view).max().unwrap_or(0);
        let ts = lead
            .readies
            .values()
            .map(|r| r.clock)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let views = lead.readies.values().map(|r| r.views).max().unwrap_or(0);
        let mut local: Vec<(String, String)> = lead
            .readies
            .values()
            .flat_map(|r| r.local.iter().cloned())
            .collect();
        local.sort();
        local.dedup();
        let groups = local
            .iter()
            .map(|(g, _)| g.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let components: Vec<u64> = lead
            .cuts
            .as_ref()
            .map(|cuts| cuts.iter().map(|c| c.view).collect())
            .unwrap_or_default();
        let install = Install {
            view: self.membership.view_id_after(above, self.config.listen),
            members: members.clone(),
            ts,
            clock: ts
                .saturating_add((components.len() as u64 + 1).saturating_mul(views))
                .saturating_add(groups)
                .saturating_add(1),
            components,
            views,
            local,
        };
        self.last_install = Some((attempt.clone(), install.clone()));
        for m in members {
            self.send_control(
                m.addr,
                Control::Install {
                    attempt: attempt.clone(),
                    install: install.clone(),
                },
            );
        }
    }

    // ---- installing ----

    /// Finishes the old view as the commit says and installs the new one.
    fn install(&mut self, coordinator: SocketAddr, install: Install, cut: Option<Cut>) {
        let me = self.my_id();
        let k = self.membership.cluster_size() as u64;
        let rank = self.membership.rank(coordinator);
        // Ids made while installing: each old view numbers its transitional views and late
        // operations in a range of its own (so two partitions merging never reuse one), then
        // every member numbers the announced groups' views alike.
        let component = self
            .cluster
            .as_ref()
            .and_then(|c| {
                install
                    .components
                    .iter()
                    .position(|v| *v == c.view.view.view_id)
            })
            .unwrap_or(install.components.len()) as u64;
        let at = |ts: u64| ts.saturating_mul(k).saturating_add(rank);
        let mut ids = ViewIds {
            next: at(install
                .ts
                .saturating_add(component.saturating_mul(install.views))),
            step: k,
        };
        let shared_base = install
            .ts
            .saturating_add((install.components.len() as u64 + 1).saturating_mul(install.views));
        let announced_groups: Vec<&str> = {
            let set: BTreeSet<&str> = install.local.iter().map(|(g, _)| g.as_str()).collect();
            set.into_iter().collect()
        };
        let mut in_transition = BTreeSet::new();
        // A merge: daemons come that were not in this daemon's old view. Their groups' views
        // have ids of another history, so every group gets a new regular view whose id lies
        // beyond both.
        let merging = cut
            .as_ref()
            .is_none_or(|cut| cut.survivors.len() < install.members.len());
        // 1. The old view's flush.
        if let (Some(c), Some(cut)) = (self.cluster.as_mut(), cut) {
            let survivor: Vec<bool> = c
                .view
                .ids
                .iter()
                .map(|id| cut.survivors.contains(id))
                .collect();
            let bound = survivor
                .iter()
                .enumerate()
                .filter(|(_, s)| !**s)
                .map(|(o, _)| cut.heard.get(o).copied().unwrap_or(0))
                .min()
                .unwrap_or(u64::MAX);
            let staying: BTreeSet<String> =
                cut.survivors.iter().map(|id| id.name.clone()).collect();
            let flushed = c.orderer.flush(&FlushPlan {
                cut: cut.cut.clone(),
                survivor,
                bound,
                delivered: cut.delivered,
            });
            self.counters.flush_discarded += flushed.discarded;
            tracing::debug!(
                before = flushed.before.len(),
                after = flushed.after.len(),
                discarded = flushed.discarded,
                cut = ?cut,
                "flushing the old view"
            );
            for d in flushed.before {
                self.apply(d);
            }
            let mut transitional = BTreeSet::new();
            for g in self.groups.names() {
                let stays = |m: &str| staying.contains(daemon_of(m));
                if let Some(view) = self.groups.transitional(&g, stays, ids.next_id(), false) {
                    ids.take();
                    self.deliver_view(view);
                    transitional.insert(g);
                }
            }
            self.installing = Some(Installing {
                ids,
                transitional,
                staying,
            });
            for d in flushed.after {
                self.apply(d);
            }
            if let Some(i) = self.installing.take() {
                ids = i.ids;
                in_transition = i.transitional;
            }
        }
        // 2. The group table, from every member's announcement.
        let mut announced: BTreeMap<String, BTreeMap<String, Option<super::ClientId>>> =
            BTreeMap::new();
        let names: BTreeSet<&str> = install.members.iter().map(|m| m.name.as_str()).collect();
        for (g, m) in &install.local {
            if !names.contains(daemon_of(m)) {
                continue;
            }
            let local = if daemon_of(m) == me.name {
                self.sessions.client_named(m)
            } else {
                None
            };
            announced
                .entry(g.clone())
                .or_default()
                .insert(m.clone(), local);
        }
        let mut all: BTreeSet<String> = self.groups.names().into_iter().collect();
        all.extend(announced.keys().cloned());
        for g in all {
            let members = announced.remove(&g).unwrap_or_default();
            let id = match announced_groups.binary_search(&g.as_str()) {
                Ok(i) => ViewId(at(shared_base.saturating_add(i as u64))),
                Err(_) => ids.next_id(),
            };
            let forced = merging || in_transition.contains(&g);
            if let Some(view) = self.groups.replace_members(&g, members, id, forced) {
                if id == ids.next_id() {
                    ids.take();
                }
                for (m, joined) in view
                    .joined
                    .iter()
                    .map(|m| (m, true))
                    .chain(view.left.iter().map(|m| (m, false)))
                {
                    let local = self.sessions.client_named(m);
                    if let Some(s) = local.and_then(|c| self.sessions.member_mut(c)) {
                        if joined {
                            s.groups.insert(g.clone());
                        } else {
                            s.groups.remove(&g);
                        }
                    }
                }
                self.deliver_view(view);
            }
        }

        let last_used = at(shared_base.saturating_add(announced_groups.len() as u64));
        // 3. The new view and fresh streams.
        let primary = self.membership.is_primary(install.members.len());
        let view = FormedView::new(install.view, install.members.clone(), &me, primary);
        tracing::info!(view = install.view, members = ?view.view.members, primary, "installed a daemon view");
        let n = view.len();
        let mut orderer = Orderer::new(view.me, n);
        // New items are stamped beyond every id used while installing (`install.clock` bounds
        // what any member used; this daemon's own use is checked too).
        orderer.set_clock(install.clock.max(last_used / k.max(1)));
        self.cluster = Some(Cluster {
            streams: Streams::new(
                view.me,
                n,
                super::cluster::max_item(self.config.max_message_size),
                // A peer never has more than its send window unstable; twice that is slack.
                self.config.send_window.saturating_mul(2),
            ),
            orderer,
            view,
        });
        self.installed_at = self.now;
        for m in &install.members {
            if m.addr != self.config.listen {
                self.last_heard.insert(m.addr, self.now);
                self.suspected.remove(&m.addr);
            }
        }
        self.outgoing.clear();
        self.ack_due = n > 1;
        self.counters.view_changes += 1;
        self.announce_daemon_view();
        let unsent = std::mem::take(&mut self.unsent);
        self.unsent_bytes = 0;
        for item in unsent {
            self.stamp_and_send(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_bye() -> Control {
        Control::Bye { incarnation: 7 }
    }

    fn parts(chunks: Vec<Chunk>) -> Vec<(u64, u16, u16, Bytes)> {
        chunks
            .into_iter()
            .filter_map(|c| match c {
                Chunk::Control {
                    msg,
                    part,
                    parts,
                    body,
                } => Some((msg, part, parts, body)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_message_split_over_many_parts_is_reassembled_in_any_order() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut pieces = parts(encode(&a_bye(), 3, 2, 1024));
        assert!(pieces.len() > 1, "a two-byte body splits a bye");
        pieces.reverse();
        let mut input = ControlIn::default();
        let mut got = None;
        for (msg, part, n, body) in pieces {
            if let Some(c) = input.receive(from, msg, part, n, body, 1024).unwrap() {
                got = Some(c);
            }
        }
        assert!(matches!(got, Some(Control::Bye { incarnation: 7 })));
    }

    #[test]
    fn a_membership_message_over_the_limit_is_neither_sent_nor_accepted() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(encode(&a_bye(), 1, 1000, 2).is_empty());
        let pieces = parts(encode(&a_bye(), 1, 2, 1024));
        let mut input = ControlIn::default();
        let mut refused = None;
        for (msg, part, n, body) in pieces {
            if let Err(why) = input.receive(from, msg, part, n, body, 3) {
                refused = Some(why);
                break;
            }
        }
        let why = refused.expect("refused");
        assert!(why.contains("limits.max_membership_message"), "{why}");
    }
}
