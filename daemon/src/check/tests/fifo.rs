//! Guarantee 5, FIFO: one sender's messages out of order, and reliable ones that may be.

use super::*;

#[test]
fn fifo_reordering_is_reported() {
    let (mut a, mut b) = pair_in_g();
    a.extend([
        send("m1", &["g"], Order::Fifo),
        send("m2", &["g"], Order::Fifo),
        deliver("m1", "a", &["g"], Order::Fifo),
        deliver("m2", "a", &["g"], Order::Fifo),
    ]);
    b.extend([
        deliver("m2", "a", &["g"], Order::Fifo),
        deliver("m1", "a", &["g"], Order::Fifo),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), FIFO);
}

#[test]
fn reliable_messages_may_be_reordered() {
    let (mut a, mut b) = pair_in_g();
    a.extend([
        send("m1", &["g"], Order::Reliable),
        send("m2", &["g"], Order::Reliable),
        deliver("m1", "a", &["g"], Order::Reliable),
        deliver("m2", "a", &["g"], Order::Reliable),
    ]);
    b.extend([
        deliver("m2", "a", &["g"], Order::Reliable),
        deliver("m1", "a", &["g"], Order::Reliable),
    ]);
    assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
}
