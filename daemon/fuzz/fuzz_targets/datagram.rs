//! Decoding arbitrary bytes as a datagram, and as an item, never panics.
#![no_main]

use bytes::Bytes;
use gcsd::core::packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = packet::decode(Bytes::copy_from_slice(data));
    let _ = packet::decode_item(Bytes::copy_from_slice(data));
});
