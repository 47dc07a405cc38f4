//! Guarantee 5, causal order: a delivery before its causal past, causality through reliable
//! messages, and cycles.

use super::*;

#[test]
fn causal_violation_is_reported() {
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Causal);
    let m2 = || deliver("m2", "b", &["g"], Order::Causal);
    a.extend([send("m1", &["g"], Order::Causal), m1(), m2()]);
    b.extend([m1(), send("m2", &["g"], Order::Causal), m2()]);
    c.extend([m2(), m1()]);
    let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
    assert_only(&h, CAUSAL);
}

#[test]
fn causality_through_a_reliable_message_counts() {
    // m1 (causal, from a) reaches c only through b's reliable relay r, then m2.
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Causal);
    let r = || deliver("r", "b", &["g"], Order::Reliable);
    let m2 = || deliver("m2", "c", &["g"], Order::Causal);
    a.extend([send("m1", &["g"], Order::Causal), m1()]);
    b.extend([m1(), send("r", &["g"], Order::Reliable), r()]);
    c.extend([r(), send("m2", &["g"], Order::Causal), m2()]);
    a.extend([m2(), r()]);
    let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
    // a delivers m2 before r, which c had delivered before sending m2.
    assert_only(&h, CAUSAL);
}

#[test]
fn delivery_before_its_own_send_is_reported_not_looped() {
    let (mut a, mut b) = pair_in_g();
    a.extend([
        deliver("m2", "b", &["g"], Order::Reliable),
        send("m1", &["g"], Order::Reliable),
    ]);
    b.extend([
        deliver("m1", "a", &["g"], Order::Reliable),
        send("m2", &["g"], Order::Reliable),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), CAUSAL);
}
