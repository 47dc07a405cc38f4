//! Daemon faults with real processes: a daemon killed with SIGKILL and started again, one paused
//! with SIGSTOP for longer than the failure timeout and resumed, one stopped with SIGTERM. Clients
//! on every daemon send in every order while it happens, and the history checker judges what
//! every client saw: views, transitional views, and the virtual synchrony guarantees.

use gcs_testkit::{all_send, assert_history_correct, Recorder, TestCluster, PATIENCE};
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
        r.wait_for_members("g", expect).await;
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
    let survivors = tokio::spawn(all_send(all, "g", 60));
    let mut tail = Vec::new();
    for v in victims.drain(..) {
        tail.push(tokio::spawn(v.send_cycling("g", 10, 3)));
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
        r.wait_for_members("g", 4).await;
    }
    // The killed daemon starts again: a new incarnation, merged back with its new clients.
    cluster.restart(2);
    let merged = cluster.wait_for_view(&[0, 1, 2]).await;
    assert!(merged.view_id > without.view_id);
    let newcomers = members(&cluster, &[2], "n", 6).await;
    for r in &mut survivors {
        r.wait_for_members("g", 6).await;
    }
    let mut everyone: Vec<Recorder> = survivors.into_iter().chain(newcomers).collect();
    everyone = all_send(everyone, "g", 20).await;
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
    all = all_send(all, "g", 10).await;
    cluster.daemons[2].signal(libc::SIGSTOP);
    // The others go on without it: its clients leave their group with reason `network`.
    let running = tokio::spawn(all_send(all, "g", 40));
    let without = cluster.wait_for_view(&[0, 1]).await;
    let mut all = running.await.expect("senders");
    for r in &mut all {
        r.wait_for_members("g", 4).await;
    }
    cluster.daemons[2].signal(libc::SIGCONT);
    let merged = cluster.wait_for_view(&[0, 1, 2]).await;
    assert!(merged.view_id > without.view_id);
    // The paused daemon's clients went on living: they see the others leave and come back.
    for r in all.iter_mut().chain(paused.iter_mut()) {
        r.wait_for_members("g", 6).await;
    }
    let mut everyone: Vec<Recorder> = all.into_iter().chain(paused).collect();
    everyone = all_send(everyone, "g", 15).await;
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
    all = all_send(all, "g", 10).await;
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
        r.wait_for_members("g", 4).await;
    }
    all = all_send(all, "g", 10).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_stopped_with_sigterm_first_gets_what_it_accepted_to_the_others() {
    const COUNT: usize = 300;
    let mut cluster = TestCluster::start(2, "").await;
    let mut receiver = Recorder::new(cluster.daemons[0].client("r").await);
    receiver.join("g").await;
    let mut sender = Recorder::new(cluster.daemons[1].client("s").await);
    sender.join("g").await;
    receiver.wait_for_members("g", 2).await;
    sender.wait_for_members("g", 2).await;
    for _ in 0..COUNT {
        sender.send(&["g"], gcs::Order::Agreed).await;
    }
    // Every message is now in its daemon's stream: accepted.
    sender.client.sync().await.expect("sync");
    let status = cluster.daemons[1].stop_with(libc::SIGTERM);
    assert!(status.success(), "gcsd exited with {status}");
    // The sender's session ended with the daemon's word why, after its own messages.
    let ended = loop {
        match sender.client.recv().await {
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    assert!(ended.contains("shutting down"), "{ended}");
    sender.crashed();
    receiver.drain(QUIET).await;
    assert_eq!(receiver.delivered(), COUNT, "the other daemon missed some");
    assert_history_correct(vec![receiver.process_log(), sender.process_log()]);
}
