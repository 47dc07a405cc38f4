//! The one hand-drivable network of daemon cores: the simulator runs on it, and so does every
//! test that drives several cores by hand (daemon/tests, the core's role tests, the fuzz target).
//!
//! Owns the cores, the clock and the datagrams in flight, and the rule of time: it advances to
//! the earliest of the next arrival and the cores' `poll_timeout`, never in fixed steps, so a test
//! sees exactly the inputs a real daemon would get. [`Network`] is the bare mechanism (what the
//! simulator builds its world on); [`Rig`] adds what hand-written tests want: outputs collected
//! per daemon, a fixed delay, and a hook that decides each datagram's fate. It never draws a
//! random number: whatever is random belongs to the caller.

use crate::core::packet::{self, Chunk};
use crate::core::{ClientId, Control, Core, CoreConfig, Departure, Output, Time};
use bytes::Bytes;
use gcs::wire::{Message, Request, Response, HELLO_MAGIC, PROTOCOL_VERSION};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

/// One daemon of the network.
#[derive(Debug)]
pub struct Node {
    /// Its core.
    pub core: Core,
    /// Its UDP address.
    pub addr: SocketAddr,
    /// False while crashed (or not started): it handles nothing and what is sent to it is lost.
    pub alive: bool,
    /// Paused (like SIGSTOP) until then: it handles nothing, and datagrams wait for it.
    pub paused_until: Option<Time>,
}

impl Node {
    /// A running daemon with `core` at `addr`.
    pub fn new(core: Core, addr: SocketAddr) -> Node {
        Node {
            core,
            addr,
            alive: true,
            paused_until: None,
        }
    }
}

/// What one [`Network::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing is due before the deadline: the clock stands at the deadline.
    Idle,
    /// Daemon `0` took a datagram or a timer: drain its outputs.
    Handled(usize),
    /// A datagram was lost (its target is down) or is held for a paused target; nothing ran.
    Nothing,
}

/// A datagram in flight: arrival time, a sequence number (equal times keep their sending order),
/// target index, source address, bytes.
type InFlight = Reverse<(Time, u64, usize, SocketAddr, Bytes)>;

/// Cores on a network whose datagrams arrive when the caller says.
#[derive(Debug)]
pub struct Network {
    /// The clock: the time of the last input handed to any core.
    pub now: Time,
    /// The daemons, by index.
    pub nodes: Vec<Node>,
    flight: BinaryHeap<InFlight>,
    seq: u64,
}

impl Network {
    /// A network of `nodes` at `now`, nothing in flight.
    pub fn new(now: Time, nodes: Vec<Node>) -> Network {
        Network {
            now,
            nodes,
            flight: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// The index of the daemon at `addr`.
    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// Puts a datagram from `from` to daemon `to` in flight, arriving at `at`.
    pub fn send(&mut self, at: Time, from: SocketAddr, to: usize, bytes: Bytes) {
        self.seq += 1;
        self.flight.push(Reverse((at, self.seq, to, from, bytes)));
    }

    /// How many datagrams are in flight.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }

    /// Takes every datagram out of flight, in arrival order: (source, target index, bytes).
    pub fn take_all(&mut self) -> Vec<(SocketAddr, usize, Bytes)> {
        let mut out = Vec::with_capacity(self.flight.len());
        while let Some(Reverse((_, _, to, from, bytes))) = self.flight.pop() {
            out.push((from, to, bytes));
        }
        out
    }

    /// Loses every datagram in flight that `pick` selects by (source, target index, bytes).
    pub fn lose(&mut self, mut pick: impl FnMut(SocketAddr, usize, &Bytes) -> bool) {
        let kept: Vec<InFlight> = std::mem::take(&mut self.flight)
            .into_sorted_vec()
            .into_iter()
            .filter(|Reverse((_, _, to, from, bytes))| !pick(*from, *to, bytes))
            .collect();
        self.flight = kept.into_iter().collect();
    }

    /// Ends the pause of daemon `d` if it is over: it takes a timeout at once. True if it
    /// resumed (drain it).
    pub fn resume_if_due(&mut self, d: usize) -> bool {
        let now = self.now;
        let node = &mut self.nodes[d];
        if node.paused_until.is_none_or(|t| t > now) {
            return false;
        }
        node.paused_until = None;
        let _span = tracing::info_span!("sim", d = d, t = %now).entered();
        node.core.handle_timeout(now);
        true
    }

    /// The earliest arrival and the earliest timer of a running daemon (a paused one wakes at
    /// the end of its pause).
    fn next_due(&self) -> (Option<Time>, Option<(Time, usize)>) {
        let next_net = self.flight.peek().map(|Reverse((t, ..))| *t);
        let next_timer = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive)
            .filter_map(|(i, n)| match n.paused_until {
                Some(until) => Some((until, i)),
                None => n.core.poll_timeout().map(|t| (t, i)),
            })
            .min();
        (next_net, next_timer)
    }

    /// The earliest thing due, if it is due by `until`: the clock moves to it and the daemon
    /// takes it. An arrival comes before a timer due at the same time.
    pub fn step(&mut self, until: Time) -> Step {
        let (next_net, next_timer) = self.next_due();
        let next = match (next_net, next_timer) {
            (Some(a), Some((b, _))) => a.min(b),
            (Some(a), None) => a,
            (None, Some((b, _))) => b,
            (None, None) => {
                self.now = self.now.max(until);
                return Step::Idle;
            }
        };
        if next > until {
            self.now = until;
            return Step::Idle;
        }
        self.now = self.now.max(next);
        if next_net == Some(next) {
            let Some(Reverse((at, seq, to, from, bytes))) = self.flight.pop() else {
                return Step::Nothing;
            };
            if !self.nodes[to].alive {
                return Step::Nothing;
            }
            if let Some(until) = self.nodes[to].paused_until {
                // Waits in the socket buffer until the daemon runs again.
                self.flight
                    .push(Reverse((until.max(at), seq, to, from, bytes)));
                return Step::Nothing;
            }
            let _span = tracing::info_span!("sim", d = to, t = %self.now).entered();
            self.nodes[to].core.handle_datagram(self.now, from, bytes);
            return Step::Handled(to);
        }
        let Some((_, d)) = next_timer else {
            return Step::Nothing;
        };
        if self.nodes[d].paused_until.is_some() {
            return Step::Nothing; // the caller resumes it
        }
        let _span = tracing::info_span!("sim", d = d, t = %self.now).entered();
        self.nodes[d].core.handle_timeout(self.now);
        Step::Handled(d)
    }
}

/// What a [`Rig`] does with a datagram a daemon sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It arrives after the rig's delay.
    Deliver,
    /// It is lost.
    Lose,
    /// It is lost and its sender dies on the spot (with everything it still has in flight).
    KillSender,
}

