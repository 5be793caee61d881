//! The interpreter's integration tests, one binary (each test binary links the whole
//! workspace; one per crate keeps CI's disk small): the ONNX node suite against its expected
//! outputs, and the coverage of kernels, shape inference and op traits.

mod kernels_vs_ort;
mod node_suite;
mod op_coverage;
