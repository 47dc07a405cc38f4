//! Guarantee 8, view liveness: members ending in different views, a final view listing a leaver,
//! ending in a transitional view.

use super::*;

#[test]
fn differing_last_views_are_reported() {
    let (a, mut b) = pair_in_g();
    b.push(view_with("g", 3, &["a", "b"], &[], &[], Reason::Network));
    assert_only(&history(true, vec![("a", a), ("b", b)]), VIEW_LIVENESS);
}

#[test]
fn final_view_listing_a_leaver_is_reported() {
    let (a, mut b) = pair_in_g();
    b.push(leave("g"));
    assert_only(&history(true, vec![("a", a), ("b", b)]), VIEW_LIVENESS);
}

#[test]
fn ending_in_a_transitional_view_is_reported() {
    let [mut a, mut b, mut c] = trio_in_g();
    a.push(transitional("g", 4, &["a", "b"]));
    b.push(transitional("g", 4, &["a", "b"]));
    c.push(Event::Disconnect);
    let h = history(true, vec![("a", a), ("b", b), ("c", c)]);
    assert_only(&h, VIEW_LIVENESS);
}