/// A datagram as a [`Rig`]'s fate hook sees it.
#[derive(Debug)]
pub struct Sent<'a> {
    /// The sender's index.
    pub from: usize,
    /// The target's index.
    pub to: usize,
    /// The datagram.
    pub bytes: &'a Bytes,
}

impl Sent<'_> {
    /// The chunks of the datagram (empty if it does not decode).
    pub fn chunks(&self) -> Vec<Chunk> {
        chunks(self.bytes)
    }

    /// The membership messages the datagram carries whole (those sent in one part).
    pub fn controls(&self) -> Vec<Control> {
        controls(self.bytes)
    }
}

/// The chunks of a datagram (empty if it does not decode): for tests that assert exactly what
/// a daemon sends.
pub fn chunks(bytes: &Bytes) -> Vec<Chunk> {
    packet::decode(bytes.clone()).map_or_else(|_| Vec::new(), |(_, chunks)| chunks)
}

/// The membership messages a datagram carries whole (those sent in one part).
pub fn controls(bytes: &Bytes) -> Vec<Control> {
    chunks(bytes)
        .into_iter()
        .filter_map(|c| match c {
            Chunk::Control { parts: 1, body, .. } => crate::core::decode_control(&body).ok(),
            _ => None,
        })
        .collect()
}

/// The fate hook of a [`Rig`].
pub type FateHook = Box<dyn FnMut(&Sent<'_>) -> Fate>;

/// Cores on a [`Network`] for tests: every output collected, datagrams delivered after a fixed
/// delay unless the fate hook says otherwise.
pub struct Rig {
    /// The cores and the clock.
    pub net: Network,
    /// How long a datagram travels.
    pub delay: Duration,
    /// Every message delivered to a client: the daemon, the recipients, the message.
    pub delivered: Vec<(usize, Vec<ClientId>, Message)>,
    /// Every other frame sent to clients, and the last frame of each session closed with an
    /// error: the daemon, the recipients, the frame.
    pub responses: Vec<(usize, Vec<ClientId>, Response)>,
    /// Every datagram sent, in sending order, whatever its fate: (sender, targets, bytes).
    pub transmitted: Vec<(usize, Vec<usize>, Bytes)>,
    fate: FateHook,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("now", &self.net.now)
            .field("nodes", &self.net.nodes.len())
            .field("in_flight", &self.net.in_flight())
            .finish()
    }
}

/// The address of daemon `i` of a rig: 127.0.40.(i+1), port 4804.
pub fn rig_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 40, i as u8 + 1], 4804))
}

