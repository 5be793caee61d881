//! The `.pt` zip archive `torch.jit.save` writes, opened over a memory map.
//!
//! Layout: every entry sits under one top-level directory (the archive's name, e.g.
//! `model/`): `data.pkl` (the module tree), `constants.pkl` (tensor constants of the code),
//! `code/__torch__/….py` (TorchScript source), `data/<key>` (tensor storages), `version`,
//! `.data/…`. torch stores storages uncompressed and 64-byte aligned, so those entries are
//! sliced out of the map without copying; compressed entries are inflated with a size cap.
//!
//! Every name is normalized and refused if it could leave the archive (`..`, absolute
//! paths); entry counts and sizes are checked against the file's length before anything is
//! allocated.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

use bytes::Bytes;
use zip::CompressionMethod;

use crate::TorchScriptError;

/// Most entries an archive may have (a ResNet-152 has about 1,000).
pub const MAX_ENTRIES: usize = 200_000;
/// Largest inflated size of one compressed entry (code, pickles).
pub const MAX_INFLATED: u64 = 256 << 20;
/// Largest inflate ratio accepted for a compressed entry; beyond it the entry is a bomb.
pub const MAX_RATIO: u64 = 200;

#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    stored: bool,
    size: u64,
    compressed: u64,
}

/// An opened archive.
pub struct Archive {
    map: Bytes,
    zip: zip::ZipArchive<Cursor<Bytes>>,
    /// Normalized name → entry.
    entries: HashMap<String, Entry>,
    /// The top-level directory holding `data.pkl`, with its trailing `/` (may be empty).
    prefix: String,
}

fn bad(what: impl std::fmt::Display) -> TorchScriptError {
    TorchScriptError::Archive(what.to_string())
}

