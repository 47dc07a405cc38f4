//! The deterministic simulator as the main test bed: fixed batches of seeds in CI, one seed
//! replayed on demand, more seeds for a soak.
//!
//! - `cargo test -p gcsd --test sim` runs two fixed batches: seeds on a network that loses,
//!   duplicates and delays datagrams, and seeds that add daemon faults (crashes, some in the
//!   middle of a view change, stops that drain before their goodbye, restarts, daemons that start
//!   late, pauses longer than the failure timeout, partitions symmetric, one-way and overlapping,
//!   heals).
//! - `GCS_SIM_SEEDS=N` runs N seeds per batch instead, starting at `GCS_SIM_BASE` (default 0);
//!   `GCS_SIM_FAULTS=1` or `0` runs only the batch with or without faults.
//! - A third batch has a hostile member (`sim/hostile.rs`): the last daemon sends forgeries of
//!   every kind, under its own address (a key holder) and from an address nobody lists (no key),
//!   besides running the protocol; `GCS_SIM_HOSTILE=1` runs only it, and replays its seeds.
//! - `GCS_SIM_SEED=S cargo test -p gcsd --test sim replay -- --nocapture` replays seed S
//!   (with `GCS_SIM_FAULTS=1` for a seed of the fault batch; with `RUST_LOG=info` or finer, the
//!   daemons' log). Each failure prints its command.
//! - `GCS_SIM_DIGESTS=FILE` writes one line per seed run (batch, seed, digest of every output of
//!   every daemon, output count) to FILE: two builds whose files are equal behaved the same,
//!   datagram for datagram, which is how a refactor shows it changed nothing.

use gcsd::sim::{Outcome, Sim, SimConfig};

/// Which batch a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A lossy network, no faults.
    Plain,
    /// Daemon faults too.
    Faults,
    /// No faults, but one member (the last daemon) that also sends forgeries of every kind.
    Hostile,
}

impl Kind {
    /// The batch the environment asks for: `GCS_SIM_HOSTILE=1`, else `GCS_SIM_FAULTS=1` or `0`;
    /// `None` for every batch.
    fn chosen() -> Option<Kind> {
        if env_u64("GCS_SIM_HOSTILE").is_some_and(|h| h != 0) {
            return Some(Kind::Hostile);
        }
        env_u64("GCS_SIM_FAULTS").map(|f| if f != 0 { Kind::Faults } else { Kind::Plain })
    }

    /// The environment setting that selects this batch, for a replay command.
    fn flag(self) -> &'static str {
        match self {
            Kind::Plain => "",
            Kind::Faults => " GCS_SIM_FAULTS=1",
            Kind::Hostile => " GCS_SIM_HOSTILE=1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Faults => "faults",
            Kind::Hostile => "hostile",
        }
    }
}

