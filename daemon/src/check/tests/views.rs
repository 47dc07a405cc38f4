//! Guarantee 1, views: a view without its member, a view id going backwards, two views with one id.

use super::*;

#[test]
fn view_without_its_member_is_reported() {
    let h = history(
        false,
        vec![(
            "a",
            vec![join("g"), view_with("g", 1, &[], &[], &[], Reason::Join)],
        )],
    );
    assert_only(&h, SELF_INCLUSION);
}

#[test]
fn view_id_going_backwards_is_reported() {
    let h = history(
        false,
        vec![(
            "a",
            vec![
                join("g"),
                joined("g", 2, &["a"], "a"),
                view_with("g", 1, &["a"], &[], &[], Reason::Network),
            ],
        )],
    );
    assert_only(&h, MONOTONICITY);
}

#[test]
fn two_views_with_one_id_are_reported() {
    let (a, mut b) = pair_in_g();
    b[1] = joined("g", 2, &["a", "b"], "a");
    assert_only(&history(false, vec![("a", a), ("b", b)]), VIEW_AGREEMENT);
}
