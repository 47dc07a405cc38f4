//! The deterministic simulator: many daemon cores in one process, on a simulated network and
//! clock, driven by simulated clients, with every random choice drawn from one seed.
//!
//! Owns the simulated world: time, the network (delay, loss, duplication, reordering, partitions
//! symmetric, one-way and overlapping), daemon faults (crashes, some in the middle of a view
//! change, restarts as a new incarnation, daemons that start late, pauses longer than the failure
//! timeout), client behaviour (joins, leaves, multicasts in every order to
//! overlapping groups, disconnects), and the log of what every client did and saw, which the
//! history checker ([`crate::check`]) then judges. A run has a chaos phase, then a calm phase with
//! a clean, whole network and every paused daemon resumed, in which everything must settle
//! (liveness: every live daemon ends in one view of exactly the live daemons). The same seed
//! always gives the same run, byte for byte.
//!
//! It never touches a real socket or clock: addresses are labels, time is a number.

mod clients;
mod config;
mod faults;
pub mod harness;
mod hostile;
mod rng;
mod trace;

pub use config::SimConfig;
pub use harness::{Network, Node, Step};
pub use rng::Rng;

use crate::check::{self, History, ProcessLog};
use crate::core::{ClientId, Control, Core, CoreConfig, Output, Time};
use bytes::Bytes;
use clients::{Handed, SimClient};
use gcs::wire::Request;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use trace::Trace;

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The configuration drawn from it.
    pub config: SimConfig,
    /// Every client's log.
    pub history: History,
    /// Everything the checker found wrong (empty for a correct run).
    pub violations: Vec<check::Violation>,
    /// Messages sent and deliveries made, for a sense of scale.
    pub sent: usize,
    /// Deliveries made.
    pub delivered: usize,
    /// Bytes still held in history buffers at the end (stable data must have been collected).
    pub held_bytes: usize,
    /// The faults injected, with their times.
    pub faults: Vec<String>,
    /// A digest of everything every daemon did (each output with its daemon and time): two runs
    /// with the same digest behaved the same, datagram for datagram.
    pub trace: u64,
    /// How many outputs went into the digest.
    pub outputs: u64,
    /// Sessions their daemon ended because the client did not read (its queue filled up).
    pub overflows: usize,
    /// Forgeries the hostile member sent.
    pub lies: usize,
}

impl Outcome {
    /// A report of a failed run. With `replay` (the environment settings that select the
    /// run's batch, e.g. `GCS_SIM_FAULTS=1`), it ends with the command that replays it.
    pub fn report(&self, replay: Option<&str>) -> String {
        let mut s = format!(
            "simulation seed {} failed with {} violation(s)\nconfig: {:?}\n",
            self.seed,
            self.violations.len(),
            self.config
        );
        for v in self.violations.iter().take(30) {
            s.push_str(&format!("  {v}\n"));
        }
        if !self.faults.is_empty() {
            s.push_str(&format!("faults: {}\n", self.faults.join("; ")));
        }
        if let Some(flags) = replay {
            s.push_str(&format!(
                "replay with: GCS_SIM_SEED={}{flags} cargo test -p gcsd --test sim replay -- --nocapture\n",
                self.seed,
            ));
        }
        s
    }
}

/// What the simulator keeps of a daemon beside its core (which lives in the [`Network`]).
struct SimDaemon {
    /// Client requests waiting for the core to accept input (flow control), in arrival order.
    inbox: VecDeque<(ClientId, Request)>,
    /// When its current life started (µs), as its incarnation.
    incarnation: u64,
    /// A late joiner not started yet.
    waiting_to_start: bool,
}

/// A simulated cluster.
pub struct Sim {
    seed: u64,
    cfg: SimConfig,
    rng: Rng,
    /// The cores, the clock and the datagrams in flight.
    net: Network,
    daemons: Vec<SimDaemon>,
    clients: Vec<SimClient>,
    by_id: BTreeMap<(usize, ClientId), usize>,
    chaos: bool,
    delivered: usize,
    /// Cut links: (from, to) daemon indices.
    blocked: BTreeSet<(usize, usize)>,
    /// Faults injected, for the report.
    faults: Vec<String>,
    /// Every output of every daemon, with its daemon and time, digested.
    trace: Trace,
    /// The slow readers' own random stream.
    slow_rng: Rng,
    /// Sessions ended because their client did not read.
    overflows: usize,
    /// The hostile member's own random stream, the membership messages it may replay, and how
    /// many forgeries it sent.
    hostile_rng: Rng,
    hostile_seen: VecDeque<Control>,
    hostile_ack: Option<crate::core::packet::Ack>,
    hostile_lies: usize,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 10, i as u8 + 1], 4804))
}

