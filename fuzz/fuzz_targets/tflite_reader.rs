//! Fuzzes the TFLite reader: any bytes must give a model or a one-line error, never a panic,
//! hang or unbounded allocation. Models that load are also printed in the text form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelc_ir::text::{print_model, PrintOptions};

fuzz_target!(|data: &[u8]| {
    match modelc_tflite::decode(bytes::Bytes::copy_from_slice(data)) {
        Ok(model) => {
            let _ = print_model(&model, &PrintOptions::default());
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "multi-line error: {e}"),
    }
});
