//! Opening a `.tflite` file: memory map, identifier and version check, flatbuffer
//! verification with limits derived from the file size, then import.

use std::fs::File;
use std::path::Path;

use bytes::Bytes;
use modelc_ir::Model;

use crate::{fb, import, TfliteError};

/// Nesting limit for flatbuffer tables (TFLite's own nesting is at most 6 deep).
const MAX_DEPTH: usize = 32;

pub(crate) fn read(path: &Path) -> Result<Model, TfliteError> {
    let file = File::open(path).map_err(TfliteError::Open)?;
    decode(modelc_ir::map_file(&file).map_err(TfliteError::Open)?)
}

/// Decodes a TFLite model from the bytes of a whole `.tflite` file. Constant tensors share
/// `bytes` (no copy).
pub fn decode(bytes: Bytes) -> Result<Model, TfliteError> {
    let model = verify(&bytes)?;
    import::import_model(model, &bytes)
}

/// Checks the identifier and verifies the flatbuffer. Past 2 GB, a file keeps its buffers
/// after the flatbuffer (Buffer.offset/size); only the flatbuffer part is verified here and
/// the offsets are bounds-checked when the buffers are read.
pub(crate) fn verify(bytes: &[u8]) -> Result<fb::Model<'_>, TfliteError> {
    if bytes.len() < 8 {
        return Err(TfliteError::NotTflite(format!(
            "{} bytes is too short for a flatbuffer",
            bytes.len()
        )));
    }
    if !fb::model_buffer_has_identifier(bytes) {
        return Err(TfliteError::NotTflite(format!(
            "file identifier is {:?}, expected \"TFL3\"",
            String::from_utf8_lossy(&bytes[4..8])
        )));
    }
    // The flatbuffer itself is limited to 2 GB; a bigger file carries its data after it.
    let fb_len = bytes.len().min((1usize << 31) - 1);
    let opts = flatbuffers::VerifierOptions {
        max_depth: MAX_DEPTH,
        // Every table takes at least 4 bytes (its vtable offset).
        max_tables: fb_len / 4 + 1,
        // Shared sub-objects are counted once per reference; twice the file is generous
        // for real models and stops a DAG that expands exponentially.
        max_apparent_size: fb_len.saturating_mul(2),
        ignore_missing_null_terminator: false,
    };
    let model = fb::root_as_model_with_opts(&opts, &bytes[..fb_len])
        .map_err(|e| TfliteError::Verify(verifier_line(&e.to_string())))?;
    if model.version() != 3 {
        return Err(TfliteError::Version(model.version()));
    }
    Ok(model)
}

/// The flatbuffers verifier's message on one line. It prints the fault, then each table
/// field it was in on a line of its own (`\n\twhile verifying ...`), then a blank line; this
/// gives "Range [9324, 9328) is out of bounds (while verifying table field `operator_codes`
/// at position 52)".
fn verifier_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let fault = lines.next().unwrap_or("").trim_end_matches('.');
    let trace: Vec<&str> = lines.collect();
    let line = if trace.is_empty() {
        fault.to_string()
    } else {
        format!("{fault} ({})", trace.join(", "))
    };
    modelc_ir::one_line(&line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn verifier_message_becomes_one_line() {
        let message = "Range [9324, 9328) is out of bounds.\n\twhile verifying table field `operator_codes` at position 52\n\twhile verifying table `Model` at position 0\n\n";
        assert_eq!(
            super::verifier_line(message),
            "Range [9324, 9328) is out of bounds (while verifying table field `operator_codes` at position 52, while verifying table `Model` at position 0)"
        );
        assert_eq!(super::verifier_line("Too many tables."), "Too many tables");
    }
}
