//! Guarantee 3, same-view delivery: deliveries in different views, to non-members, to leavers, and
//! the transitional periods where a later view may stand for an earlier one.

use super::*;

#[test]
fn delivery_in_different_views_is_reported() {
    let (mut a, mut b) = pair_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    a.extend([send("m1", &["g"], Order::Agreed), m1()]);
    b.extend([
        view_with("g", 3, &["a", "b"], &[], &[], Reason::Network),
        m1(),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), SAME_VIEW);
}

#[test]
fn delivery_to_a_non_member_is_reported() {
    let (mut a, b) = pair_in_g();
    a.push(send("m1", &["g"], Order::Reliable));
    a.push(deliver("m1", "a", &["g"], Order::Reliable));
    let c = vec![deliver("m1", "a", &["g"], Order::Reliable)];
    let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
    assert_only(&h, SAME_VIEW);
}

#[test]
fn delivery_after_a_leave_request_counts_in_the_old_view() {
    // The leave is recorded when requested; messages ordered before it still arrive.
    let (mut a, mut b) = pair_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Safe);
    a.extend([
        send("m1", &["g"], Order::Safe),
        m1(),
        view_with("g", 3, &["a"], &[], &["b"], Reason::Leave),
    ]);
    b.extend([leave("g"), m1()]);
    assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
}

#[test]
fn joining_again_before_the_leave_takes_effect_is_no_violation() {
    // b leaves and joins again at once: its leave's view (without b) arrives after the second
    // join was requested, then the view of the second join.
    let (mut a, mut b) = pair_in_g();
    let out = || view_with("g", 3, &["a"], &[], &["b"], Reason::Leave);
    let back = || joined("g", 4, &["a", "b"], "b");
    a.extend([out(), back()]);
    b.extend([leave("g"), join("g"), out(), back()]);
    assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
}

#[test]
fn a_message_reaching_a_leaver_through_another_group_is_not_put_in_the_left_groups_view() {
    // b is leaving g but stays in h; a message to both groups, ordered after b's leave, comes
    // to b through h. It was delivered in g's view 3 (without b), which b never sees.
    let (mut a, mut b) = pair_in_g();
    a.extend([
        join("h"),
        joined("h", 3, &["a"], "a"),
        joined("h", 4, &["a", "b"], "b"),
        view_with("g", 5, &["a"], &[], &["b"], Reason::Leave),
        send("m", &["g", "h"], Order::Fifo),
        deliver("m", "a", &["g", "h"], Order::Fifo),
    ]);
    b.extend([
        join("h"),
        joined("h", 4, &["a", "b"], "b"),
        leave("g"),
        deliver("m", "a", &["g", "h"], Order::Fifo),
        view_with("g", 5, &["a"], &[], &["b"], Reason::Leave),
    ]);
    assert_eq!(check(&history(true, vec![("a", a), ("b", b)])), vec![]);
}

/// `a` and `c` install a join of `d` as regular view 4, and `a` sends `m1` in it; `b`, cut
/// off, gets the same join (or `other`'s, if given) as a transitional view of its period
/// after view 3 and delivers `m1` there.
fn join_seen_apart(other: Option<&str>) -> History {
    let [mut a, mut b, mut c] = trio_in_g();
    let v4 = || joined("g", 4, &["a", "b", "c", "d"], "d");
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    a.extend([v4(), send("m1", &["g"], Order::Agreed), m1()]);
    c.extend([v4(), m1()]);
    let who = other.unwrap_or("d");
    b.extend([
        transitional("g", 10, &["b"]),
        transitional_op("g", 12, &["b"], &[who], &[], Reason::Join),
        m1(),
        view_with("g", 20, &["b"], &[], &["a", "c"], Reason::Network),
    ]);
    history(false, vec![("a", a), ("b", b), ("c", c)])
}

#[test]
fn a_transitional_view_of_an_operation_stands_for_its_regular_view_elsewhere() {
    assert_eq!(check(&join_seen_apart(None)), vec![]);
    assert_only(&join_seen_apart(Some("e")), SAME_VIEW);
}

#[test]
fn delivery_in_a_transitional_view_after_another_view_is_reported() {
    // a delivers m1 in view 2; b in transitional view 5, which follows view 4, not view 2.
    let (mut a, mut b) = pair_in_g();
    a.extend([
        send("m1", &["g"], Order::Reliable),
        deliver("m1", "a", &["g"], Order::Reliable),
    ]);
    b.extend([
        view_with("g", 4, &["a", "b"], &[], &[], Reason::Network),
        transitional("g", 5, &["b"]),
        deliver("m1", "a", &["g"], Order::Reliable),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), SAME_VIEW);
}

#[test]
fn partitions_may_each_flush_a_view_in_their_own_transitional_views() {
    // Nobody delivers m1 in view 3: a in its transitional view 4, b, c and the joiner d in
    // the transitional view 6 of d's join, after transitional view 5.
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    let t6 = || transitional_op("g", 6, &["b", "c", "d"], &["d"], &[], Reason::Join);
    let v7 = || view_with("g", 7, &["b", "c", "d"], &["d"], &["a"], Reason::Network);
    a.extend([
        send("m1", &["g"], Order::Agreed),
        transitional("g", 4, &["a"]),
        m1(),
        view_with("g", 8, &["a"], &[], &["b", "c"], Reason::Network),
    ]);
    b.extend([transitional("g", 5, &["b", "c"]), t6(), m1(), v7()]);
    c.extend([transitional("g", 5, &["b", "c"]), t6(), m1(), v7()]);
    let d = vec![join("g"), t6(), m1(), v7()];
    let h = history(false, vec![("a", a), ("b", b), ("c", c), ("d", d)]);
    assert_eq!(check(&h), vec![]);
}

#[test]
fn delivery_in_a_transitional_chain_after_another_view_is_reported() {
    // a delivers m1 in view 2; b in transitional view 6, in the period after view 4.
    let (mut a, mut b) = pair_in_g();
    a.extend([
        send("m1", &["g"], Order::Reliable),
        deliver("m1", "a", &["g"], Order::Reliable),
    ]);
    b.extend([
        view_with("g", 4, &["a", "b"], &[], &[], Reason::Network),
        transitional("g", 5, &["b"]),
        transitional_op("g", 6, &["b", "c"], &["c"], &[], Reason::Join),
        deliver("m1", "a", &["g"], Order::Reliable),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), SAME_VIEW);
}
