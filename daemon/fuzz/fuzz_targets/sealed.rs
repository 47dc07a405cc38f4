//! Opening arbitrary bytes with a keyed seal never panics and never yields a datagram: only what
//! was sealed with the key opens. Bytes that start like a sealed datagram of a known peer are
//! what reaches the key derivation and the authentication check.
#![no_main]

use gcsd::seal::{ClusterKey, Seal};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let peer: SocketAddr = ([127, 0, 0, 2], 4804).into();
    let me: SocketAddr = ([127, 0, 0, 1], 4804).into();
    let mut seal = Seal::new(ClusterKey::from_bytes([7; 32]), None, [1; 16], me, [peer]);
    let mut framed = b"GCSA\x01".to_vec();
    framed.extend_from_slice(&ClusterKey::from_bytes([7; 32]).id());
    framed.extend_from_slice(data);
    assert!(seal.open(peer, bytes::BytesMut::from(data)).is_err());
    assert!(seal.open(peer, bytes::BytesMut::from(&framed[..])).is_err());
});
