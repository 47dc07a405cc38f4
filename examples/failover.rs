//! Measures how fast the daemon view follows daemon faults, with real processes on loopback
//! addresses and the settings in the configuration given (the defaults if none): how long after
//! a SIGKILL, and after a SIGSTOP, the others' view no longer holds the daemon, and how long
//! after a killed daemon is started again the others' view holds its new life.
//!
//! ```text
//! cargo run --release --example failover -- [rounds] [config.toml]
//! ```
//!
//! It prints each measurement and the median of each kind. It measures; it judges nothing.

use gcs_testkit::TestCluster;
use std::time::{Duration, Instant};

/// The time until daemon `watch`'s view of the cluster has exactly `members` daemons.
async fn until_members(
    cluster: &TestCluster,
    watch: usize,
    members: usize,
    since: Instant,
) -> Duration {
    let mut c = cluster.daemons[watch].client("").await;
    loop {
        let s = c.status().await.expect("status");
        if s.daemon_view.members.len() == members {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let config = match args.next() {
        Some(path) => std::fs::read_to_string(path)?,
        None => String::new(),
    };
    let mut cluster = TestCluster::start(3, &config).await;
    let (mut killed, mut restarted, mut paused) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let t = Instant::now();
        cluster.daemons[2].stop_with(libc::SIGKILL);
        let gone = until_members(&cluster, 0, 2, t).await;
        let t = Instant::now();
        cluster.restart(2);
        let back = until_members(&cluster, 0, 3, t).await;
        cluster.wait_for_view(&[0, 1, 2]).await;
        let t = Instant::now();
        cluster.daemons[1].signal(libc::SIGSTOP);
        let out = until_members(&cluster, 0, 2, t).await;
        cluster.daemons[1].signal(libc::SIGCONT);
        cluster.wait_for_view(&[0, 1, 2]).await;
        println!(
            "round {round}: killed daemon out of the view after {gone:?}, restarted one merged \
             after {back:?}, paused one out after {out:?}"
        );
        killed.push(gone);
        restarted.push(back);
        paused.push(out);
    }
    println!(
        "median of {rounds}: killed out {:?}, restarted merged {:?}, paused out {:?}",
        median(killed),
        median(restarted),
        median(paused)
    );
    Ok(())
}
