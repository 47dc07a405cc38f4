//! A formed two-daemon core takes arbitrary chunks from its peer (after a valid header) without
//! panicking, and keeps serving: every input path of the protocol, not only the decoder.
#![no_main]

use bytes::Bytes;
use gcsd::core::packet::{Chunk, DatagramBuilder, Header, NO_INDEX};
use gcsd::core::{Core, CoreConfig, Time};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let me: SocketAddr = "127.0.0.1:4804".parse().unwrap();
    let peer: SocketAddr = "127.0.0.2:4804".parse().unwrap();
    let mut core = Core::new(
        CoreConfig {
            listen: me,
            peers: vec![peer],
            ..CoreConfig::single("a")
        },
        Time(0),
    );
    let hello = Header {
        cluster: "gcs".into(),
        sender: NO_INDEX,
        view: 0,
    };
    let mut b = DatagramBuilder::new(&hello, 1472);
    b.push(&Chunk::Hello {
        name: "b".into(),
        cluster_size: 2,
        incarnation: 1,
        view: 1,
    });
    core.handle_datagram(Time(1), peer, b.finish());
    // The peer ("b") sorts after "a": index 1 in view 1.
    let mut datagram = Vec::from(&b"GCSD\x02\x03gcs\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01"[..]);
    datagram.extend_from_slice(data);
    core.handle_datagram(Time(2), peer, Bytes::from(datagram));
    core.handle_timeout(Time(1_000_000));
    while core.poll_output().is_some() {}
});
