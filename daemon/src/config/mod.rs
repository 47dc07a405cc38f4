//! The daemon's configuration: defaults, the TOML file, and the command-line flags over it.
//!
//! Owns parsing and validation. A bad value is refused with a message that names its key; nothing
//! here opens sockets or starts anything.

use crate::core::CoreConfig;
use gcs::names;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The UDP port a daemon listens on when none is configured.
pub const DEFAULT_PORT: u16 = 4804;

/// The UDP address a daemon listens on when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4804";

/// The cluster name used when none is configured.
pub const DEFAULT_CLUSTER: &str = "gcs";

/// The permissions of the socket file when none are configured: owner and group may connect.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// Largest value accepted for `limits.max_message_size`.
pub const MAX_MESSAGE_SIZE_CEILING: usize = 64 * 1024 * 1024;

/// Limits the daemon enforces; each has a key under `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest message payload in bytes (`max_message_size`).
    pub max_message_size: usize,
    /// Longest group name in bytes (`max_group_name`).
    pub max_group_name: usize,
    /// Most groups a client may be a member of, and most it may watch (`max_groups_per_client`).
    pub max_groups_per_client: usize,
    /// Most clients served at once (`max_clients`).
    pub max_clients: usize,
    /// Most clients of one local user served at once (`max_clients_per_user`); root is not
    /// limited.
    pub max_clients_per_user: usize,
    /// Bytes that may wait for one client to read before it is disconnected (`max_client_queue_bytes`).
    pub max_client_queue_bytes: usize,
    /// Bytes that may wait for all clients together (`max_total_queue_bytes`); a client whose
    /// frame would pass it is disconnected as if its own queue were full.
    pub max_total_queue_bytes: usize,
    /// How long a new connection may take to send its hello, in ms (`hello_timeout_ms`).
    pub hello_timeout_ms: u64,
    /// Largest membership message between daemons, in bytes (`max_membership_message`).
    pub max_membership_message: usize,
    /// How far beyond this daemon's view-change round a peer's may be (`max_round_step`).
    pub max_round_step: u64,
    /// Bytes one peer may make this daemon retransmit per second
    /// (`max_retransmit_bytes_per_second`).
    pub max_retransmit_bytes_per_second: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_size: 1024 * 1024,
            max_group_name: 128,
            max_groups_per_client: 1000,
            max_clients: 1000,
            max_clients_per_user: 1000,
            max_client_queue_bytes: 32 * 1024 * 1024,
            max_total_queue_bytes: 1024 * 1024 * 1024,
            hello_timeout_ms: 5000,
            max_membership_message: 64 * 1024 * 1024,
            max_round_step: 1_000_000,
            max_retransmit_bytes_per_second: 64 * 1024 * 1024,
        }
    }
}

/// The smallest `protocol.max_datagram` with a cluster key: the seal's overhead plus room for
/// the protocol's own smallest datagram.
pub const MIN_SEALED_DATAGRAM: usize = 576 + crate::seal::OVERHEAD;

/// The datagram size used between daemons on different hosts unless configured: an Ethernet
/// frame's payload less the IP and UDP headers, so no datagram is fragmented.
pub const ETHERNET_DATAGRAM: usize = 1472;

/// The datagram size used when every daemon is on a loopback address of one machine, unless
/// configured: loopback's MTU is 64 KiB, and larger datagrams carry more messages per system call.
pub const LOOPBACK_DATAGRAM: usize = 65_000;

/// Protocol settings; each has a key under `[protocol]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolConfig {
    /// Largest datagram sent, in bytes (`max_datagram`). Unset: [`LOOPBACK_DATAGRAM`] when this
    /// daemon and all its peers are on loopback addresses (one machine), else
    /// [`ETHERNET_DATAGRAM`], which fits an Ethernet frame unfragmented.
    pub max_datagram: Option<usize>,
    /// Bytes of this daemon's messages that may be unstable before its clients' sends wait
    /// (`send_window_bytes`).
    pub send_window_bytes: usize,
    /// How often an idle daemon sends a heartbeat, in ms (`heartbeat_ms`).
    pub heartbeat_ms: u64,
    /// How often missing data is asked for again while anything is unfinished, in ms
    /// (`retransmit_ms`).
    pub retransmit_ms: u64,
    /// How often a hello is repeated while the peers have not all answered, in ms (`hello_ms`).
    pub hello_ms: u64,
    /// A member not heard from for this long is suspected, in ms (`failure_timeout_ms`).
    pub failure_timeout_ms: u64,
    /// How long a stopping daemon waits for every other daemon to hold the messages it accepted,
    /// in ms (`shutdown_grace_ms`).
    pub shutdown_grace_ms: u64,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            max_datagram: None,
            send_window_bytes: 4 * 1024 * 1024,
            heartbeat_ms: 100,
            retransmit_ms: 5,
            hello_ms: 100,
            failure_timeout_ms: 500,
            shutdown_grace_ms: 2000,
        }
    }
}

