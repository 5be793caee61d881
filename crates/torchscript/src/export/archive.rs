//! The zip container `torch.jit.load` reads: every entry under one top-level folder
//! (`archive/`), all STORED (uncompressed), tensor storages (`data/<key>`) aligned to 64 bytes
//! so torch can use them in place, and the records `version`, `byteorder`,
//! `.data/serialization_id`. Streamed to a temporary file beside the target and renamed into
//! place, so a failed write leaves nothing behind.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::pickle::write::Pickled;
use crate::TorchScriptError;

/// The top-level folder of every entry; torch takes it from the first entry's name.
pub(crate) const ROOT: &str = "archive";

/// File-format version written to `version`: 10 is torch's current one, under which `div` on
/// integers is true division and `gelu` takes `approximate`, so no upgrader rewrites our code.
pub(crate) const FILE_FORMAT_VERSION: u32 = 10;

/// Alignment of storage entries (torch's `kFieldAlignment`).
const ALIGN: u16 = 64;

/// What goes into an archive besides the fixed records.
pub(crate) struct Contents<'a> {
    /// `(path under code/, source)`, e.g. `("__torch__.py", "class Model(Module): ...")`.
    pub code: Vec<(String, String)>,
    pub data: &'a Pickled,
    pub constants: &'a Pickled,
    /// `(path under extra/, text)`: files torch keeps beside the module (what
    /// `torch.jit.save`'s `_extra_files` writes; `torch.jit.load` reads them on request).
    pub extra: Vec<(String, String)>,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> TorchScriptError + '_ {
    move |source| TorchScriptError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn zip_err(path: &Path) -> impl Fn(zip::result::ZipError) -> TorchScriptError + '_ {
    move |e| TorchScriptError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// Writes the archive to `path` atomically.
pub(crate) fn write(path: &Path, contents: &Contents<'_>) -> Result<(), TorchScriptError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = temp_file(&dir).map_err(write_err(path))?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, tmp));
    let zerr = zip_err(path);
    let werr = write_err(path);
    let options = |len: u64| {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(len > u32::MAX as u64)
    };
    let entry = |zip: &mut ZipWriter<_>, name: &str, bytes: &[u8], aligned: bool| {
        let mut o = options(bytes.len() as u64);
        if aligned {
            o = o.with_alignment(ALIGN);
        }
        zip.start_file(format!("{ROOT}/{name}"), o).map_err(&zerr)?;
        zip.write_all(bytes).map_err(&werr)
    };
    entry(&mut zip, "data.pkl", &contents.data.bytes, false)?;
    for (name, source) in &contents.code {
        entry(&mut zip, &format!("code/{name}"), source.as_bytes(), false)?;
    }
    entry(&mut zip, "constants.pkl", &contents.constants.bytes, false)?;
    entry(
        &mut zip,
        "version",
        format!("{FILE_FORMAT_VERSION}\n").as_bytes(),
        false,
    )?;
    entry(&mut zip, "byteorder", b"little", false)?;
    for (name, text) in &contents.extra {
        entry(&mut zip, &format!("extra/{name}"), text.as_bytes(), false)?;
    }
    for pickled in [contents.data, contents.constants] {
        for s in &pickled.storages {
            // The tensor bytes go straight from the IR's (possibly memory-mapped) buffer.
            entry(&mut zip, &format!("data/{}", s.key), &s.data, true)?;
        }
    }
    // torch writes a random id here to tell archives apart; ours is derived from the
    // content so that the same model always gives the same file.
    let id = serialization_id(contents);
    entry(&mut zip, ".data/serialization_id", id.as_bytes(), false)?;
    let out = zip.finish().map_err(zip_err(path))?;
    let tmp = out
        .into_inner()
        .map_err(|e| write_err(path)(e.into_error()))?;
    tmp.as_file().sync_data().map_err(write_err(path))?;
    tmp.persist(path).map_err(|e| write_err(path)(e.error))?;
    Ok(())
}

/// A 40-digit decimal id (torch's format) from an FNV-1a hash of the code and pickles.
fn serialization_id(contents: &Contents<'_>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (name, source) in &contents.code {
        feed(name.as_bytes());
        feed(source.as_bytes());
    }
    for (name, text) in &contents.extra {
        feed(name.as_bytes());
        feed(text.as_bytes());
    }
    feed(&contents.data.bytes);
    feed(&contents.constants.bytes);
    format!("{:020}{:020}", h, h.rotate_left(32))
}

/// A hidden temporary file in `dir`, readable like any file the user creates.
fn temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(".modelc-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
}
