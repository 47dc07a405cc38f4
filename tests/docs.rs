//! The manual pages and README describe what the binaries do today: every option `--help` lists
//! is documented, and every limit key the daemon accepts is in gcsd.toml(5).

use gcs_testkit::bin;
use std::process::Command;

fn long_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

fn help(binary: &str, args: &[&str]) -> String {
    let out = Command::new(bin(binary))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn page(name: &str) -> String {
    std::fs::read_to_string(format!("{}/man/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("\\-", "-")
}

#[test]
fn every_option_in_help_is_in_the_manual() {
    let gcs1 = page("gcs.1");
    for cmd in [
        &[][..],
        &["join"],
        &["send"],
        &["watch"],
        &["status"],
        &["bench"],
    ] {
        for flag in long_flags(&help("gcs", cmd)) {
            assert!(
                gcs1.contains(&flag),
                "gcs.1 does not document {flag} ({cmd:?})"
            );
        }
    }
    for sub in ["join", "send", "watch", "status", "bench"] {
        assert!(
            gcs1.contains(&format!(".B {sub}")),
            "gcs.1 lacks the {sub} command"
        );
    }
    let gcsd8 = page("gcsd.8");
    let flags = long_flags(&help("gcsd", &[]));
    assert!(flags.len() >= 8, "{flags:?}");
    for flag in flags {
        assert!(gcsd8.contains(&flag), "gcsd.8 does not document {flag}");
    }
}

#[test]
fn every_configuration_key_is_in_the_manual_and_accepted() {
    let toml5 = page("gcsd.toml.5");
    let keys = [
        "name",
        "cluster",
        "socket",
        "socket_mode",
        "listen",
        "peers",
        "log_level",
        "max_message_size",
        "max_group_name",
        "max_groups_per_client",
        "max_clients",
        "max_clients_per_user",
        "max_client_queue_bytes",
        "max_total_queue_bytes",
        "hello_timeout_ms",
        "max_membership_message",
        "max_round_step",
        "max_retransmit_bytes_per_second",
        "key_file",
        "next_key_file",
        "insecure",
        "allow_uids",
        "allow_gids",
        "admin_uids",
        "admin_gids",
        "max_datagram",
        "send_window_bytes",
        "retransmit_ms",
        "heartbeat_ms",
        "hello_ms",
        "failure_timeout_ms",
        "shutdown_grace_ms",
    ];
    for key in keys {
        assert!(
            toml5.contains(&format!(".BR {key} ")),
            "gcsd.toml.5 lacks {key}"
        );
    }
    // The example in the manual is a configuration the daemon accepts.
    let example = toml5
        .split(".EX\n")
        .nth(1)
        .and_then(|s| s.split(".EE").next())
        .expect("an example in gcsd.toml.5");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.toml");
    let sock = dir.path().join("s.sock");
    let key = dir.path().join("cluster.key");
    gcsd::keyfile::generate(&key).unwrap();
    std::fs::write(
        &path,
        example
            .replace("/run/gcs/gcsd.sock", sock.to_str().unwrap())
            .replace("/etc/gcsd/cluster.key", key.to_str().unwrap()),
    )
    .unwrap();
    let mut child = Command::new(bin("gcsd"))
        .arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            up = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        up,
        "the manual's example was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
