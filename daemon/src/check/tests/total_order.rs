//! Guarantee 5, total order: two processes delivering agreed messages in opposite orders.

use super::*;

#[test]
fn opposite_agreed_orders_are_reported() {
    let (mut a, mut b) = pair_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    let m2 = || deliver("m2", "b", &["g"], Order::Agreed);
    a.extend([send("m1", &["g"], Order::Agreed), m1(), m2()]);
    b.extend([send("m2", &["g"], Order::Agreed), m2(), m1()]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), TOTAL_ORDER);
}
