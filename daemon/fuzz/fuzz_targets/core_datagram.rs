//! A formed two-daemon core takes arbitrary chunks from its peer (after a valid header naming
//! the peer and the current view) without panicking, and keeps serving: every input path of the
//! protocol, membership messages included, not only the decoder.
#![no_main]

use bytes::Bytes;
use gcsd::core::packet::{DatagramBuilder, Header};
use gcsd::core::{Core, CoreConfig, Output, Time};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, i as u8 + 1], 4804))
}

/// Two cores that have formed their view together, and the time reached.
fn formed() -> ([Core; 2], Time) {
    let mut cores = [0, 1].map(|i| {
        Core::new(
            CoreConfig {
                listen: addr(i),
                peers: vec![addr(1 - i)],
                incarnation: 1 + i as u64,
                ..CoreConfig::single(&format!("d{i}"))
            },
            Time(0),
        )
    });
    let mut now = Time(0);
    for _ in 0..2_000 {
        let mut flight = Vec::new();
        for (i, core) in cores.iter_mut().enumerate() {
            while let Some(out) = core.poll_output() {
                if let Output::Transmit { bytes, .. } = out {
                    flight.push((1 - i, bytes));
                }
            }
        }
        for (to, bytes) in flight {
            cores[to].handle_datagram(now, addr(1 - to), bytes);
        }
        if cores.iter().all(|c| c.daemon_view().members.len() == 2) {
            break;
        }
        now = now + std::time::Duration::from_millis(1);
        for c in cores.iter_mut() {
            c.handle_timeout(now);
        }
    }
    (cores, now)
}

fuzz_target!(|data: &[u8]| {
    let ([mut core, _peer], now) = formed();
    let view = core.daemon_view();
    assert_eq!(view.members.len(), 2, "the pair did not form a view");
    // The peer ("d1") sorts after "d0": index 1 of the view.
    let header = Header {
        cluster: "gcs".into(),
        sender: 1,
        view: view.view_id,
    };
    let mut datagram = DatagramBuilder::new(&header, 1472).finish().to_vec();
    datagram.extend_from_slice(data);
    core.handle_datagram(now, addr(1), Bytes::from(datagram));
    core.handle_timeout(now + std::time::Duration::from_secs(1));
    while core.poll_output().is_some() {}
});
