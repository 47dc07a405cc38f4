//! Test kit for the end-to-end tests: finds (building them if needed) the real `gcsd` and `gcs`
//! binaries, starts daemons on temporary sockets, and offers small helpers that fail with a clear
//! message instead of hanging.
//!
//! The binaries are built with the same cargo, profile and target directory as the tests, so
//! `cargo test` on a clean clone needs nothing built before it.

use gcs::{Client, Event, GroupView, Message};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a helper waits for something that should happen promptly before failing the test.
/// Generous on purpose: tests check behaviour, never speed.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The directory holding the binaries of the profile these tests were built with.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The path of binary `name` (`gcsd` or `gcs`), built on first use.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let target = dir.parent().expect("target directory").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "gcsd", "-p", "gcs", "--bins"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("run cargo build for the gcsd and gcs binaries");
        assert!(status.success(), "building gcsd and gcs failed");
    });
    let path = profile_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A real `gcsd` process on a temporary socket. Killed when dropped.
pub struct TestDaemon {
    child: Option<Child>,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl TestDaemon {
    /// Starts a daemon with the default configuration.
    pub fn start() -> TestDaemon {
        Self::start_with("", &[])
    }

    /// Starts a daemon named `testhost` with `config` (TOML text) and extra flags.
    pub fn start_with(config: &str, args: &[&str]) -> TestDaemon {
        let mut all = vec!["--listen", "127.0.0.1:0", "--name", "testhost"];
        all.extend_from_slice(args);
        let mut d = Self::spawn(config, &all);
        d.wait_ready();
        d
    }

    /// Starts a daemon with `config` and exactly these flags (besides its socket and config
    /// file) inside network namespace `netns`, and waits until its socket is open. Its socket
    /// is on the shared file system, so clients connect to it from anywhere.
    pub fn start_in_netns(netns: &str, config: &str, args: &[&str]) -> TestDaemon {
        let mut d = Self::spawn_with(&["ip", "netns", "exec", netns], config, args);
        d.wait_ready();
        d
    }

    /// Starts a daemon with `config` and exactly these flags (besides its socket and config
    /// file), without waiting for it to be ready.
    fn spawn(config: &str, args: &[&str]) -> TestDaemon {
        Self::spawn_with(&[], config, args)
    }

    /// Like `spawn`, through the command `prefix` (e.g. `ip netns exec ns`).
    fn spawn_with(prefix: &[&str], config: &str, args: &[&str]) -> TestDaemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("gcsd.sock");
        let config_path = dir.path().join("gcsd.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("gcsd.log")).expect("log file");
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin("gcsd"));
                c
            }
            None => Command::new(bin("gcsd")),
        };
        let child = cmd
            .arg("--config")
            .arg(&config_path)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start gcsd");
        TestDaemon {
            child: Some(child),
            dir,
            socket,
        }
    }

    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("gcsd exited early with {status}; log:\n{}", self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gcsd did not open its socket; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gcsd.log")).unwrap_or_default()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("daemon running")
    }

    /// The daemon's resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Connects a library client named `name`.
    pub async fn client(&self, name: &str) -> Client {
        tokio::time::timeout(PATIENCE, Client::connect_to(&self.socket, name))
            .await
            .expect("connect timed out")
            .unwrap_or_else(|e| panic!("connect as '{name}' failed: {e}"))
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, ...) without waiting for anything.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill only sends a signal to a process id we own.
        unsafe {
            libc::kill(self.pid() as i32, signal);
        }
    }

    /// Sends `signal` and waits for the daemon to exit.
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        // SAFETY: kill only sends a signal to a process id we own.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        wait_exit(&mut child)
    }

    /// A command line for the `gcs` CLI aimed at this daemon.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(bin("gcs"));
        cmd.arg("--socket").arg(&self.socket);
        cmd
    }

    /// A temporary directory that lives as long as the daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Several real daemons on loopback addresses of this machine (127.<a>.<b>.1, .2, ...), each
/// configured with all the others as peers.
pub struct TestCluster {
    /// The daemons, named d1, d2, ...
    pub daemons: Vec<TestDaemon>,
    /// Their UDP addresses, in the same order.
    pub addrs: Vec<std::net::SocketAddr>,
    config: String,
    args: Vec<Vec<String>>,
}

