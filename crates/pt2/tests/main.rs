//! The `.pt2` reader's and writer's tests, one binary: the writer (`export`), hostile archives (`hostile`), and archives the
//! pinned torch writes, run against torch (`interop`).

mod export;
mod hostile;
mod interop;
