//! `--input-type NAME:TYPE`: element types of inputs a format does not record. A TorchScript
//! archive has no input types (the importer takes them from the traced example inputs or
//! from how the code uses each input); given here, they are what the import uses. For the
//! formats that declare their inputs' types, a given type must be the declared one.

use modelc_ir::{DType, Model};

/// Input element types by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputTypes(pub Vec<(String, DType)>);

/// Why `--input-type` was refused.
#[derive(Debug, thiserror::Error)]
pub enum InputTypeError {
    #[error("--input-type {0}: expected NAME:TYPE (TYPE as int64, float32, i64, f32, bool, ...)")]
    BadSpec(String),
    #[error("--input-type: the model has no input `{name}` (inputs: {inputs})")]
    NoSuchInput { name: String, inputs: String },
    #[error("--input-type {name}:{given}: the file declares `{name}` as {declared}; the type can only be set for formats that do not record it (TorchScript)")]
    Declared {
        name: String,
        given: DType,
        declared: DType,
    },
}

impl InputTypes {
    /// Parses `NAME:TYPE` arguments; TYPE is a numpy/torch name (`int64`, `float32`, `long`,
    /// `float`, `bool`, …) or modelc's (`i64`, `f32`, …).
    pub fn parse(specs: &[String]) -> Result<InputTypes, InputTypeError> {
        let mut out = Vec::new();
        for s in specs {
            let bad = || InputTypeError::BadSpec(s.clone());
            let (name, ty) = s.rsplit_once(':').ok_or_else(bad)?;
            let ty = ty.trim();
            let dt = match ty {
                "float32" | "float" => DType::F32,
                "float64" | "double" => DType::F64,
                "float16" | "half" => DType::F16,
                "bfloat16" => DType::BF16,
                "int64" | "long" => DType::I64,
                "int32" | "int" => DType::I32,
                "int16" | "short" => DType::I16,
                "int8" => DType::I8,
                "uint8" => DType::U8,
                "bool" => DType::Bool,
                other => other.parse().map_err(|_| bad())?,
            };
            if name.is_empty() {
                return Err(bad());
            }
            out.push((name.to_string(), dt));
        }
        Ok(InputTypes(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks that every named input exists and has the given type.
    pub fn check(&self, model: &Model) -> Result<(), InputTypeError> {
        let g = &model.graph;
        let inputs: Vec<_> = g
            .inputs()
            .iter()
            .filter_map(|&id| g.node(id).outputs.first())
            .collect();
        for (name, dt) in &self.0 {
            let v = inputs.iter().find(|v| v.name == *name).ok_or_else(|| {
                InputTypeError::NoSuchInput {
                    name: name.clone(),
                    inputs: inputs
                        .iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            let declared = match v.ty.as_ref().map(|t| &t.ty) {
                Some(modelc_ir::ValueType::Tensor(t)) => t.dtype,
                _ => None,
            };
            if let Some(declared) = declared.filter(|d| d != dt) {
                return Err(InputTypeError::Declared {
                    name: name.clone(),
                    given: *dt,
                    declared,
                });
            }
        }
        Ok(())
    }
}
