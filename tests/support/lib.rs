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

    /// Starts a daemon with `config` (TOML text) and extra flags.
    pub fn start_with(config: &str, args: &[&str]) -> TestDaemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("gcsd.sock");
        let config_path = dir.path().join("gcsd.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("gcsd.log")).expect("log file");
        let child = Command::new(bin("gcsd"))
            .arg("--config")
            .arg(&config_path)
            .arg("--socket")
            .arg(&socket)
            .args(["--listen", "127.0.0.1:0", "--name", "testhost"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start gcsd");
        let mut d = TestDaemon {
            child: Some(child),
            dir,
            socket,
        };
        d.wait_ready();
        d
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
