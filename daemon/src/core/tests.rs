//! Unit tests of the core as a state machine: each feeds inputs and asserts the exact outputs.

use super::*;
use bytes::Bytes;
use gcs::wire::{
    GroupView, Limits, Message, Reason, RequestId, Response, WatchTarget, HELLO_MAGIC,
    PROTOCOL_VERSION,
};
use gcs::Order;

fn config() -> CoreConfig {
    CoreConfig {
        version: "test".into(),
        max_message_size: 100,
        max_group_name: 16,
        max_groups_per_client: 2,
        max_clients: 3,
        ..CoreConfig::single("h")
    }
}

fn drain(core: &mut Core) -> Vec<Output> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

fn hello(name: &str) -> Request {
    Request::Hello {
        magic: HELLO_MAGIC.into(),
        version: PROTOCOL_VERSION,
        name: name.into(),
    }
}

/// Connects and welcomes a client, discarding the welcome.
fn connect(core: &mut Core, name: &str) -> ClientId {
    let id = core.handle_connect(Time(1));
    core.handle_request(Time(1), id, hello(name));
    let out = drain(core);
    assert!(matches!(
        &out[..],
        [Output::Send {
            response: Response::Welcome { .. },
            ..
        }]
    ));
    id
}

fn join(core: &mut Core, id: ClientId, group: &str) -> Vec<Output> {
    core.handle_request(
        Time(2),
        id,
        Request::Join {
            id: RequestId(1),
            group: group.into(),
        },
    );
    drain(core)
}

fn view(
    group: &str,
    view_id: u64,
    members: &[&str],
    joined: &[&str],
    left: &[&str],
    reason: Reason,
) -> Response {
    let s = |v: &[&str]| v.iter().map(|m| m.to_string()).collect();
    Response::View(GroupView {
        group: group.into(),
        view_id,
        members: s(members),
        joined: s(joined),
        left: s(left),
        reason,
        transitional: false,
    })
}

fn send(to: &[ClientId], response: Response) -> Output {
    Output::Send {
        to: to.to_vec(),
        response,
    }
}

#[test]
fn hello_is_welcomed_with_a_private_name_and_limits() {
    let mut core = Core::new(config(), Time(0));
    let id = core.handle_connect(Time(1));
    core.handle_request(Time(1), id, hello("alice"));
    assert_eq!(
        drain(&mut core),
        vec![send(
            &[id],
            Response::Welcome {
                version: PROTOCOL_VERSION,
                private_name: "alice#h".into(),
                daemon: "h".into(),
                limits: Limits {
                    max_message_size: 100,
                    max_group_name: 16,
                    max_groups_per_client: 2,
                },
            }
        )]
    );
}

#[test]
fn refused_hellos_close_the_session_with_the_reason() {
    let mut core = Core::new(config(), Time(0));
    connect(&mut core, "alice");
    let cases = [
        (hello("alice"), ErrorCode::NameTaken),
        (hello("bad name"), ErrorCode::BadName),
        (
            Request::Hello {
                magic: HELLO_MAGIC.into(),
                version: 99,
                name: "x".into(),
            },
            ErrorCode::Version,
        ),
        (Request::Sync { id: RequestId(1) }, ErrorCode::NotHello),
    ];
    for (req, code) in cases {
        let id = core.handle_connect(Time(1));
        core.handle_request(Time(1), id, req);
        match &drain(&mut core)[..] {
            [Output::Close {
                client,
                error: Some(e),
            }] => {
                assert_eq!(*client, id);
                assert_eq!(e.code, code);
            }
            other => panic!("expected a close with {code}, got {other:?}"),
        }
    }
    assert_eq!(core.status(Time(5)).counters.sessions_refused, 3);
}

#[test]
fn the_client_limit_counts_welcomed_sessions() {
    let mut core = Core::new(config(), Time(0));
    for n in ["a", "b", "c"] {
        connect(&mut core, n);
    }
    let id = core.handle_connect(Time(1));
    core.handle_request(Time(1), id, hello("d"));
    assert!(matches!(
        &drain(&mut core)[..],
        [Output::Close {
            error: Some(ErrorInfo {
                code: ErrorCode::TooManyClients,
                ..
            }),
            ..
        }]
    ));
}

