//! Multicast end to end on one daemon: every order delivered exactly once to every member, the
//! sender included; multi-group messages once per receiver; open groups; size limits.
//! Guarantees (DESIGN.md): 2 integrity and no duplication, 5 FIFO and total order, 7 self delivery.

use gcs::{Client, Event, Order};
use gcs_testkit::{next_event, next_message, next_view, TestDaemon};
use std::collections::BTreeMap;

const PER_ORDER: usize = 40;

/// Reads events until `count` messages have arrived, skipping views.
async fn collect_messages(c: &mut Client, count: usize) -> Vec<gcs::Message> {
    let mut out = Vec::new();
    while out.len() < count {
        if let Event::Message(m) = next_event(c).await {
            out.push(m);
        }
    }
    out
}

#[tokio::test]
async fn every_order_is_delivered_once_to_every_member_including_the_sender() {
    let d = TestDaemon::start();
    let names = ["p0", "p1", "p2"];
    let mut clients = Vec::new();
    for n in names {
        let mut c = d.client(n).await;
        c.join("g").await.unwrap();
        clients.push(c);
    }
    // Everyone must see the full view before sending so every message is sent in the same view.
    for (i, c) in clients.iter_mut().enumerate() {
        for _ in i..names.len() {
            next_view(c).await;
        }
    }
    for (i, c) in clients.iter_mut().enumerate() {
        for order in Order::ALL {
            for k in 0..PER_ORDER {
                c.multicast(&["g"], order, format!("{i}:{order}:{k}"))
                    .await
                    .unwrap();
            }
        }
    }
    let total = names.len() * Order::ALL.len() * PER_ORDER;
    let mut logs = Vec::new();
    for c in clients.iter_mut() {
        let got = collect_messages(c, total).await;
        // Exactly once: every payload appears once.
        let mut seen = BTreeMap::new();
        for m in &got {
            *seen.entry(m.payload.clone()).or_insert(0) += 1;
            assert_eq!(m.groups, ["g"]);
            let sender_idx: usize = std::str::from_utf8(&m.payload).unwrap()[..1]
                .parse()
                .unwrap();
            assert_eq!(m.sender, format!("p{sender_idx}#testhost"));
            assert!(m
                .payload
                .starts_with(format!("{sender_idx}:{}:", m.order).as_bytes()));
        }
        assert_eq!(seen.len(), total, "{} missed messages", c.private_name());
        assert!(seen.values().all(|n| *n == 1), "a message was duplicated");
        // FIFO per sender and order.
        let mut last: BTreeMap<(String, Order), usize> = BTreeMap::new();
        for m in &got {
            let k: usize = std::str::from_utf8(&m.payload)
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            if m.order != Order::Reliable {
                if let Some(prev) = last.insert((m.sender.clone(), m.order), k) {
                    assert!(k > prev, "fifo broken for {} {}", m.sender, m.order);
                }
            }
        }
        logs.push(got);
    }
    // Agreed and safe: the same relative order at every member.
    for order in [Order::Agreed, Order::Safe] {
        let seqs: Vec<Vec<_>> = logs
            .iter()
            .map(|l| {
                l.iter()
                    .filter(|m| m.order >= order)
                    .map(|m| m.payload.clone())
                    .collect()
            })
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] == w[1]),
            "{order} order differs between members"
        );
    }
}

#[tokio::test]
async fn a_multi_group_message_reaches_each_receiver_once() {
    let d = TestDaemon::start();
    let mut both = d.client("both").await;
    both.join("g1").await.unwrap();
    both.join("g2").await.unwrap();
    let mut one = d.client("one").await;
    one.join("g2").await.unwrap();
    let mut sender = d.client("sender").await;
    sender
        .multicast(&["g1", "g2", "g1"], Order::Agreed, "once")
        .await
        .unwrap();
    sender
        .multicast(&["g2"], Order::Agreed, "after")
        .await
        .unwrap();
    for c in [&mut both, &mut one] {
        let msgs = collect_messages(c, 2).await;
        assert_eq!(msgs[0].payload, "once");
        assert_eq!(msgs[0].groups, ["g1", "g2"]);
        assert_eq!(
            msgs[1].payload, "after",
            "the multi-group message came twice"
        );
    }
}

#[tokio::test]
async fn non_members_can_send_and_do_not_receive() {
    let d = TestDaemon::start();
    let mut m = d.client("member").await;
    m.join("open").await.unwrap();
    next_view(&mut m).await;
    let mut outsider = d.client("outsider").await;
    outsider
        .multicast(&["open"], Order::Safe, "hi")
        .await
        .unwrap();
    let got = next_message(&mut m).await;
    assert_eq!(got.sender, "outsider#testhost");
    assert_eq!(got.order, Order::Safe);
    // The outsider gets nothing back: its next event is its own group's view.
    outsider.join("own").await.unwrap();
    assert_eq!(next_view(&mut outsider).await.group, "own");
}

#[tokio::test]
async fn binary_and_empty_payloads_arrive_intact() {
    let d = TestDaemon::start();
    let mut c = d.client("c").await;
    c.join("g").await.unwrap();
    next_view(&mut c).await;
    let bin: Vec<u8> = (0..=255u8).collect();
    c.multicast(&["g"], Order::Fifo, bin.clone()).await.unwrap();
    c.multicast(&["g"], Order::Fifo, Vec::new()).await.unwrap();
    assert_eq!(next_message(&mut c).await.payload, bin);
    assert!(next_message(&mut c).await.payload.is_empty());
}

#[tokio::test]
async fn size_and_group_limits_are_enforced_with_clear_errors() {
    let d = TestDaemon::start_with(
        "[limits]\nmax_message_size = 1000\nmax_groups_per_client = 2\nmax_group_name = 8\n",
        &[],
    );
    let mut c = d.client("c").await;
    assert_eq!(c.limits().max_message_size, 1000);
    let err = c
        .multicast(&["g"], Order::Agreed, vec![0u8; 1001])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_message_size"), "{err}");
    c.multicast(&["g"], Order::Agreed, vec![0u8; 1000])
        .await
        .unwrap();
    c.join("a").await.unwrap();
    c.join("b").await.unwrap();
    let err = c.join("c").await.unwrap_err();
    assert_eq!(err.code(), Some(gcs::ErrorCode::TooManyGroups));
    assert!(!err.is_fatal());
    let err = c.join("a").await.unwrap_err();
    assert_eq!(err.code(), Some(gcs::ErrorCode::AlreadyMember));
    let err = c.leave("zzz").await.unwrap_err();
    assert_eq!(err.code(), Some(gcs::ErrorCode::NotMember));
    assert!(matches!(
        c.join("much-too-long").await,
        Err(gcs::Error::Invalid(_))
    ));
    // The session is still fine.
    c.sync().await.unwrap();
    c.status().await.unwrap();
}
