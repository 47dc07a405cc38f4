//! Guarantee 6, safe delivery: a safe message missing across a partition or at a crashed
//! deliverer's peer, and where it may still arrive.

use super::*;

#[test]
fn safe_message_delivered_in_a_regular_view_missing_across_a_partition_is_reported() {
    assert_only(&split_and_merge(Order::Safe), SAFE);
}

#[test]
fn safe_message_may_reach_the_far_side_in_its_transitional_view() {
    let mut h = split_and_merge(Order::Safe);
    // c had m1 but could not deliver it in view 3 before the partition: it does in view 5.
    h.processes[2]
        .events
        .insert(3, deliver("m1", "a", &["g"], Order::Safe));
    assert_eq!(check(&h), vec![]);
}

#[test]
fn crashed_member_owes_no_safe_delivery() {
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Safe);
    let ab = || {
        [
            transitional("g", 4, &["a", "b"]),
            view_with("g", 5, &["a", "b"], &[], &["c"], Reason::Network),
        ]
    };
    a.extend([send("m1", &["g"], Order::Safe), m1()]);
    a.extend(ab());
    b.push(m1());
    b.extend(ab());
    c.push(Event::Disconnect);
    assert_eq!(
        check(&history(true, vec![("a", a), ("b", b), ("c", c)])),
        vec![]
    );
}

#[test]
fn safe_message_delivered_by_a_member_that_crashed_is_still_owed() {
    // a could only deliver a safe message once b had it too.
    assert_only(&deliverer_crashes(Order::Safe), SAFE);
}
