//! The `gcs` command-line tool: join groups, send, watch views and read a daemon's status from a
//! shell. Its flags, exit codes and `--json` lines are a stable interface, documented in gcs(1).

mod bench;
mod output;

use clap::{Args, Parser, Subcommand};
use gcs::{Client, Error, Order};
use output::Printer;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::AsyncBufReadExt;

/// gcs — talk to process groups through the local gcsd.
#[derive(Debug, Parser)]
#[command(name = "gcs", version)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// The daemon's socket [default: $GCS_SOCKET, else this user's daemon's socket if it exists
    /// ($XDG_RUNTIME_DIR/gcsd.sock or /tmp/gcsd-UID/gcsd.sock), else /run/gcsd/gcsd.sock].
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The client name to ask for; the private name is NAME#daemon [default: one the daemon picks].
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "",
        hide_default_value = true
    )]
    name: String,
    /// Print one JSON object per line (see gcs(1) for the fields).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Join groups and print their views and messages until interrupted; each line read from
    /// standard input is multicast to all of them.
    Join {
        /// Order for the lines sent from standard input.
        #[arg(long, short, default_value = "agreed")]
        order: Order,
        /// Groups to join.
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Multicast MESSAGE, or each line of standard input, to groups without joining them.
    Send {
        /// Delivery order.
        #[arg(long, short, default_value = "agreed")]
        order: Order,
        /// Target groups, separated by commas: a receiver in several gets each message once.
        #[arg(value_name = "GROUP[,GROUP...]")]
        groups: String,
        /// The message; without it, each line of standard input is one message.
        message: Option<String>,
    },
    /// Print the views of groups without joining them; with no group, the daemon views.
    Watch {
        /// Groups to watch.
        #[arg(value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Print the daemon's status: its view, clients, groups and counters.
    Status,
    /// Measure throughput and latency: senders multicast to groups that receivers joined.
    Bench(bench::BenchOpts),
}

/// Exit statuses, documented in gcs(1).
mod exit {
    /// The daemon refused a request (bad group name, name taken, message too large…).
    pub const REFUSED: u8 = 1;
    /// The daemon could not be reached, or the session ended (daemon stopped, connection lost).
    pub const CONNECTION: u8 = 3;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread is enough, for the load generator too: its sessions wait on sockets, and a
    // second thread would only add hand-overs between threads to every measured latency.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gcs: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A read of standard input may still be blocked in the runtime's thread pool; do not wait
    // for it (it would hold the exit until the next line is typed).
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Gcs(e)) => {
            eprintln!("gcs: {e}");
            ExitCode::from(if e.is_fatal() {
                exit::CONNECTION
            } else {
                exit::REFUSED
            })
        }
        // Standard output was closed (`gcs join g | head -1`): nothing more to say.
        Err(Failure::Output) => ExitCode::SUCCESS,
    }
}

enum Failure {
    Gcs(Error),
    /// Standard output could not be written.
    Output,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Gcs(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(_: std::io::Error) -> Self {
        Failure::Output
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let printer = Printer::new(cli.global.json);
    let path = cli.global.socket.unwrap_or_else(gcs::default_socket_path);
    if let Command::Bench(opts) = cli.command {
        return Ok(bench::run(opts, path, cli.global.json).await?);
    }
    let mut client = Client::connect_to(&path, &cli.global.name).await?;
    if !matches!(cli.command, Command::Status) {
        printer.connected(client.private_name())?;
    }
    match cli.command {
        Command::Join { order, groups } => {
            for g in &groups {
                // A join completes once the cluster has ordered it; if that takes a while the
                // daemon is most likely still waiting for its peers, so say so once.
                let join = client.join(g);
                tokio::pin!(join);
                match tokio::time::timeout(std::time::Duration::from_secs(2), &mut join).await {
                    Ok(r) => r?,
                    Err(_) => {
                        eprintln!(
                            "gcs: still joining {g}: the daemon may be waiting for its peers \
                             (see gcs status)"
                        );
                        join.await?;
                    }
                }
            }
            session(&mut client, &printer, Some((groups, order))).await
        }
        Command::Send {
            order,
            groups,
            message,
        } => {
            let groups: Vec<String> = groups.split(',').map(str::to_string).collect();
            let mut count = 0u64;
            match message {
                Some(m) => {
                    client.multicast(&groups, order, m.into_bytes()).await?;
                    count += 1;
                }
                None => {
                    let mut input = tokio::io::BufReader::new(tokio::io::stdin());
                    while let Some(line) = read_line(&mut input).await.map_err(Error::Io)? {
                        client.multicast(&groups, order, line).await?;
                        count += 1;
                    }
                }
            }
            client.sync().await?;
            printer.sent(&groups, count)?;
            client.disconnect().await?;
            Ok(())
        }
        Command::Watch { groups } => {
            if groups.is_empty() {
                client.watch_daemons().await?;
            }
            for g in &groups {
                client.watch_group(g).await?;
            }
            session(&mut client, &printer, None).await
        }
        Command::Status => {
            let status = client.status().await?;
            printer.status(&status)?;
            client.disconnect().await?;
            Ok(())
        }
        Command::Bench(_) => Ok(()),
    }
}

/// Prints events until SIGINT or SIGTERM; with `send`, multicasts each standard-input line.
async fn session(
    client: &mut Client,
    printer: &Printer,
    send: Option<(Vec<String>, Order)>,
) -> Result<(), Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Io)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::Io)?;
    // Lines come through a channel from their own task: receiving from a channel is cancel-safe
    // inside select!, reading a line directly is not (a half-read line would be lost).
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let mut stdin_open = send.is_some();
    if stdin_open {
        tokio::spawn(async move {
            let mut input = tokio::io::BufReader::new(tokio::io::stdin());
            while let Ok(Some(line)) = read_line(&mut input).await {
                if line_tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            event = client.recv() => match event {
                Ok(e) => printer.event(&e)?,
                Err(e) if !e.is_fatal() => eprintln!("gcs: {e}"),
                Err(e) => return Err(e.into()),
            },
            line = line_rx.recv(), if stdin_open => match line {
                Some(line) => {
                    if let Some((groups, order)) = &send {
                        match client.multicast(groups, *order, line).await {
                            Ok(()) => {}
                            Err(e) if !e.is_fatal() => eprintln!("gcs: {e}"),
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                // End of input ends sending, not the session.
                None => stdin_open = false,
            },
        }
    }
    Ok(())
}

/// One line of input as bytes, without its line ending; `None` at end of input. Lines need not be
/// UTF-8: a message is bytes.
async fn read_line(
    input: &mut tokio::io::BufReader<tokio::io::Stdin>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    if input.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(Some(buf))
}
