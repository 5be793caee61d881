//! Command-line options more than one command takes, as clap argument groups: the shape
//! options every command that runs or rewrites a model accepts.

use std::collections::HashMap;

use crate::{InputShapeError, InputShapes};

/// `--input-shape NAME:D1,D2,...` and `--dim NAME=VALUE`, the same on every command.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ShapeArgs {
    /// Fix an input's shape: NAME:D1,D2,... May be repeated. (Scripted TorchScript models
    /// declare no sizes; TFLite export and random inputs need them.)
    #[arg(long = "input-shape", value_name = "NAME:DIMS")]
    pub input_shapes: Vec<String>,
    /// Fix a symbolic dimension everywhere: NAME=VALUE (also the size of random inputs, the
    /// value of a TorchScript `forward` int argument of that name, and of a graph input of that
    /// name holding one integer, which becomes a constant). May be repeated.
    #[arg(long = "dim", value_name = "NAME=VALUE")]
    pub dims: Vec<String>,
}

impl ShapeArgs {
    /// Both options, to apply to a model.
    pub fn parse(&self) -> Result<InputShapes, InputShapeError> {
        InputShapes::parse(&self.input_shapes, &self.dims)
    }

    /// The `--dim` sizes alone, by name.
    pub fn dims(&self) -> Result<HashMap<String, u64>, InputShapeError> {
        Ok(InputShapes::parse(&[], &self.dims)?
            .dims
            .into_iter()
            .collect())
    }

    /// Whether neither option was given.
    pub fn is_empty(&self) -> bool {
        self.input_shapes.is_empty() && self.dims.is_empty()
    }
}

/// `--target NAME` / `--target-file FILE`: lower for a hardware target and say where each
/// operator lands (`convert`, `quantize`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// Lower for a hardware target (`modelc targets` lists them) and say where each
    /// operator of the result lands: for integer-only accelerators (ethos-u55-128,
    /// ethos-u65-256) a quantized model's float inputs and outputs become its int8 tensors
    /// (the caller quantizes inputs and dequantizes outputs with the scales in the file), so
    /// no QUANTIZE / DEQUANTIZE is left for the CPU.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// A target file of your own (the schema of targets/*.toml); overrides --target.
    #[arg(long, value_name = "FILE")]
    pub target_file: Option<std::path::PathBuf>,
}

impl TargetArgs {
    /// The target asked for, if any.
    pub fn resolve(
        &self,
    ) -> Result<Option<modelc_passes::target::Target>, modelc_passes::target::TargetError> {
        match (&self.target, &self.target_file) {
            (None, None) => Ok(None),
            (name, file) => crate::check::resolve(name.as_deref(), file.as_deref()).map(Some),
        }
    }
}
