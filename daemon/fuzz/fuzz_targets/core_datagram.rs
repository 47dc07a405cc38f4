//! A formed two-daemon core takes arbitrary chunks from its peer (after a valid header naming
//! the peer and the current view) without panicking, and keeps serving: every input path of the
//! protocol, membership messages included, not only the decoder.
#![no_main]

use bytes::Bytes;
use gcsd::core::packet::{DatagramBuilder, Header};
use gcsd::sim::harness::{rig_addr, Rig};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let mut rig = Rig::formed(2, |_| {});
    let view = rig.core(0).daemon_view();
    // The peer ("d1") sorts after "d0": index 1 of the view.
    let header = Header {
        cluster: "gcs".into(),
        sender: 1,
        view: view.view_id,
    };
    let mut datagram = DatagramBuilder::new(&header, 1472).finish().to_vec();
    datagram.extend_from_slice(data);
    rig.datagram(0, rig_addr(1), Bytes::from(datagram));
    rig.run_for(Duration::from_secs(1));
});
