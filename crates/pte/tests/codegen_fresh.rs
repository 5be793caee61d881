//! The committed flatbuffers code (`src/generated/program_generated.rs`) is what the pinned
//! flatc makes from `schemas/executorch/program.fbs` (with `--gen-all`: the included
//! `scalar_type.fbs` in the same file). Regenerate with `cargo xtask codegen`.

#[test]
fn generated_flatbuffers_code_is_fresh() {
    let committed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated/program_generated.rs");
    modelc_testkit::assert_flatc_fresh(
        "schemas/executorch/program.fbs",
        &["--gen-all"],
        &committed,
    );
}