/// A datagram from the daemon with index `sender` of a rig, in view `view`, carrying `control`:
/// what a peer (or someone forging one) sends.
pub fn control_datagram(sender: u16, view: u64, control: &Control) -> Bytes {
    let header = packet::Header {
        cluster: "gcs".into(),
        sender,
        view,
    };
    let mut b = packet::DatagramBuilder::new(&header, 65_000);
    for chunk in crate::core::encode_control(control, 1_000_000, 60_000, 1 << 24) {
        assert!(b.push(&chunk), "a test message does not fit one datagram");
    }
    b.finish()
}

/// The configuration of daemon `i` of `n` in a rig: named `d{i}`, every other daemon a peer,
/// incarnation 1000 + i, the defaults otherwise.
pub fn rig_config(i: usize, n: usize) -> CoreConfig {
    CoreConfig {
        listen: rig_addr(i),
        peers: (0..n).filter(|j| *j != i).map(rig_addr).collect(),
        incarnation: 1_000 + i as u64,
        ..CoreConfig::single(&format!("d{i}"))
    }
}

impl Rig {
    /// Cores made by `config` for each of `n` daemons, started at time zero; nothing has run.
    pub fn new(n: usize, config: impl Fn(usize) -> CoreConfig) -> Rig {
        let nodes = (0..n)
            .map(|i| {
                let c = config(i);
                let addr = c.listen;
                Node::new(Core::new(c, Time(0)), addr)
            })
            .collect();
        Rig {
            net: Network::new(Time(0), nodes),
            delay: Duration::from_micros(100),
            delivered: Vec::new(),
            responses: Vec::new(),
            transmitted: Vec::new(),
            fate: Box::new(|_| Fate::Deliver),
        }
    }

    /// `n` daemons of [`rig_config`] (changed by `adjust`) that have formed their first view
    /// together.
    pub fn formed(n: usize, adjust: impl Fn(&mut CoreConfig)) -> Rig {
        let mut rig = Rig::new(n, |i| {
            let mut c = rig_config(i, n);
            adjust(&mut c);
            c
        });
        let deadline = Time(0) + Duration::from_secs(10);
        while rig.net.now < deadline
            && !(0..n).all(|i| rig.core(i).daemon_view().members.len() == n)
        {
            rig.run_for(Duration::from_millis(10));
        }
        for i in 0..n {
            assert_eq!(
                rig.core(i).daemon_view().members.len(),
                n,
                "the cluster did not form"
            );
        }
        rig
    }

    /// The clock.
    pub fn now(&self) -> Time {
        self.net.now
    }

    /// The core of daemon `i`.
    pub fn core(&self, i: usize) -> &Core {
        &self.net.nodes[i].core
    }

    /// The core of daemon `i`, to hand it inputs (drain it after).
    pub fn core_mut(&mut self, i: usize) -> &mut Core {
        &mut self.net.nodes[i].core
    }

