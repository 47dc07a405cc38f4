//! Three real daemons on loopback addresses, clients on each (library and CLI), several senders
//! at once in every order; the history checker judges what every client received.

use gcs::{Event, Order};
use gcs_testkit::{assert_history_correct, CliMember, Recorder, TestCluster};
use gcsd::check::{self, ProcessLog};
use std::time::Duration;

const PER_SENDER: usize = 150;
const PER_CLI: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_keep_every_guarantee_with_concurrent_senders() {
    let cluster = TestCluster::start(3, "").await;
    // A CLI member on each daemon, sending its lines in FIFO order.
    let mut cli: Vec<CliMember> = cluster
        .daemons
        .iter()
        .enumerate()
        .map(|(i, d)| CliMember::start(d, &format!("cli{i}"), &["g1"], Order::Fifo))
        .collect();
    // Two library clients per daemon; everyone in g1, every other one also in g2.
    let mut clients = Vec::new();
    for (i, d) in cluster.daemons.iter().enumerate() {
        for k in 0..2 {
            let mut r = Recorder::new(d.client(&format!("c{i}{k}")).await);
            r.join("g1").await;
            if (i + k).is_multiple_of(2) {
                r.join("g2").await;
            }
            clients.push(r);
        }
    }
    let in_g2 = |c: usize| (c / 2 + c % 2).is_multiple_of(2);
    let g2_members = (0..clients.len()).filter(|c| in_g2(*c)).count();
    let g1_members = clients.len() + cli.len();
    // Wait until each client sees its groups complete, so every message is sent in the final views.
    for (c, r) in clients.iter_mut().enumerate() {
        let (mut full_g1, mut full_g2) = (false, !in_g2(c));
        while !(full_g1 && full_g2) {
            if let Event::View(v) = r.recv().await {
                if v.group == "g1" {
                    full_g1 = v.members.len() == g1_members;
                } else {
                    full_g2 = v.members.len() == g2_members;
                }
            }
        }
    }
    // Everyone sends at once: orders cycle, every third message goes to both groups; the CLI
    // members type their lines meanwhile.
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
    for _ in 0..PER_CLI {
        for m in cli.iter_mut() {
            m.send(&["g1"], Order::Fifo);
        }
    }
    // A `gcs send` on each daemon, not a member, to both groups in safe order.
    let mut senders = Vec::new();
    for (i, d) in cluster.daemons.iter().enumerate() {
        let name = format!("sender{i}");
        let lines: Vec<String> = (1..=PER_CLI)
            .map(|k| format!("{name}#d{}:{k}", i + 1))
            .collect();
        let mut child = d
            .cli()
            .args([
                "--json", "--name", &name, "send", "--order", "safe", "g1,g2",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gcs send");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            for l in &lines {
                writeln!(stdin, "{l}").expect("write");
            }
        }
        let out = child.wait_with_output().expect("gcs send ran");
        assert!(out.status.success());
        senders.push(ProcessLog {
            name: format!("{name}#d{}", i + 1),
            events: lines
                .into_iter()
                .map(|id| check::Event::Send {
                    id,
                    groups: vec!["g1".into(), "g2".into()],
                    order: Order::Safe,
                })
                .collect(),
        });
    }
    let mut clients_done = Vec::new();
    for t in tasks {
        clients_done.push(t.await.expect("sender task"));
    }
    // Every member of g1 receives every message exactly once.
    let total = 6 * PER_SENDER + 3 * PER_CLI + 3 * PER_CLI;
    for r in &mut clients_done {
        while r.delivered() < total {
            r.recv().await;
        }
        // Nothing more may come: wait a little for strays (duplicates would show up here).
        while r.recv_within(Duration::from_millis(200)).await.is_some() {}
    }
    for m in &mut cli {
        let deadline = std::time::Instant::now() + gcs_testkit::PATIENCE;
        while m.delivered() < total {
            assert!(
                std::time::Instant::now() < deadline,
                "{} got {} of {total}",
                m.name,
                m.delivered()
            );
            m.pump(Duration::from_millis(100));
        }
    }
    // The CLI members leave; the library clients see them go, then all logs are complete.
    let mut logs: Vec<ProcessLog> = cli.into_iter().map(CliMember::finish).collect();
    for r in &mut clients_done {
        let mut left = 0;
        while left < 3 {
            if let Event::View(v) = r.recv().await {
                left += v.left.len();
            }
        }
    }
    logs.extend(clients_done.iter().map(Recorder::process_log));
    logs.extend(senders);
    assert_history_correct(logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_foreign_datagrams_are_dropped_and_counted() {
    let cluster = TestCluster::start(2, "").await;
    let mut a = Recorder::new(cluster.daemons[0].client("a").await);
    let mut b = Recorder::new(cluster.daemons[1].client("b").await);
    a.join("g").await;
    b.join("g").await;
    while !matches!(b.recv().await, Event::View(v) if v.members.len() == 2) {}
    let status = b.client.status().await.expect("status");
    let before = status.counters.datagrams_dropped;
    // The status names the peer, its state and when it was last heard from.
    assert_eq!(status.peers.len(), 1);
    assert_eq!(status.peers[0].name, "d1");
    assert_eq!(status.peers[0].addr, cluster.addrs[0].to_string());
    assert_eq!(status.peers[0].state, "member");
    assert!(status.peers[0].last_heard_ms.is_some());

    let target = cluster.addrs[1];
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let mut another_version = b"GCSD\x09\x03gcs".to_vec();
    another_version.extend_from_slice(&[0; 10]);
    let mut another_cluster = b"GCSD\x01\x05other".to_vec();
    another_cluster.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let mut truncated = b"GCSD\x01\x03gcs".to_vec();
    truncated.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0]);
    let datagrams: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        Vec::new(),
        vec![0xff; 1400],
        another_version,
        another_cluster,
        truncated,
    ];
    for d in &datagrams {
        junk.send_to(d, target).expect("send junk");
    }
    // The cluster still works, and every datagram was counted as dropped.
    a.send(&["g"], Order::Safe).await;
    let mut got = false;
    while !got {
        got = matches!(b.recv().await, Event::Message(_));
    }
    let deadline = std::time::Instant::now() + gcs_testkit::PATIENCE;
    loop {
        let dropped = b
            .client
            .status()
            .await
            .expect("status")
            .counters
            .datagrams_dropped;
        if dropped >= before + datagrams.len() as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {} junk datagrams counted",
            dropped - before,
            datagrams.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first from that address is logged as a warning with its reason.
    let log = cluster.daemons[1].log();
    assert!(log.contains("ignoring a datagram"), "{log}");
    assert!(log.contains("not a gcs datagram"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_is_suspected_by_the_others() {
    let mut cluster = TestCluster::start(2, "").await;
    let mut c = cluster.daemons[0].client("watcher").await;
    let peer_state = |s: &gcs::Status| s.peers[0].state.clone();
    assert_eq!(peer_state(&c.status().await.expect("status")), "member");
    cluster.daemons[1].stop_with(libc::SIGKILL);
    let deadline = std::time::Instant::now() + gcs_testkit::PATIENCE;
    loop {
        let s = c.status().await.expect("status");
        if peer_state(&s) == "suspected" {
            assert!(
                s.peers[0].last_heard_ms.is_some_and(|ms| ms >= 500),
                "{:?}",
                s.peers
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never suspected: {:?}",
            s.peers
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cluster.daemons[0].log().contains("suspecting a daemon"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_daemon_is_suspected_while_the_cluster_is_flooded() {
    let cluster = TestCluster::start(3, "").await;
    let per_sender = 2000;
    let mut receivers = Vec::new();
    for (i, d) in cluster.daemons.iter().enumerate() {
        let mut r = d.client(&format!("r{i}")).await;
        r.join("flood").await.expect("join");
        receivers.push(r);
    }
    for r in &mut receivers {
        while !matches!(gcs_testkit::next_event(r).await, Event::View(v) if v.members.len() == 3) {}
    }
    let total = 3 * per_sender;
    let readers: Vec<_> = receivers
        .into_iter()
        .map(|mut r| {
            tokio::spawn(async move {
                let mut got = 0;
                while got < total {
                    if let Event::Message(_) = gcs_testkit::next_event(&mut r).await {
                        got += 1;
                    }
                }
            })
        })
        .collect();
    let mut senders = Vec::new();
    for (i, d) in cluster.daemons.iter().enumerate() {
        let mut s = d.client(&format!("s{i}")).await;
        senders.push(tokio::spawn(async move {
            for k in 0..per_sender {
                s.multicast(&["flood"], Order::Agreed, vec![k as u8; 1000])
                    .await
                    .expect("multicast");
                if k % 200 == 199 {
                    s.sync().await.expect("sync");
                }
            }
        }));
    }
    // While the flood runs, every daemon keeps every other as a member.
    let mut watchers = Vec::new();
    let mut views = Vec::new();
    for d in &cluster.daemons {
        let mut w = d.client("").await;
        let s = w.status().await.expect("status");
        views.push((s.daemon_view, s.counters.view_changes));
        watchers.push(w);
    }
    let mut suspected = Vec::new();
    while readers.iter().any(|r| !r.is_finished()) {
        for w in &mut watchers {
            let s = w.status().await.expect("status");
            suspected.extend(
                s.peers
                    .iter()
                    .filter(|p| p.state != "member")
                    .map(|p| format!("{} saw {} as {}", s.daemon, p.name, p.state)),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in senders.into_iter().chain(readers) {
        t.await.expect("task");
    }
    assert!(suspected.is_empty(), "{suspected:?}");
    // Not even a passing suspicion: the daemon view is still the one from before the flood.
    for (w, (view, changes)) in watchers.iter_mut().zip(&views) {
        let s = w.status().await.expect("status");
        assert_eq!(&s.daemon_view, view, "{} changed its view", s.daemon);
        assert_eq!(
            s.counters.view_changes, *changes,
            "{}: {:?}",
            s.daemon, s.counters
        );
    }
}
