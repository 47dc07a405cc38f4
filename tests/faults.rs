//! Daemon faults with real processes: a daemon killed with SIGKILL and started again, one paused
//! with SIGSTOP for longer than the failure timeout and resumed, one stopped with SIGTERM. Clients
//! on every daemon send in every order while it happens, and the history checker judges what
//! every client saw: views, transitional views, and the virtual synchrony guarantees.

use gcs::{Event, Order};
use gcs_testkit::{assert_history_correct, Recorder, TestCluster, PATIENCE};
use std::time::Duration;

/// Quiet long enough that what is still in flight has arrived.
const QUIET: Duration = Duration::from_millis(700);

/// Two recorded clients on each daemon of `which`, all in group `g`, each waiting until its view
/// holds `expect` members.
async fn members(
    cluster: &TestCluster,
    which: &[usize],
    tag: &str,
    expect: usize,
) -> Vec<Recorder> {
    let mut out = Vec::new();
    for &i in which {
        for k in 0..2 {
            let mut r = Recorder::new(cluster.daemons[i].client(&format!("{tag}{i}{k}")).await);
            r.join("g").await;
            out.push(r);
        }
    }
    for r in &mut out {
        wait_for_members(r, expect).await;
    }
    out
}

/// Receives until a view of `g` with `n` members arrives.
async fn wait_for_members(r: &mut Recorder, n: usize) {
    loop {
        if let Event::View(v) = r.recv().await {
            if v.group == "g" && v.members.len() == n && !v.transitional {
                return;
            }
        }
    }
}

/// Sends `count` messages from `r`, orders cycling, reading what arrives in between.
async fn send_some(mut r: Recorder, count: usize, offset: usize) -> Recorder {
    for k in 0..count {
        r.send(&["g"], Order::ALL[(k + offset) % 5]).await;
        if k % 5 == 4 {
            while r.recv_within(Duration::from_millis(2)).await.is_some() {}
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    r
}

/// Every recorder sends `count` messages at once; returns them when all are done.
async fn all_send(rs: Vec<Recorder>, count: usize) -> Vec<Recorder> {
    let tasks: Vec<_> = rs
        .into_iter()
        .enumerate()
        .map(|(i, r)| tokio::spawn(send_some(r, count, i)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("sender task"));
    }
    out
}

async fn drain_all(rs: &mut [Recorder]) {
    for r in rs.iter_mut() {
        r.drain(QUIET).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_leaves_and_its_restarted_life_merges_back() {
    let mut cluster = TestCluster::start(3, "").await;
    let mut all = members(&cluster, &[0, 1, 2], "a", 6).await;
    let mut victims = all.split_off(4);
    // Survivors keep sending while the victims send a little and their daemon is killed.
    let survivors = tokio::spawn(all_send(all, 60));
    let mut tail = Vec::new();
    for v in victims.drain(..) {
        tail.push(tokio::spawn(send_some(v, 10, 3)));
    }
    let mut victims = Vec::new();
    for t in tail {
        victims.push(t.await.expect("victim task"));
    }
    cluster.daemons[2].stop_with(libc::SIGKILL);
    for v in &mut victims {
        v.crashed();
    }
    let mut survivors = survivors.await.expect("survivors");
    let without = cluster.wait_for_view(&[0, 1]).await;
    assert!(without.primary, "two of three daemons are a majority");
    for r in &mut survivors {
        wait_for_members(r, 4).await;
    }
    // The killed daemon starts again: a new incarnation, merged back with its new clients.
    cluster.restart(2);
    let merged = cluster.wait_for_view(&[0, 1, 2]).await;
    assert!(merged.view_id > without.view_id);
    let newcomers = members(&cluster, &[2], "n", 6).await;
    for r in &mut survivors {
        wait_for_members(r, 6).await;
    }
    let mut everyone: Vec<Recorder> = survivors.into_iter().chain(newcomers).collect();
    everyone = all_send(everyone, 20).await;
    drain_all(&mut everyone).await;
    let logs = everyone
        .iter()
        .chain(&victims)
        .map(Recorder::process_log)
        .collect();
    assert_history_correct(logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_daemon_is_removed_and_merged_back_when_it_resumes() {
    let cluster = TestCluster::start(3, "").await;
    let mut all = members(&cluster, &[0, 1, 2], "p", 6).await;
    let mut paused = all.split_off(4);
    all = all_send(all, 10).await;
    cluster.daemons[2].signal(libc::SIGSTOP);
    // The others go on without it: its clients leave their group with reason `network`.
    let running = tokio::spawn(all_send(all, 40));
    let without = cluster.wait_for_view(&[0, 1]).await;
    let mut all = running.await.expect("senders");
    for r in &mut all {
        wait_for_members(r, 4).await;
    }
    cluster.daemons[2].signal(libc::SIGCONT);
    let merged = cluster.wait_for_view(&[0, 1, 2]).await;
    assert!(merged.view_id > without.view_id);
    // The paused daemon's clients went on living: they see the others leave and come back.
    for r in all.iter_mut().chain(paused.iter_mut()) {
        wait_for_members(r, 6).await;
    }
    let mut everyone: Vec<Recorder> = all.into_iter().chain(paused).collect();
    everyone = all_send(everyone, 15).await;
    drain_all(&mut everyone).await;
    for r in &everyone[4..] {
        let log = r.process_log();
        let network = log.events.iter().any(|e| {
            matches!(e, gcsd::check::Event::View(v)
                if v.reason == gcs::Reason::Network && v.transitional)
        });
        assert!(
            network,
            "{} saw no transitional view: {:?}",
            log.name, log.events
        );
    }
    assert_history_correct(everyone.iter().map(Recorder::process_log).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_stopped_with_sigterm_is_removed_without_waiting_for_the_timeout() {
    // A failure timeout far beyond the test's patience: only the goodbye can explain a removal.
    let config = "[protocol]\nfailure_timeout_ms = 60000\n";
    assert!(PATIENCE < Duration::from_secs(60));
    let mut cluster = TestCluster::start(3, config).await;
    let mut all = members(&cluster, &[0, 1, 2], "t", 6).await;
    let mut leaving = all.split_off(4);
    all = all_send(all, 10).await;
    for r in &mut leaving {
        r.drain(Duration::from_millis(100)).await;
    }
    let status = cluster.daemons[2].stop_with(libc::SIGTERM);
    assert!(status.success(), "gcsd exited with {status}");
    for r in &mut leaving {
        r.crashed();
    }
    cluster.wait_for_view(&[0, 1]).await;
    for r in &mut all {
        wait_for_members(r, 4).await;
    }
    all = all_send(all, 10).await;
    drain_all(&mut all).await;
    assert!(cluster.daemons[0]
        .log()
        .contains("a daemon said it is stopping"));
    let logs = all
        .iter()
        .chain(&leaving)
        .map(Recorder::process_log)
        .collect();
    assert_history_correct(logs);
}
