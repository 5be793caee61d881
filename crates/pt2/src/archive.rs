//! The archive `torch.export.save` writes, and the versions modelc accepts.
//!
//! Layout (torch 2.15, `torch/export/pt2_archive/_package.py`), all under one directory named
//! after the file: `archive_format` (`pt2`), `archive_version` (`0`), `byteorder`
//! (`little`), `models/<model>.json` (the serialized `ExportedProgram`),
//! `data/weights/<model>_weights_config.json` with `data/weights/weight_N` (raw tensor bytes,
//! stored uncompressed, or a `torch.save` pickle for tensor subclasses),
//! `data/constants/<model>_constants_config.json` with its entries, and
//! `data/sample_inputs/<model>.pt` (not read). The zip reading (bounds, bombs, names that
//! would leave the archive) is the TorchScript frontend's.

use bytes::Bytes;
use modelc_torchscript::archive::Archive;
use serde::de::DeserializeOwned;

use crate::Pt2Error;

/// `archive_format` values accepted.
pub const ARCHIVE_FORMAT: &str = "pt2";
/// `archive_version` values accepted (what torch 2.15 writes).
pub const ARCHIVE_VERSIONS: &[&str] = &["0"];
/// The program schema's major version accepted, and the newest minor (torch 2.15 writes
/// 8.20; older minors of the same major only lack fields).
pub const SCHEMA_MAJOR: i64 = 8;
pub const SCHEMA_MINOR_MAX: i64 = 20;
/// The model name `torch.export.save` uses for the one program it stores.
pub const MODEL: &str = "model";
/// Largest JSON entry read (a program of 100k nodes is about 100 MB).
pub const MAX_JSON: usize = 512 << 20;

pub struct Pt2Archive {
    pub zip: Archive,
}

impl Pt2Archive {
    /// Opens the archive and checks its format, version and byte order.
    pub fn from_bytes(map: Bytes) -> Result<Pt2Archive, Pt2Error> {
        let zip =
            Archive::from_bytes_rooted(map, "archive_format", "a torch.export (.pt2) archive")?;
        let mut a = Pt2Archive { zip };
        let format = a.text("archive_format")?;
        if format.trim() != ARCHIVE_FORMAT {
            return Err(Pt2Error::Version(format!(
                "archive_format is {:?}, modelc reads {ARCHIVE_FORMAT:?}",
                short(&format)
            )));
        }
        if a.zip.contains("archive_version") {
            let v = a.text("archive_version")?;
            if !ARCHIVE_VERSIONS.contains(&v.trim()) {
                return Err(Pt2Error::Version(format!(
                    "archive_version {:?}, modelc reads {ARCHIVE_VERSIONS:?} (torch 2.15)",
                    short(&v)
                )));
            }
        }
        if a.zip.contains("byteorder") {
            let b = a.text("byteorder")?;
            if b.trim() != "little" {
                return Err(Pt2Error::Archive(format!(
                    "byteorder is {:?}; only little-endian archives are read",
                    short(&b)
                )));
            }
        }
        Ok(a)
    }

    /// Entry `name` as UTF-8 text.
    pub fn text(&mut self, name: &str) -> Result<String, Pt2Error> {
        Ok(self.zip.read_text(name)?)
    }

    /// Entry `name` parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, Pt2Error> {
        let bytes = self.zip.read(name)?;
        if bytes.len() > MAX_JSON {
            return Err(Pt2Error::Json {
                file: name.into(),
                msg: format!("{} bytes (limit {MAX_JSON})", bytes.len()),
            });
        }
        // serde_json bounds nesting at 128 levels.
        serde_json::from_slice(&bytes).map_err(|e| Pt2Error::Json {
            file: name.into(),
            msg: e.to_string(),
        })
    }

    /// The program's JSON, its version checked before it is parsed as a whole.
    pub fn program(&mut self) -> Result<crate::schema::ExportedProgram, Pt2Error> {
        let name = format!("models/{MODEL}.json");
        if !self.zip.contains(&name) {
            let models = self.zip.names_under("models/");
            return Err(Pt2Error::Archive(if models.is_empty() {
                format!("no {name}: an AOTInductor package or an empty archive, not an exported program")
            } else {
                format!(
                    "no {name} (it holds {}); modelc reads the default model",
                    models.join(", ")
                )
            }));
        }
        #[derive(serde::Deserialize)]
        struct Versioned {
            schema_version: crate::schema::SchemaVersion,
        }
        let v: Versioned = self.json(&name)?;
        let (major, minor) = (v.schema_version.major, v.schema_version.minor);
        if major != SCHEMA_MAJOR || !(0..=SCHEMA_MINOR_MAX).contains(&minor) {
            return Err(Pt2Error::Version(format!(
                "schema {major}.{minor}; modelc reads {SCHEMA_MAJOR}.0 to {SCHEMA_MAJOR}.{SCHEMA_MINOR_MAX} (torch 2.15)"
            )));
        }
        self.json(&name)
    }
}

/// The first characters of a value for a message.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}
