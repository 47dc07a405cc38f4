//! Tests of the checker, one file per guarantee; the history builders and the tests of the
//! checker as a whole (reports, capping, arbitrary and large histories) are here.

use super::report::MAX_PER_GUARANTEE;
use super::*;
use gcs::{GroupView, Order, Reason};
use std::collections::BTreeSet;

mod agreement;
mod causal;
mod fifo;
mod integrity;
mod safe;
mod same_view;
mod self_delivery;
mod sending_view;
mod total_order;
mod transitional;
mod view_liveness;
mod views;
mod virtual_synchrony;

fn join(g: &str) -> Event {
    Event::Join { group: g.into() }
}

fn leave(g: &str) -> Event {
    Event::Leave { group: g.into() }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn send(id: &str, groups: &[&str], order: Order) -> Event {
    Event::Send {
        id: id.into(),
        groups: strings(groups),
        order,
    }
}

fn deliver(id: &str, sender: &str, groups: &[&str], order: Order) -> Event {
    Event::Deliver {
        id: id.into(),
        sender: sender.into(),
        groups: strings(groups),
        order,
    }
}

/// A view whose `joined`/`left` are given explicitly.
fn view_with(
    g: &str,
    id: u64,
    members: &[&str],
    joined: &[&str],
    left: &[&str],
    reason: Reason,
) -> Event {
    Event::View(GroupView {
        group: g.into(),
        view_id: id,
        members: strings(members),
        joined: strings(joined),
        left: strings(left),
        reason,
        transitional: false,
    })
}

/// The view produced by `who` joining.
fn joined(g: &str, id: u64, members: &[&str], who: &str) -> Event {
    view_with(g, id, members, &[who], &[], Reason::Join)
}

/// A transitional view: the members of the receiver's previous view that move on with it.
fn transitional(g: &str, id: u64, members: &[&str]) -> Event {
    Event::View(GroupView {
        group: g.into(),
        view_id: id,
        members: strings(members),
        joined: Vec::new(),
        left: Vec::new(),
        reason: Reason::Network,
        transitional: true,
    })
}

/// A transitional view of a group operation taking effect inside a transitional period.
fn transitional_op(
    g: &str,
    id: u64,
    members: &[&str],
    joined: &[&str],
    left: &[&str],
    reason: Reason,
) -> Event {
    Event::View(GroupView {
        group: g.into(),
        view_id: id,
        members: strings(members),
        joined: strings(joined),
        left: strings(left),
        reason,
        transitional: true,
    })
}

fn history(complete: bool, logs: Vec<(&str, Vec<Event>)>) -> History {
    History {
        processes: logs
            .into_iter()
            .map(|(name, events)| ProcessLog {
                name: name.into(),
                events,
            })
            .collect(),
        complete,
    }
}

fn guarantees(violations: &[Violation]) -> BTreeSet<&'static str> {
    violations.iter().map(|v| v.guarantee).collect()
}

/// Asserts the history breaks exactly `guarantee` and nothing else.
fn assert_only(h: &History, guarantee: &'static str) {
    let found = check(h);
    assert!(
        !found.is_empty(),
        "expected a {guarantee} violation, found none"
    );
    assert_eq!(
        guarantees(&found),
        BTreeSet::from([guarantee]),
        "unexpected violations: {found:#?}"
    );
}

/// `a` and `b` both in `g`, ending in view 2.
fn pair_in_g() -> (Vec<Event>, Vec<Event>) {
    (
        vec![
            join("g"),
            joined("g", 1, &["a"], "a"),
            joined("g", 2, &["a", "b"], "b"),
        ],
        vec![join("g"), joined("g", 2, &["a", "b"], "b")],
    )
}

/// Three processes, two groups, every order, a leave: everything as it should be.
fn good_history(complete: bool) -> History {
    let (a, b, c) = ("a#d1", "b#d1", "c#d2");
    let v1 = || joined("g1", 1, &[a], a);
    let v2 = || joined("g1", 2, &[a, b], b);
    let v3 = || joined("g1", 3, &[a, b, c], c);
    let v4 = || joined("g2", 4, &[a], a);
    let v5 = || joined("g2", 5, &[a, b], b);
    let v6 = || view_with("g1", 6, &[a, b], &[], &[c], Reason::Leave);
    let m1 = || deliver("m1", a, &["g1"], Order::Reliable);
    let m2 = || deliver("m2", b, &["g1"], Order::Fifo);
    let m3 = || deliver("m3", c, &["g1"], Order::Causal);
    let m4 = || deliver("m4", a, &["g2"], Order::Agreed);
    let m5 = || deliver("m5", b, &["g1", "g2"], Order::Safe);
    let m6 = || deliver("m6", a, &["g1"], Order::Agreed);
    history(
        complete,
        vec![
            (
                a,
                vec![
                    join("g1"),
                    v1(),
                    v2(),
                    v3(),
                    join("g2"),
                    v4(),
                    v5(),
                    send("m1", &["g1"], Order::Reliable),
                    m1(),
                    m2(),
                    m3(),
                    send("m4", &["g2"], Order::Agreed),
                    m4(),
                    m5(),
                    v6(),
                    send("m6", &["g1"], Order::Agreed),
                    m6(),
                ],
            ),
            (
                b,
                vec![
                    join("g1"),
                    v2(),
                    v3(),
                    join("g2"),
                    v5(),
                    m1(),
                    send("m2", &["g1"], Order::Fifo),
                    m2(),
                    m3(),
                    m4(),
                    send("m5", &["g1", "g2"], Order::Safe),
                    m5(),
                    v6(),
                    m6(),
                ],
            ),
            (
                c,
                vec![
                    join("g1"),
                    v3(),
                    m1(),
                    m2(),
                    send("m3", &["g1"], Order::Causal),
                    m3(),
                    m5(),
                    leave("g1"),
                ],
            ),
        ],
    )
}

