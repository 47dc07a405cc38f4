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

mod rng;

pub use rng::Rng;

use crate::check::{self, Event, History, ProcessLog};
use crate::core::{ClientId, Core, CoreConfig, Output, Time};
use bytes::Bytes;
use gcs::wire::{Request, RequestId, Response, HELLO_MAGIC, PROTOCOL_VERSION};
use gcs::Order;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// The shape of one simulated run; [`SimConfig::from_seed`] draws one from a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Daemons in the cluster.
    pub daemons: usize,
    /// Clients per daemon at the start.
    pub clients_per_daemon: usize,
    /// Distinct groups the clients use.
    pub groups: usize,
    /// Client actions in the chaos phase.
    pub actions: usize,
    /// Chance that a datagram is lost, during the chaos phase.
    pub loss: f64,
    /// Chance that a datagram is delivered twice, during the chaos phase.
    pub duplication: f64,
    /// Smallest and largest one-way delay, in µs; a spread reorders datagrams.
    pub delay_us: (u64, u64),
    /// Largest datagram the daemons send.
    pub max_datagram: usize,
    /// Largest message payload the clients send.
    pub max_payload: usize,
    /// Simulated time allowed for everything to settle after the chaos phase.
    pub calm: Duration,
    /// Chance that a client action is preceded by a fault (crash, restart, pause, partition,
    /// heal).
    pub fault_rate: f64,
    /// The daemons' failure timeout (their heartbeat is a fifth of it).
    pub failure_timeout: Duration,
    /// Longest pause between two client actions, in µs.
    pub max_gap_us: u64,
    /// Daemons that are not running at the start and start (for the first time) a quarter of
    /// the way into the chaos phase: the last ones by index.
    pub late_daemons: usize,
}

impl SimConfig {
    /// A configuration drawn from `seed` (swarm testing: every run explores a different mix).
    pub fn from_seed(seed: u64) -> SimConfig {
        let mut r = Rng::new(seed ^ 0x5eed_c0f1_9000_0000);
        let loss = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3][r.below(6) as usize];
        let max_datagram = [600, 1472, 9000][r.below(3) as usize];
        let lo = r.range(20, 200);
        SimConfig {
            daemons: r.range(1, 5) as usize,
            clients_per_daemon: r.range(1, 3) as usize,
            groups: r.range(1, 4) as usize,
            actions: r.range(100, 400) as usize,
            loss,
            duplication: [0.0, 0.02, 0.1][r.below(3) as usize],
            delay_us: (lo, lo + r.range(0, 2000)),
            max_datagram,
            max_payload: [64, 2000, 6000][r.below(3) as usize],
            calm: Duration::from_secs(5),
            fault_rate: [0.0, 0.0, 0.01, 0.03, 0.06][r.below(5) as usize],
            failure_timeout: Duration::from_millis([100, 200, 500][r.below(3) as usize]),
            max_gap_us: [3_000, 10_000][r.below(2) as usize],
            late_daemons: r.below(3).saturating_sub(1) as usize,
        }
    }
}

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

struct SimDaemon {
    core: Core,
    addr: SocketAddr,
    /// Client requests waiting for the core to accept input (flow control), in arrival order.
    inbox: VecDeque<(ClientId, Request)>,
    /// False once crashed (until restarted).
    alive: bool,
    /// Paused (SIGSTOP) until then: it handles nothing, datagrams wait for it.
    paused_until: Option<Time>,
    /// When its current life started (µs), as its incarnation.
    incarnation: u64,
    /// A late joiner not started yet.
    waiting_to_start: bool,
}

struct SimClient {
    daemon: usize,
    id: ClientId,
    name: String,
    log: Vec<Event>,
    joined: BTreeSet<String>,
    sent: u64,
    connected: bool,
    next_request: u64,
}

type InFlight = Reverse<(Time, u64, usize, SocketAddr, Bytes)>;

/// A simulated cluster.
pub struct Sim {
    seed: u64,
    cfg: SimConfig,
    rng: Rng,
    now: Time,
    daemons: Vec<SimDaemon>,
    clients: Vec<SimClient>,
    by_id: BTreeMap<(usize, ClientId), usize>,
    net: BinaryHeap<InFlight>,
    net_seq: u64,
    chaos: bool,
    delivered: usize,
    /// Cut links: (from, to) daemon indices.
    blocked: BTreeSet<(usize, usize)>,
    /// Faults injected, for the report.
    faults: Vec<String>,
    /// Every output of every daemon, with its daemon and time, digested.
    trace: Trace,
}

