//! Fuzzes the whole `.pt2` reader: any bytes as a `torch.export` archive (zip directory,
//! entry names, version entries, the program's JSON, payload configs, weight views) must
//! import to a model or give an error, never panic, hang or allocate without bound. Seed it
//! with archives `torch.export.save` writes (tests/pt2_suite.py leaves them under its --out).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelc_pt2::read_bytes(bytes::Bytes::copy_from_slice(data));
});