impl Sim {
    /// A cluster for `seed`, with its configuration drawn from the seed.
    pub fn new(seed: u64) -> Sim {
        Self::with_config(seed, SimConfig::from_seed(seed))
    }

    /// A cluster for `seed` with an explicit configuration.
    pub fn with_config(seed: u64, cfg: SimConfig) -> Sim {
        let now = Time(1_000_000);
        let first_late = cfg.daemons - cfg.late_daemons.min(cfg.daemons.saturating_sub(1));
        let nodes = (0..cfg.daemons)
            .map(|i| Node {
                core: Core::new(core_config(&cfg, i, now.as_micros()), now),
                addr: addr(i),
                alive: i < first_late,
                paused_until: None,
            })
            .collect();
        let daemons = (0..cfg.daemons)
            .map(|i| SimDaemon {
                inbox: VecDeque::new(),
                waiting_to_start: i >= first_late,
                incarnation: now.as_micros(),
            })
            .collect();
        let mut sim = Sim {
            seed,
            rng: Rng::new(seed),
            net: Network::new(now, nodes),
            daemons,
            clients: Vec::new(),
            by_id: BTreeMap::new(),
            chaos: true,
            delivered: 0,
            blocked: BTreeSet::new(),
            faults: Vec::new(),
            trace: Trace::new(),
            slow_rng: Rng::new(seed ^ 0x5105_0000_0000_0001),
            overflows: 0,
            hostile_rng: Rng::new(seed ^ 0x4057_11e0_0000_0001),
            hostile_seen: VecDeque::new(),
            hostile_ack: None,
            hostile_lies: 0,
            cfg,
        };
        for d in 0..first_late {
            sim.drain(d);
        }
        for d in 0..first_late {
            for _ in 0..sim.cfg.clients_per_daemon {
                sim.connect(d);
            }
        }
        sim
    }

    /// Runs the chaos phase, then the calm phase, then checks the history.
    pub fn run(mut self) -> Outcome {
        for action in 0..self.cfg.actions {
            if action == self.cfg.actions / 4 {
                self.start_late();
            }
            let pause = self.rng.range(0, self.cfg.max_gap_us);
            self.run_until(self.net.now + Duration::from_micros(pause));
            if self.rng.chance(self.cfg.fault_rate) {
                self.fault();
            }
            self.stall_or_wake_readers();
            self.act();
        }
        self.chaos = false;
        for c in 0..self.clients.len() {
            if self.clients[c].slow_until.is_some() {
                self.read_all(c);
            }
        }
        self.blocked.clear();
        let now = self.net.now;
        for node in &mut self.net.nodes {
            if node.paused_until.is_some() {
                node.paused_until = Some(now);
            }
        }
        let end = self.net.now + self.cfg.calm;
        self.run_until(end);
        let mut violations = Vec::new();
        if let Some(why) = self.views_disagree() {
            violations.push(check::Violation {
                guarantee: "8 daemon view liveness",
                detail: why,
            });
        }
        let history = History {
            processes: self
                .clients
                .iter()
                .map(|c| ProcessLog {
                    name: c.name.clone(),
                    events: c.log.clone(),
                })
                .collect(),
            complete: true,
        };
        violations.extend(check::check(&history));
        let sent = self.clients.iter().map(|c| c.sent as usize).sum();
        Outcome {
            seed: self.seed,
            config: self.cfg.clone(),
            violations,
            sent,
            delivered: self.delivered,
            held_bytes: self
                .net
                .nodes
                .iter()
                .filter(|d| d.alive)
                .map(|d| d.core.held_bytes())
                .sum(),
            faults: self.faults.clone(),
            trace: self.trace.hash,
            outputs: self.trace.count,
            overflows: self.overflows,
            lies: self.hostile_lies,
            history,
        }
    }