/// The run of `seed`: its configuration drawn from the seed, set for the batch `kind`.
fn run_seed(seed: u64, kind: Kind) -> Outcome {
    let mut cfg = SimConfig::from_seed(seed);
    match kind {
        Kind::Plain => {
            // No faults, and a failure timeout long enough that loss alone never changes the
            // view.
            cfg.fault_rate = 0.0;
            cfg.late_daemons = 0;
            cfg.failure_timeout = std::time::Duration::from_secs(3);
        }
        Kind::Faults => {}
        Kind::Hostile => {
            // The forgeries are the faults; at least two honest daemons to lie to.
            cfg.fault_rate = 0.0;
            cfg.daemons = cfg.daemons.max(3);
            cfg.late_daemons = 0;
            cfg.hostile_rate = 0.3;
        }
    }
    Sim::with_config(seed, cfg).run()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Seeds the CI batch without faults runs: enough to cover every shape `SimConfig::from_seed`
/// draws.
const CI_SEEDS: u64 = 100;

/// Seeds the CI batch with faults runs: faults are drawn per run, so it takes more.
const CI_FAULT_SEEDS: u64 = 200;

/// Seeds the CI batch with a hostile member runs.
const CI_HOSTILE_SEEDS: u64 = 100;

/// Runs the batch `kind` unless the environment asks for another one only.
fn batch(kind: Kind, default_count: u64) {
    if Kind::chosen().is_some_and(|k| k != kind) {
        return;
    }
    let faults = kind == Kind::Faults;
    let count = env_u64("GCS_SIM_SEEDS").unwrap_or(default_count);
    let base = env_u64("GCS_SIM_BASE").unwrap_or(0);
    let mut failures = Vec::new();
    let mut delivered = 0;
    let mut faults_injected = 0;
    let mut stops_finished = 0;
    let mut lies = 0;
    let mut digests = String::new();
    for seed in base..base + count {
        let outcome = run_seed(seed, kind);
        lies += outcome.lies;
        digests.push_str(&format!(
            "{} {seed} {:016x} {}\n",
            kind.name(),
            outcome.trace,
            outcome.outputs
        ));
        delivered += outcome.delivered;
        faults_injected += outcome.faults.len();
        stops_finished += outcome
            .faults
            .iter()
            .filter(|f| f.ends_with(" stopped"))
            .count();
        if !outcome.violations.is_empty() {
            failures.push(outcome.report(Some(kind.flag())));
        } else if outcome.held_bytes != 0 {
            failures.push(format!(
                "seed {seed}: {} bytes still held after everything settled (garbage not collected)\n\
                 replay with: GCS_SIM_SEED={seed}{} cargo test -p gcsd --test sim replay -- --nocapture\n",
                outcome.held_bytes,
                kind.flag()
            ));
        }
    }
    if let Ok(path) = std::env::var("GCS_SIM_DIGESTS") {
        let path = format!("{path}.{}", kind.name());
        if let Err(e) = std::fs::write(&path, digests) {
            panic!("cannot write the digests to {path}: {e}");
        }
    }
    assert!(
        delivered > 0,
        "the batch delivered nothing: the simulator is not exercising anything"
    );
    assert!(
        !faults || faults_injected > 0,
        "the fault batch injected no fault: it is not exercising the view change"
    );
    assert!(
        !faults || count < 100 || stops_finished > 0,
        "no daemon of the fault batch finished stopping: the drain before a goodbye is not exercised"
    );
    assert!(
        kind != Kind::Hostile || lies > 0,
        "the hostile batch sent no forgery: it is not exercising anything"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_batch_of_seeds_keeps_every_guarantee() {
    batch(Kind::Plain, CI_SEEDS);
}

#[test]
fn a_batch_of_seeds_with_daemon_faults_keeps_every_guarantee() {
    batch(Kind::Faults, CI_FAULT_SEEDS);
}

#[test]
fn a_batch_of_seeds_with_a_hostile_member_keeps_every_guarantee() {
    batch(Kind::Hostile, CI_HOSTILE_SEEDS);
}

#[test]
fn replay() {
    let seed = env_u64("GCS_SIM_SEED").unwrap_or(1);
    let kind = Kind::chosen().unwrap_or(Kind::Plain);
    // With RUST_LOG set, the daemons' log lines, each in its span naming the daemon and the
    // simulated time.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .without_time()
            .try_init();
    }
    let outcome = run_seed(seed, kind);
    println!(
        "seed {seed}: {:?}\n{} messages sent, {} deliveries, {} violations",
        outcome.config,
        outcome.sent,
        outcome.delivered,
        outcome.violations.len()
    );
    assert!(
        outcome.violations.is_empty(),
        "{}",
        outcome.report(Some(kind.flag()))
    );
}

/// Two runs of one seed do the same, output for output: every datagram (so every timer that sent
/// one), every frame to a client, every close. Seeds with loss, several daemons and faults, so
/// retransmissions, timers and view changes are all in the trace.
#[test]
fn the_same_seed_gives_the_same_trace() {
    let mut compared = 0;
    for seed in 0..40 {
        let cfg = SimConfig::from_seed(seed);
        if cfg.daemons < 3 || cfg.loss == 0.0 || cfg.fault_rate == 0.0 {
            continue;
        }
        let a = run_seed(seed, Kind::Faults);
        let b = run_seed(seed, Kind::Faults);
        assert!(a.outputs > 1000, "seed {seed}: only {} outputs", a.outputs);
        assert_eq!(
            (a.trace, a.outputs),
            (b.trace, b.outputs),
            "seed {seed} is not deterministic"
        );
        assert_eq!(
            format!("{:?}", a.history),
            format!("{:?}", b.history),
            "seed {seed} is not deterministic"
        );
        compared += 1;
        if compared == 3 {
            break;
        }
    }
    assert_eq!(
        compared, 3,
        "too few seeds with loss, faults and three daemons"
    );
}

#[test]
fn heavy_loss_and_fragmentation_still_deliver_everything() {
    let cfg = SimConfig {
        daemons: 4,
        clients_per_daemon: 2,
        groups: 3,
        actions: 300,
        loss: 0.3,
        duplication: 0.1,
        delay_us: (50, 3000),
        max_datagram: 600,
        max_payload: 6000,
        calm: std::time::Duration::from_secs(5),
        fault_rate: 0.0,
        failure_timeout: std::time::Duration::from_millis(500),
        max_gap_us: 3_000,
        late_daemons: 0,
        slow_reader_rate: 0.0,
        client_queue_bytes: 64 * 1024,
        hostile_rate: 0.0,
    };
    let outcome = Sim::with_config(99, cfg).run();
    assert!(
        outcome.delivered > 100,
        "only {} deliveries",
        outcome.delivered
    );
    assert!(outcome.violations.is_empty(), "{}", outcome.report(None));
}

#[test]
fn clients_that_stop_reading_are_disconnected_and_every_guarantee_holds() {
    let mut overflows = 0;
    for seed in 0..20 {
        let cfg = SimConfig {
            slow_reader_rate: 0.05,
            client_queue_bytes: 8 * 1024,
            ..SimConfig::from_seed(seed)
        };
        let outcome = Sim::with_config(seed, cfg).run();
        assert!(outcome.violations.is_empty(), "{}", outcome.report(None));
        overflows += outcome.overflows;
    }
    assert!(
        overflows > 0,
        "no client fell so far behind that its daemon ended its session"
    );
}
