//! The tokio driver: moves bytes and time between the outside world and the sans-IO core.
//!
//! Owns the one task that holds the [`Core`]: it accepts connections, feeds the core client
//! requests, datagrams, timer expiries and shutdown, and turns the core's outputs into frames on
//! client queues. This is the only place in the daemon allowed to read the clock. It never makes a
//! protocol decision of its own.

use crate::config::Config;
use crate::core::{ClientId, Core, Departure, Output, Time};
use crate::ipc::{
    self, AccessConfig, Peer, SessionHandle, SessionInput, SessionLimits, SocketFile,
};
use crate::keyfile::{self, KeyFileError};
use crate::net;
use crate::seal::Seal;
use bytes::{Bytes, BytesMut};
use gcs::wire::{self, ErrorCode, ErrorInfo, Response};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::{UdpSocket, UnixListener};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

/// Connections accepted beyond `limits.max_clients` before the hello can refuse them politely;
/// past this, new connections get the refusal at once and are closed.
const PENDING_CONNECTION_SLACK: usize = 64;

/// Datagrams or client requests taken in one go before the core's outputs are sent.
const BATCH: usize = 64;

/// Receive buffer allocation; datagrams are split off it without copying.
const RECV_BUFFER: usize = 256 * 1024;

/// How long shutdown waits for queued frames to reach clients.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Unix socket could not be claimed.
    #[error(transparent)]
    Socket(#[from] ipc::SocketError),
    /// The UDP address could not be bound.
    #[error("cannot listen on UDP {addr}: {source} (is another gcsd using it? set --listen)")]
    Udp {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A key file could not be used.
    #[error("cluster key: {0}")]
    Key(#[from] KeyFileError),
}

/// A daemon whose sockets are bound, ready to run.
#[derive(Debug)]
pub struct Daemon {
    config: Config,
    listener: UnixListener,
    socket_file: SocketFile,
    peers: Peers,
}

/// The UDP socket, and the seal of this daemon's life if it has a cluster key: datagrams are
/// sealed on the way out and opened on the way in, before the core sees anything of them.
#[derive(Debug)]
struct Peers {
    udp: UdpSocket,
    seal: Option<Seal>,
}

impl Peers {
    /// Hands the core a datagram from `from`, opened first if there is a key.
    fn take_in(&mut self, core: &mut Core, now: Time, from: SocketAddr, bytes: BytesMut) {
        match &mut self.seal {
            None => core.handle_datagram(now, from, bytes.freeze()),
            Some(seal) => match seal.open(from, bytes) {
                Ok(inner) => core.handle_datagram(now, from, inner),
                Err(why) => core.handle_unauthenticated(from, &why),
            },
        }
    }

    /// Sends `bytes` to every address of `to`, sealed once if there is a key.
    async fn send(&mut self, bytes: &Bytes, to: &[SocketAddr]) {
        let bytes = match &mut self.seal {
            Some(seal) => seal.seal(bytes),
            None => bytes.clone(),
        };
        for addr in to {
            transmit(&self.udp, &bytes, *addr).await;
        }
    }
}

impl Daemon {
    /// Claims the Unix socket and the UDP address. Must run inside a tokio runtime.
    pub fn bind(config: Config) -> Result<Daemon, StartError> {
        let (listener, socket_file) = ipc::socket_file::bind(&config.socket, config.socket_mode)?;
        let seal = match &config.auth.key_file {
            None => None,
            Some(path) => {
                let key = keyfile::read(path)?;
                let next = config
                    .auth
                    .next_key_file
                    .as_deref()
                    .map(keyfile::read)
                    .transpose()?;
                let life = keyfile::random_life()?;
                Some(Seal::new(
                    key,
                    next,
                    life,
                    config.listen,
                    config.peers.iter().copied(),
                ))
            }
        };
        let udp = net::bind(config.listen).map_err(|source| StartError::Udp {
            addr: config.listen,
            source,
        })?;
        Ok(Daemon {
            config,
            listener,
            socket_file,
            peers: Peers { udp, seal },
        })
    }

    /// The Unix socket path clients connect to.
    pub fn socket_path(&self) -> PathBuf {
        self.socket_file.path().to_path_buf()
    }

    /// The UDP address actually bound (useful when the configured port was 0).
    pub fn udp_addr(&self) -> std::io::Result<SocketAddr> {
        self.peers.udp.local_addr()
    }

    /// Serves until `shutdown` completes; then gets this daemon's messages to the others (within
    /// `protocol.shutdown_grace_ms`), tells every client, waits briefly for their queues to
    /// drain, and removes the socket file.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Daemon {
            config,
            listener,
            socket_file,
            mut peers,
        } = self;
        if peers.seal.is_none() && config.auth.insecure {
            tracing::warn!(listen = %config.listen, "running without a cluster key (--insecure): anyone who can send this daemon a datagram can take part in the cluster");
        }
        let clock = Clock::new();
        let mut core_config = config.core_config();
        core_config.incarnation = incarnation();
        let mut core = Core::new(core_config, clock.now());
        let (inputs_tx, mut inputs_rx) = mpsc::channel::<SessionInput>(1024);
        let tasks = TaskTracker::new();
        let limits = SessionLimits {
            max_frame: config.max_client_frame(),
            max_queue: config.limits.max_client_queue_bytes,
            hello_timeout: Duration::from_millis(config.limits.hello_timeout_ms),
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let daemon_uid = unsafe { libc::geteuid() };
        let mut state = Dispatch {
            sessions: BTreeMap::new(),
            access: config.access.clone(),
            daemon_uid,
        };
        let refusing = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let queued = ipc::SharedBudget::new(config.limits.max_total_queue_bytes);
        let mut buf = BytesMut::with_capacity(RECV_BUFFER);
        tracing::info!(
            name = %config.name,
            socket = %config.socket.display(),
            udp = %peers.udp.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            authenticated = peers.seal.is_some(),
            peers = ?config.peers,
            "gcsd ready"
        );
        tokio::pin!(shutdown);
        // One timer, moved when the core's deadline moves, rather than a new one per event.
        let timer = tokio::time::sleep_until(clock.instant(Time::ZERO));
        tokio::pin!(timer);
        let mut armed: Option<Time> = None;
        let mut stopping = false;
        while !core.has_stopped() {
            let deadline = core.poll_timeout();
            if deadline != armed {
                if let Some(t) = deadline {
                    timer.as_mut().reset(clock.instant(t));
                }
                armed = deadline;
            }
            let accepting = core.accepts_client_input();
            if buf.capacity() < net::MAX_DATAGRAM {
                buf.reserve(RECV_BUFFER);
            }
            tokio::select! {
                biased;
                _ = &mut shutdown, if !stopping => {
                    // The core drains first (its messages reach every daemon, or its grace
                    // period ends), then tells the clients and says goodbye; the loop runs on
                    // until then.
                    tracing::info!("stopping: getting this daemon's messages to the others first");
                    stopping = true;
                    core.handle_shutdown(clock.now());
                }
                // Daemon traffic first: acknowledgements and heartbeats never wait behind clients.
                received = peers.udp.recv_buf_from(&mut buf) => {
                    if let Ok((_, from)) = received {
                        peers.take_in(&mut core, clock.now(), from, buf.split());
                    }
                    // Take in what else has arrived before answering, so acknowledgements batch.
                    for _ in 0..BATCH {
                        if buf.capacity() < net::MAX_DATAGRAM {
                            buf.reserve(RECV_BUFFER);
                        }
                        match peers.udp.try_recv_buf_from(&mut buf) {
                            Ok((_, from)) => peers.take_in(&mut core, clock.now(), from, buf.split()),
                            Err(_) => break,
                        }
                    }
                }
                Some(input) = inputs_rx.recv(), if accepting => {
                    state.take_input(&mut core, &clock, input);
                    for _ in 0..BATCH {
                        if !core.accepts_client_input() {
                            break;
                        }
                        match inputs_rx.try_recv() {
                            Ok(input) => state.take_input(&mut core, &clock, input),
                            Err(_) => break,
                        }
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        if state.sessions.len() >= config.limits.max_clients + PENDING_CONNECTION_SLACK {
                            refuse(stream, ErrorInfo::new(
                                ErrorCode::TooManyClients,
                                format!("gcsd already serves {} clients (limits.max_clients)", config.limits.max_clients),
                            ), &tasks, &refusing);
                            continue;
                        }
                        // Who is at the other end, as the kernel says; unknown is nobody allowed.
                        let peer = match stream.peer_cred() {
                            Ok(c) => Peer { uid: c.uid(), gid: c.gid() },
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot tell who connected; refusing");
                                continue;
                            }
                        };
                        let per_user = config.limits.max_clients_per_user;
                        if peer.uid != 0 && state.sessions.values().filter(|s| s.peer.uid == peer.uid).count() >= per_user {
                            refuse(stream, ErrorInfo::new(
                                ErrorCode::TooManyClients,
                                format!("user {} already has {per_user} clients of this daemon (limits.max_clients_per_user)", peer.uid),
                            ), &tasks, &refusing);
                            continue;
                        }
                        if let Err(error) = state.access.may_connect(peer, daemon_uid) {
                            tracing::info!(uid = peer.uid, gid = peer.gid, "refusing a connection: {}", error.message);
                            refuse(stream, error, &tasks, &refusing);
                            continue;
                        }
                        let id = core.handle_connect(clock.now());
                        let handle = ipc::session::spawn(stream, id, peer, limits, &queued, inputs_tx.clone(), &tasks);
                        state.sessions.insert(id, handle);
                    }
                    Err(e) => {
                        // Typically EMFILE: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accepting a client connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = &mut timer, if armed.is_some() => {
                    armed = None;
                    core.handle_timeout(clock.now());
                }
            }
            state.drain(&mut core, &clock, &mut peers).await;
        }
        drop(listener);
        drop(socket_file);
        tasks.close();
        drop(inputs_rx);
        if tokio::time::timeout(SHUTDOWN_FLUSH, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some clients did not take their last frames in time");
        }
        tracing::info!("gcsd stopped");
    }
}

/// The sessions the core task writes to.
struct Dispatch {
    sessions: BTreeMap<ClientId, SessionHandle>,
    /// Who may do what with which groups.
    access: AccessConfig,
    /// The user the daemon runs as (always allowed, always an administrator).
    daemon_uid: u32,
}

impl Dispatch {
    fn take_input(&mut self, core: &mut Core, clock: &Clock, input: SessionInput) {
        let now = clock.now();
        match input {
            SessionInput::Request(client, req) => {
                // The access rules answer before the core sees the request: a refused request
                // changes nothing, and the session goes on.
                if let Some(s) = self.sessions.get(&client) {
                    if let Err(error) = self.access.may_request(s.peer, &req) {
                        if let Some(id) = request_id(&req) {
                            let frame = bytes::Bytes::from(wire::encode_response_frame(
                                &Response::Failed { id, error },
                            ));
                            let _ = s.queue.push(frame);
                        }
                        return;
                    }
                }
                core.handle_request(now, client, req)
            }
            SessionInput::Departed(id, why) => core.handle_departure(now, id, why),
        }
    }

    /// Queues `frame` for each of `to` still connected; those whose queue is full go to
    /// `overflowed`.
    fn enqueue(&self, to: &[ClientId], frame: &bytes::Bytes, overflowed: &mut Vec<ClientId>) {
        for id in to {
            if let Some(s) = self.sessions.get(id) {
                if s.queue.push(frame.clone()).is_err() {
                    overflowed.push(*id);
                }
            }
        }
    }

    /// Carries out every output of the core, feeding queue overflows back to it until it is quiet.
    async fn drain(&mut self, core: &mut Core, clock: &Clock, peers: &mut Peers) {
        loop {
            let mut overflowed = Vec::new();
            while let Some(out) = core.poll_output() {
                match out {
                    Output::Send { to, response } => {
                        if let Response::Status {
                            id: request,
                            status,
                        } = &response
                        {
                            // Each sees the status its access allows.
                            for id in &to {
                                let shown = self.sessions.get(id).and_then(|s| {
                                    self.access.status_for(s.peer, self.daemon_uid, status)
                                });
                                let frame = match shown {
                                    Some(shown) => wire::encode_response_frame(&Response::Status {
                                        id: *request,
                                        status: Box::new(shown),
                                    }),
                                    None => wire::encode_response_frame(&response),
                                };
                                self.enqueue(&[*id], &bytes::Bytes::from(frame), &mut overflowed);
                            }
                            continue;
                        }
                        let frame = bytes::Bytes::from(wire::encode_response_frame(&response));
                        self.enqueue(&to, &frame, &mut overflowed);
                    }
                    Output::Deliver { to, frame } => self.enqueue(&to, &frame, &mut overflowed),
                    Output::Close { client, error } => {
                        if let Some(s) = self.sessions.remove(&client) {
                            let last = error.map(|error| {
                                if error.code != ErrorCode::Shutdown {
                                    tracing::info!(%client, %error, "ending a client session");
                                }
                                bytes::Bytes::from(wire::encode_response_frame(
                                    &Response::Closing { error },
                                ))
                            });
                            s.queue.close(last);
                            s.cancel.cancel();
                        }
                    }
                    Output::Transmit { to, bytes } => peers.send(&bytes, &to).await,
                }
            }
            if overflowed.is_empty() {
                return;
            }
            for id in overflowed {
                core.handle_departure(clock.now(), id, Departure::Overflow);
            }
        }
    }
}

/// Sends a datagram without waiting unless the socket buffer is full. Errors are not fatal: a
/// lost datagram is what the protocol's retransmission is for.
async fn transmit(udp: &UdpSocket, bytes: &[u8], addr: SocketAddr) {
    match udp.try_send_to(bytes, addr) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            if let Err(e) = udp.send_to(bytes, addr).await {
                tracing::debug!(%addr, error = %e, "sending a datagram failed");
            }
        }
        Err(e) => tracing::debug!(%addr, error = %e, "sending a datagram failed"),
    }
}

