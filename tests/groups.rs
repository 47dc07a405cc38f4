//! Group membership end to end: views and reasons for join, leave and disconnect at every member,
//! watchers, names. Guarantees (DESIGN.md): 1 self inclusion and local monotonicity.

use gcs::{Event, Reason};
use gcs_testkit::{next_event, next_message, next_view, TestDaemon};

#[tokio::test]
async fn join_leave_and_disconnect_give_views_at_every_member() {
    let d = TestDaemon::start();
    let mut a = d.client("a").await;
    let mut b = d.client("b").await;
    let mut c = d.client("c").await;
    a.join("g").await.unwrap();
    b.join("g").await.unwrap();
    c.join("g").await.unwrap();

    let a1 = next_view(&mut a).await;
    assert_eq!(a1.members, ["a#testhost"]);
    assert_eq!(a1.joined, ["a#testhost"]);
    assert_eq!(a1.reason, Reason::Join);
    assert!(!a1.transitional);
    let a2 = next_view(&mut a).await;
    let b2 = next_view(&mut b).await;
    assert_eq!(a2, b2, "members of one view see the same view");
    assert_eq!(a2.members, ["a#testhost", "b#testhost"]);
    assert_eq!(a2.joined, ["b#testhost"]);
    let a3 = next_view(&mut a).await;
    let b3 = next_view(&mut b).await;
    let c3 = next_view(&mut c).await;
    assert_eq!(a3, b3);
    assert_eq!(a3, c3);
    assert_eq!(a3.members, ["a#testhost", "b#testhost", "c#testhost"]);
    assert!(a1.view_id < a2.view_id && a2.view_id < a3.view_id);

    b.leave("g").await.unwrap();
    let a4 = next_view(&mut a).await;
    let c4 = next_view(&mut c).await;
    assert_eq!(a4, c4);
    // The leaver gets the same view, without itself, as its last event of the group.
    assert_eq!(next_view(&mut b).await, a4);
    assert_eq!(a4.members, ["a#testhost", "c#testhost"]);
    assert_eq!(a4.left, ["b#testhost"]);
    assert!(a4.joined.is_empty());
    assert_eq!(a4.reason, Reason::Leave);
    assert!(a4.view_id > a3.view_id);

    c.disconnect().await.unwrap();
    let a5 = next_view(&mut a).await;
    assert_eq!(a5.members, ["a#testhost"]);
    assert_eq!(a5.left, ["c#testhost"]);
    assert_eq!(a5.reason, Reason::Disconnect);
    assert!(a5.view_id > a4.view_id);

    // b left g: after that view, the next thing it sees is its own traffic in another group.
    a.multicast(&["g"], gcs::Order::Agreed, "to g")
        .await
        .unwrap();
    assert_eq!(next_message(&mut a).await.payload, "to g");
    b.join("h").await.unwrap();
    b.multicast(&["h"], gcs::Order::Agreed, "to h")
        .await
        .unwrap();
    assert_eq!(next_view(&mut b).await.group, "h");
    assert_eq!(next_message(&mut b).await.payload, "to h");
}

#[tokio::test]
async fn watchers_see_views_without_joining_and_daemon_views() {
    let d = TestDaemon::start();
    let mut w = d.client("w").await;
    w.watch_group("g").await.unwrap();
    w.watch_daemons().await.unwrap();
    match next_event(&mut w).await {
        Event::DaemonView(v) => {
            assert_eq!(v.members, ["testhost"]);
            assert!(v.primary);
        }
        other => panic!("expected the daemon view, got {other:?}"),
    }
    let mut a = d.client("a").await;
    a.join("g").await.unwrap();
    let v = next_view(&mut w).await;
    assert_eq!(v.members, ["a#testhost"]);
    // A watcher is not a member: messages to the group do not reach it.
    a.multicast(&["g"], gcs::Order::Fifo, "x").await.unwrap();
    a.leave("g").await.unwrap();
    let v = next_view(&mut w).await;
    assert!(v.members.is_empty());
    assert_eq!(v.reason, Reason::Leave);
    // A late watcher gets the current view first.
    a.join("g").await.unwrap();
    let mut late = d.client("late").await;
    late.watch_group("g").await.unwrap();
    assert_eq!(next_view(&mut late).await.members, ["a#testhost"]);
}

#[tokio::test]
async fn names_are_unique_and_generated_when_empty() {
    let d = TestDaemon::start();
    let a = d.client("alice").await;
    assert_eq!(a.private_name(), "alice#testhost");
    let err = gcs::Client::connect_to(d.socket(), "alice")
        .await
        .err()
        .expect("a duplicate name is refused");
    assert_eq!(err.code(), Some(gcs::ErrorCode::NameTaken));
    let x = d.client("").await;
    let y = d.client("").await;
    assert_ne!(x.private_name(), y.private_name());
    assert!(x.private_name().ends_with("#testhost"));
    // The name is free again once its holder is gone.
    a.disconnect().await.unwrap();
    let mut again = None;
    for _ in 0..200 {
        if let Ok(c) = gcs::Client::connect_to(d.socket(), "alice").await {
            again = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(again.is_some(), "the name was never released");
}
