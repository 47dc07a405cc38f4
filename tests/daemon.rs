//! The daemon's life: configuration errors, the socket file, shutdown on signals, status.

use gcs::{ErrorCode, Order};
use gcs_testkit::{bin, next_view, wait_exit, TestDaemon};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

fn gcsd_fails(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("gcsd"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run gcsd");
    assert!(!out.status.success(), "gcsd {args:?} should have failed");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn invalid_configuration_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[limits]\nmax_clients = 0\n", "limits.max_clients"),
        ("colour = \"blue\"\n", "colour"),
        ("listen = \"not an address\"\n", "listen"),
        ("[limits]\nmax_message_size = \"big\"\n", "max_message_size"),
        ("socket_mode = \"rwx\"\n", "socket_mode"),
    ];
    for (text, key) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let (code, err) = gcsd_fails(&["--config", path.to_str().unwrap()]);
        assert_eq!(code, 2, "config error exit status; stderr: {err}");
        assert!(err.contains(key), "message should name `{key}`: {err}");
    }
    let (code, err) = gcsd_fails(&["--config", "/nonexistent/gcsd.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/gcsd.toml"), "{err}");
    let (code, err) = gcsd_fails(&["--name", "bad name"]);
    assert_eq!(code, 2);
    assert!(err.contains("name"), "{err}");
}

#[test]
fn a_live_daemon_is_not_displaced_and_a_stale_socket_is_replaced() {
    let d = TestDaemon::start();
    let socket = d.socket().to_str().unwrap().to_string();
    let (code, err) = gcsd_fails(&["--socket", &socket, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    assert!(err.contains("already listening"), "{err}");

    // A socket file left behind by a dead process is replaced.
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let mut child = Command::new(bin("gcsd"))
        .args([
            "--socket",
            stale.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(&stale).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child);
    assert!(up, "gcsd did not take over the stale socket");
    assert!(status.success());
    assert!(!stale.exists(), "socket file removed on exit");
}

#[tokio::test]
async fn sigterm_tells_clients_removes_the_socket_and_exits_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut d = TestDaemon::start();
        let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660, "default socket mode");
        let mut c = d.client("c").await;
        c.join("g").await.unwrap();
        next_view(&mut c).await;
        let status = d.stop_with(signal);
        assert!(status.success(), "exit status {status}");
        assert!(!d.socket().exists(), "the socket file is removed");
        let err = c.recv().await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Shutdown), "{err}");
    }
}

#[tokio::test]
async fn socket_mode_is_configurable() {
    let d = TestDaemon::start_with("socket_mode = \"0600\"\n", &[]);
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn status_reports_the_daemon_its_clients_groups_and_counters() {
    let d = TestDaemon::start();
    let mut a = d.client("a").await;
    let mut b = d.client("b").await;
    a.join("g1").await.unwrap();
    a.join("g2").await.unwrap();
    b.join("g1").await.unwrap();
    a.multicast(&["g1"], Order::Safe, "x").await.unwrap();
    // Requests of different sessions have no order among them: wait until a's is handled.
    a.sync().await.unwrap();
    let s = b.status().await.unwrap();
    assert_eq!(s.daemon, "testhost");
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(s.daemon_view.members, ["testhost"]);
    assert!(s.daemon_view.primary);
    let names: Vec<_> = s.clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a#testhost", "b#testhost"]);
    assert_eq!(s.clients[0].groups, ["g1", "g2"]);
    let groups: Vec<_> = s
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.members))
        .collect();
    assert_eq!(groups, [("g1", 2), ("g2", 1)]);
    assert_eq!(s.counters.sessions_opened, 2);
    assert_eq!(s.counters.messages_sent, 1);
    assert_eq!(s.counters.messages_delivered, 2);
    assert_eq!(s.counters.bytes_sent, 1);
}