#[test]
fn join_sends_the_view_to_all_members_then_the_answer() {
    let mut core = Core::new(config(), Time(0));
    let a = connect(&mut core, "a");
    let b = connect(&mut core, "b");
    assert_eq!(
        join(&mut core, a, "g"),
        vec![
            send(&[a], view("g", 4, &["a#h"], &["a#h"], &[], Reason::Join)),
            send(&[a], Response::Ok { id: RequestId(1) }),
        ]
    );
    assert_eq!(
        join(&mut core, b, "g"),
        vec![
            send(
                &[a, b],
                view("g", 5, &["a#h", "b#h"], &["b#h"], &[], Reason::Join)
            ),
            send(&[b], Response::Ok { id: RequestId(1) }),
        ]
    );
}

#[test]
fn multicast_goes_once_to_each_member_of_any_target_group() {
    let mut core = Core::new(config(), Time(0));
    let a = connect(&mut core, "a");
    let b = connect(&mut core, "b");
    let outsider = connect(&mut core, "o");
    join(&mut core, a, "g1");
    join(&mut core, a, "g2");
    join(&mut core, b, "g2");
    core.handle_request(
        Time(3),
        outsider,
        Request::Multicast {
            id: RequestId(9),
            groups: vec!["g2".into(), "g1".into(), "g2".into()],
            order: Order::Causal,
            payload: Bytes::from_static(b"m"),
        },
    );
    let out = drain(&mut core);
    assert_eq!(out.len(), 1);
    assert!(
        matches!(out[0], Output::Deliver { .. }),
        "one frame for all"
    );
    assert_eq!(out[0].recipients(), [a, b]);
    assert_eq!(
        out[0].response(),
        Some(Response::Message(Message {
            groups: vec!["g2".into(), "g1".into()],
            sender: "o#h".into(),
            order: Order::Causal,
            payload: Bytes::from_static(b"m"),
        }))
    );
}

