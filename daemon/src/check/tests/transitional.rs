//! Guarantee 4, transitional views: where a transitional view may stand and what it may list,
//! through chains, joins, leaves and rejoins.

use super::*;

#[test]
fn transitional_view_with_a_member_new_to_the_receiver_is_reported() {
    let (a, mut b) = pair_in_g();
    b.push(transitional("g", 3, &["b", "c"]));
    assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
}

#[test]
fn transitional_view_after_a_transitional_view_is_reported() {
    let (a, mut b) = pair_in_g();
    b.extend([transitional("g", 3, &["b"]), transitional("g", 4, &["b"])]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
}

#[test]
fn transitional_view_without_a_view_before_it_is_reported() {
    let h = history(
        false,
        vec![("a", vec![join("g"), transitional("g", 1, &["a"])])],
    );
    assert_only(&h, TRANSITIONAL);
}

#[test]
fn transitional_view_ending_a_leavers_membership_is_reported() {
    let (a, mut b) = pair_in_g();
    b.extend([leave("g"), transitional("g", 3, &["a"])]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
}

#[test]
fn a_transitional_chain_with_a_join_and_a_leave_is_no_violation() {
    assert_eq!(check(&transitional_chain()), vec![]);
}

#[test]
fn network_transitional_view_after_a_transitional_join_view_is_reported() {
    let (a, mut b) = pair_in_g();
    b.extend([
        transitional("g", 3, &["b"]),
        transitional_op("g", 4, &["b", "c"], &["c"], &[], Reason::Join),
        transitional("g", 5, &["b"]),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
}

#[test]
fn transitional_join_view_after_a_regular_view_is_reported() {
    let (a, mut b) = pair_in_g();
    b.push(transitional_op(
        "g",
        3,
        &["a", "b", "c"],
        &["c"],
        &[],
        Reason::Join,
    ));
    assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
}

#[test]
fn transitional_view_of_another_processs_join_as_a_first_view_is_reported() {
    let h = history(
        false,
        vec![(
            "c",
            vec![
                join("g"),
                transitional_op("g", 3, &["a", "c"], &["a"], &[], Reason::Join),
            ],
        )],
    );
    assert_only(&h, TRANSITIONAL);
}

#[test]
fn transitional_leave_view_as_a_first_view_is_reported() {
    let h = history(
        false,
        vec![(
            "c",
            vec![
                join("g"),
                transitional_op("g", 3, &["c"], &[], &["a"], Reason::Leave),
            ],
        )],
    );
    assert_only(&h, TRANSITIONAL);
}

#[test]
fn transitional_view_of_another_processs_leave_ending_a_leavers_membership_is_reported() {
    let (a, mut b) = pair_in_g();
    b.extend([
        transitional("g", 3, &["a", "b"]),
        leave("g"),
        transitional_op("g", 4, &["a"], &[], &["c"], Reason::Leave),
    ]);
    assert_only(&history(false, vec![("a", a), ("b", b)]), TRANSITIONAL);
}

/// The simulator's run: p6 leaves g0 and joins it again at once; a network event comes
/// before its leave takes effect, then a join, then its leave's view and its join's view.
fn p6_rejoins(transitional_members: &[&str]) -> History {
    let p6 = "p6#d0";
    let t188 = Event::View(GroupView {
        group: "g0".into(),
        view_id: 188,
        members: strings(transitional_members),
        joined: Vec::new(),
        left: strings(&["p3#d1"]),
        reason: Reason::Network,
        transitional: true,
    });
    let events = vec![
        join("g0"),
        joined("g0", 145, &["p3#d1", p6], p6),
        leave("g0"),
        join("g0"),
        t188,
        deliver("m1", "p1#d2", &["g0"], Order::Agreed),
        joined("g0", 190, &["p1#d2", "p3#d1", p6], "p1#d2"),
        deliver("m2", "p1#d2", &["g0"], Order::Agreed),
        view_with("g0", 194, &["p1#d2", "p3#d1"], &[], &[p6], Reason::Leave),
        joined("g0", 198, &["p1#d2", "p3#d1", p6], p6),
    ];
    history(true, vec![(p6, events)])
}

#[test]
fn transitional_view_after_joining_again_before_the_leave_takes_effect_is_no_violation() {
    assert_eq!(check(&p6_rejoins(&["p6#d0"])), vec![]);
}

#[test]
fn transitional_view_after_joining_again_is_compared_with_the_earlier_membership() {
    assert_only(&p6_rejoins(&["p6#d0", "p9#d0"]), TRANSITIONAL);
}
