//! Three real daemons on loopback addresses, clients on each (library and CLI), several senders
//! at once in every order; the history checker judges what every client received.

use gcs::{Event, Order};
use gcs_testkit::{Recorder, TestCluster};
use gcsd::check::{self, History};
use std::time::Duration;

const PER_SENDER: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_keep_every_guarantee_with_concurrent_senders() {
    let cluster = TestCluster::start(3, "").await;
    // Two clients per daemon; everyone in g1, every other one also in g2.
    let mut clients = Vec::new();
    for (i, d) in cluster.daemons.iter().enumerate() {
        for k in 0..2 {
            let mut r = Recorder::new(d.client(&format!("c{i}{k}")).await);
            r.join("g1").await;
            if (i + k) % 2 == 0 {
                r.join("g2").await;
            }
            clients.push(r);
        }
    }
    let g2_members = (0..clients.len())
        .filter(|c| (c / 2 + c % 2) % 2 == 0)
        .count();
    // Wait until each client sees its groups complete, so every message is sent in the final views.
    for (c, r) in clients.iter_mut().enumerate() {
        let want_g2 = (c / 2 + c % 2) % 2 == 0;
        let (mut full_g1, mut full_g2) = (false, !want_g2);
        while !(full_g1 && full_g2) {
            if let Event::View(v) = r.recv().await {
                if v.group == "g1" {
                    full_g1 = v.members.len() == 6;
                } else {
                    full_g2 = v.members.len() == g2_members;
                }
            }
        }
    }
    // Everyone sends at once: orders cycle, every third message goes to both groups.
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut r)| {
            tokio::spawn(async move {
                for k in 0..PER_SENDER {
                    let order = Order::ALL[(k + c) % 5];
                    if k % 3 == 0 {
                        r.send(&["g1", "g2"], order).await;
                    } else {
                        r.send(&["g1"], order).await;
                    }
                    if k % 10 == 0 {
                        while r.recv_within(Duration::from_millis(1)).await.is_some() {}
                    }
                }
                r
            })
        })
        .collect();
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("sender task"));
    }
    // Every client is in g1, so it receives every message exactly once.
    let total = 6 * PER_SENDER;
    for r in &mut clients {
        while r.delivered() < total {
            r.recv().await;
        }
        // Nothing more may come: wait a little for strays (duplicates would show up here).
        while r.recv_within(Duration::from_millis(200)).await.is_some() {}
    }
    let history = History {
        processes: clients.iter().map(Recorder::process_log).collect(),
        complete: true,
    };
    let violations = check::check(&history);
    assert!(
        violations.is_empty(),
        "{}",
        violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