/// Authentication of daemon traffic; each has a key under `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The cluster key file (`key_file`): every datagram is sealed with it, and only datagrams
    /// sealed with it (or the next key) are taken.
    pub key_file: Option<PathBuf>,
    /// A second key accepted but not sent with (`next_key_file`), for changing keys without
    /// stopping the cluster.
    pub next_key_file: Option<PathBuf>,
    /// Run without a key although this daemon listens on a non-loopback address (`insecure`).
    pub insecure: bool,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This daemon's name (`name`); defaults to the host name.
    pub name: String,
    /// The cluster's name (`cluster`); daemons of other clusters are ignored.
    pub cluster: String,
    /// The Unix socket clients connect to (`socket`).
    pub socket: PathBuf,
    /// The socket file's permission bits (`socket_mode`).
    pub socket_mode: u32,
    /// The UDP address for daemon traffic (`listen`).
    pub listen: SocketAddr,
    /// Other daemons of the cluster (`peers`).
    pub peers: Vec<SocketAddr>,
    /// The log filter (`log_level`), in `RUST_LOG` syntax.
    pub log_level: Option<String>,
    /// Limits (`[limits]`).
    pub limits: LimitsConfig,
    /// Protocol settings (`[protocol]`).
    pub protocol: ProtocolConfig,
    /// Authentication (`[auth]`).
    pub auth: AuthConfig,
    /// Local access control (`[access]`).
    pub access: crate::ipc::AccessConfig,
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    name: Option<String>,
    cluster: Option<String>,
    socket: Option<PathBuf>,
    socket_mode: Option<String>,
    listen: Option<String>,
    peers: Option<Vec<String>>,
    log_level: Option<String>,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    protocol: ProtocolConfig,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    access: crate::ipc::AccessConfig,
}

