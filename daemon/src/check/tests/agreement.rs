//! Guarantee 6, agreement: missing deliveries, and the partitions, crashes and incomplete runs that
//! excuse them.

use super::*;

fn missing_delivery(complete: bool) -> History {
    let (mut a, b) = pair_in_g();
    a.extend([
        send("m1", &["g"], Order::Agreed),
        deliver("m1", "a", &["g"], Order::Agreed),
    ]);
    history(complete, vec![("a", a), ("b", b)])
}

#[test]
fn missing_delivery_is_reported_when_complete() {
    assert_only(&missing_delivery(true), AGREEMENT);
}

#[test]
fn missing_delivery_is_not_reported_when_incomplete() {
    assert_eq!(check(&missing_delivery(false)), vec![]);
}

#[test]
fn missing_delivery_to_a_disconnected_member_is_allowed() {
    let mut h = missing_delivery(true);
    h.processes[1].events.push(Event::Disconnect);
    // b's disconnect is allowed to lose m1; a is then alone in a view still listing b.
    h.processes[0]
        .events
        .push(view_with("g", 3, &["a"], &[], &["b"], Reason::Disconnect));
    assert_eq!(check(&h), vec![]);
}

#[test]
fn message_cut_off_by_a_partition_need_not_reach_the_other_side() {
    assert_eq!(check(&split_and_merge(Order::Agreed)), vec![]);
}

#[test]
fn message_of_a_crashed_sender_may_reach_nobody() {
    // a's daemon dies right after a sends m1; b sees a go with a network event.
    let (mut a, mut b) = pair_in_g();
    a.extend([send("m1", &["g"], Order::Safe), Event::Disconnect]);
    b.extend([
        transitional("g", 3, &["b"]),
        view_with("g", 4, &["b"], &[], &["a"], Reason::Network),
    ]);
    assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
}

#[test]
fn message_delivered_only_by_a_member_that_crashed_binds_nobody_who_moved_on() {
    assert_eq!(check(&deliverer_crashes(Order::Agreed)), vec![]);
}

#[test]
fn missing_delivery_to_a_leaver_still_in_the_view_is_reported() {
    // c asked to leave and its log ends in view 3: it has not moved away from a and b, so it
    // still gets what they delivered in view 3.
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    let out = || view_with("g", 4, &["a", "b"], &[], &["c"], Reason::Leave);
    a.extend([send("m1", &["g"], Order::Agreed), m1(), out()]);
    b.extend([m1(), out()]);
    c.push(leave("g"));
    assert_only(
        &history(true, vec![("a", a), ("b", b), ("c", c)]),
        AGREEMENT,
    );
}
