//! The ExecuTorch writer's tests, one binary (see the other crates' tests/main.rs).

mod codegen_fresh;
mod program;
