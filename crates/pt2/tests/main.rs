//! The `.pt2` reader's tests, one binary: hostile archives (`hostile`), and archives the
//! pinned torch writes, run against torch (`interop`).

mod hostile;
mod interop;
