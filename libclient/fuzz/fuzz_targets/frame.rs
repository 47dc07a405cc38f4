//! Decoding arbitrary bytes as a client frame (either direction) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gcs::wire::decode_request(data);
    let _ = gcs::wire::decode_response(data);
});
