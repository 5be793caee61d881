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
    /// Fix a symbolic dimension everywhere: NAME=VALUE (also the size of random inputs). May
    /// be repeated.
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
