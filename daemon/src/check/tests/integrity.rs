//! Guarantee 2: deliveries that match no send or a wrong one, duplicates, and senders that were not
//! logged.

use super::*;

#[test]
fn duplicate_delivery_is_reported() {
    let h = history(
        false,
        vec![(
            "a",
            vec![
                join("g"),
                joined("g", 1, &["a"], "a"),
                send("m1", &["g"], Order::Reliable),
                deliver("m1", "a", &["g"], Order::Reliable),
                deliver("m1", "a", &["g"], Order::Reliable),
            ],
        )],
    );
    assert_only(&h, NO_DUPLICATION);
}

#[test]
fn delivery_of_unsent_message_is_reported() {
    let h = history(
        false,
        vec![(
            "a",
            vec![
                join("g"),
                joined("g", 1, &["a"], "a"),
                deliver("ghost", "a", &["g"], Order::Agreed),
            ],
        )],
    );
    assert_only(&h, INTEGRITY);
}

#[test]
fn delivery_with_wrong_sender_is_reported() {
    let (mut a, mut b) = pair_in_g();
    a.push(send("m1", &["g"], Order::Reliable));
    a.push(deliver("m1", "a", &["g"], Order::Reliable));
    b.push(deliver("m1", "b", &["g"], Order::Reliable));
    assert_only(&history(false, vec![("a", a), ("b", b)]), INTEGRITY);
}

#[test]
fn message_from_unlogged_sender_is_not_an_integrity_violation() {
    let h = history(
        false,
        vec![(
            "a",
            vec![
                join("g"),
                joined("g", 2, &["a", "z"], "a"),
                deliver("mz", "z", &["g"], Order::Fifo),
            ],
        )],
    );
    assert_eq!(check(&h), vec![]);
}
