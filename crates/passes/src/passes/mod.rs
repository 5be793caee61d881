//! The built-in passes, one per file.

pub mod dce;
pub mod fold;
pub mod identity;