#[test]
fn bad_requests_are_refused_and_the_session_goes_on() {
    let mut core = Core::new(config(), Time(0));
    let a = connect(&mut core, "a");
    let refused = |core: &mut Core, req: Request| -> ErrorCode {
        core.handle_request(Time(3), a, req);
        match &drain(core)[..] {
            [Output::Send {
                response: Response::Failed { error, .. },
                ..
            }] => error.code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let mc = |groups: Vec<&str>, size: usize| Request::Multicast {
        id: RequestId(1),
        groups: groups.into_iter().map(String::from).collect(),
        order: Order::Agreed,
        payload: Bytes::from(vec![0; size]),
    };
    assert_eq!(refused(&mut core, mc(vec!["g"], 101)), ErrorCode::TooLarge);
    assert_eq!(refused(&mut core, mc(vec![], 1)), ErrorCode::BadGroup);
    assert_eq!(refused(&mut core, mc(vec!["a b"], 1)), ErrorCode::BadGroup);
    join(&mut core, a, "g1");
    join(&mut core, a, "g2");
    let j = |g: &str| Request::Join {
        id: RequestId(1),
        group: g.into(),
    };
    assert_eq!(refused(&mut core, j("g3")), ErrorCode::TooManyGroups);
    assert_eq!(refused(&mut core, j("g1")), ErrorCode::AlreadyMember);
    assert_eq!(
        refused(
            &mut core,
            Request::Leave {
                id: RequestId(1),
                group: "zz".into()
            }
        ),
        ErrorCode::NotMember
    );
    assert_eq!(
        refused(
            &mut core,
            Request::Unwatch {
                id: RequestId(1),
                target: WatchTarget::Daemons
            }
        ),
        ErrorCode::NotWatching
    );
    assert_eq!(core.status(Time(4)).counters.requests_refused, 7);
}

#[test]
fn departure_removes_the_client_from_its_groups_with_reason_disconnect() {
    let mut core = Core::new(config(), Time(0));
    let a = connect(&mut core, "a");
    let b = connect(&mut core, "b");
    join(&mut core, a, "g");
    join(&mut core, b, "g");
    core.handle_departure(Time(5), b, Departure::Overflow);
    let out = drain(&mut core);
    assert_eq!(out.len(), 2);
    assert!(matches!(
        &out[0],
        Output::Close { client, error: Some(ErrorInfo { code: ErrorCode::QueueOverflow, .. }) } if *client == b
    ));
    assert_eq!(
        out[1],
        send(
            &[a],
            view("g", 6, &["a#h"], &[], &["b#h"], Reason::Disconnect)
        )
    );
    // A departure reported twice (the reader and the writer both noticed) does nothing more.
    core.handle_departure(Time(6), b, Departure::Closed);
    assert!(drain(&mut core).is_empty());
    // Frames still in flight from a closed session are ignored.
    core.handle_request(Time(6), b, Request::Sync { id: RequestId(2) });
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.status(Time(7)).counters.sessions_overflowed, 1);
}

#[test]
fn watchers_get_the_current_view_then_changes() {
    let mut core = Core::new(config(), Time(0));
    let a = connect(&mut core, "a");
    let w = connect(&mut core, "w");
    join(&mut core, a, "g");
    core.handle_request(
        Time(3),
        w,
        Request::Watch {
            id: RequestId(4),
            target: WatchTarget::Group("g".into()),
        },
    );
    assert_eq!(
        drain(&mut core),
        vec![
            send(&[w], Response::Ok { id: RequestId(4) }),
            send(&[w], view("g", 4, &["a#h"], &["a#h"], &[], Reason::Join)),
        ]
    );
    core.handle_request(
        Time(3),
        a,
        Request::Leave {
            id: RequestId(5),
            group: "g".into(),
        },
    );
    assert_eq!(
        drain(&mut core),
        vec![
            // The leaver sees the view without itself too: its membership's last event.
            send(&[a, w], view("g", 5, &[], &[], &["a#h"], Reason::Leave)),
            send(&[a], Response::Ok { id: RequestId(5) }),
        ]
    );
    core.handle_request(
        Time(3),
        w,
        Request::Watch {
            id: RequestId(6),
            target: WatchTarget::Daemons,
        },
    );
    assert_eq!(
        drain(&mut core),
        vec![
            send(&[w], Response::Ok { id: RequestId(6) }),
            send(
                &[w],
                Response::DaemonView(DaemonView {
                    view_id: 1,
                    members: vec!["h".into()],
                    primary: true
                })
            ),
        ]
    );
}

#[test]
fn shutdown_closes_every_session_and_refuses_new_ones() {
    let mut core = Core::new(config(), Time(0));
    let a = connect(&mut core, "a");
    let pending = core.handle_connect(Time(1));
    core.handle_shutdown(Time(2));
    let closed: Vec<ClientId> = drain(&mut core)
        .into_iter()
        .filter_map(|o| match o {
            Output::Close {
                client,
                error: Some(e),
            } if e.code == ErrorCode::Shutdown => Some(client),
            _ => None,
        })
        .collect();
    // The session not yet welcomed ends first, as stopping starts; alone, the rest at once.
    assert_eq!(closed, vec![pending, a]);
    assert!(core.has_stopped());
    let late = core.handle_connect(Time(3));
    assert!(matches!(
        &drain(&mut core)[..],
        [Output::Close { client, .. }] if *client == late
    ));
}

#[test]
fn status_reports_uptime_from_the_time_handed_in() {
    let mut core = Core::new(config(), Time(1_000_000));
    let a = connect(&mut core, "a");
    core.handle_request(Time(3_500_000), a, Request::Status { id: RequestId(1) });
    match &drain(&mut core)[..] {
        [Output::Send {
            response: Response::Status { status, .. },
            ..
        }] => {
            assert_eq!(status.uptime_ms, 2_500);
            assert_eq!(status.clients[0].name, "a#h");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let run = || {
        let mut core = Core::new(config(), Time(0));
        let mut log = Vec::new();
        let ids: Vec<_> = ["x", "y", "z"]
            .iter()
            .map(|n| connect(&mut core, n))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            log.extend(join(
                &mut core,
                *id,
                if i % 2 == 0 { "even" } else { "odd" },
            ));
            log.extend(join(&mut core, *id, "all"));
        }
        core.handle_departure(Time(9), ids[1], Departure::Closed);
        log.extend(drain(&mut core));
        format!("{log:?}")
    };
    assert_eq!(run(), run());
}
