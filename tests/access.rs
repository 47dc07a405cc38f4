//! Local access control with real users: the test runs as root and drops to `nobody` for the
//! client, which the daemon's `[access]` rules then refuse, with the reason, or let through.

use gcs_testkit::bin;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NOBODY: u32 = 65534;

/// A running daemon, killed when the test ends, whether it passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon with `config`, its socket in a directory every user may enter.
fn daemon(dir: &Path, config: &str) -> Running {
    daemon_as(0, dir, config)
}

/// A daemon run as `uid` (and its group), with `config`.
fn daemon_as(uid: u32, dir: &Path, config: &str) -> Running {
    let mode = if uid == 0 { 0o755 } else { 0o777 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    let socket = dir.join("gcsd.sock");
    let mut cmd = gcsd_as(uid, dir, config);
    cmd.arg("--socket").arg(&socket);
    wait_up(cmd.spawn().unwrap(), &socket)
}

/// The command that runs gcsd as `uid` with `config` (written into `dir`, where its log goes too)
/// and no socket path: the caller adds one or leaves the default.
fn gcsd_as(uid: u32, dir: &Path, config: &str) -> Command {
    let path = dir.join("gcsd.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(bin("gcsd"));
    if uid != 0 {
        cmd.uid(uid).gid(uid);
    }
    cmd.arg("--config")
        .arg(&path)
        .args([
            "--socket-mode",
            "0666",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "acl",
        ])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(dir.join("gcsd.log")).unwrap());
    cmd
}

/// Waits until `child` answers on `socket`.
fn wait_up(mut child: Child, socket: &Path) -> Running {
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Running(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gcsd did not start on {}", socket.display());
}

/// Runs `gcs ARGS` against the daemon in `dir`, as `uid` (and its group); (success, stderr).
fn gcs_as(uid: u32, dir: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(bin("gcs"));
    cmd.args(args)
        .env("GCS_SOCKET", dir.join("gcsd.sock"))
        .stdin(Stdio::null());
    if uid != 0 {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn can_switch_users() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the access tests, which run a client as another user, are left out");
        return false;
    }
    true
}

#[test]
fn a_user_outside_the_allowed_ones_cannot_connect_and_is_told_why() {
    if !can_switch_users() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _d = daemon(dir.path(), "[access]\nallow_gids = [4242]\n");
    let (ok, err) = gcs_as(NOBODY, dir.path(), &["status"]);
    assert!(!ok, "nobody connected");
    assert!(
        err.contains("may not connect") && err.contains("not_permitted"),
        "{err}"
    );
    let (ok, err) = gcs_as(0, dir.path(), &["status"]);
    assert!(ok, "root was refused: {err}");
}

#[test]
fn a_group_rule_refuses_what_it_does_not_allow_and_other_groups_stay_open() {
    if !can_switch_users() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = "[[access.group]]\npattern = \"secret.*\"\nuids = [0]\n\
                  allow = [\"join\", \"send\", \"watch\"]\n";
    let _d = daemon(dir.path(), config);
    let (ok, err) = gcs_as(NOBODY, dir.path(), &["send", "secret.plans", "hi"]);
    assert!(!ok, "nobody sent to a secret group");
    assert!(
        err.contains("may not send to group secret.plans") && err.contains("not_permitted"),
        "{err}"
    );
    let (ok, err) = gcs_as(NOBODY, dir.path(), &["send", "public", "hi"]);
    assert!(ok, "nobody was refused an open group: {err}");
    let (ok, err) = gcs_as(0, dir.path(), &["send", "secret.plans", "hi"]);
    assert!(ok, "root was refused: {err}");
}

#[test]
fn a_client_refuses_a_daemon_of_another_user() {
    if !can_switch_users() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A daemon that nobody runs, as an impostor on a shared path would be.
    let _d = daemon_as(NOBODY, dir.path(), "");
    let (ok, err) = gcs_as(0, dir.path(), &["status"]);
    assert!(!ok, "root talked to nobody's daemon");
    assert!(err.contains("neither root nor this user"), "{err}");
    let (ok, err) = gcs_as(NOBODY, dir.path(), &["status"]);
    assert!(ok, "nobody could not use its own daemon: {err}");
}

#[test]
fn one_user_may_hold_only_so_many_sessions() {
    if !can_switch_users() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _d = daemon(dir.path(), "[limits]\nmax_clients_per_user = 1\n");
    // nobody holds one session open.
    let _held = Running(
        Command::new(bin("gcs"))
            .args(["join", "g"])
            .env("GCS_SOCKET", dir.path().join("gcsd.sock"))
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut refused = String::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        let (ok, err) = gcs_as(NOBODY, dir.path(), &["status"]);
        if !ok {
            refused = err;
            break;
        }
    }
    assert!(refused.contains("max_clients_per_user"), "{refused}");
    let (ok, err) = gcs_as(0, dir.path(), &["status"]);
    assert!(ok, "root was limited: {err}");
}

/// `gcs status --json` as `uid`: the JSON line.
fn status_json(uid: u32, dir: &Path) -> serde_json::Value {
    let mut cmd = Command::new(bin("gcs"));
    cmd.args(["status", "--json"])
        .env("GCS_SOCKET", dir.join("gcsd.sock"))
        .stdin(Stdio::null());
    if uid != 0 {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap()
}

#[test]
fn only_administrators_see_the_clients_and_groups_in_the_status() {
    if !can_switch_users() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _d = daemon(dir.path(), "[access]\nadmin_uids = [4242]\n");
    let plain = status_json(NOBODY, dir.path());
    assert_eq!(plain["clients"], serde_json::json!([]), "{plain}");
    assert!(plain["counters"].is_object(), "{plain}");
    let admin = status_json(0, dir.path());
    let clients = admin["clients"].as_array().expect("a list of clients");
    assert!(!clients.is_empty(), "{admin}");
}

/// The tests of default socket paths share `nobody`'s private directory and the system path.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `gcs status` as `uid` with no socket named, so the client finds the daemon by itself;
/// `runtime_dir` is its `$XDG_RUNTIME_DIR`. Gives (success, stdout and stderr).
fn status_found_by_default(uid: u32, runtime_dir: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(bin("gcs"));
    cmd.arg("status")
        .env_remove("GCS_SOCKET")
        .env_remove("XDG_RUNTIME_DIR")
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::null());
    if let Some(dir) = runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_daemon_of_a_user_listens_in_a_private_place_the_client_finds_by_itself() {
    if !can_switch_users() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let _one = ONE_AT_A_TIME.lock();
    let private = gcs::private_dir_for(NOBODY);
    let _ = std::fs::remove_dir_all(&private);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();

    // Another user made the private directory first: the daemon will not put its socket there.
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o777)).unwrap();
    let status = gcsd_as(NOBODY, dir.path(), "")
        .env_remove("XDG_RUNTIME_DIR")
        .status()
        .unwrap();
    assert!(!status.success(), "gcsd used a directory root made");
    let log = std::fs::read_to_string(dir.path().join("gcsd.log")).unwrap();
    assert!(log.contains("belongs to uid 0"), "{log}");
    std::fs::remove_dir(&private).unwrap();

    // No runtime directory: a private one under /tmp, made by the daemon, mode 0700.
    let socket = private.join("gcsd.sock");
    let mut cmd = gcsd_as(NOBODY, dir.path(), "");
    cmd.env_remove("XDG_RUNTIME_DIR");
    let d = wait_up(cmd.spawn().unwrap(), &socket);
    let meta = std::fs::metadata(&private).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (NOBODY, 0o700));
    let (ok, out) = status_found_by_default(NOBODY, None);
    assert!(ok && out.contains("acl"), "{out}");
    drop(d);
    let _ = std::fs::remove_dir_all(&private);

    // A runtime directory: the socket goes there, and a client with the same one finds it.
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::os::unix::fs::chown(&runtime, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = gcsd_as(NOBODY, dir.path(), "");
    cmd.env("XDG_RUNTIME_DIR", &runtime);
    let _d = wait_up(cmd.spawn().unwrap(), &runtime.join("gcsd.sock"));
    let (ok, out) = status_found_by_default(NOBODY, Some(&runtime));
    assert!(ok && out.contains("acl"), "{out}");
    assert!(
        !private.exists(),
        "a private /tmp directory was made though a runtime one was set"
    );
}

#[test]
fn a_daemon_run_by_root_listens_in_run_gcsd_where_every_user_finds_it() {
    if !can_switch_users() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let socket = Path::new(gcs::DEFAULT_SOCKET_PATH);
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        eprintln!("a gcsd answers on {}: left alone", socket.display());
        return;
    }
    let _one = ONE_AT_A_TIME.lock();
    let _ = std::fs::remove_dir_all(gcs::private_dir_for(NOBODY));
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = gcsd_as(0, dir.path(), "");
    cmd.env_remove("XDG_RUNTIME_DIR");
    let _d = wait_up(cmd.spawn().unwrap(), socket);
    let parent = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!((parent.uid(), parent.mode() & 0o777), (0, 0o755));
    // nobody runs no daemon of its own, so its client goes to the system one.
    let (ok, out) = status_found_by_default(NOBODY, None);
    assert!(ok && out.contains("acl"), "{out}");
    let (ok, out) = status_found_by_default(0, None);
    assert!(ok && out.contains("acl"), "{out}");
}