#[test]
fn good_history_passes() {
    assert_eq!(check(&good_history(true)), vec![]);
    assert_eq!(check(&good_history(false)), vec![]);
}

#[test]
fn empty_history_passes() {
    assert_eq!(check(&History::default()), vec![]);
}

/// `a`, `b`, `c` all in `g`, ending in view 3.
fn trio_in_g() -> [Vec<Event>; 3] {
    let v3 = || joined("g", 3, &["a", "b", "c"], "c");
    [
        vec![
            join("g"),
            joined("g", 1, &["a"], "a"),
            joined("g", 2, &["a", "b"], "b"),
            v3(),
        ],
        vec![join("g"), joined("g", 2, &["a", "b"], "b"), v3()],
        vec![join("g"), v3()],
    ]
}

/// `a`, `b`, `c` in view 3 of `g`. `a` sends `m1` with `order` and delivers it in view 3, and
/// so does `b`; then a partition puts `c` apart (transitional views 4 and 5, regular views 6
/// and 7) before `c` gets `m1`, and the sides merge again in view 8.
fn split_and_merge(order: Order) -> History {
    let [mut a, mut b, mut c] = trio_in_g();
    let m1 = || deliver("m1", "a", &["g"], order);
    let ab = || {
        [
            transitional("g", 4, &["a", "b"]),
            view_with("g", 6, &["a", "b"], &[], &["c"], Reason::Network),
        ]
    };
    let merged = || view_with("g", 8, &["a", "b", "c"], &["c"], &[], Reason::Network);
    a.extend([send("m1", &["g"], order), m1()]);
    a.extend(ab());
    a.push(merged());
    b.push(m1());
    b.extend(ab());
    b.push(merged());
    c.extend([
        transitional("g", 5, &["c"]),
        view_with("g", 7, &["c"], &[], &["a", "b"], Reason::Network),
        merged(),
    ]);
    history(true, vec![("a", a), ("b", b), ("c", c)])
}

/// `a` delivers its own `m1` in view 2 of `g`, then its daemon dies; `b` never gets `m1`
/// and sees `a` go with a network event.
fn deliverer_crashes(order: Order) -> History {
    let (mut a, mut b) = pair_in_g();
    a.extend([
        send("m1", &["g"], order),
        deliver("m1", "a", &["g"], order),
        Event::Disconnect,
    ]);
    b.extend([
        transitional("g", 3, &["b"]),
        view_with("g", 4, &["b"], &[], &["a"], Reason::Network),
    ]);
    history(true, vec![("a", a), ("b", b)])
}

/// `a`, `b`, `c` in view 3 of `g`; `b` sent `m0` and `a` sent `m1` there, and `a` delivered
/// `m1`. A partition puts `a` apart (transitional view 4, regular view 6). On the other side,
/// `b` and `c` deliver `m0` in their transitional view 5; `d`'s join takes effect inside the
/// period (transitional view 7, `d`'s first view), and `b`, `c`, `d` deliver `m1` in it;
/// `c`'s leave takes effect too (transitional view 8, `c`'s last); `d` sends `m2` and regular
/// view 9 ends the period. The sides merge in view 10.
fn transitional_chain() -> History {
    let [mut a, mut b, mut c] = trio_in_g();
    let m0 = || deliver("m0", "b", &["g"], Order::Fifo);
    let m1 = || deliver("m1", "a", &["g"], Order::Agreed);
    let m2 = || deliver("m2", "d", &["g"], Order::Causal);
    let t5 = || transitional("g", 5, &["b", "c"]);
    let t7 = || transitional_op("g", 7, &["b", "c", "d"], &["d"], &[], Reason::Join);
    let t8 = || transitional_op("g", 8, &["b", "d"], &[], &["c"], Reason::Leave);
    let v9 = || view_with("g", 9, &["b", "d"], &[], &["a"], Reason::Network);
    let merged = || view_with("g", 10, &["a", "b", "d"], &["a"], &[], Reason::Network);
    a.extend([
        send("m1", &["g"], Order::Agreed),
        m1(),
        transitional("g", 4, &["a"]),
        view_with("g", 6, &["a"], &[], &["b", "c"], Reason::Network),
        view_with("g", 10, &["a", "b", "d"], &["b", "d"], &[], Reason::Network),
    ]);
    b.extend([
        send("m0", &["g"], Order::Fifo),
        t5(),
        m0(),
        t7(),
        m1(),
        t8(),
        m2(),
        v9(),
        merged(),
    ]);
    c.extend([t5(), m0(), t7(), m1(), leave("g"), t8()]);
    let d = vec![
        join("g"),
        t7(),
        m1(),
        t8(),
        send("m2", &["g"], Order::Causal),
        m2(),
        v9(),
        merged(),
    ];
    history(true, vec![("a", a), ("b", b), ("c", c), ("d", d)])
}