    /// Sets the hook that decides the fate of every datagram sent from now on.
    pub fn set_fate(&mut self, fate: impl FnMut(&Sent<'_>) -> Fate + 'static) {
        self.fate = Box::new(fate);
    }

    /// Every datagram from now on is delivered.
    pub fn deliver_all(&mut self) {
        self.fate = Box::new(|_| Fate::Deliver);
    }

    /// Daemon `i` dies: it handles nothing more, and its datagrams in flight are lost.
    pub fn kill(&mut self, i: usize) {
        self.net.nodes[i].alive = false;
        let addr = self.net.nodes[i].addr;
        self.net.lose(|from, _, _| from == addr);
    }

    /// Daemon `i` starts again with `config`: a new life that knows nothing.
    pub fn restart(&mut self, i: usize, config: CoreConfig) {
        let now = self.net.now;
        let node = &mut self.net.nodes[i];
        node.core = Core::new(config, now);
        node.alive = true;
        node.paused_until = None;
        self.drain(i);
    }

    /// Collects the outputs of daemon `i`: datagrams go on the network as their fate says,
    /// frames to the logs.
    pub fn drain(&mut self, i: usize) {
        while let Some(out) = self.net.nodes[i].core.poll_output() {
            match out {
                Output::Transmit { to, bytes } => {
                    let targets: Vec<usize> =
                        to.iter().filter_map(|a| self.net.index_of(*a)).collect();
                    self.transmitted.push((i, targets.clone(), bytes.clone()));
                    for j in targets {
                        if !self.net.nodes[i].alive {
                            break;
                        }
                        let fate = (self.fate)(&Sent {
                            from: i,
                            to: j,
                            bytes: &bytes,
                        });
                        match fate {
                            Fate::Deliver => {
                                let at = self.net.now + self.delay;
                                let from = self.net.nodes[i].addr;
                                self.net.send(at, from, j, bytes.clone());
                            }
                            Fate::Lose => {}
                            Fate::KillSender => self.kill(i),
                        }
                    }
                }
                out @ Output::Deliver { .. } => {
                    if let Some(Response::Message(m)) = out.response() {
                        self.delivered.push((i, out.recipients().to_vec(), m));
                    }
                }
                Output::Send { to, response } => self.responses.push((i, to, response)),
                Output::Close {
                    client,
                    error: Some(error),
                } => self
                    .responses
                    .push((i, vec![client], Response::Closing { error })),
                Output::Close { error: None, .. } => {}
            }
        }
    }

    /// Drains every running daemon.
    pub fn drain_all(&mut self) {
        for i in 0..self.net.nodes.len() {
            if self.net.nodes[i].alive {
                self.drain(i);
            }
        }
    }

    /// Runs for `time`: every arrival and timer on the way, as the cores' deadlines say.
    pub fn run_for(&mut self, time: Duration) {
        let until = self.net.now + time;
        self.drain_all();
        let mut steps = 0u64;
        loop {
            for d in 0..self.net.nodes.len() {
                if self.net.resume_if_due(d) {
                    self.drain(d);
                }
            }
            match self.net.step(until) {
                Step::Idle => return,
                Step::Handled(d) => self.drain(d),
                Step::Nothing => {}
            }
            steps += 1;
            assert!(
                steps < 10_000_000,
                "the rig makes no progress at {} (a timer that never moves?)",
                self.net.now
            );
        }
    }

    /// Runs until nothing is in flight, and then a little longer (`quiet`) so that
    /// acknowledgements and retransmissions go out; at most `limit` in all.
    pub fn settle(&mut self) {
        let quiet = Duration::from_millis(50);
        let start = self.net.now;
        loop {
            self.run_for(quiet);
            if self.net.in_flight() == 0 {
                return;
            }
            assert!(
                self.net.now.saturating_since(start) < Duration::from_secs(30),
                "the rig never settled"
            );
        }
    }

    /// Delivers everything in flight, and what that makes the daemons send, without letting
    /// time pass (arrivals due later are taken now).
    pub fn deliver_now(&mut self) {
        self.drain_all();
        let now = self.net.now;
        let mut rounds = 0;
        while self.net.in_flight() > 0 {
            for (from, to, bytes) in self.net.take_all() {
                if !self.net.nodes[to].alive {
                    continue;
                }
                self.net.nodes[to].core.handle_datagram(now, from, bytes);
                self.drain(to);
            }
            rounds += 1;
            assert!(rounds < 10_000, "the rig never quietened");
        }
    }

    /// Loses every datagram in flight.
    pub fn lose_in_flight(&mut self) {
        self.net.lose(|_, _, _| true);
    }

    /// A client of daemon `i` named `name`, welcomed (drain to see the welcome).
    pub fn client(&mut self, i: usize, name: &str) -> ClientId {
        let now = self.net.now;
        let core = &mut self.net.nodes[i].core;
        let id = core.handle_connect(now);
        core.handle_request(
            now,
            id,
            Request::Hello {
                magic: HELLO_MAGIC.into(),
                version: PROTOCOL_VERSION,
                name: name.into(),
            },
        );
        id
    }

    /// Hands `request` from `client` to daemon `i` now, and drains it.
    pub fn request(&mut self, i: usize, client: ClientId, request: Request) {
        let now = self.net.now;
        self.net.nodes[i].core.handle_request(now, client, request);
        self.drain(i);
    }

    /// Hands daemon `i` a datagram from `from` now, and drains it.
    pub fn datagram(&mut self, i: usize, from: SocketAddr, bytes: Bytes) {
        let now = self.net.now;
        self.net.nodes[i].core.handle_datagram(now, from, bytes);
        self.drain(i);
    }

    /// The session of `client` at daemon `i` ends now for `why`; drains the daemon.
    pub fn depart(&mut self, i: usize, client: ClientId, why: Departure) {
        let now = self.net.now;
        self.net.nodes[i].core.handle_departure(now, client, why);
        self.drain(i);
    }

    /// Every membership message sent since the `since`th datagram of [`Rig::transmitted`], in
    /// sending order: (sender, target, message). Only messages sent in one part are decoded.
    pub fn controls_since(&self, since: usize) -> Vec<(usize, usize, Control)> {
        let mut out = Vec::new();
        for (from, targets, bytes) in self.transmitted.iter().skip(since) {
            for c in controls(bytes) {
                for to in targets {
                    out.push((*from, *to, c.clone()));
                }
            }
        }
        out
    }

    /// The payloads delivered by daemon `i`, in delivery order.
    pub fn payloads(&self, i: usize) -> Vec<Bytes> {
        self.delivered
            .iter()
            .filter(|(d, ..)| *d == i)
            .map(|(_, _, m)| m.payload.clone())
            .collect()
    }
}
