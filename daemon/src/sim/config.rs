//! The shape of a simulated run, drawn from its seed.
//!
//! Owns `SimConfig` and how a seed picks one (swarm testing: every seed explores another mix of
//! sizes, loss, delays and fault rates). It never runs anything.

use super::Rng;
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
    /// Chance, before each client action, that a client stops reading for a while (a stalled
    /// program): what its daemon sends it piles up, and past `client_queue_bytes` the daemon
    /// ends its session. Its choices come from a random stream of their own, so a run without
    /// slow readers is the run it always was.
    pub slow_reader_rate: f64,
    /// Bytes that may wait for a client to read before its daemon ends the session (the
    /// driver's `limits.max_client_queue_bytes`).
    pub client_queue_bytes: usize,
    /// Chance, after each datagram of the last daemon, that it also sends a forgery (see
    /// `hostile.rs`): zero in a configuration drawn from a seed; the hostile batch sets it.
    pub hostile_rate: f64,
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
            // Drawn last, so the draws above are what they were before slow readers existed.
            slow_reader_rate: [0.0, 0.0, 0.005, 0.02][r.below(4) as usize],
            client_queue_bytes: [16 * 1024, 64 * 1024][r.below(2) as usize],
            hostile_rate: 0.0,
        }
    }
}
