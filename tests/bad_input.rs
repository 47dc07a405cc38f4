//! Bad input and overload never hurt the daemon or other clients: each kind of bad frame gets its
//! error frame and ends only its own session; a client that stops reading is disconnected and the
//! daemon's memory stays bounded; the client limit is enforced.

use gcs::wire::{self, ErrorCode, Request, RequestId, Response};
use gcs::{Client, Order, Reason};
use gcs_testkit::{next_message, next_view, TestDaemon};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A raw connection that speaks frames by hand.
struct Raw(UnixStream);

impl Raw {
    fn connect(d: &TestDaemon) -> Raw {
        let s = UnixStream::connect(d.socket()).unwrap();
        s.set_read_timeout(Some(gcs_testkit::PATIENCE)).unwrap();
        Raw(s)
    }

    fn send_body(&mut self, body: &[u8]) {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        self.0.write_all(&f).unwrap();
    }

    fn send(&mut self, req: &Request) {
        self.send_body(&wire::encode_request(req));
    }

    fn hello(&mut self, version: u32, name: &str) {
        self.send(&Request::Hello {
            magic: wire::HELLO_MAGIC.into(),
            version,
            name: name.into(),
        });
    }

    /// The next frame, or None at end of stream.
    fn recv(&mut self) -> Option<Response> {
        let mut len = [0u8; 4];
        if self.0.read_exact(&mut len).is_err() {
            return None;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut body).unwrap();
        Some(wire::decode_response(&body).unwrap())
    }

    /// Expects the closing frame with `code`, then the end of the stream.
    fn expect_closed_with(&mut self, code: ErrorCode) {
        loop {
            match self.recv() {
                Some(Response::Closing { error }) => {
                    assert_eq!(error.code, code, "{}", error.message);
                    assert!(!error.message.is_empty());
                    break;
                }
                Some(Response::Welcome { .. }) => continue,
                other => panic!("expected a closing frame with {code}, got {other:?}"),
            }
        }
        assert!(self.recv().is_none(), "the session should have ended");
    }
}

/// A member and a sender that must keep working whatever other sessions do.
struct Bystanders {
    member: Client,
    sender: Client,
    n: u32,
}

impl Bystanders {
    async fn new(d: &TestDaemon) -> Bystanders {
        let mut member = d.client("member").await;
        member.join("safe-room").await.unwrap();
        next_view(&mut member).await;
        let sender = d.client("sender").await;
        Bystanders {
            member,
            sender,
            n: 0,
        }
    }

    async fn still_work(&mut self) {
        self.n += 1;
        let text = format!("still here {}", self.n);
        self.sender
            .multicast(&["safe-room"], Order::Agreed, text.clone())
            .await
            .unwrap();
        assert_eq!(next_message(&mut self.member).await.payload, text);
    }
}

#[tokio::test]
async fn each_kind_of_bad_input_ends_only_its_own_session() {
    let d = TestDaemon::start_with("[limits]\nmax_message_size = 10000\n", &[]);
    let mut ok = Bystanders::new(&d).await;

    // Garbage inside a well-formed frame.
    let mut r = Raw::connect(&d);
    r.send_body(b"\xc1\xc1\xc1 not messagepack");
    r.expect_closed_with(ErrorCode::Malformed);
    ok.still_work().await;

    // Garbage with no framing at all: an HTTP request reads as an absurd length.
    let mut r = Raw::connect(&d);
    r.0.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    r.expect_closed_with(ErrorCode::FrameTooLarge);
    ok.still_work().await;

    // A frame just over the limit (message limit plus headroom).
    let mut r = Raw::connect(&d);
    r.hello(wire::PROTOCOL_VERSION, "big");
    let len = (10_000 + wire::FRAME_HEADROOM + 1) as u32;
    r.0.write_all(&len.to_be_bytes()).unwrap();
    r.expect_closed_with(ErrorCode::FrameTooLarge);
    ok.still_work().await;

    // A wrong protocol version.
    let mut r = Raw::connect(&d);
    r.hello(wire::PROTOCOL_VERSION + 1, "future");
    r.expect_closed_with(ErrorCode::Version);
    ok.still_work().await;

    // A request before the hello.
    let mut r = Raw::connect(&d);
    r.send(&Request::Status { id: RequestId(1) });
    r.expect_closed_with(ErrorCode::NotHello);
    ok.still_work().await;

    // A hello from something that is not a gcs client.
    let mut r = Raw::connect(&d);
    r.send(&Request::Hello {
        magic: "http".into(),
        version: wire::PROTOCOL_VERSION,
        name: "x".into(),
    });
    r.expect_closed_with(ErrorCode::NotHello);
    ok.still_work().await;

    // An unknown request after a good hello: {"frobnicate": {}} in MessagePack.
    let mut r = Raw::connect(&d);
    r.hello(wire::PROTOCOL_VERSION, "curious");
    let mut unknown = vec![0x81, 0xa0 | 10];
    unknown.extend_from_slice(b"frobnicate");
    unknown.push(0x80);
    r.send_body(&unknown);
    r.expect_closed_with(ErrorCode::Malformed);
    ok.still_work().await;

    // A second hello.
    let mut r = Raw::connect(&d);
    r.hello(wire::PROTOCOL_VERSION, "twice");
    r.hello(wire::PROTOCOL_VERSION, "twice");
    r.expect_closed_with(ErrorCode::Unexpected);
    ok.still_work().await;

    // A bad client name.
    let mut r = Raw::connect(&d);
    r.hello(wire::PROTOCOL_VERSION, "no spaces allowed");
    r.expect_closed_with(ErrorCode::BadName);
    ok.still_work().await;

    // A truncated frame followed by a hang-up.
    let mut r = Raw::connect(&d);
    r.hello(wire::PROTOCOL_VERSION, "cut");
    r.0.write_all(&[0, 0, 0, 50, 1, 2, 3]).unwrap();
    r.0.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(matches!(r.recv(), Some(Response::Welcome { .. })));
    ok.still_work().await;

    let status = ok.sender.status().await.unwrap();
    assert!(
        status.counters.sessions_bad_input >= 7,
        "{:?}",
        status.counters
    );
    assert!(d.log().contains("ending a client session"));
}