/// The id of a request that has one (every request but the hello).
fn request_id(req: &wire::Request) -> Option<wire::RequestId> {
    use wire::Request as R;
    match req {
        R::Hello { .. } => None,
        R::Join { id, .. }
        | R::Leave { id, .. }
        | R::Multicast { id, .. }
        | R::Watch { id, .. }
        | R::Unwatch { id, .. }
        | R::Status { id }
        | R::Sync { id } => Some(*id),
    }
}

/// Refused connections still being told why, at most.
const MAX_REFUSING: usize = 64;
/// How long a refused connection gets to read why.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);

/// Tells a connection it is refused and why, and closes it. The client may still be writing its
/// hello; closing at once would make that write fail before it reads the reason, so a few
/// refused connections at a time get a moment in a task of their own, their input discarded.
/// Beyond that, the reason is written without waiting and the connection dropped.
fn refuse(
    stream: tokio::net::UnixStream,
    error: ErrorInfo,
    tasks: &TaskTracker,
    refusing: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    let frame = wire::encode_response_frame(&Response::Closing { error });
    if refusing.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSING {
        refusing.fetch_sub(1, Ordering::Relaxed);
        let _ = stream.try_write(&frame);
        return;
    }
    let refusing = refusing.clone();
    tasks.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let linger = async {
            stream.write_all(&frame).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
        refusing.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Converts between the monotonic clock and the core's [`Time`].
struct Clock {
    start: Instant,
}

impl Clock {
    #[allow(clippy::disallowed_methods)] // the driver is where time comes from
    fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    #[allow(clippy::disallowed_methods)] // the driver is where time comes from
    fn now(&self) -> Time {
        Time(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn instant(&self, t: Time) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_micros(t.as_micros()))
    }
}

/// This life of the daemon: microseconds since the Unix epoch at start, so a restarted daemon is
/// told apart from its previous life.
#[allow(clippy::disallowed_methods)] // the driver owns the clock
fn incarnation() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
