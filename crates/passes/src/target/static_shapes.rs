//! `static-shapes`: for targets that compile every tensor to a fixed size (NNAPI, Core ML's
//! static partitions, QNN HTP, TensorRT without profiles), every graph input must have known
//! dimensions. The pass changes nothing; it fails, naming every input with an unknown
//! dimension at once, and asks for `--input-shape` (which the caller applies before the
//! lowering), so a model with a dynamic batch is never written for such a target silently.

use modelc_ir::{Dim, Graph, ValueRef, ValueType};

use crate::{Changed, Pass, PassContext, PassError};

pub struct StaticShapes;

impl Pass for StaticShapes {
    fn name(&self) -> &'static str {
        "static-shapes"
    }

    fn description(&self) -> &'static str {
        "fails when a graph input has an unknown dimension (a static-shape target needs --input-shape)"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        let mut dynamic = Vec::new();
        for &id in g.inputs() {
            let Some(v) = g.value(ValueRef::new(id, 0)) else {
                continue;
            };
            let shape = match v.ty.as_ref().map(|t| &t.ty) {
                Some(ValueType::Tensor(tt)) => tt.shape.as_ref(),
                _ => continue,
            };
            let dims = match shape {
                Some(s) if s.0.iter().all(|d| matches!(d, Dim::Known(_))) => continue,
                Some(s) => {
                    s.0.iter()
                        .map(|d| match d {
                            Dim::Known(k) => k.to_string(),
                            Dim::Sym(n) => n.clone(),
                            Dim::Unknown => "?".into(),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                }
                None => "unknown rank".into(),
            };
            dynamic.push(format!("`{}` [{dims}]", v.name));
        }
        if dynamic.is_empty() {
            return Ok(Changed::No);
        }
        let (noun, verb) = match dynamic.len() {
            1 => ("input", "has"),
            _ => ("inputs", "have"),
        };
        Err(PassError::Failed {
            pass: "static-shapes",
            message: format!(
                "the target needs static shapes; {noun} {} {verb} unknown dimensions: fix them with --input-shape NAME:D1,D2,...",
                dynamic.join(", ")
            ),
        })
    }
}
