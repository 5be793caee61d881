//! Model files mapped into memory, and giving their pages back.
//!
//! Readers map a model file once and hand out slices of it ([`map_file`]): weights are never
//! copied on load. A conversion then reads each weight once (to transpose it, or to write
//! it), and [`release_resident`] lets the pages it has read leave the process's resident
//! set, so the source and the converted copy are not both held in memory.

use std::fs::File;
use std::sync::Mutex;

use bytes::Bytes;

/// Address ranges `[start, end)` of the live mappings made by [`map_file`].
static MAPPINGS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// A read-only map of a whole file that is known to [`release_resident`] while it lives.
struct MappedFile {
    map: memmap2::Mmap,
}

impl MappedFile {
    fn range(&self) -> (usize, usize) {
        let start = self.map.as_ptr() as usize;
        (start, start + self.map.len())
    }
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        let range = self.range();
        let mut maps = MAPPINGS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = maps.iter().position(|&r| r == range) {
            maps.swap_remove(i);
        }
    }
}

/// Memory-maps `file` as shared bytes (an empty file reads as empty: it cannot be mapped).
#[allow(unsafe_code)] // mapping a file is unsafe in memmap2; see the SAFETY note
pub fn map_file(file: &File) -> std::io::Result<Bytes> {
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the map is read-only. Like every tool that maps model files, we rely on the
    // file not being truncated or rewritten while the model is in use.
    let map = unsafe { memmap2::Mmap::map(file)? };
    let mapped = MappedFile { map };
    MAPPINGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(mapped.range());
    Ok(Bytes::from_owner(mapped))
}

/// Hints that `bytes` will not be read again soon. Whole pages of a file mapped by
/// [`map_file`] are dropped from the resident set (`MADV_DONTNEED`: the map is read-only and
/// backed by the file, so a later read faults the same contents back in from the page
/// cache). Other memory only gets `MADV_PAGEOUT`, which never changes contents (heap pages
/// stay unless the system swaps). A no-op where the advice is unsupported.
#[allow(unsafe_code)] // sysconf and madvise are libc calls; see the SAFETY notes
pub fn release_resident(bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => return,
        };
        let (lo, hi) = (
            bytes.as_ptr() as usize,
            bytes.as_ptr() as usize + bytes.len(),
        );
        let start = lo.next_multiple_of(page);
        let end = hi / page * page;
        if end <= start {
            return;
        }
        let file_backed = MAPPINGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|&(s, e)| s <= lo && hi <= e);
        let advice = if file_backed {
            libc::MADV_DONTNEED
        } else {
            libc::MADV_PAGEOUT
        };
        // SAFETY: the range lies inside `bytes`, which stays mapped for the call. DONTNEED is
        // only given for read-only file maps (contents come back from the file); PAGEOUT
        // never alters what memory reads as. Errors are ignored: this is advice.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, advice);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}
