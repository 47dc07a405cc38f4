//! `gcs bench`: a load generator and latency meter.
//!
//! Senders and receivers are separate sessions spread round-robin over the given daemons.
//! Receivers join every benchmark group; senders multicast to the groups in turn without joining.
//! Each payload starts with its send time (this process's clock) so every receiver measures the
//! send-to-delivery latency. The rate reported is messages delivered per receiver per second.

use gcs::{Client, Error, Event, Order};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run: the options of `gcs bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOpts {
    /// A daemon's socket to spread sessions over (repeatable; round-robin)
    /// [default: the --socket path].
    #[arg(long = "connect", value_name = "PATH")]
    pub connect: Vec<PathBuf>,
    /// Delivery order.
    #[arg(long, short, default_value = "agreed")]
    pub order: Order,
    /// Message size in bytes (at least 16: a timestamp and the sender).
    #[arg(long, default_value_t = 1000, value_name = "BYTES")]
    pub size: usize,
    /// Messages to send in all [default: 100000 unless --duration is given].
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Send for this long instead: 10s, 500ms, 2m, or seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Sending sessions.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub senders: usize,
    /// Receiving sessions.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub receivers: usize,
    /// Groups; each sender sends to them in turn, each receiver joins all.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub groups: usize,
    /// Messages per second per sender [default: as fast as the cluster takes them].
    #[arg(long, value_name = "N")]
    pub rate: Option<u64>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, "s"), |i| (&t[..i], &t[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit {
        "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(format!("'{text}': use s, ms or m")),
    };
    if !(secs > 0.0 && secs < 1e9) {
        return Err(format!("'{text}' must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Bytes at the start of each payload: send time (ns) and sender index.
const STAMP: usize = 16;

/// Senders stay at most this many messages ahead of the slowest receiver, as a well-behaved
/// application would: a daemon disconnects a client that lets its queue fill, so a benchmark that
/// outruns its own receivers would measure nothing.
const MAX_AHEAD: u64 = 8192;

struct ReceiverResult {
    delivered: u64,
    latencies_us: Vec<u32>,
    last: Option<Instant>,
}

pub async fn run(mut args: BenchOpts, socket: PathBuf, json: bool) -> Result<(), Error> {
    if args.connect.is_empty() {
        args.connect.push(socket);
    }
    if args.count.is_none() && args.duration.is_none() {
        args.count = Some(100_000);
    }
    if args.senders == 0 || args.receivers == 0 || args.groups == 0 {
        return Err(Error::Invalid(
            "--senders, --receivers and --groups must be at least 1".into(),
        ));
    }
    let size = args.size.max(STAMP);
    let groups: Vec<String> = (0..args.groups).map(|g| format!("bench-{g}")).collect();
    let socket = |i: usize| args.connect[i % args.connect.len()].clone();

    // Receivers first, and wait until each sees every group with all receivers in it.
    let mut receivers = Vec::new();
    for i in 0..args.receivers {
        let mut c = Client::connect_to(socket(i), "").await?;
        for g in &groups {
            c.join(g).await?;
        }
        receivers.push(c);
    }
    for c in &mut receivers {
        let mut full = std::collections::BTreeSet::new();
        while full.len() < groups.len() {
            if let Event::View(v) = c.recv().await? {
                if v.members.len() >= args.receivers {
                    full.insert(v.group);
                }
            }
        }
    }
    let mut senders = Vec::new();
    for i in 0..args.senders {
        senders.push(Client::connect_to(socket(i), "").await?);
    }

    let start = Instant::now();
    let per_sender = args.count.map(|c| c.div_ceil(args.senders as u64));
    let expected = per_sender.map(|p| p * args.senders as u64);
    let delivered_total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent_total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let per_receiver: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> = std::sync::Arc::new(
        (0..args.receivers)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    );
    let caught_up = std::sync::Arc::new(tokio::sync::Notify::new());

    let mut send_tasks = Vec::new();
    for (i, mut c) in senders.into_iter().enumerate() {
        let groups = groups.clone();
        let sent_total = sent_total.clone();
        let per_receiver = per_receiver.clone();
        let caught_up = caught_up.clone();
        let (order, duration, rate) = (args.order, args.duration, args.rate);
        send_tasks.push(tokio::spawn(async move {
            let mut payload = vec![b'.'; size];
            payload[8..16].copy_from_slice(&(i as u64).to_be_bytes());
            let mut k: u64 = 0;
            loop {
                if per_sender.is_some_and(|p| k >= p) {
                    break;
                }
                if duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                if let Some(r) = rate {
                    let due = start + Duration::from_secs_f64(k as f64 / r as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                loop {
                    let slowest = per_receiver
                        .iter()
                        .map(|d| d.load(std::sync::atomic::Ordering::Relaxed))
                        .min()
                        .unwrap_or(0);
                    let ahead = sent_total.load(std::sync::atomic::Ordering::Relaxed);
                    if ahead.saturating_sub(slowest) < MAX_AHEAD {
                        break;
                    }
                    let _ =
                        tokio::time::timeout(Duration::from_millis(5), caught_up.notified()).await;
                }
                let ns = start.elapsed().as_nanos() as u64;
                payload[..8].copy_from_slice(&ns.to_be_bytes());
                let g = &groups[(k as usize + i) % groups.len()];
                c.multicast(&[g], order, payload.clone()).await?;
                k += 1;
                sent_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            c.sync().await?;
            Ok::<(u64, Client), Error>((k, c))
        }));
    }

    let mut recv_tasks = Vec::new();
    for (ri, mut c) in receivers.into_iter().enumerate() {
        let delivered_total = delivered_total.clone();
        let per_receiver = per_receiver.clone();
        let caught_up = caught_up.clone();
        let sent_total = sent_total.clone();
        let duration = args.duration;
        recv_tasks.push(tokio::spawn(async move {
            let mut r = ReceiverResult {
                delivered: 0,
                latencies_us: Vec::new(),
                last: None,
            };
            loop {
                if expected.is_some_and(|e| r.delivered >= e) {
                    break;
                }
                // In duration mode, stop once sending has ended and the stream went quiet.
                let wait = match duration {
                    Some(d) if start.elapsed() >= d => Duration::from_millis(500),
                    _ => Duration::from_secs(30),
                };
                let event = match tokio::time::timeout(wait, c.recv()).await {
                    Ok(e) => e?,
                    Err(_) if duration.is_some() => break,
                    Err(_) => {
                        return Err(Error::Invalid(format!(
                            "no delivery for 30 s after {} of {} messages ({} sent)",
                            r.delivered,
                            expected.unwrap_or(0),
                            sent_total.load(std::sync::atomic::Ordering::Relaxed)
                        )))
                    }
                };
                if let Event::Message(m) = event {
                    let now = start.elapsed().as_nanos() as u64;
                    if m.payload.len() >= STAMP {
                        let mut ts = [0u8; 8];
                        ts.copy_from_slice(&m.payload[..8]);
                        let sent = u64::from_be_bytes(ts);
                        let us = now.saturating_sub(sent) / 1000;
                        r.latencies_us.push(us.min(u32::MAX as u64) as u32);
                    }
                    r.delivered += 1;
                    r.last = Some(Instant::now());
                    delivered_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    per_receiver[ri].store(r.delivered, std::sync::atomic::Ordering::Relaxed);
                    if r.delivered.is_multiple_of(512) {
                        caught_up.notify_waiters();
                    }
                }
            }
            Ok::<(ReceiverResult, Client), Error>((r, c))
        }));
    }

    // Progress on standard error, once a second.
    let progress = {
        let delivered_total = delivered_total.clone();
        let sent_total = sent_total.clone();
        let receivers = args.receivers as u64;
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let d = delivered_total.load(std::sync::atomic::Ordering::Relaxed);
                let s = sent_total.load(std::sync::atomic::Ordering::Relaxed);
                eprint!(
                    "\r{:>6.1}s  sent {s:>10}  delivered {:>10}/receiver  {:>9} msgs/s   ",
                    start.elapsed().as_secs_f64(),
                    d / receivers,
                    (d - last) / receivers
                );
                let _ = std::io::stderr().flush();
                last = d;
            }
        })
    };

    let mut sent = 0;
    let mut clients = Vec::new();
    for t in send_tasks {
        let (k, c) = t
            .await
            .map_err(|e| Error::Invalid(format!("sender task failed: {e}")))??;
        sent += k;
        clients.push(c);
    }
    let mut results = Vec::new();
    for t in recv_tasks {
        let (r, c) = t
            .await
            .map_err(|e| Error::Invalid(format!("receiver task failed: {e}")))??;
        results.push(r);
        clients.push(c);
    }
    progress.abort();
    eprintln!();

    let end = results
        .iter()
        .filter_map(|r| r.last)
        .max()
        .unwrap_or_else(Instant::now);
    let elapsed = end.duration_since(start).as_secs_f64().max(1e-9);
    let delivered: u64 = results.iter().map(|r| r.delivered).sum();
    let per_receiver = delivered as f64 / args.receivers as f64;
    let msgs_per_s = per_receiver / elapsed;
    let mb_per_s = msgs_per_s * size as f64 / 1_000_000.0;
    let mut lat: Vec<u32> = results.into_iter().flat_map(|r| r.latencies_us).collect();
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            return 0;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[i.min(lat.len() - 1)] as u64
    };
    let summary = json!({
        "event": "bench",
        "msgs_per_s": msgs_per_s.round() as u64,
        "mb_per_s": (mb_per_s * 100.0).round() / 100.0,
        "latency_us": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": lat.last().copied().unwrap_or(0)},
        "sent": sent,
        "delivered_per_receiver": per_receiver.round() as u64,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "order": args.order.as_str(),
        "size": size,
        "senders": args.senders,
        "receivers": args.receivers,
        "groups": args.groups,
        "daemons": args.connect.len(),
        "count": args.count,
        "duration_s": args.duration.map(|d| d.as_secs_f64()),
        "rate": args.rate,
    });
    let mut out = std::io::stdout().lock();
    let printed = if json {
        writeln!(out, "{summary}")
    } else {
        writeln!(
            out,
            "{} msgs/s per receiver ({:.2} MB/s), latency p50 {} µs, p90 {} µs, p99 {} µs, max {} µs\n\
             {} {} messages of {} bytes, {} sender(s), {} receiver(s), {} group(s), {} daemon(s), {:.3} s",
            summary["msgs_per_s"],
            mb_per_s,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            lat.last().copied().unwrap_or(0),
            sent,
            args.order,
            size,
            args.senders,
            args.receivers,
            args.groups,
            args.connect.len(),
            elapsed
        )
    };
    let _ = printed.and_then(|_| out.flush());
    for c in clients {
        let _ = c.disconnect().await;
    }
    Ok(())
}