#[test]
fn reports_are_capped_per_guarantee() {
    let mut events = vec![join("g"), joined("g", 1, &["a"], "a")];
    events.push(send("m", &["g"], Order::Reliable));
    for _ in 0..(MAX_PER_GUARANTEE + 6) {
        events.push(deliver("m", "a", &["g"], Order::Reliable));
    }
    let found = check(&history(false, vec![("a", events)]));
    assert_eq!(found.len(), MAX_PER_GUARANTEE + 1);
    assert!(found[MAX_PER_GUARANTEE].detail.contains("5 more"));
}

#[test]
fn violation_displays_guarantee_then_detail() {
    let v = Violation {
        guarantee: FIFO,
        detail: "x".into(),
    };
    assert_eq!(v.to_string(), "[5 fifo] x");
}

/// A tiny deterministic generator, so the robustness test needs no extra crates and always
/// explores the same histories.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    fn pick<'x>(&mut self, from: &[&'x str]) -> &'x str {
        from[self.below(from.len())]
    }

    fn some<'x>(&mut self, from: &[&'x str]) -> Vec<&'x str> {
        from.iter()
            .copied()
            .filter(|_| self.below(2) == 0)
            .collect()
    }
}

#[test]
fn arbitrary_histories_never_panic() {
    // Names repeat and collide on purpose: duplicate process names, reused ids, deliveries
    // before sends, views of unknown groups, events after a disconnect.
    let names = ["a", "b", "c", "zz"];
    let groups = ["g", "h"];
    let ids = ["m0", "m1", "m2", "m3", "m4", "m5"];
    let mut rng = Lcg(7);
    for _ in 0..3000 {
        let logs = (0..rng.below(5))
            .map(|_| {
                let name = rng.pick(&names);
                let events = (0..rng.below(25))
                    .map(|_| {
                        let order = Order::ALL[rng.below(5)];
                        match rng.below(7) {
                            0 => join(rng.pick(&groups)),
                            1 => leave(rng.pick(&groups)),
                            2 => send(rng.pick(&ids), &rng.some(&groups), order),
                            3 => {
                                let id = rng.pick(&ids);
                                let from = rng.pick(&names);
                                deliver(id, from, &rng.some(&groups), order)
                            }
                            4 => {
                                let g = rng.pick(&groups);
                                let id = rng.below(4) as u64;
                                let members = rng.some(&names);
                                if rng.below(3) == 0 {
                                    let reason = [
                                        Reason::Network,
                                        Reason::Join,
                                        Reason::Leave,
                                        Reason::Disconnect,
                                    ][rng.below(4)];
                                    let who = rng.some(&names);
                                    transitional_op(g, id, &members, &who, &who, reason)
                                } else {
                                    view_with(g, id, &members, &[], &[], Reason::Join)
                                }
                            }
                            5 => Event::Disconnect,
                            _ => deliver(rng.pick(&ids), name, &[], order),
                        }
                    })
                    .collect();
                (name, events)
            })
            .collect();
        let h = history(rng.below(2) == 0, logs);
        for v in check(&h) {
            assert!(!v.detail.is_empty());
        }
    }
}

/// `procs` processes in one group; `msgs` messages of rotating orders, each sent after its
/// sender delivered everything before it, and delivered by everyone in one global order.
fn large_history(procs: usize, msgs: usize) -> History {
    let names: Vec<String> = (0..procs).map(|p| format!("p{p}#d{}", p % 3)).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut logs: Vec<Vec<Event>> = (0..procs)
        .map(|p| {
            let mut events = vec![join("g")];
            for v in p..procs {
                events.push(joined("g", v as u64 + 1, &all[..=v], all[v]));
            }
            events
        })
        .collect();
    for i in 0..msgs {
        let s = i % procs;
        let order = Order::ALL[i % Order::ALL.len()];
        let id = format!("m{i}");
        logs[s].push(send(&id, &["g"], order));
        for log in logs.iter_mut() {
            log.push(deliver(&id, &names[s], &["g"], order));
        }
    }
    history(true, names.iter().map(String::as_str).zip(logs).collect())
}

#[test]
fn large_consistent_history_passes() {
    assert_eq!(check(&large_history(30, 4000)), vec![]);
}
