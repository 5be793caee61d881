//! Fuzzes the TFLite exporter on whatever the ONNX reader accepts: every model either
//! converts or is refused with an error, never a panic, hang or unbounded allocation (the
//! legalize rewrites, the layout pass and the lowering all read attributes and shapes a
//! hostile file chooses). Seed it with the form tests' models
//! (`tests/tflite_interop.py --out DIR` writes them). A written file must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = modelc_onnx::decode(bytes::Bytes::copy_from_slice(data), None) else {
        return;
    };
    // Small graphs only: a fuzz step should take milliseconds.
    if model.graph.node_count() > 256 {
        return;
    }
    let dir = std::env::temp_dir().join(format!("modelc-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("m.tflite");
    if modelc_tflite::write(&model, &path, &Default::default()).is_ok() {
        modelc_tflite::read(&path).expect("what modelc writes, it reads");
    }
});
