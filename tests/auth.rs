//! Real daemons with a cluster key: they form a cluster, a daemon with another key never joins it
//! (and the others say why), datagrams that are not sealed with the key, forged, altered or
//! replayed from another address are dropped and counted, and a daemon off loopback refuses to
//! start without a key unless told to run insecure.

use gcs_testkit::{bin, TestCluster, TestDaemon};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `gcsd keygen FILE` and returns the file.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new(bin("gcsd"))
        .arg("keygen")
        .arg(&path)
        .output()
        .expect("run gcsd keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn keyed(key: &Path) -> String {
    format!("[auth]\nkey_file = \"{}\"\n", key.display())
}

async fn unauthenticated(d: &TestDaemon) -> u64 {
    let mut c = d.client("counters").await;
    c.status()
        .await
        .expect("status")
        .counters
        .datagrams_unauthenticated
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = keygen(dir.path(), "cluster.key");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 64, "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o400);
    let again = Command::new(bin("gcsd"))
        .arg("keygen")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_with_another_key_never_joins_and_the_others_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "a.key");
    let other = keygen(dir.path(), "b.key");
    let cluster = TestCluster::spawn_each(&[keyed(&key), keyed(&key), keyed(&other)]);
    let view = cluster.wait_for_view(&[0, 1]).await;
    assert_eq!(view.members, vec!["d1", "d2"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut c = cluster.daemons[2].client("probe").await;
    let alone = c.status().await.unwrap().daemon_view;
    assert_eq!(
        alone.members,
        vec!["d3"],
        "the daemon with another key joined"
    );
    assert!(unauthenticated(&cluster.daemons[0]).await > 0);
    assert!(unauthenticated(&cluster.daemons[2]).await > 0);
    let log = cluster.daemons[0].log();
    assert!(
        log.contains("not authentic") && log.contains("does not hold"),
        "the log does not say why: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_replayed_datagrams_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "a.key");
    // d3 is configured but never started: the test sits at its address instead.
    let mut cluster = TestCluster::spawn_each(&[keyed(&key), keyed(&key), keyed(&key)]);
    let mut d3 = cluster.daemons.pop().unwrap();
    let _ = d3.stop_with(libc::SIGKILL);
    let view = cluster.wait_for_view(&[0, 1]).await;
    let attacker = std::net::UdpSocket::bind(cluster.addrs[2]).expect("bind d3's address");
    attacker
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // d1 and d2 look for d3 with sealed hellos: capture one.
    let mut buf = vec![0u8; 65_536];
    let (n, from) = attacker.recv_from(&mut buf).expect("a hello for d3");
    let captured = buf[..n].to_vec();
    let victim = if from == cluster.addrs[0] { 1 } else { 0 };
    let before = unauthenticated(&cluster.daemons[victim]).await;
    let to = cluster.addrs[victim];
    // Replayed from another address, flipped in every byte, and a plain datagram.
    attacker.send_to(&captured, to).unwrap();
    for i in 0..captured.len() {
        let mut bad = captured.clone();
        bad[i] ^= 0x40;
        attacker.send_to(&bad, to).unwrap();
    }
    attacker.send_to(b"GCS\x03 not sealed at all", to).unwrap();
    let sent = captured.len() as u64 + 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut counted = 0;
    while std::time::Instant::now() < deadline {
        counted = unauthenticated(&cluster.daemons[victim]).await - before;
        if counted >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counted >= sent, "{counted} of {sent} counted");
    let mut c = cluster.daemons[victim].client("probe").await;
    let after = c.status().await.unwrap().daemon_view;
    assert_eq!(after.members, view.members, "the view changed");
    assert_eq!(after.view_id, view.view_id, "the view changed");
}

#[test]
fn a_daemon_off_loopback_needs_a_key_or_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("gcsd"))
        .args(["--listen", "0.0.0.0:0", "--socket"])
        .arg(dir.path().join("s.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.key_file") && err.contains("gcsd keygen"),
        "{err}"
    );
    assert!(err.contains("--insecure"), "{err}");
    // Asked for, it runs, and says in its log what that means.
    let log = dir.path().join("gcsd.log");
    let mut child = Command::new(bin("gcsd"))
        .args(["--listen", "0.0.0.0:0", "--insecure", "--socket"])
        .arg(dir.path().join("s.sock"))
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while std::time::Instant::now() < deadline && !text.contains("gcsd ready") {
        std::thread::sleep(Duration::from_millis(20));
        text = std::fs::read_to_string(&log).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("gcsd ready"), "{text}");
    assert!(text.contains("without a cluster key"), "{text}");
}

#[test]
fn a_key_file_others_can_read_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "a.key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(bin("gcsd"))
        .args(["--listen", "127.0.0.1:0", "--key-file"])
        .arg(&key)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 0400"));
}