/// Normalizes an entry name (`a/./b` → `a/b`, `\` → `/`), refusing names that could escape
/// the archive's directory.
pub fn normalize_name(raw: &str) -> Result<String, String> {
    if raw.contains('\0') {
        return Err(format!("entry name {raw:?} contains NUL"));
    }
    let s = raw.replace('\\', "/");
    if s.starts_with('/') || s.as_bytes().get(1) == Some(&b':') {
        return Err(format!("entry name {raw:?} is an absolute path"));
    }
    let mut parts = Vec::new();
    for p in s.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err(format!("entry name {raw:?} leaves the archive (`..`)")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

impl Archive {
    /// Opens `path` through a memory map.
    pub fn open(path: &Path) -> Result<Archive, TorchScriptError> {
        let file = std::fs::File::open(path).map_err(TorchScriptError::Open)?;
        let map = modelc_ir::map_file(&file).map_err(TorchScriptError::Open)?;
        Archive::from_bytes(map)
    }

    /// Opens an archive held in memory. Errors do not name the file (the caller knows it;
    /// modelc's facade puts it first on the line).
    pub fn from_bytes(map: Bytes) -> Result<Archive, TorchScriptError> {
        Archive::from_bytes_rooted(map, "data.pkl", "a TorchScript archive")
    }

    /// Opens a zip archive of another torch format held in memory, with the same bounds and
    /// name checks: names are relative to the directory of the shallowest entry called
    /// `marker` (`archive_format` in a `torch.export` `.pt2`); `what` names the format in
    /// the error when there is none.
    pub fn from_bytes_rooted(
        map: Bytes,
        marker: &str,
        what: &str,
    ) -> Result<Archive, TorchScriptError> {
        // A .pt archive starts at byte 0 (torch writes nothing before it). The zip crate's
        // default search for a prefix misreads some of torch's small archives (zip64 end
        // records and 64-byte-aligned entries) as having one, and then rejects them.
        let config = zip::read::Config {
            archive_offset: zip::read::ArchiveOffset::Known(0),
        };
        let zip = zip::ZipArchive::with_config(config, Cursor::new(map.clone()))
            .map_err(|e| bad(format!("not a zip archive: {e}")))?;
        let file_len = map.len() as u64;
        if zip.len() > MAX_ENTRIES {
            return Err(bad(format!("{} entries (limit {MAX_ENTRIES})", zip.len())));
        }
        let mut a = Archive {
            map,
            zip,
            entries: HashMap::new(),
            prefix: String::new(),
        };
        for index in 0..a.zip.len() {
            let f = a
                .zip
                .by_index_raw(index)
                .map_err(|e| bad(format!("entry {index}: {e}")))?;
            let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
            let name = normalize_name(&raw).map_err(bad)?;
            let stored = f.compression() == CompressionMethod::Stored;
            let (size, compressed) = (f.size(), f.compressed_size());
            if compressed > file_len || (stored && size != compressed) {
                return Err(bad(format!(
                    "entry {name:?} claims {compressed} bytes in a {file_len}-byte file"
                )));
            }
            if !stored
                && (size > MAX_INFLATED || size > compressed.saturating_mul(MAX_RATIO) + 4096)
            {
                return Err(bad(format!(
                    "entry {name:?} inflates {compressed} bytes to {size} (zip bomb?)"
                )));
            }
            let e = Entry {
                index,
                stored,
                size,
                compressed,
            };
            if a.entries.insert(name.clone(), e).is_some() {
                return Err(bad(format!("entry {name:?} appears twice")));
            }
        }
        // The prefix is the directory of the shallowest marker (`data.pkl`).
        let slash_marker = format!("/{marker}");
        let pkl = a
            .entries
            .keys()
            .filter(|n| *n == marker || n.ends_with(&slash_marker))
            .min_by_key(|n| (n.matches('/').count(), n.to_string()))
            .cloned()
            .ok_or_else(|| bad(format!("no {marker}: not {what}")))?;
        a.prefix = pkl[..pkl.len() - marker.len()].to_string();
        Ok(a)
    }

    /// Whether `name` (relative to the prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(&format!("{}{name}", self.prefix))
    }

    /// Names (relative to the prefix) under `dir/`, sorted.
    pub fn names_under(&self, dir: &str) -> Vec<String> {
        let full = format!("{}{dir}", self.prefix);
        let mut v: Vec<String> = self
            .entries
            .keys()
            .filter(|n| n.starts_with(&full))
            .map(|n| n[self.prefix.len()..].to_string())
            .collect();
        v.sort();
        v
    }

    /// The bytes of entry `name` (relative to the prefix). Stored entries are slices of the
    /// map; compressed ones are inflated (at most their declared size, itself capped).
    pub fn read(&mut self, name: &str) -> Result<Bytes, TorchScriptError> {
        let full = format!("{}{name}", self.prefix);
        let e = self
            .entries
            .get(&full)
            .cloned()
            .ok_or_else(|| bad(format!("missing entry {full:?}")))?;
        if e.stored {
            let f = self
                .zip
                .by_index_raw(e.index)
                .map_err(|err| bad(format!("entry {full:?}: {err}")))?;
            let start = f
                .data_start()
                .ok_or_else(|| bad(format!("entry {full:?}: no data offset")))?;
            let end = start
                .checked_add(e.size)
                .filter(|&end| end <= self.map.len() as u64)
                .ok_or_else(|| bad(format!("entry {full:?} runs past the end of the file")))?;
            return Ok(self.map.slice(start as usize..end as usize));
        }
        let f = self
            .zip
            .by_index(e.index)
            .map_err(|err| bad(format!("entry {full:?}: {err}")))?;
        let mut out = Vec::with_capacity(e.size.min(e.compressed.saturating_mul(8)) as usize);
        f.take(e.size + 1)
            .read_to_end(&mut out)
            .map_err(|err| bad(format!("entry {full:?}: {err}")))?;
        if out.len() as u64 != e.size {
            return Err(bad(format!(
                "entry {full:?} inflates to {} bytes, header says {}",
                out.len(),
                e.size
            )));
        }
        Ok(Bytes::from(out))
    }

    /// Entry `name` as UTF-8 text.
    pub fn read_text(&mut self, name: &str) -> Result<String, TorchScriptError> {
        let b = self.read(name)?;
        String::from_utf8(b.to_vec()).map_err(|_| bad(format!("entry {name:?} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_name;

    #[test]
    fn names_are_normalized_and_escapes_refused() {
        assert_eq!(normalize_name("m/./code//a.py").unwrap(), "m/code/a.py");
        assert_eq!(normalize_name("m\\data\\0").unwrap(), "m/data/0");
        assert!(normalize_name("m/../../etc/passwd")
            .unwrap_err()
            .contains(".."));
        assert!(normalize_name("/etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(normalize_name("C:/x").unwrap_err().contains("absolute"));
    }
}
