//! Fuzzes the TorchScript source parser: any text must parse or give a line-numbered
//! error, never a panic or stack overflow (nesting is bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        if let Err(e) = modelc_torchscript::code::parse_source(src) {
            assert!(!e.msg.contains('\n'), "multi-line error: {e:?}");
        }
    }
});
