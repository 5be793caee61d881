//! modelc-onnx's integration tests, one module per file, in one test binary (a binary per
//! file linked the whole dependency tree again each time, ~70 MB apiece, and filled a CI disk).

mod dims;
mod fixtures;
mod mutations;
mod node_heavy;
mod node_suite;
mod reader_invariants;
mod type_checks;
