//! The `gcs` command line as scripts use it: every `--json` line parses and carries the fields of
//! the contract in gcs(1); exit statuses are the documented ones.

use gcs_testkit::{wait_exit, TestDaemon, PATIENCE};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;

/// A running `gcs` whose standard output is read line by line.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn spawn(d: &TestDaemon, args: &[&str]) -> Running {
        let mut child = d
            .cli()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gcs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            lines,
        }
    }

    /// The next line, parsed as one JSON object.
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(PATIENCE)
            .expect("gcs printed no line in time");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
        assert!(v.is_object(), "{line}");
        v
    }

    fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_exit(&mut self.child)
    }
}

/// Fails the test, with what the command printed on standard error, unless it succeeded.
fn assert_ran(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

fn assert_view(v: &Value, group: &str, members: &[&str], reason: &str) {
    assert_eq!(
        keys(v),
        [
            "event",
            "group",
            "joined",
            "left",
            "members",
            "reason",
            "transitional",
            "view_id"
        ]
    );
    assert_eq!(v["event"], "view");
    assert_eq!(v["group"], group);
    assert_eq!(v["members"], serde_json::json!(members));
    assert_eq!(v["reason"], reason);
    assert_eq!(v["transitional"], false);
    assert!(v["view_id"].is_u64());
}

#[test]
fn join_send_watch_and_status_speak_the_json_contract() {
    let d = TestDaemon::start();
    let watcher = Running::spawn(&d, &["watch", "--json", "room"]);
    let connected = watcher.next();
    assert_eq!(keys(&connected), ["event", "name"]);
    assert_eq!(connected["event"], "connected");

    let mut alice = Running::spawn(&d, &["--name", "alice", "--json", "join", "room", "side"]);
    assert_eq!(
        alice.next(),
        serde_json::json!({"event": "connected", "name": "alice#testhost"})
    );
    assert_view(&alice.next(), "room", &["alice#testhost"], "join");
    assert_view(&alice.next(), "side", &["alice#testhost"], "join");
    assert_view(&watcher.next(), "room", &["alice#testhost"], "join");

    // A line on standard input goes to every joined group, once, in the default order.
    alice.type_line("hello from a shell");
    let m = alice.next();
    assert_eq!(keys(&m), ["data", "event", "groups", "order", "sender"]);
    assert_eq!(m["event"], "message");
    assert_eq!(m["groups"], serde_json::json!(["room", "side"]));
    assert_eq!(m["sender"], "alice#testhost");
    assert_eq!(m["order"], "agreed");
    assert_eq!(m["data"], "hello from a shell");

    // gcs send: a message argument, a chosen order, several groups, no membership needed.
    let out = d
        .cli()
        .args([
            "--name",
            "bob",
            "send",
            "--order",
            "safe",
            "room,side",
            "to both",
        ])
        .output()
        .unwrap();
    assert_ran(&out);
    let m = alice.next();
    assert_eq!(m["data"], "to both");
    assert_eq!(m["order"], "safe");
    assert_eq!(m["sender"], "bob#testhost");

    // gcs send: each standard-input line is a message; invalid UTF-8 comes as data_b64.
    let mut send = d
        .cli()
        .args(["--json", "send", "--order", "fifo", "room"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    send.stdin
        .take()
        .unwrap()
        .write_all(b"one\n\xff\xfe\n")
        .unwrap();
    let out = send.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "connected");
    assert_eq!(
        lines[1],
        serde_json::json!({"event": "sent", "groups": ["room"], "count": 2})
    );
    assert_eq!(alice.next()["data"], "one");
    let bin = alice.next();
    assert!(bin.get("data").is_none());
    assert_eq!(bin["data_b64"], "//4=");

    // gcs status --json: one object.
    let out = d.cli().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    let s: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["event"], "status");
    assert_eq!(s["daemon"], "testhost");
    assert!(s["uptime_ms"].is_u64());
    assert_eq!(s["daemon_view"]["members"], serde_json::json!(["testhost"]));
    assert!(s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "room" && g["members"] == 1));
    assert!(s["counters"]["messages_sent"].as_u64().unwrap() >= 4);

    // The human forms are one line per event too.
    let out = d.cli().arg("status").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("testhost") && text.contains("room"), "{text}");

    // SIGTERM ends join with status 0; the watcher sees the member go with reason disconnect.
    drop(alice.stdin.take());
    let status = alice.terminate();
    assert!(status.success(), "{status}");
    assert_view(&watcher.next(), "room", &[], "disconnect");
    assert!(watcher.terminate().success());
}

#[test]
fn end_of_input_does_not_end_a_join_session() {
    let d = TestDaemon::start();
    let mut j = Running::spawn(&d, &["--json", "join", "g"]);
    j.next();
    j.next();
    drop(j.stdin.take());
    let out = d.cli().args(["send", "g", "after eof"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(j.next()["data"], "after eof");
    assert!(j.terminate().success());
}

#[test]
fn watch_without_groups_prints_daemon_views() {
    let d = TestDaemon::start();
    let w = Running::spawn(&d, &["watch", "--json"]);
    w.next();
    let v = w.next();
    assert_eq!(keys(&v), ["event", "members", "primary", "view_id"]);
    assert_eq!(v["event"], "daemon_view");
    assert_eq!(v["members"], serde_json::json!(["testhost"]));
    assert_eq!(v["primary"], true);
    assert!(w.terminate().success());
}

#[test]
fn exit_statuses_follow_the_manual() {
    let d = TestDaemon::start();
    // 1: the daemon (or the client's own check) refused the request.
    let out = d.cli().args(["send", "bad,,group", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("group name"));
    let _holder = Running::spawn(&d, &["--name", "taken", "--json", "watch"]);
    _holder.next();
    let out = d
        .cli()
        .args(["--name", "taken", "status"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "a refused session is a connection failure"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
    // 2: usage.
    let out = d.cli().args(["send"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = d
        .cli()
        .args(["join", "--order", "sideways", "g"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // 3: no daemon.
    let out = std::process::Command::new(gcs_testkit::bin("gcs"))
        .args(["--socket", "/nonexistent/gcsd.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gcsd.sock"));
}

#[test]
fn bench_prints_one_summary_object_with_the_documented_fields() {
    let d = TestDaemon::start();
    let out = d
        .cli()
        .args([
            "bench",
            "--json",
            "--count",
            "300",
            "--senders",
            "2",
            "--receivers",
            "2",
            "--groups",
            "2",
            "--size",
            "200",
            "--order",
            "safe",
        ])
        .output()
        .unwrap();
    assert_ran(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["event"], "bench");
    for key in ["msgs_per_s", "sent", "delivered_per_receiver"] {
        assert!(v[key].is_u64(), "{key} in {v}");
    }
    assert!(v["mb_per_s"].is_number());
    for p in ["p50", "p90", "p99", "max"] {
        assert!(v["latency_us"][p].is_u64(), "latency_us.{p} in {v}");
    }
    assert!(v["latency_us"]["p50"].as_u64() <= v["latency_us"]["max"].as_u64());
    assert_eq!(v["sent"], 300);
    assert_eq!(
        v["delivered_per_receiver"], 300,
        "every receiver gets every message"
    );
    assert_eq!(v["order"], "safe");
    assert_eq!(v["size"], 200);
    assert_eq!(v["senders"], 2);
    assert_eq!(v["receivers"], 2);
    assert_eq!(v["groups"], 2);
    assert_eq!(v["daemons"], 1);

    // A bad argument is a usage error.
    let out = d
        .cli()
        .args(["bench", "--duration", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
