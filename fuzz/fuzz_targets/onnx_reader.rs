//! Fuzzes the ONNX reader: any bytes must give a model or an error, never a panic, hang or
//! unbounded allocation. Models that load are also written, printed and re-parsed, since
//! every loaded model must be writable and printable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelc_ir::text::{constants, parse_model, print_model, PrintOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = modelc_onnx::decode(bytes::Bytes::copy_from_slice(data), None) else {
        return;
    };
    if let Ok(encoded) = modelc_onnx::encode(&model) {
        let again = modelc_onnx::decode(encoded.into(), None).expect("what modelc writes, it reads");
        assert!(again == model, "ONNX round trip changed the model");
    }
    let text = print_model(&model, &PrintOptions::default());
    let parsed = parse_model(&text, Some(&constants(&model))).expect("printed text parses");
    assert!(parsed == model, "text round trip changed the model");
});
