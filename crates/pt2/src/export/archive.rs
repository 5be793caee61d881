//! The zip torch 2.15's `torch.export.save` writes (`PT2ArchiveWriter` over
//! `PyTorchFileWriter`): every entry STORED under one folder named after the file, weights
//! aligned to 64 bytes (so both torch and modelc's reader use them in place), the records
//! `archive_format`, `archive_version`, `byteorder`, `.data/version` and
//! `.data/serialization_id`, and an empty `data/sample_inputs/model.pt` (no example inputs).
//! Streamed to a temporary file beside the target and renamed into place.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{weights_config, Weight};
use crate::archive::MODEL;
use crate::schema::{ExportedProgram, PayloadConfig};
use crate::Pt2Error;

/// `PyTorchFileWriter`'s zip-format version (`.data/version`).
const FILE_VERSION: &str = "6\n";
const ALIGN: u16 = 64;

pub(crate) fn write(
    path: &Path,
    prog: &ExportedProgram,
    weights: &[Weight],
) -> Result<(), Pt2Error> {
    let werr = |source: std::io::Error| Pt2Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let zerr = |e: zip::result::ZipError| werr(std::io::Error::other(e));
    let jerr = |e: serde_json::Error| werr(std::io::Error::other(e));
    let program = serde_json::to_vec(prog).map_err(jerr)?;
    let wconfig = serde_json::to_vec(&weights_config(weights)?).map_err(jerr)?;
    let cconfig = serde_json::to_vec(&PayloadConfig {
        config: Default::default(),
    })
    .map_err(jerr)?;

    let root = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && !s.contains(['/', '\\']))
        .unwrap_or("archive")
        .to_string();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix(".modelc-")
            .permissions(std::fs::Permissions::from_mode(0o644))
            .tempfile_in(&dir)
            .map_err(werr)?
    };
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, tmp));
    let entry = |zip: &mut ZipWriter<_>, name: &str, bytes: &[u8], aligned: bool| {
        let mut o = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(bytes.len() as u64 > u32::MAX as u64);
        if aligned {
            o = o.with_alignment(ALIGN);
        }
        zip.start_file(format!("{root}/{name}"), o).map_err(zerr)?;
        zip.write_all(bytes).map_err(werr)
    };
    for (i, w) in weights.iter().enumerate() {
        // Straight from the IR's (possibly memory-mapped) buffer.
        let bytes = w.tensor.raw().map(|b| &b[..]).unwrap_or(&[]);
        entry(&mut zip, &format!("data/weights/weight_{i}"), bytes, true)?;
    }
    entry(
        &mut zip,
        &format!("data/weights/{MODEL}_weights_config.json"),
        &wconfig,
        false,
    )?;
    entry(
        &mut zip,
        &format!("data/constants/{MODEL}_constants_config.json"),
        &cconfig,
        false,
    )?;
    entry(&mut zip, &format!("models/{MODEL}.json"), &program, false)?;
    entry(
        &mut zip,
        &format!("data/sample_inputs/{MODEL}.pt"),
        b"",
        false,
    )?;
    entry(&mut zip, "archive_format", b"pt2", false)?;
    entry(&mut zip, "archive_version", b"0", false)?;
    entry(&mut zip, ".data/version", FILE_VERSION.as_bytes(), false)?;
    entry(&mut zip, "byteorder", b"little", false)?;
    // torch writes a random id; ours comes from the program so a model always gives the
    // same file.
    entry(
        &mut zip,
        ".data/serialization_id",
        serialization_id(&program).as_bytes(),
        false,
    )?;
    let out = zip.finish().map_err(zerr)?;
    let tmp = out.into_inner().map_err(|e| werr(e.into_error()))?;
    tmp.as_file().sync_data().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    Ok(())
}

/// A 40-digit decimal id (torch's format) from an FNV-1a hash.
fn serialization_id(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:020}{:020}", h, h.rotate_left(32))
}
