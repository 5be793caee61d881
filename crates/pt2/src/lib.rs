//! `torch.export` archives (`.pt2`) for modelc, without libtorch.
//!
//! [`read`] opens the archive `torch.export.save` writes ([`archive`]: a zip under one
//! directory, read with the TorchScript frontend's bounded zip reader over a memory map),
//! parses its JSON program ([`schema`]), slices the weights out of the map without copying
//! ([`weights`]) and translates the graph of aten calls into the IR ([`import`]) through the
//! same aten translators the TorchScript frontend uses (`modelc_torchscript::import::ops`):
//! one place knows what each aten op means. [`write`] goes the other way on the TorchScript
//! writer's choice of aten call per IR op ([`export`]).

pub mod archive;
mod error;
pub mod export;
pub mod import;
pub mod schema;
pub mod weights;

use std::path::Path;

use modelc_ir::Model;

pub use error::Pt2Error;

/// Reads a `.pt2` archive from a file.
pub fn read(path: &Path) -> Result<Model, Pt2Error> {
    let file = std::fs::File::open(path).map_err(Pt2Error::Open)?;
    let map = modelc_ir::map_file(&file).map_err(Pt2Error::Open)?;
    read_bytes(map)
}

/// Reads a `.pt2` archive held in memory (a memory map: weights stay slices of it).
pub fn read_bytes(map: bytes::Bytes) -> Result<Model, Pt2Error> {
    let mut a = archive::Pt2Archive::from_bytes(map)?;
    import::import(&mut a)
}

/// Writes `model` as a `.pt2` archive `torch.export.load` accepts ([`export`]); refuses,
/// naming every node it cannot write, before anything is written.
pub fn write(model: &Model, path: &Path) -> Result<(), Pt2Error> {
    export::write(model, path)
}

/// Whether the zip archive at `path` is a `.pt2` (has an `archive_format` entry saying `pt2`),
/// for telling it from a TorchScript `.pt` by content. Reads only the zip directory and that
/// entry.
pub fn is_pt2(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(map) = modelc_ir::map_file(&file) else {
        return false;
    };
    archive::Pt2Archive::from_bytes(map).is_ok()
}