#[tokio::test]
async fn a_client_that_sends_no_hello_is_timed_out() {
    let d = TestDaemon::start_with("[limits]\nhello_timeout_ms = 200\n", &[]);
    let mut r = Raw::connect(&d);
    r.expect_closed_with(ErrorCode::HelloTimeout);
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_memory_stays_bounded() {
    let d = TestDaemon::start_with(
        "[limits]\nmax_message_size = 65536\nmax_client_queue_bytes = 2097152\n",
        &[],
    );
    let mut watcher = d.client("watcher").await;
    watcher.watch_group("flood").await.unwrap();
    let mut reader = d.client("reader").await;
    reader.join("flood").await.unwrap();
    next_view(&mut reader).await;
    next_view(&mut watcher).await;

    // The slow client joins and then never reads again.
    let mut slow = Raw::connect(&d);
    slow.hello(wire::PROTOCOL_VERSION, "slow");
    slow.send(&Request::Join {
        id: RequestId(1),
        group: "flood".into(),
    });
    assert_eq!(next_view(&mut watcher).await.joined, ["slow#testhost"]);
    next_view(&mut reader).await;
    let rss_before = d.rss_kib();
    // The moment the slow client is seen leaving, it starts reading again, to find the reason at
    // the end of what it was sent (the daemon drops the connection of a client that still does
    // not read a little later).
    let (gone_tx, gone_rx) = std::sync::mpsc::channel::<()>();
    let watching = tokio::spawn(async move {
        let gone = next_view(&mut watcher).await;
        let _ = gone_tx.send(());
        gone
    });
    let slow_reader = std::thread::spawn(move || {
        gone_rx.recv().expect("the slow client is disconnected");
        slow.0
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut last = None;
        while let Some(f) = slow.recv() {
            last = Some(f);
        }
        last
    });

    // 64 MiB of traffic: 32 times the slow client's queue limit. The sender waits for the reader
    // that keeps up after every batch, so only the client that never reads falls behind.
    let mut sender = d.client("sender").await;
    let payload = vec![7u8; 60_000];
    let count = 64 * 1024 * 1024 / payload.len();
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let reading = tokio::spawn(async move {
        let mut got = 0;
        while got < count {
            if let gcs::Event::Message(_) = gcs_testkit::next_event(&mut reader).await {
                got += 1;
                let _ = progress_tx.send(got);
            }
        }
        got
    });
    for i in 0..count {
        sender
            .multicast(&["flood"], Order::Fifo, payload.clone())
            .await
            .unwrap();
        if i % 16 == 15 {
            progress.wait_for(|got| *got > i).await.unwrap();
        }
    }
    sender.sync().await.unwrap();

    let gone = watching.await.unwrap();
    assert_eq!(gone.left, ["slow#testhost"]);
    assert_eq!(gone.reason, Reason::Disconnect);
    // The reader that keeps up gets every message.
    assert_eq!(reading.await.unwrap(), count);
    let rss_after = d.rss_kib();
    assert!(
        rss_after < rss_before + 48 * 1024,
        "daemon memory grew from {rss_before} KiB to {rss_after} KiB while a client did not read"
    );
    let status = sender.status().await.unwrap();
    assert_eq!(status.counters.sessions_overflowed, 1);
    // The slow client found the reason at the end of what it was sent.
    match slow_reader.join().unwrap() {
        Some(Response::Closing { error }) => assert_eq!(error.code, ErrorCode::QueueOverflow),
        other => panic!("expected the overflow notice last, got {other:?}"),
    }
}

#[tokio::test]
async fn the_client_limit_is_enforced() {
    let d = TestDaemon::start_with("[limits]\nmax_clients = 2\n", &[]);
    let a = d.client("a").await;
    let _b = d.client("b").await;
    let err = Client::connect_to(d.socket(), "c")
        .await
        .err()
        .expect("third client refused");
    assert_eq!(err.code(), Some(ErrorCode::TooManyClients));
    assert!(err.to_string().contains("max_clients"));
    a.disconnect().await.unwrap();
    // A slot frees up once a client leaves.
    let mut ok = false;
    for _ in 0..200 {
        if Client::connect_to(d.socket(), "c").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok);
}