/// Values given on the command line; each overrides the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--name`.
    pub name: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--socket-mode`.
    pub socket_mode: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--peer`, repeatable; replaces the file's list when given.
    pub peers: Vec<String>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--next-key-file`.
    pub next_key_file: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a key of the wrong type or an unknown key.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid `{key}`: {message}")]
    Invalid {
        /// The key, as written in the file (`limits.max_clients`).
        key: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Loads `file` (if given), applies `overrides`, fills in defaults and validates.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        Self::build(parsed, overrides)
    }

    /// Parses configuration text (as in a file) with no overrides; for tests and tools.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let parsed = toml::from_str::<FileConfig>(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string().trim_end().to_string(),
        })?;
        Self::build(parsed, Overrides::default())
    }

    fn build(file: FileConfig, o: Overrides) -> Result<Config, ConfigError> {
        let name = o.name.or(file.name).unwrap_or_else(default_name);
        names::check_daemon_name(&name).map_err(|m| invalid("name", m))?;
        let cluster = o
            .cluster
            .or(file.cluster)
            .unwrap_or_else(|| DEFAULT_CLUSTER.to_string());
        names::check_daemon_name(&cluster)
            .map_err(|m| invalid("cluster", m.replace("daemon name", "cluster name")))?;
        let socket = o
            .socket
            .or(file.socket)
            .unwrap_or_else(gcs::daemon_socket_path);
        if socket.as_os_str().is_empty() {
            return Err(invalid("socket", "the socket path is empty"));
        }
        // A Unix socket path must fit in sockaddr_un's 108 bytes, terminator included.
        if socket.as_os_str().len() > 107 {
            return Err(invalid(
                "socket",
                format!(
                    "the path {} is {} bytes long; Unix socket paths are limited to 107",
                    socket.display(),
                    socket.as_os_str().len()
                ),
            ));
        }
        let socket_mode = match o.socket_mode.or(file.socket_mode) {
            Some(text) => parse_mode(&text).map_err(|m| invalid("socket_mode", m))?,
            None => DEFAULT_SOCKET_MODE,
        };
        let listen_text = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = parse_addr(&listen_text).map_err(|m| invalid("listen", m))?;
        let peer_texts = if o.peers.is_empty() {
            file.peers.unwrap_or_default()
        } else {
            o.peers
        };
        let peers = peer_texts
            .iter()
            .map(|p| parse_addr(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid("peers", m))?;
        let log_level = o.log_level.or(file.log_level);
        if let Some(level) = &log_level {
            if level.trim().is_empty() {
                return Err(invalid(
                    "log_level",
                    "the log filter is empty; try \"info\"",
                ));
            }
        }
        let limits = file.limits;
        validate_limits(&limits)?;
        let mut protocol = file.protocol;
        if protocol.max_datagram.is_none() {
            let local = listen.ip().is_loopback() && peers.iter().all(|p| p.ip().is_loopback());
            protocol.max_datagram = Some(if local {
                LOOPBACK_DATAGRAM
            } else {
                ETHERNET_DATAGRAM
            });
        }
        let auth = AuthConfig {
            key_file: o.key_file.or(file.auth.key_file),
            next_key_file: o.next_key_file.or(file.auth.next_key_file),
            insecure: o.insecure || file.auth.insecure,
        };
        if auth.key_file.is_none() && auth.next_key_file.is_some() {
            return Err(invalid(
                "auth.next_key_file",
                "a next key needs a key to send with: set auth.key_file (or --key-file) too",
            ));
        }
        // Off loopback, anyone who can send this daemon a datagram could take part: a key is
        // required unless running without one is asked for in so many words.
        if auth.key_file.is_none() && !auth.insecure && !listen.ip().is_loopback() {
            return Err(invalid(
                "auth.key_file",
                format!(
                    "this daemon listens on {listen}, which is not a loopback address, and has no \
                     cluster key: create one with `gcsd keygen`, copy it to every daemon and set \
                     auth.key_file (or --key-file); or run unauthenticated with --insecure \
                     (auth.insecure = true)"
                ),
            ));
        }
        if auth.key_file.is_some() {
            let datagram = protocol.max_datagram.unwrap_or(ETHERNET_DATAGRAM);
            if datagram < MIN_SEALED_DATAGRAM {
                return Err(invalid(
                    "protocol.max_datagram",
                    format!("with a cluster key it must be at least {MIN_SEALED_DATAGRAM} bytes"),
                ));
            }
        }
        // What the protocol itself may fill: the seal's part is not its to use.
        let inner = ProtocolConfig {
            max_datagram: Some(protocol_datagram(&protocol, &auth)),
            ..protocol.clone()
        };
        validate_protocol(&inner, cluster.len(), peers.len() + 1)?;
        file.access
            .validate()
            .map_err(|m| invalid("access.group", m))?;
        Ok(Config {
            name,
            cluster,
            socket,
            socket_mode,
            listen,
            peers,
            log_level,
            limits,
            protocol,
            auth,
            access: file.access,
        })
    }

    /// What the protocol core needs of this configuration.
    pub fn core_config(&self) -> CoreConfig {
        CoreConfig {
            daemon_name: self.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            max_message_size: self.limits.max_message_size,
            max_group_name: self.limits.max_group_name,
            max_groups_per_client: self.limits.max_groups_per_client,
            max_clients: self.limits.max_clients,
            max_membership_message: self.limits.max_membership_message,
            max_round_step: self.limits.max_round_step,
            max_retransmit_bytes_per_second: self.limits.max_retransmit_bytes_per_second,
            cluster: self.cluster.clone(),
            listen: self.listen,
            peers: self.peers.clone(),
            // With a key, every datagram grows by the seal's header and tag on the way out.
            max_datagram: protocol_datagram(&self.protocol, &self.auth),
            send_window: self.protocol.send_window_bytes,
            heartbeat: Duration::from_millis(self.protocol.heartbeat_ms),
            retransmit: Duration::from_millis(self.protocol.retransmit_ms),
            hello: Duration::from_millis(self.protocol.hello_ms),
            failure_timeout: Duration::from_millis(self.protocol.failure_timeout_ms),
            shutdown_grace: Duration::from_millis(self.protocol.shutdown_grace_ms),
            // The driver sets the real one when it starts the daemon.
            incarnation: 0,
        }
    }

    /// The largest frame a client may send: the largest message plus room for its header.
    pub fn max_client_frame(&self) -> usize {
        self.limits.max_message_size + gcs::wire::FRAME_HEADROOM
    }
}

/// The datagram the protocol itself may fill: `protocol.max_datagram`, less the seal's header
/// and tag when there is a cluster key.
fn protocol_datagram(protocol: &ProtocolConfig, auth: &AuthConfig) -> usize {
    let seal = if auth.key_file.is_some() {
        crate::seal::OVERHEAD
    } else {
        0
    };
    protocol
        .max_datagram
        .unwrap_or(ETHERNET_DATAGRAM)
        .saturating_sub(seal)
}

fn validate_limits(l: &LimitsConfig) -> Result<(), ConfigError> {
    if l.max_message_size == 0 || l.max_message_size > MAX_MESSAGE_SIZE_CEILING {
        return Err(invalid(
            "limits.max_message_size",
            format!("must be between 1 and {MAX_MESSAGE_SIZE_CEILING} bytes"),
        ));
    }
    if l.max_group_name == 0 || l.max_group_name > 1024 {
        return Err(invalid(
            "limits.max_group_name",
            "must be between 1 and 1024 bytes",
        ));
    }
    // A multicast may name as many groups as a client may join, and the wire counts them in 16 bits.
    if l.max_groups_per_client == 0 || l.max_groups_per_client > 65_535 {
        return Err(invalid(
            "limits.max_groups_per_client",
            "must be between 1 and 65535",
        ));
    }
    if l.max_membership_message < 64 * 1024 || l.max_membership_message > 1024 * 1024 * 1024 {
        return Err(invalid(
            "limits.max_membership_message",
            "must be between 65536 and 1073741824 bytes",
        ));
    }
    // Rounds must be able to catch up with a peer that ran many attempts apart, and must never
    // be pushed near the end of their range.
    if l.max_round_step < 1_000 || l.max_round_step > 1 << 32 {
        return Err(invalid(
            "limits.max_round_step",
            "must be between 1000 and 4294967296",
        ));
    }
    if l.max_retransmit_bytes_per_second < 1024 * 1024
        || l.max_retransmit_bytes_per_second > 1 << 40
    {
        return Err(invalid(
            "limits.max_retransmit_bytes_per_second",
            "must be between 1048576 and 1099511627776",
        ));
    }
    if l.max_clients_per_user == 0 || l.max_clients_per_user > 1_000_000 {
        return Err(invalid(
            "limits.max_clients_per_user",
            "must be between 1 and 1000000",
        ));
    }
    if l.max_clients == 0 || l.max_clients > 1_000_000 {
        return Err(invalid(
            "limits.max_clients",
            "must be between 1 and 1000000",
        ));
    }
    let floor = l.max_message_size + gcs::wire::FRAME_HEADROOM;
    if l.max_client_queue_bytes < floor {
        return Err(invalid(
            "limits.max_client_queue_bytes",
            format!(
                "must hold at least one largest message: {floor} bytes \
                 (limits.max_message_size plus {} bytes of headroom)",
                gcs::wire::FRAME_HEADROOM
            ),
        ));
    }
    if l.max_total_queue_bytes < l.max_client_queue_bytes {
        return Err(invalid(
            "limits.max_total_queue_bytes",
            format!(
                "must be at least limits.max_client_queue_bytes ({} bytes)",
                l.max_client_queue_bytes
            ),
        ));
    }
    if l.hello_timeout_ms == 0 || l.hello_timeout_ms > 3_600_000 {
        return Err(invalid(
            "limits.hello_timeout_ms",
            "must be between 1 and 3600000",
        ));
    }
    Ok(())
}

fn validate_protocol(
    p: &ProtocolConfig,
    cluster_len: usize,
    daemons: usize,
) -> Result<(), ConfigError> {
    let max_datagram = p.max_datagram.unwrap_or(ETHERNET_DATAGRAM);
    if !(576..=65_507).contains(&max_datagram) {
        return Err(invalid(
            "protocol.max_datagram",
            "must be between 576 and 65507 bytes",
        ));
    }
    let body = crate::core::max_chunk_body(max_datagram, cluster_len, daemons);
    if body < 256 {
        return Err(invalid(
            "protocol.max_datagram",
            format!(
                "{max_datagram} bytes leave only {body} bytes of data per datagram for {daemons} \
                 daemons; raise it"
            ),
        ));
    }
    if p.send_window_bytes < 64 * 1024 || p.send_window_bytes > 1 << 30 {
        return Err(invalid(
            "protocol.send_window_bytes",
            "must be between 65536 and 1073741824",
        ));
    }
    for (key, v) in [
        ("protocol.heartbeat_ms", p.heartbeat_ms),
        ("protocol.retransmit_ms", p.retransmit_ms),
        ("protocol.hello_ms", p.hello_ms),
        ("protocol.failure_timeout_ms", p.failure_timeout_ms),
    ] {
        if v == 0 || v > 60_000 {
            return Err(invalid(key, "must be between 1 and 60000"));
        }
    }
    if p.shutdown_grace_ms > 600_000 {
        return Err(invalid(
            "protocol.shutdown_grace_ms",
            "must be between 0 (stop at once) and 600000",
        ));
    }
    if p.failure_timeout_ms <= p.heartbeat_ms {
        return Err(invalid(
            "protocol.failure_timeout_ms",
            format!(
                "must be longer than protocol.heartbeat_ms ({} ms), or an idle daemon is \
                 suspected between two heartbeats",
                p.heartbeat_ms
            ),
        ));
    }
    Ok(())
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!(
            "'{text}' is not an octal permission mode such as \"0660\" or \"0666\""
        )),
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    // An address without a port means the default port.
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(format!(
        "'{text}' is not an address such as 127.0.0.1:{DEFAULT_PORT} or 10.0.0.2"
    ))
}

/// The host name, made into a valid daemon name; `gcsd` if it cannot be read.
fn default_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(names::MAX_DAEMON_NAME)
        .collect();
    if name.is_empty() {
        "gcsd".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests;
