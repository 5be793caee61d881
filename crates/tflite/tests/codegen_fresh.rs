//! The committed flatbuffers code (`src/generated/tflite_generated.rs`) is what the pinned
//! flatc makes from `schemas/tflite.fbs`. Regenerate with `cargo xtask codegen`.

#[test]
fn generated_flatbuffers_code_is_fresh() {
    let committed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated/tflite_generated.rs");
    modelc_testkit::assert_flatc_fresh("schemas/tflite.fbs", &[], &committed);
}
