//! modelc-torchscript's integration tests, one module per file, in one test binary (a binary per
//! file linked the whole dependency tree again each time, ~70 MB apiece, and filled a CI disk).

mod export;
mod import_bad;
mod import_models;
mod table;