/// A running digest of the outputs of a run (FNV-1a, 64 bits: stable across builds and
/// platforms, so digests can be compared between two builds of the code).
struct Trace {
    hash: u64,
    count: u64,
}

impl Trace {
    fn new() -> Trace {
        Trace {
            hash: 0xcbf2_9ce4_8422_2325,
            count: 0,
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn record(&mut self, d: usize, now: Time, out: &Output) {
        self.count += 1;
        self.bytes(&(d as u64).to_le_bytes());
        self.bytes(&now.as_micros().to_le_bytes());
        match out {
            Output::Transmit { to, bytes } => {
                self.bytes(format!("T{to:?}").as_bytes());
                self.bytes(bytes);
            }
            Output::Deliver { to, frame } => {
                self.bytes(format!("D{to:?}").as_bytes());
                self.bytes(frame);
            }
            Output::Send { to, response } => {
                self.bytes(format!("S{to:?}{response:?}").as_bytes());
            }
            Output::Close { client, error } => {
                self.bytes(format!("C{client:?}{error:?}").as_bytes());
            }
        }
    }
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 10, i as u8 + 1], 4804))
}

fn payload_id(p: &Bytes) -> String {
    let text = String::from_utf8_lossy(p);
    text.split('|').next().unwrap_or_default().to_string()
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
        let daemons = (0..cfg.daemons)
            .map(|i| SimDaemon {
                core: Core::new(core_config(&cfg, i, now.as_micros()), now),
                addr: addr(i),
                inbox: VecDeque::new(),
                alive: i < first_late,
                waiting_to_start: i >= first_late,
                paused_until: None,
                incarnation: now.as_micros(),
            })
            .collect();
        let mut sim = Sim {
            seed,
            rng: Rng::new(seed),
            now,
            daemons,
            clients: Vec::new(),
            by_id: BTreeMap::new(),
            net: BinaryHeap::new(),
            net_seq: 0,
            chaos: true,
            delivered: 0,
            blocked: BTreeSet::new(),
            faults: Vec::new(),
            trace: Trace::new(),
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

    /// Starts the daemons that were not running yet (late joiners), each with its clients.
    fn start_late(&mut self) {
        for d in 0..self.daemons.len() {
            if !self.daemons[d].waiting_to_start || self.daemons[d].alive {
                continue;
            }
            self.restart(d);
            self.faults.push(format!("{} start d{d} (late)", self.now));
            for _ in 0..self.cfg.clients_per_daemon {
                self.connect(d);
            }
        }
    }

    /// Runs the chaos phase, then the calm phase, then checks the history.
    pub fn run(mut self) -> Outcome {
        for action in 0..self.cfg.actions {
            if action == self.cfg.actions / 4 {
                self.start_late();
            }
            let pause = self.rng.range(0, self.cfg.max_gap_us);
            self.run_until(self.now + Duration::from_micros(pause));
            if self.rng.chance(self.cfg.fault_rate) {
                self.fault();
            }
            self.act();
        }
        self.chaos = false;
        self.blocked.clear();
        for d in 0..self.daemons.len() {
            if self.daemons[d].paused_until.is_some() {
                self.daemons[d].paused_until = Some(self.now);
            }
        }
        let end = self.now + self.cfg.calm;
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
                .daemons
                .iter()
                .filter(|d| d.alive)
                .map(|d| d.core.held_bytes())
                .sum(),
            faults: self.faults.clone(),
            trace: self.trace.hash,
            outputs: self.trace.count,
            history,
        }
    }

    /// After the calm phase: every live daemon must be in one view of exactly the live daemons.
    fn views_disagree(&self) -> Option<String> {
        let live: Vec<String> = self
            .daemons
            .iter()
            .enumerate()
            .filter(|(_, d)| d.alive)
            .map(|(i, _)| format!("d{i}"))
            .collect();
        let views: Vec<(String, gcs::DaemonView)> = self
            .daemons
            .iter()
            .enumerate()
            .filter(|(_, d)| d.alive)
            .map(|(i, d)| (format!("d{i}"), d.core.daemon_view()))
            .collect();
        let first = &views.first()?.1;
        let mut sorted_first = first.members.clone();
        sorted_first.sort();
        if views.iter().any(|(_, v)| v != first) || sorted_first != live {
            return Some(format!(
                "after the calm phase the live daemons {live:?} are in views {views:?}"
            ));
        }
        None
    }

    /// One random fault.
    fn fault(&mut self) {
        let n = self.daemons.len();
        if n < 2 {
            return;
        }
        let d = self.rng.below(n as u64) as usize;
        let live = self.daemons.iter().filter(|d| d.alive).count();
        let what = match self.rng.below(8) {
            0 if self.daemons[d].alive && live > 1 => {
                self.crash(d);
                format!("crash d{d}")
            }
            1 if !self.daemons[d].alive => {
                self.restart(d);
                format!("restart d{d}")
            }
            2 if self.daemons[d].alive && self.daemons[d].paused_until.is_none() => {
                let ms = self.cfg.failure_timeout.as_millis() as u64;
                let pause = Duration::from_millis(self.rng.range(ms / 2, ms * 3));
                self.daemons[d].paused_until = Some(self.now + pause);
                format!("pause d{d} for {pause:?}")
            }
            3 => {
                let side: Vec<usize> = (0..n).filter(|_| self.rng.below(2) == 0).collect();
                for a in 0..n {
                    for b in 0..n {
                        if side.contains(&a) != side.contains(&b) {
                            self.blocked.insert((a, b));
                        }
                    }
                }
                format!("partition {side:?} from the rest")
            }
            4 => {
                let b = self.rng.below(n as u64) as usize;
                if b == d {
                    return;
                }
                self.blocked.insert((d, b));
                format!("cut d{d} -> d{b} one way")
            }
            5 => {
                self.blocked.clear();
                "heal".to_string()
            }
            // Overlapping partitions: two daemons lose each other while both still reach the
            // rest.
            6 => {
                let b = self.rng.below(n as u64) as usize;
                if b == d {
                    return;
                }
                self.blocked.insert((d, b));
                self.blocked.insert((b, d));
                format!("cut d{d} <-> d{b}")
            }
            // A crash in the middle of a view change.
            7 => {
                let changing: Vec<usize> = (0..n)
                    .filter(|i| self.daemons[*i].alive && self.daemons[*i].core.in_view_change())
                    .collect();
                if changing.is_empty() || live < 2 {
                    return;
                }
                let victim = changing[self.rng.below(changing.len() as u64) as usize];
                self.crash(victim);
                format!("crash d{victim} during a view change")
            }
            _ => return,
        };
        self.faults.push(format!("{} {what}", self.now));
    }

    fn crash(&mut self, d: usize) {
        self.daemons[d].alive = false;
        self.daemons[d].paused_until = None;
        self.daemons[d].inbox.clear();
        for c in 0..self.clients.len() {
            if self.clients[c].daemon == d && self.clients[c].connected {
                self.clients[c].connected = false;
                self.clients[c].log.push(Event::Disconnect);
            }
        }
    }

    fn restart(&mut self, d: usize) {
        // Like the real daemon's: its start time.
        let incarnation = self.now.as_micros().max(self.daemons[d].incarnation + 1);
        self.daemons[d].incarnation = incarnation;
        self.daemons[d].core = Core::new(core_config(&self.cfg, d, incarnation), self.now);
        // Client ids start again in the new life.
        self.by_id.retain(|(daemon, _), _| *daemon != d);
        self.daemons[d].alive = true;
        self.daemons[d].waiting_to_start = false;
        self.drain(d);
    }

    /// A random live daemon.
    fn live_daemon(&mut self) -> usize {
        let live: Vec<usize> = (0..self.daemons.len())
            .filter(|d| self.daemons[*d].alive)
            .collect();
        live[self.rng.below(live.len() as u64) as usize]
    }

    /// One random client action.
    fn act(&mut self) {
        let live: Vec<usize> = (0..self.clients.len())
            .filter(|c| self.clients[*c].connected)
            .collect();
        if live.is_empty() {
            let d = self.live_daemon();
            self.connect(d);
            return;
        }
        let c = live[self.rng.below(live.len() as u64) as usize];
        let group = format!("g{}", self.rng.below(self.cfg.groups as u64));
        match self.rng.below(100) {
            0..=14 => {
                if self.clients[c].joined.contains(&group) {
                    self.leave(c, group);
                } else {
                    self.join(c, group);
                }
            }
            15..=16 => {
                self.disconnect(c);
                let d = self.live_daemon();
                self.connect(d);
            }
            _ => {
                let mut groups = vec![group];
                if self.rng.below(4) == 0 {
                    groups.push(format!("g{}", self.rng.below(self.cfg.groups as u64)));
                }
                let order = Order::ALL[self.rng.below(5) as usize];
                self.multicast(c, groups, order);
            }
        }
    }

    fn request_id(&mut self, c: usize) -> RequestId {
        let cl = &mut self.clients[c];
        cl.next_request += 1;
        RequestId(cl.next_request)
    }

    fn connect(&mut self, d: usize) {
        let n = self.clients.len();
        let name = format!("p{n}");
        let id = self.daemons[d].core.handle_connect(self.now);
        self.clients.push(SimClient {
            daemon: d,
            id,
            name: format!("{name}#d{d}"),
            log: Vec::new(),
            joined: BTreeSet::new(),
            sent: 0,
            connected: true,
            next_request: 0,
        });
        self.by_id.insert((d, id), n);
        let hello = Request::Hello {
            magic: HELLO_MAGIC.into(),
            version: PROTOCOL_VERSION,
            name,
        };
        self.request(n, hello);
        // Each client starts in one group so there is traffic from the start.
        let g = format!("g{}", self.rng.below(self.cfg.groups as u64));
        self.join(n, g);
    }

    fn join(&mut self, c: usize, group: String) {
        let id = self.request_id(c);
        self.clients[c].joined.insert(group.clone());
        self.clients[c].log.push(Event::Join {
            group: group.clone(),
        });
        self.request(c, Request::Join { id, group });
    }

    fn leave(&mut self, c: usize, group: String) {
        let id = self.request_id(c);
        self.clients[c].joined.remove(&group);
        self.clients[c].log.push(Event::Leave {
            group: group.clone(),
        });
        self.request(c, Request::Leave { id, group });
    }

    fn multicast(&mut self, c: usize, mut groups: Vec<String>, order: Order) {
        groups.dedup();
        let id = self.request_id(c);
        let cl = &mut self.clients[c];
        cl.sent += 1;
        let msg_id = format!("{}:{}", cl.name, cl.sent);
        let size = self.rng.range(0, self.cfg.max_payload as u64) as usize;
        let mut text = format!("{msg_id}|");
        text.extend(std::iter::repeat_n('x', size));
        self.clients[c].log.push(Event::Send {
            id: msg_id,
            groups: groups.clone(),
            order,
        });
        self.request(
            c,
            Request::Multicast {
                id,
                groups,
                order,
                payload: Bytes::from(text),
            },
        );
    }

    fn disconnect(&mut self, c: usize) {
        let cl = &mut self.clients[c];
        cl.connected = false;
        cl.log.push(Event::Disconnect);
        let (d, id) = (cl.daemon, cl.id);
        // Requests still waiting in the inbox die with the connection.
        self.daemons[d].inbox.retain(|(cid, _)| *cid != id);
        self.daemons[d]
            .core
            .handle_departure(self.now, id, crate::core::Departure::Closed);
        self.drain(d);
    }

    fn request(&mut self, c: usize, req: Request) {
        let (d, id) = (self.clients[c].daemon, self.clients[c].id);
        self.daemons[d].inbox.push_back((id, req));
        self.feed(d);
    }

    /// Hands waiting client requests to daemon `d` while it accepts input.
    fn feed(&mut self, d: usize) {
        if !self.daemons[d].alive || self.daemons[d].paused_until.is_some() {
            return;
        }
        while self.daemons[d].core.accepts_client_input() {
            let Some((id, req)) = self.daemons[d].inbox.pop_front() else {
                break;
            };
            let _span = tracing::info_span!("sim", d = d, t = %self.now).entered();
            self.daemons[d].core.handle_request(self.now, id, req);
            self.drain(d);
        }
    }

    /// Carries out daemon `d`'s outputs.
    fn drain(&mut self, d: usize) {
        while let Some(out) = self.daemons[d].core.poll_output() {
            self.trace.record(d, self.now, &out);
            match out {
                out @ (Output::Send { .. } | Output::Deliver { .. }) => {
                    let Some(response) = out.response() else {
                        continue;
                    };
                    for id in out.recipients() {
                        let Some(&c) = self.by_id.get(&(d, *id)) else {
                            continue;
                        };
                        let cl = &mut self.clients[c];
                        if !cl.connected {
                            continue;
                        }
                        match &response {
                            Response::Message(m) => {
                                self.delivered += 1;
                                cl.log.push(Event::Deliver {
                                    id: payload_id(&m.payload),
                                    sender: m.sender.clone(),
                                    groups: m.groups.clone(),
                                    order: m.order,
                                });
                            }
                            Response::View(v) => cl.log.push(Event::View(v.clone())),
                            _ => {}
                        }
                    }
                }
                Output::Close { .. } => {}
                Output::Transmit { to, bytes } => {
                    let from = self.daemons[d].addr;
                    for dest in to {
                        self.send_datagram(from, dest, bytes.clone());
                    }
                }
            }
        }
    }

    fn send_datagram(&mut self, from: SocketAddr, to: SocketAddr, bytes: Bytes) {
        let Some(target) = self.daemons.iter().position(|d| d.addr == to) else {
            return;
        };
        let source = self.daemons.iter().position(|d| d.addr == from);
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
            let at = self.now + Duration::from_micros(self.rng.range(lo, hi));
            self.net_seq += 1;
            self.net
                .push(Reverse((at, self.net_seq, target, from, bytes.clone())));
        }
    }

    /// Advances time to `until`, delivering datagrams and firing timers on the way.
    fn run_until(&mut self, until: Time) {
        let mut same_instant = 0u32;
        let mut last = self.now;
        loop {
            if self.now == last {
                same_instant += 1;

                assert!(
                    same_instant < 1_000_000,
                    "seed {}: the cluster makes no progress at {} (a timer that never moves?): {:?}",
                    self.seed,
                    self.now,
                    self.daemons
                        .iter()
                        .map(|d| d.core.poll_timeout())
                        .collect::<Vec<_>>()
                );
            } else {
                same_instant = 0;
                last = self.now;
            }
            for d in 0..self.daemons.len() {
                if self.daemons[d].paused_until.is_some_and(|t| t <= self.now) {
                    self.daemons[d].paused_until = None;
                    self.faults.push(format!("{} resume d{d}", self.now));
                    let _span = tracing::info_span!("sim", d = d, t = %self.now).entered();
                    self.daemons[d].core.handle_timeout(self.now);
                    self.drain(d);
                    self.feed(d);
                }
            }
            let next_net = self.net.peek().map(|Reverse((t, ..))| *t);
            let next_timer = self
                .daemons
                .iter()
                .enumerate()
                .filter(|(_, d)| d.alive)
                .filter_map(|(i, d)| match d.paused_until {
                    // A paused daemon wakes at the end of its pause.
                    Some(until) => Some((until, i)),
                    None => d.core.poll_timeout().map(|t| (t, i)),
                })
                .min();
            let next = match (next_net, next_timer) {
                (Some(a), Some((b, _))) => a.min(b),
                (Some(a), None) => a,
                (None, Some((b, _))) => b,
                (None, None) => {
                    self.now = self.now.max(until);
                    return;
                }
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            if next_net == Some(next) {
                if let Some(Reverse((at, seq, to, from, bytes))) = self.net.pop() {
                    if !self.daemons[to].alive {
                        continue;
                    }
                    if let Some(until) = self.daemons[to].paused_until {
                        // Waits in the socket buffer until the daemon runs again.
                        self.net
                            .push(Reverse((until.max(at), seq, to, from, bytes)));
                        continue;
                    }
                    let _span = tracing::info_span!("sim", d = to, t = %self.now).entered();
                    self.daemons[to].core.handle_datagram(self.now, from, bytes);
                    self.drain(to);
                    self.feed(to);
                }
            } else if let Some((_, d)) = next_timer {
                if self.daemons[d].paused_until.is_some() {
                    continue; // resumed at the top of the loop
                }
                let _span = tracing::info_span!("sim", d = d, t = %self.now).entered();
                self.daemons[d].core.handle_timeout(self.now);
                self.drain(d);
                self.feed(d);
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