    /// Carries out daemon `d`'s outputs, like the driver: frames to its clients (a client whose
    /// queue is full has its session ended, which the core hears of at once), datagrams to the
    /// network.
    fn drain(&mut self, d: usize) {
        loop {
            let mut overflowed = Vec::new();
            while let Some(out) = self.net.nodes[d].core.poll_output() {
                self.trace.record(d, self.net.now, &out);
                match out {
                    out @ (Output::Send { .. } | Output::Deliver { .. }) => {
                        let Some(response) = out.response() else {
                            continue;
                        };
                        let size = match &out {
                            Output::Deliver { frame, .. } => frame.len(),
                            _ => gcs::wire::encode_response_frame(&response).len(),
                        };
                        for id in out.recipients() {
                            let Some(&c) = self.by_id.get(&(d, *id)) else {
                                continue;
                            };
                            if !self.clients[c].connected {
                                continue;
                            }
                            if let Handed::Overflow = self.hand(c, &response, size) {
                                overflowed.push(*id);
                            }
                        }
                    }
                    Output::Close { client, error } => {
                        if let Some(&c) = self.by_id.get(&(d, client)) {
                            let overflow = error
                                .is_some_and(|e| e.code == gcs::wire::ErrorCode::QueueOverflow);
                            self.closed_by_daemon(c, overflow);
                        }
                    }
                    Output::Transmit { to, bytes } => {
                        let from = self.net.nodes[d].addr;
                        for dest in to {
                            if let Some(t) = self.net.index_of(dest) {
                                self.note_for_hostile(d, t, &bytes);
                            }
                            self.send_datagram(from, dest, bytes.clone());
                        }
                        self.maybe_lie(d);
                    }
                }
            }
            if overflowed.is_empty() {
                self.gone_if_stopped(d);
                return;
            }
            for id in overflowed {
                self.overflow(d, id);
            }
        }
    }

    /// Puts a datagram on the simulated network: a cut link drops it; in the chaos phase it may
    /// be lost, duplicated and delayed by any amount in the configured range.
    fn send_datagram(&mut self, from: SocketAddr, to: SocketAddr, bytes: Bytes) {
        let Some(target) = self.net.index_of(to) else {
            return;
        };
        let source = self.net.index_of(from);
        if source.is_some_and(|s| self.blocked.contains(&(s, target))) {
            return;
        }
        let copies = if self.chaos {
            if self.rng.chance(self.cfg.loss) {
                0
            } else if self.rng.chance(self.cfg.duplication) {
                2
            } else {
                1
            }
        } else {
            1
        };
        for _ in 0..copies {
            let (lo, hi) = if self.chaos {
                self.cfg.delay_us
            } else {
                (50, 100)
            };
            let at = self.net.now + Duration::from_micros(self.rng.range(lo, hi));
            self.net.send(at, from, target, bytes.clone());
        }
    }

    /// Advances time to `until`, delivering datagrams and firing timers on the way.
    fn run_until(&mut self, until: Time) {
        let mut same_instant = 0u32;
        let mut last = self.net.now;
        loop {
            if self.net.now == last {
                same_instant += 1;
                assert!(
                    same_instant < 1_000_000,
                    "seed {}: the cluster makes no progress at {} (a timer that never moves?): {:?}",
                    self.seed,
                    self.net.now,
                    self.net
                        .nodes
                        .iter()
                        .map(|d| d.core.poll_timeout())
                        .collect::<Vec<_>>()
                );
            } else {
                same_instant = 0;
                last = self.net.now;
            }
            for d in 0..self.net.nodes.len() {
                if self.net.resume_if_due(d) {
                    self.faults.push(format!("{} resume d{d}", self.net.now));
                    self.drain(d);
                    self.feed(d);
                }
            }
            match self.net.step(until) {
                Step::Idle => return,
                Step::Handled(d) => {
                    self.drain(d);
                    self.feed(d);
                }
                Step::Nothing => {}
            }
        }
    }
}

/// The configuration of daemon `i` in the life that started at `incarnation` (µs).
fn core_config(cfg: &SimConfig, i: usize, incarnation: u64) -> CoreConfig {
    let peers = (0..cfg.daemons).filter(|j| *j != i).map(addr).collect();
    CoreConfig {
        listen: addr(i),
        peers,
        max_datagram: cfg.max_datagram,
        max_message_size: cfg.max_payload.max(64) + 64,
        send_window: 256 * 1024,
        failure_timeout: cfg.failure_timeout,
        heartbeat: cfg.failure_timeout / 5,
        hello: cfg.failure_timeout / 5,
        incarnation,
        ..CoreConfig::single(&format!("d{i}"))
    }
}

/// Runs `seed` and returns its outcome.
pub fn run_seed(seed: u64) -> Outcome {
    Sim::new(seed).run()
}
