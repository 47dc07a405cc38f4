//! Tests of the configuration: defaults, every key's checks, files and flags together.

use super::*;

#[test]
fn defaults_are_valid() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.socket, gcs::daemon_socket_path());
    assert_eq!(c.listen.port(), DEFAULT_PORT);
    assert_eq!(c.socket_mode, DEFAULT_SOCKET_MODE);
    assert!(c.peers.is_empty());
    assert_eq!(c.limits, LimitsConfig::default());
    assert_eq!(c.protocol.max_datagram, Some(LOOPBACK_DATAGRAM));
    let lan = Config::from_toml("listen = \"10.1.2.3:4804\"\n[auth]\ninsecure = true").unwrap();
    assert_eq!(lan.protocol.max_datagram, Some(ETHERNET_DATAGRAM));
    // Off loopback, a key (or insecure) is required; with a key the core's datagrams leave
    // room for the seal.
    assert!(err("listen = \"10.1.2.3:4804\"").contains("auth.key_file"));
    let keyed = Config::from_toml("listen = \"10.1.2.3:4804\"\n[auth]\nkey_file = \"/k\"").unwrap();
    assert_eq!(
        keyed.core_config().max_datagram,
        ETHERNET_DATAGRAM - crate::seal::OVERHEAD
    );
    assert!(err("[auth]\nnext_key_file = \"/k\"").contains("auth.next_key_file"));
    assert!(
        err("[auth]\nkey_file = \"/k\"\n[protocol]\nmax_datagram = 600")
            .contains("protocol.max_datagram")
    );
    let set = Config::from_toml("[protocol]\nmax_datagram = 9000").unwrap();
    assert_eq!(set.protocol.max_datagram, Some(9000));
    assert!(err("[protocol]\nmax_datagram = 100").contains("protocol.max_datagram"));
    assert!(err("[protocol]\nfailure_timeout_ms = 50").contains("protocol.failure_timeout_ms"));
}

#[test]
fn file_values_and_overrides() {
    let text = "name = \"a\"\nlisten = \"127.0.0.2:5000\"\nsocket_mode = \"0600\"\n\
                [limits]\nmax_clients = 7\n";
    let c = Config::from_toml(text).unwrap();
    assert_eq!(c.name, "a");
    assert_eq!(c.socket_mode, 0o600);
    assert_eq!(c.limits.max_clients, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(&path, text).unwrap();
    let o = Overrides {
        name: Some("b".into()),
        peers: vec!["127.0.0.3".into()],
        ..Overrides::default()
    };
    let c = Config::load(Some(&path), o).unwrap();
    assert_eq!(c.name, "b");
    assert_eq!(c.peers, vec!["127.0.0.3:4804".parse().unwrap()]);
}

fn err(text: &str) -> String {
    Config::from_toml(text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_key() {
    assert!(err("bogus = 1").contains("bogus"));
    assert!(err("[limits]\nmax_clients = 0").contains("limits.max_clients"));
    assert!(err("[limits]\nmax_membership_message = 10").contains("limits.max_membership_message"));
    assert!(err("[limits]\nmax_round_step = 5").contains("limits.max_round_step"));
    assert!(err("[limits]\nmax_total_queue_bytes = 5").contains("limits.max_total_queue_bytes"));
    assert!(err("[limits]\nmax_retransmit_bytes_per_second = 5")
        .contains("limits.max_retransmit_bytes_per_second"));
    assert!(err("[[access.group]]\npattern = \"\"").contains("access.group"));
    assert!(err("[[access.group]]\npattern = \"a\"\nallow = [\"fly\"]").contains("fly"));
    let rules =
        Config::from_toml("[[access.group]]\npattern = \"a*\"\nuids = [5]\nallow = [\"join\"]")
            .unwrap();
    assert_eq!(rules.access.group.len(), 1);
    assert!(err("[limits]\nmax_clients = \"x\"").contains("max_clients"));
    assert!(err("listen = \"nope\"").contains("listen"));
    assert!(err("socket_mode = \"999\"").contains("socket_mode"));
    assert!(err("name = \"a b\"").contains("`name`"));
    assert!(err("[limits]\nmax_message_size = 0").contains("limits.max_message_size"));
    assert!(err("[limits]\nmax_client_queue_bytes = 10").contains("max_client_queue_bytes"));
    assert!(err("[limits]\nfoo = 1").contains("foo"));
}
