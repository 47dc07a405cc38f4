//! A real network partition: three daemons, each in a network namespace of its own, joined by a
//! bridge. nftables rules inside one namespace cut it off from the others, then a rule drops a
//! share of every daemon's datagrams, and deleting the rules heals the network. Clients on every
//! daemon send in every order throughout, and the history checker judges what each one saw.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); `.ci/run` installs both and runs as root.
//! Where that is not possible, `GCS_NO_NETNS=1` leaves this test out explicitly.

use gcs_testkit::{all_send, assert_history_correct, wait_for_view, Recorder, TestDaemon};
use std::process::Command;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(700);
const PORT: u16 = 4804;

/// Runs `cmd`, failing the test with its error output if it fails.
fn run(cmd: &[&str]) {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is iproute2/nftables installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Network namespaces `<tag>n0`, `<tag>n1`, ... with one veth each into a bridge, addresses
/// 10.a.b.1, .2, ...; removed again when dropped.
struct Net {
    tag: String,
    hosts: usize,
    prefix: String,
}

impl Net {
    fn new(hosts: usize) -> Net {
        let pid = std::process::id();
        let tag = format!("g{}", pid % 100_000);
        let prefix = format!("10.{}.{}", 100 + (pid >> 8) % 100, pid % 256);
        let net = Net {
            tag: tag.clone(),
            hosts,
            prefix,
        };
        let bridge = format!("{tag}br");
        run(&["ip", "link", "add", &bridge, "type", "bridge"]);
        run(&["ip", "link", "set", &bridge, "up"]);
        for i in 0..hosts {
            let ns = net.ns(i);
            let (host, peer) = (format!("{tag}h{i}"), format!("{tag}p{i}"));
            run(&["ip", "netns", "add", &ns]);
            run(&[
                "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
            ]);
            run(&["ip", "link", "set", &peer, "netns", &ns]);
            run(&["ip", "link", "set", &host, "master", &bridge, "up"]);
            let cidr = format!("{}.{}/24", net.prefix, i + 1);
            run(&["ip", "-n", &ns, "addr", "add", &cidr, "dev", &peer]);
            run(&["ip", "-n", &ns, "link", "set", &peer, "up"]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.prefix, i + 1)
    }

    fn nft(&self, i: usize, rule: &str) {
        run(&["ip", "netns", "exec", &self.ns(i), "nft", rule]);
    }

    /// A table with input and output chains in namespace `i`, where the rules go.
    fn filter(&self, i: usize) {
        self.nft(i, "add table inet gcstest");
        self.nft(
            i,
            "add chain inet gcstest input { type filter hook input priority 0 ; policy accept ; }",
        );
        self.nft(
            i,
            "add chain inet gcstest output { type filter hook output priority 0 ; policy accept ; }",
        );
    }

    /// Host `i` can neither reach nor hear any other host.
    fn cut_off(&self, i: usize) {
        self.filter(i);
        let others: Vec<String> = (0..self.hosts)
            .filter(|j| *j != i)
            .map(|j| self.ip(j))
            .collect();
        let set = others.join(", ");
        self.nft(
            i,
            &format!("add rule inet gcstest input ip saddr {{ {set} }} drop"),
        );
        self.nft(
            i,
            &format!("add rule inet gcstest output ip daddr {{ {set} }} drop"),
        );
    }

    /// Host `i` loses `percent` of the datagrams that arrive for its daemon.
    fn lossy(&self, i: usize, percent: u32) {
        self.filter(i);
        self.nft(
            i,
            &format!("add rule inet gcstest input udp dport {PORT} numgen random mod 100 < {percent} drop"),
        );
    }

    /// Every rule on host `i` removed.
    fn heal(&self, i: usize) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(i),
                "nft",
                "delete table inet gcstest",
            ])
            .output();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.hosts {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
        }
        let bridge = format!("{}br", self.tag);
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_splits_the_cluster_and_healing_merges_it() {
    if std::env::var("GCS_NO_NETNS").is_ok_and(|v| v == "1") {
        eprintln!("GCS_NO_NETNS=1: the network namespace test is left out");
        return;
    }
    let net = Net::new(3);
    let addr = |i: usize| format!("{}:{PORT}", net.ip(i));
    // Off loopback a daemon needs the cluster key: the cluster runs as it would between hosts.
    let keys = tempfile::tempdir().expect("a temporary directory");
    let key = keys.path().join("cluster.key");
    gcsd::keyfile::generate(&key).expect("a cluster key");
    let key = key.to_str().expect("a UTF-8 path").to_string();
    let daemons: Vec<TestDaemon> = (0..3)
        .map(|i| {
            let mut args = vec![
                "--name".to_string(),
                format!("d{}", i + 1),
                "--listen".into(),
                addr(i),
                "--key-file".into(),
                key.clone(),
            ];
            for j in (0..3).filter(|j| *j != i) {
                args.push("--peer".into());
                args.push(addr(j));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            TestDaemon::start_in_netns(&net.ns(i), "", &args)
        })
        .collect();
    wait_for_view(&daemons, &[0, 1, 2]).await;
    let mut clients = Vec::new();
    for (i, d) in daemons.iter().enumerate() {
        for k in 0..2 {
            let mut r = Recorder::new(d.client(&format!("c{i}{k}")).await);
            r.join("g").await;
            clients.push(r);
        }
    }
    for r in &mut clients {
        r.wait_for_members("g", 6).await;
    }
    clients = all_send(clients, "g", 10).await;

    // d3 is cut off: each side goes on alone, the majority side as the primary component.
    net.cut_off(2);
    let majority = wait_for_view(&daemons, &[0, 1]).await;
    let minority = wait_for_view(&daemons, &[2]).await;
    assert!(
        majority.primary && !minority.primary,
        "{majority:?} {minority:?}"
    );
    for (c, r) in clients.iter_mut().enumerate() {
        r.wait_for_members("g", if c < 4 { 4 } else { 2 }).await;
    }
    clients = all_send(clients, "g", 20).await;

    // Healed: one view again, with a larger id than either side's.
    net.heal(2);
    let merged = wait_for_view(&daemons, &[0, 1, 2]).await;
    assert!(merged.primary && merged.view_id > majority.view_id.max(minority.view_id));
    for r in &mut clients {
        r.wait_for_members("g", 6).await;
    }
    clients = all_send(clients, "g", 10).await;

    // Every daemon loses a fifth of what arrives for it: retransmission fills the gaps.
    for i in 0..3 {
        net.lossy(i, 20);
    }
    clients = all_send(clients, "g", 30).await;
    for i in 0..3 {
        net.heal(i);
    }
    for r in &mut clients {
        r.drain(QUIET).await;
    }
    assert_history_correct(clients.iter().map(Recorder::process_log).collect());
}
