//! Deterministic corruption of the committed fixtures: every truncation and a sweep of byte
//! flips must give a model or a one-line error, never a panic. (The open-ended search is the
//! cargo-fuzz target `onnx_reader` in `fuzz/`.)

use std::path::Path;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    let mut out = Vec::new();
    for name in [
        "tiny_cnn.onnx",
        "if_loop.onnx",
        "local_function.onnx",
        "custom_op.onnx",
        "sparse_init.onnx",
        "fp16_bf16.onnx",
    ] {
        out.push((name.to_string(), std::fs::read(root.join(name)).unwrap()));
    }
    out
}

fn check(name: &str, what: &str, bytes: Vec<u8>) {
    let result = std::panic::catch_unwind(|| modelc_onnx::decode(bytes.into(), None).map(|_| ()));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let msg = e.to_string();
            assert!(
                !msg.is_empty() && !msg.contains('\n'),
                "{name} {what}: bad message {msg:?}"
            );
        }
        Err(_) => panic!("{name} {what}: the reader panicked"),
    }
}

#[test]
fn truncations_never_panic() {
    for (name, bytes) in fixtures() {
        for len in 0..bytes.len() {
            check(&name, &format!("cut at {len}"), bytes[..len].to_vec());
        }
    }
}

#[test]
fn byte_flips_never_panic() {
    for (name, bytes) in fixtures() {
        for pos in 0..bytes.len() {
            for pattern in [0xffu8, 0x80, 0x01] {
                let mut b = bytes.clone();
                b[pos] ^= pattern;
                check(&name, &format!("byte {pos} ^ {pattern:#x}"), b);
            }
        }
    }
}
