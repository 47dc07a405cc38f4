//! The deterministic simulator as the main test bed: a fixed batch of seeds in CI, one seed
//! replayed on demand, more seeds for a soak.
//!
//! - `cargo test -p gcsd --test sim` runs the fixed batch (`GCS_SIM_SEEDS=N` runs N seeds
//!   instead, starting at `GCS_SIM_BASE`, default 0).
//! - `GCS_SIM_SEED=S cargo test -p gcsd --test sim replay -- --nocapture` replays seed S.
//! - `GCS_SIM_FAULTS=1` adds daemon faults (crashes, restarts, pauses, partitions) to the runs.
//!   The view change under faults is still being finished: these runs are not yet part of CI
//!   (see `notes/membership.md` for what they still find).

use gcsd::sim::{Outcome, Sim, SimConfig};

/// The run of `seed`: its configuration drawn from the seed, faults only when asked for.
fn run_seed(seed: u64) -> Outcome {
    let mut cfg = SimConfig::from_seed(seed);
    if env_u64("GCS_SIM_FAULTS").unwrap_or(0) == 0 {
        // No faults, and a failure timeout long enough that loss alone never changes the view.
        cfg.fault_rate = 0.0;
        cfg.failure_timeout = std::time::Duration::from_secs(3);
    }
    Sim::with_config(seed, cfg).run()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Seeds the CI batch runs: enough to cover every shape `SimConfig::from_seed` draws.
const CI_SEEDS: u64 = 100;

#[test]
fn a_batch_of_seeds_keeps_every_guarantee() {
    let count = env_u64("GCS_SIM_SEEDS").unwrap_or(CI_SEEDS);
    let base = env_u64("GCS_SIM_BASE").unwrap_or(0);
    let mut failures = Vec::new();
    let mut delivered = 0;
    for seed in base..base + count {
        let outcome = run_seed(seed);
        delivered += outcome.delivered;
        if !outcome.violations.is_empty() {
            failures.push(outcome.report());
        } else if outcome.held_bytes != 0 {
            failures.push(format!(
                "seed {seed}: {} bytes still held after everything settled (garbage not collected)\n\
                 replay with: GCS_SIM_SEED={seed} cargo test -p gcsd --test sim replay -- --nocapture\n",
                outcome.held_bytes
            ));
        }
    }
    assert!(
        delivered > 0,
        "the batch delivered nothing: the simulator is not exercising anything"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn replay() {
    let seed = env_u64("GCS_SIM_SEED").unwrap_or(1);
    let outcome = run_seed(seed);
    println!(
        "seed {seed}: {:?}\n{} messages sent, {} deliveries, {} violations",
        outcome.config,
        outcome.sent,
        outcome.delivered,
        outcome.violations.len()
    );
    assert!(outcome.violations.is_empty(), "{}", outcome.report());
}

#[test]
fn the_same_seed_gives_the_same_history() {
    for seed in [3, 11] {
        let a = format!("{:?}", run_seed(seed).history);
        let b = format!("{:?}", run_seed(seed).history);
        assert_eq!(a, b, "seed {seed} is not deterministic");
    }
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
    };
    let outcome = Sim::with_config(99, cfg).run();
    assert!(
        outcome.delivered > 100,
        "only {} deliveries",
        outcome.delivered
    );
    assert!(outcome.violations.is_empty(), "{}", outcome.report());
}
