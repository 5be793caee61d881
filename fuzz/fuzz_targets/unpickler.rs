//! Fuzzes the restricted unpickler of TorchScript archives: any bytes must give a value or
//! an error, never a panic, hang, stack overflow or unbounded allocation. Storages resolve
//! to a small zero buffer, so tensor views are checked against real (short) data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelc_torchscript::pickle::read::unpickle;

fuzz_target!(|data: &[u8]| {
    let mut storages = |key: &str| -> Result<bytes::Bytes, String> {
        if key.len() > 8 {
            return Err(format!("no storage {key}"));
        }
        Ok(bytes::Bytes::from(vec![0u8; 256]))
    };
    let _ = unpickle(data, &mut storages);
});
