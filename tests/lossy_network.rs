//! Real daemons over a lossy network: nftables drops a share of the daemons' datagrams at random
//! (`tc netem` is not available on our machines), and every order must still keep its promise,
//! checked by the history checker. Needs root and nft; CI has both (`.ci/run` installs nftables).

use gcs::{Event, Order};
use gcs_testkit::{assert_history_correct, Recorder, TestCluster};
use std::process::Command;
use std::time::Duration;

/// An nftables table that drops `percent`% of UDP datagrams to `port`, removed when dropped.
struct Loss {
    table: String,
}

impl Loss {
    /// Installs the rule, or explains why it cannot (outside CI the test is then skipped).
    fn start(port: u16, percent: u32) -> Result<Loss, String> {
        // SAFETY: geteuid only reads the process's user id.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: nftables rules need root".into());
        }
        let table = format!("gcs_test_{}", std::process::id());
        let nft = |args: &[&str]| -> Result<(), String> {
            let out = Command::new(nft_path())
                .args(args)
                .output()
                .map_err(|e| format!("cannot run nft ({e}); install nftables"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "nft {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        nft(&["add", "table", "inet", &table])?;
        let loss = Loss { table };
        nft(&[
            "add",
            "chain",
            "inet",
            &loss.table,
            "out",
            "{ type filter hook output priority 0; }",
        ])?;
        let port = port.to_string();
        let percent = percent.to_string();
        nft(&[
            "add",
            "rule",
            "inet",
            &loss.table,
            "out",
            "udp",
            "dport",
            &port,
            "numgen",
            "random",
            "mod",
            "100",
            "<",
            &percent,
            "drop",
        ])?;
        Ok(loss)
    }
}

/// `nft`, from the search path or where Debian puts it (root's path may lack /usr/sbin).
fn nft_path() -> &'static str {
    if std::path::Path::new("/usr/sbin/nft").exists() {
        "/usr/sbin/nft"
    } else {
        "nft"
    }
}

impl Drop for Loss {
    fn drop(&mut self) {
        let _ = Command::new(nft_path())
            .args(["delete", "table", "inet", &self.table])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_holds_when_a_fifth_of_the_datagrams_are_lost() {
    let cluster = TestCluster::start(3, "").await;
    let _loss = match Loss::start(cluster.addrs[0].port(), 20) {
        Ok(l) => l,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {why}");
            return;
        }
        Err(why) => panic!("this test must run in CI: {why}"),
    };
    let mut clients = Vec::new();
    for (i, d) in cluster.daemons.iter().enumerate() {
        for k in 0..2 {
            let mut r = Recorder::new(d.client(&format!("c{i}{k}")).await);
            r.join("g").await;
            clients.push(r);
        }
    }
    for r in &mut clients {
        while !matches!(r.recv().await, Event::View(v) if v.members.len() == 6) {}
    }
    let per_sender = 60;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut r)| {
            tokio::spawn(async move {
                for k in 0..per_sender {
                    r.send(&["g"], Order::ALL[(k + c) % 5]).await;
                }
                while r.delivered() < 6 * per_sender {
                    r.recv().await;
                }
                while r.recv_within(Duration::from_millis(200)).await.is_some() {}
                r
            })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.expect("client task"));
    }
    assert_history_correct(done.iter().map(Recorder::process_log).collect());
    // The loss was real, and repaired.
    let mut nacks = 0;
    for r in &mut done {
        nacks += r.client.status().await.expect("status").counters.nacks_sent;
    }
    assert!(
        nacks > 0,
        "no datagram was lost: is the nftables rule working?"
    );
}
