//! Guarantee 7, self delivery: a sender that stays and never gets its own message.

use super::*;

#[test]
fn sender_missing_its_own_message_is_reported() {
    let h = history(
        true,
        vec![(
            "a",
            vec![
                join("g"),
                joined("g", 1, &["a"], "a"),
                send("m1", &["g"], Order::Fifo),
            ],
        )],
    );
    assert_only(&h, SELF_DELIVERY);
}
