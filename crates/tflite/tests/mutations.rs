//! Deterministic corruption of committed TFLite models: every truncation and a sweep of byte
//! flips must give a model or a one-line error, never a panic. (The open-ended search is the
//! cargo-fuzz target `tflite_reader` in `fuzz/`.)

use std::path::Path;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tflite");
    // control/tf_while.tflite: TensorFlow's WHILE, whose subgraph indices a flip can point
    // anywhere (out of range, at the loop's own subgraph).
    [
        "small_cnn_float.tflite",
        "small_cnn_int8.tflite",
        "control/tf_while.tflite",
    ]
    .iter()
    .map(|n| (n.to_string(), std::fs::read(root.join(n)).unwrap()))
    .collect()
}

fn check(name: &str, what: &str, bytes: Vec<u8>) -> bool {
    let result = std::panic::catch_unwind(|| modelc_tflite::decode(bytes.into()).map(|_| ()));
    match result {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            let msg = e.to_string();
            assert!(
                !msg.is_empty() && !msg.contains('\n'),
                "{name} {what}: bad message {msg:?}"
            );
            false
        }
        Err(_) => panic!("{name} {what}: the reader panicked"),
    }
}

#[test]
fn truncations_never_panic() {
    for (name, bytes) in fixtures() {
        assert!(
            check(&name, "intact", bytes.clone()),
            "{name} does not read"
        );
        for len in 0..bytes.len() {
            assert!(
                !check(&name, &format!("cut at {len}"), bytes[..len].to_vec())
                    || len > bytes.len() - 64,
                "{name} cut at {len} read as a model"
            );
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
