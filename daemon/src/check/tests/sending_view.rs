//! Guarantee 3, sending view delivery: a delivery in a view older than the sender's.

use super::*;

#[test]
fn delivery_in_a_view_older_than_the_senders_is_reported() {
    // a sends m1 in view 3; b, still in view 2, delivers it there.
    let (mut a, mut b) = pair_in_g();
    a.extend([
        view_with("g", 3, &["a", "b"], &[], &[], Reason::Network),
        send("m1", &["g"], Order::Reliable),
    ]);
    b.push(deliver("m1", "a", &["g"], Order::Reliable));
    assert_only(&history(false, vec![("a", a), ("b", b)]), SENDING_VIEW);
}
