//! Guarantee 4, virtual synchrony: processes moving together to the same next view that delivered
//! different messages.

use super::*;

/// `b` leaves `g`, joins again and leaves again before its first leave's view arrives: it is
/// still a member of view 3, so what it delivers there counts, and so does what it misses.
fn rejoined_while_leaving(b_delivers: bool) -> History {
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    let v4 = || view_with("g", 4, &["a", "c"], &[], &["b"], Reason::Leave);
    a.extend([send("m1", &["g"], Order::Agreed), m1(), v4()]);
    c.extend([m1(), v4()]);
    b.extend([leave("g"), join("g"), leave("g")]);
    if b_delivers {
        b.push(m1());
    }
    b.push(v4());
    history(false, vec![("a", a), ("b", b), ("c", c)])
}

#[test]
fn a_process_that_joins_again_while_leaving_stays_in_its_first_membership() {
    assert_eq!(check(&rejoined_while_leaving(true)), vec![]);
    assert_only(&rejoined_while_leaving(false), VIRTUAL_SYNCHRONY);
}

#[test]
fn differing_deliveries_before_the_same_next_view_are_reported() {
    // a and b leave view 3 through the same transitional view 4, but only a delivered m1 in
    // view 3; b delivers it in view 4.
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    a.extend([
        send("m1", &["g"], Order::Agreed),
        m1(),
        transitional("g", 4, &["a", "b"]),
    ]);
    b.extend([transitional("g", 4, &["a", "b"]), m1()]);
    c.push(transitional("g", 5, &["c"]));
    let h = history(false, vec![("a", a), ("b", b), ("c", c)]);
    assert_only(&h, VIRTUAL_SYNCHRONY);
}

#[test]
fn delivery_in_a_later_transitional_view_than_the_others_in_it_is_reported() {
    // d delivers m1 in transitional view 8 while b and c, who move on with it from view 7
    // to view 8, deliver it in view 7. Both follow view 3, so same-view delivery holds; it
    // is virtual synchrony that breaks.
    let mut h = transitional_chain();
    h.processes[3].events.swap(2, 3);
    let found = guarantees(&check(&h));
    assert_eq!(found, BTreeSet::from([VIRTUAL_SYNCHRONY]));
}
