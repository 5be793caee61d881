//! Fuzzes the whole TorchScript reader: any bytes as a `.pt` archive (zip directory,
//! entry names, pickles, code, storages) must import to a model or give an error, never
//! panic, hang or allocate without bound. Seed it with real archives (testdata/torchscript).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelc_torchscript::archive::Archive;

fuzz_target!(|data: &[u8]| {
    let Ok(mut archive) = Archive::from_bytes(bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = modelc_torchscript::import::import(&mut archive);
});