impl TestCluster {
    /// Starts `n` daemons with `config` and waits until every one has formed the view.
    pub async fn start(n: usize, config: &str) -> TestCluster {
        let cluster = Self::spawn_each(&vec![config.to_string(); n]);
        let all: Vec<usize> = (0..n).collect();
        cluster.wait_for_view(&all).await;
        cluster
    }

    /// Starts one daemon per entry of `configs`, each with its own configuration text, all
    /// peers of each other, and waits only until their sockets are open.
    pub fn spawn_each(configs: &[String]) -> TestCluster {
        let n = configs.len();
        // A port that is free on 127.0.0.1 now, and a /24 of loopback addresses chosen from it,
        // keep concurrently running tests apart.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let net = (port % 250) as u8 + 1;
        let addr = |i: usize| format!("127.{net}.{}.{}:{port}", std::process::id() % 250, i + 1);
        let args: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let name = format!("d{}", i + 1);
                let listen = addr(i);
                let mut args: Vec<String> = vec!["--name".into(), name, "--listen".into(), listen];
                for j in (0..n).filter(|j| *j != i) {
                    args.push("--peer".into());
                    args.push(addr(j));
                }
                args
            })
            .collect();
        let daemons: Vec<TestDaemon> = args
            .iter()
            .zip(configs)
            .map(|(a, config)| {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                TestDaemon::spawn(config, &a)
            })
            .collect();
        let addrs = (0..n)
            .map(|i| addr(i).parse().expect("a socket address"))
            .collect();
        let mut cluster = TestCluster {
            daemons,
            addrs,
            config: configs.first().cloned().unwrap_or_default(),
            args,
        };
        for d in &mut cluster.daemons {
            d.wait_ready();
        }
        cluster
    }

    /// Starts daemon `i` again (same name, address and peers; a new incarnation) after it was
    /// stopped, and waits until its socket is open.
    pub fn restart(&mut self, i: usize) {
        let a: Vec<&str> = self.args[i].iter().map(String::as_str).collect();
        let mut d = TestDaemon::spawn(&self.config, &a);
        d.wait_ready();
        self.daemons[i] = d;
    }

    /// Waits until each daemon in `which` has a view of exactly the daemons in `which`, and
    /// returns that view.
    pub async fn wait_for_view(&self, which: &[usize]) -> gcs::DaemonView {
        wait_for_view(&self.daemons, which).await
    }
}

