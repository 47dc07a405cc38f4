//! The `gcsd` binary: parses flags and the config file, sets up logging, runs the daemon until
//! SIGTERM or SIGINT.

use anyhow::Context;
use clap::Parser;
use gcsd::{Config, Daemon, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// gcsd — the gcs group communication daemon.
///
/// Serves the applications of this host over a Unix socket: process groups, views, and multicast
/// in reliable, fifo, causal, agreed and safe order. With no flags it runs a one-daemon cluster on
/// UDP 127.0.0.1:4804 and the default socket (/run/gcsd/gcsd.sock as root, else
/// $XDG_RUNTIME_DIR/gcsd.sock, else /tmp/gcsd-UID/gcsd.sock); with --peer (one per other daemon)
/// it is one daemon of a cluster. Flags override the config file.
#[derive(Debug, Parser)]
#[command(name = "gcsd", version, about, long_about)]
struct Args {
    /// TOML configuration file (see gcsd.toml(5)).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// This daemon's name, the part after '#' in its clients' private names [default: host name].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Cluster name; daemons of other clusters are ignored [default: gcs].
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// Unix socket path clients connect to [default: /run/gcsd/gcsd.sock as root, else
    /// $XDG_RUNTIME_DIR/gcsd.sock, else /tmp/gcsd-UID/gcsd.sock].
    #[arg(long, short = 's', value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Permission bits of the socket file, in octal [default: 0660].
    #[arg(long, value_name = "MODE")]
    socket_mode: Option<String>,
    /// UDP address for daemon-to-daemon traffic [default: 127.0.0.1:4804].
    #[arg(long, short = 'l', value_name = "ADDR")]
    listen: Option<String>,
    /// Another daemon of the cluster (repeatable; replaces the config file's list).
    #[arg(long = "peer", short = 'p', value_name = "ADDR")]
    peers: Vec<String>,
    /// Log filter, e.g. info, debug, gcsd=trace [default: $RUST_LOG, else the config, else info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// The cluster key file (see `gcsd keygen`); every datagram is sealed with it.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// A second key accepted but not sent with, for changing keys without stopping the cluster.
    #[arg(long, value_name = "FILE")]
    next_key_file: Option<PathBuf>,
    /// Run without a cluster key although --listen is not a loopback address: anyone who can
    /// send this daemon a datagram can take part.
    #[arg(long)]
    insecure: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Writes a new random cluster key to FILE (readable by its owner only; an existing file is
    /// never overwritten) and exits. Copy the file to every daemon of the cluster.
    Keygen {
        /// Where to write the key.
        #[arg(value_name = "FILE", default_value = DEFAULT_KEY_FILE)]
        file: PathBuf,
    },
}

/// Where `gcsd keygen` writes the key unless told otherwise.
const DEFAULT_KEY_FILE: &str = "/etc/gcsd/cluster.key";

/// Exit status for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 2;
/// Exit status for a daemon that could not start or failed while running.
const EXIT_START: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Keygen { file }) = &args.command {
        return keygen(file);
    }
    let overrides = Overrides {
        name: args.name,
        cluster: args.cluster,
        socket: args.socket,
        socket_mode: args.socket_mode,
        listen: args.listen,
        peers: args.peers,
        log_level: args.log_level.clone(),
        key_file: args.key_file,
        next_key_file: args.next_key_file,
        insecure: args.insecure,
    };
    let config = match Config::load(args.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gcsd: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = init_logging(args.log_level.as_deref(), config.log_level.as_deref()) {
        eprintln!("gcsd: {e:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gcsd: {e:#}");
            ExitCode::from(EXIT_START)
        }
    }
}

/// `gcsd keygen FILE`: a new key, its directory made if missing.
fn keygen(file: &std::path::Path) -> ExitCode {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("gcsd: cannot create {}: {e}", dir.display());
            return ExitCode::from(EXIT_START);
        }
    }
    match gcsd::keyfile::generate(file) {
        Ok(_) => {
            println!("{}", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gcsd: {e}");
            ExitCode::from(EXIT_START)
        }
    }
}

/// The flag wins, then `RUST_LOG`, then the config file, then `info`.
fn init_logging(flag: Option<&str>, file: Option<&str>) -> anyhow::Result<()> {
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = flag
        .map(str::to_string)
        .or(env)
        .or(file.map(str::to_string))
        .unwrap_or_else(|| "info".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).with_context(|| {
        format!("invalid log filter '{filter}' (log_level / --log-level / RUST_LOG)")
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

fn run(config: Config) -> anyhow::Result<()> {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Signals first: a SIGTERM that arrives once the socket is open must stop the daemon
        // cleanly, not kill it with the default action.
        let shutdown = shutdown_signal()?;
        let daemon = Daemon::bind(config)?;
        daemon.run(shutdown).await;
        Ok(())
    })
}

/// Completes on the first SIGTERM or SIGINT.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Every client holds a file descriptor: lift the soft limit to the hard one so the default
/// `max_clients` fits.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