/// Waits until each of `daemons` in `which` (named d1, d2, ... by index) has a view of exactly
/// the daemons in `which`, and returns that view.
pub async fn wait_for_view(daemons: &[TestDaemon], which: &[usize]) -> gcs::DaemonView {
    let mut want: Vec<String> = which.iter().map(|i| format!("d{}", i + 1)).collect();
    want.sort();
    let mut seen = None;
    for &i in which {
        let d = &daemons[i];
        let mut c = d.client("").await;
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let s = c.status().await.expect("status");
            let mut members = s.daemon_view.members.clone();
            members.sort();
            if members == want {
                seen = Some(s.daemon_view);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "d{} never reached a view of {want:?} (it has {:?}); log:\n{}",
                i + 1,
                s.daemon_view,
                d.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    seen.expect("at least one daemon")
}

/// Every recorder sends `count` messages to `group` at once (see [`Recorder::send_cycling`]);
/// returns them when all are done.
pub async fn all_send(rs: Vec<Recorder>, group: &'static str, count: usize) -> Vec<Recorder> {
    let tasks: Vec<_> = rs
        .into_iter()
        .enumerate()
        .map(|(i, r)| tokio::spawn(r.send_cycling(group, count, i)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("sender task"));
    }
    out
}

/// Waits for `child` to exit, killing it and failing the test if it does not within [`PATIENCE`].
pub fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("process did not exit in time; stderr: {err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The next event of `client`, failing the test if none comes.
pub async fn next_event(client: &mut Client) -> Event {
    match tokio::time::timeout(PATIENCE, client.recv()).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => panic!("{}: recv failed: {e}", client.private_name()),
        Err(_) => panic!("{}: no event arrived", client.private_name()),
    }
}

/// The next event of `client`, which must be a view.
pub async fn next_view(client: &mut Client) -> GroupView {
    match next_event(client).await {
        Event::View(v) => v,
        other => panic!("{}: expected a view, got {other:?}", client.private_name()),
    }
}

/// The next event of `client`, which must be a message.
pub async fn next_message(client: &mut Client) -> Message {
    match next_event(client).await {
        Event::Message(m) => m,
        other => panic!(
            "{}: expected a message, got {other:?}",
            client.private_name()
        ),
    }
}

/// A library client that logs what it does and sees, for the history checker.
pub struct Recorder {
    /// The client.
    pub client: Client,
    /// Its log.
    pub log: Vec<gcsd::check::Event>,
    sent: u64,
}

impl Recorder {
    /// Wraps a connected client.
    pub fn new(client: Client) -> Recorder {
        Recorder {
            client,
            log: Vec::new(),
            sent: 0,
        }
    }

    /// Joins `group`, logging the request.
    pub async fn join(&mut self, group: &str) {
        self.log.push(gcsd::check::Event::Join {
            group: group.to_string(),
        });
        self.client.join(group).await.expect("join");
    }

    /// Multicasts a uniquely named message (its id is `name:n`), logging the send.
    pub async fn send(&mut self, groups: &[&str], order: gcs::Order) {
        self.sent += 1;
        let id = format!("{}:{}", self.client.private_name(), self.sent);
        self.log.push(gcsd::check::Event::Send {
            id: id.clone(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            order,
        });
        self.client
            .multicast(groups, order, id.into_bytes())
            .await
            .expect("multicast");
    }

    /// Receives one event, logging it; `None` if nothing came within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Event> {
        let event = match tokio::time::timeout(wait, self.client.recv()).await {
            Err(_) => return None,
            Ok(Ok(e)) => e,
            Ok(Err(e)) => panic!("{}: recv failed: {e}", self.client.private_name()),
        };
        self.record(&event);
        Some(event)
    }

    /// Receives one event, logging it, failing the test if none comes.
    pub async fn recv(&mut self) -> Event {
        match self.recv_within(PATIENCE).await {
            Some(e) => e,
            None => panic!("{}: no event arrived", self.client.private_name()),
        }
    }

    fn record(&mut self, event: &Event) {
        match event {
            Event::Message(m) => self.log.push(gcsd::check::Event::Deliver {
                id: String::from_utf8_lossy(&m.payload).into_owned(),
                sender: m.sender.clone(),
                groups: m.groups.clone(),
                order: m.order,
            }),
            Event::View(v) => self.log.push(gcsd::check::Event::View(v.clone())),
            Event::DaemonView(_) => {}
        }
    }

    /// Receives until a regular view of `group` with `n` members arrives.
    pub async fn wait_for_members(&mut self, group: &str, n: usize) {
        loop {
            if let Event::View(v) = self.recv().await {
                if v.group == group && v.members.len() == n && !v.transitional {
                    return;
                }
            }
        }
    }

    /// Sends `count` messages to `group`, the orders cycling from the `offset`th, and reads what
    /// arrives every few messages (so its queue never fills while it sends).
    pub async fn send_cycling(mut self, group: &str, count: usize, offset: usize) -> Recorder {
        for k in 0..count {
            self.send(&[group], gcs::Order::ALL[(k + offset) % 5]).await;
            if k % 5 == 4 {
                while self.recv_within(Duration::from_millis(2)).await.is_some() {}
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self
    }

    /// Receives until nothing has come for `quiet`, logging everything.
    pub async fn drain(&mut self, quiet: Duration) {
        while self.recv_within(quiet).await.is_some() {}
    }

    /// Logs that the process ended here with its daemon (killed): the checker then asks nothing
    /// more of it.
    pub fn crashed(&mut self) {
        self.log.push(gcsd::check::Event::Disconnect);
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> usize {
        self.log
            .iter()
            .filter(|e| matches!(e, gcsd::check::Event::Deliver { .. }))
            .count()
    }

    /// The log as the checker takes it.
    pub fn process_log(&self) -> gcsd::check::ProcessLog {
        gcsd::check::ProcessLog {
            name: self.client.private_name().to_string(),
            events: self.log.clone(),
        }
    }
}

/// A `gcs --json join` process whose output lines become a checker log.
pub struct CliMember {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// The private name from the `connected` line.
    pub name: String,
    /// Its log so far.
    pub log: Vec<gcsd::check::Event>,
    sent: u64,
}

impl CliMember {
    /// Starts `gcs --json --name NAME join GROUP...` on `daemon`, sending with `order`.
    pub fn start(daemon: &TestDaemon, name: &str, groups: &[&str], order: gcs::Order) -> CliMember {
        let mut child = daemon
            .cli()
            .args(["--json", "--name", name, "join", "--order", order.as_str()])
            .args(groups)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gcs join");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(PATIENCE).expect("gcs printed nothing");
        let v: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
        let name = v["name"]
            .as_str()
            .expect("the connected line names the session")
            .to_string();
        let log = groups
            .iter()
            .map(|g| gcsd::check::Event::Join {
                group: g.to_string(),
            })
            .collect();
        CliMember {
            stdin: child.stdin.take(),
            child,
            lines,
            name,
            log,
            sent: 0,
        }
    }

    /// Takes in the lines printed so far, waiting up to `wait` for the first; returns how many.
    pub fn pump(&mut self, wait: Duration) -> usize {
        let mut n = 0;
        let mut next = self.lines.recv_timeout(wait).ok();
        while let Some(line) = next {
            let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object a line");
            let strings = |key: &str| -> Vec<String> {
                v[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            match v["event"].as_str() {
                Some("message") => self.log.push(gcsd::check::Event::Deliver {
                    id: v["data"].as_str().unwrap_or_default().to_string(),
                    sender: v["sender"].as_str().unwrap_or_default().to_string(),
                    groups: strings("groups"),
                    order: v["order"]
                        .as_str()
                        .and_then(|o| o.parse().ok())
                        .expect("order"),
                }),
                Some("view") => self.log.push(gcsd::check::Event::View(gcs::GroupView {
                    group: v["group"].as_str().unwrap_or_default().to_string(),
                    view_id: v["view_id"].as_u64().expect("view_id"),
                    members: strings("members"),
                    joined: strings("joined"),
                    left: strings("left"),
                    reason: serde_json::from_value(v["reason"].clone()).expect("reason"),
                    transitional: v["transitional"].as_bool().expect("transitional"),
                })),
                other => panic!("unexpected line from gcs join: {other:?}: {line}"),
            }
            n += 1;
            next = self.lines.try_recv().ok();
        }
        n
    }

    /// Sends one uniquely named line (its id is `name:n`) to the joined groups.
    pub fn send(&mut self, groups: &[&str], order: gcs::Order) {
        use std::io::Write;
        self.pump(Duration::ZERO);
        self.sent += 1;
        let id = format!("{}:{}", self.name, self.sent);
        self.log.push(gcsd::check::Event::Send {
            id: id.clone(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            order,
        });
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{id}").expect("write to gcs");
        stdin.flush().expect("flush to gcs");
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> usize {
        self.log
            .iter()
            .filter(|e| matches!(e, gcsd::check::Event::Deliver { .. }))
            .count()
    }

    /// Ends the session with SIGTERM and returns its log.
    pub fn finish(mut self) -> gcsd::check::ProcessLog {
        self.pump(Duration::ZERO);
        drop(self.stdin.take());
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = wait_exit(&mut self.child);
        assert!(status.success(), "gcs join exited with {status}");
        self.pump(Duration::ZERO);
        self.log.push(gcsd::check::Event::Disconnect);
        gcsd::check::ProcessLog {
            name: self.name,
            events: self.log,
        }
    }
}

/// Runs the history checker on complete logs and fails the test with every violation found.
pub fn assert_history_correct(processes: Vec<gcsd::check::ProcessLog>) {
    let history = gcsd::check::History {
        processes,
        complete: true,
    };
    let violations = gcsd::check::check(&history);
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
