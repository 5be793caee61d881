//! `infer-shapes`: fills in the element type and (possibly symbolic) shape of every node
//! output, in the main graph and in sub-graphs, with [`modelc_ir::infer`]. A declared type is
//! only ever made more precise; where it disagrees with what inference finds, the declared
//! type stays and the disagreement goes to the run's notes. Passes that run later read the
//! types with `Graph::tensor_type` / `shape_of` / `dtype_of` / `known_dims`.

use modelc_ir::{infer, DType, Dim, Graph, Op, Shape, Tensor, TensorType, TypeInfo, ValueType};

use crate::pattern::note_once;
use crate::{Changed, Pass, PassContext, PassError};

pub struct InferShapes;

impl Pass for InferShapes {
    fn name(&self) -> &'static str {
        "infer-shapes"
    }

    fn description(&self) -> &'static str {
        "infer every value's element type and shape (symbolic dims kept), refining declared types"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let report = infer::infer_graph(g, &cx.opsets);
        for p in report.problems {
            // The same disagreement is found again on every round; note it once.
            note_once(cx, format!("infer-shapes: {p}"));
        }
        Ok(Changed::from_bool(report.refined > 0))
    }
}

/// Why fixing input dims (`--input-shape`, `--dim`) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputShapeError {
    #[error("--input-shape `{0}` is not NAME:D1,D2,... (numbers)")]
    BadShapeSpec(String),
    #[error("--dim `{0}` is not NAME=VALUE (a number)")]
    BadDimSpec(String),
    #[error("the model has no input `{name}` (inputs: {inputs})")]
    NoSuchInput { name: String, inputs: String },
    #[error("input `{name}` has rank {declared}, --input-shape gives {given} dims")]
    Rank {
        name: String,
        declared: usize,
        given: usize,
    },
    #[error("input `{name}` dimension {axis} is {declared}, --input-shape says {given}")]
    Conflict {
        name: String,
        axis: usize,
        declared: u64,
        given: u64,
    },
    #[error("input `{0}` is not a tensor")]
    NotTensor(String),
}

/// Input dims to fix before optimizing: whole shapes by input name, and sizes of symbolic
/// dims by symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputShapes {
    pub shapes: Vec<(String, Vec<u64>)>,
    pub dims: Vec<(String, u64)>,
}

impl InputShapes {
    /// Parses `--input-shape NAME:1,3,224,224` and `--dim batch=1` arguments.
    pub fn parse(shapes: &[String], dims: &[String]) -> Result<InputShapes, InputShapeError> {
        let shapes = shapes
            .iter()
            .map(|s| {
                let bad = || InputShapeError::BadShapeSpec(s.clone());
                let (name, list) = s.rsplit_once(':').ok_or_else(bad)?;
                let dims = if list.trim().is_empty() {
                    Vec::new()
                } else {
                    list.split(',')
                        .map(|d| d.trim().parse::<u64>().map_err(|_| bad()))
                        .collect::<Result<_, _>>()?
                };
                Ok((name.to_string(), dims))
            })
            .collect::<Result<_, _>>()?;
        let dims = dims
            .iter()
            .map(|s| {
                let bad = || InputShapeError::BadDimSpec(s.clone());
                let (name, v) = s.split_once('=').ok_or_else(bad)?;
                Ok((
                    name.to_string(),
                    v.trim().parse::<u64>().map_err(|_| bad())?,
                ))
            })
            .collect::<Result<_, _>>()?;
        Ok(InputShapes { shapes, dims })
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty() && self.dims.is_empty()
    }

    /// Fixes the dims: each named input gets its shape (a symbol it had is bound to the
    /// given size), and every symbol bound here becomes that size in every declared type of
    /// the graph and its sub-graphs.
    pub fn apply(&self, g: &mut Graph) -> Result<(), InputShapeError> {
        let mut bind: std::collections::HashMap<String, u64> = self.dims.iter().cloned().collect();
        for (name, dims) in &self.shapes {
            let id = g
                .inputs()
                .iter()
                .copied()
                .find(|&id| g.node(id).outputs.first().is_some_and(|v| v.name == *name))
                .ok_or_else(|| InputShapeError::NoSuchInput {
                    name: name.clone(),
                    inputs: g
                        .inputs()
                        .iter()
                        .filter_map(|&id| g.node(id).outputs.first().map(|v| v.name.clone()))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let value = &mut g.node_mut(id).outputs[0];
            let ty = value.ty.get_or_insert_with(|| {
                ValueType::Tensor(TensorType {
                    dtype: None,
                    shape: None,
                })
                .into()
            });
            let ValueType::Tensor(t) = &mut std::sync::Arc::make_mut(ty).ty else {
                return Err(InputShapeError::NotTensor(name.clone()));
            };
            if let Some(s) = &t.shape {
                if s.rank() != dims.len() {
                    return Err(InputShapeError::Rank {
                        name: name.clone(),
                        declared: s.rank(),
                        given: dims.len(),
                    });
                }
                for (axis, (d, &n)) in s.0.iter().zip(dims).enumerate() {
                    match d {
                        Dim::Known(k) if *k != n => {
                            return Err(InputShapeError::Conflict {
                                name: name.clone(),
                                axis,
                                declared: *k,
                                given: n,
                            })
                        }
                        Dim::Sym(sym) => {
                            bind.insert(sym.clone(), n);
                        }
                        _ => {}
                    }
                }
            }
            t.shape = Some(Shape::known(dims));
        }
        if !bind.is_empty() {
            bind_symbols(g, &bind);
        }
        pin_scalar_inputs(g, &self.dims);
        Ok(())
    }
}

/// `--dim NAME=VALUE` naming a graph input that holds one integer (silero-vad's ONNX `sr`,
/// the sample rate its Ifs branch on; the ONNX form of a TorchScript int argument): the input
/// becomes that constant, as the TorchScript argument does, so the branches on it fold. An
/// input of another type or size is left alone (the name is then only a symbol).
fn pin_scalar_inputs(g: &mut Graph, dims: &[(String, u64)]) {
    for (name, value) in dims {
        let Some(id) = g
            .inputs()
            .iter()
            .copied()
            .find(|&id| g.node(id).outputs.first().is_some_and(|v| v.name == *name))
        else {
            continue;
        };
        let Some(ValueType::Tensor(t)) = g.node(id).outputs[0].ty.as_ref().map(|t| &t.ty) else {
            continue;
        };
        let Some(dims) = t.shape.as_ref().and_then(|s| s.as_known()) else {
            continue;
        };
        if dims.iter().product::<u64>() != 1 {
            continue;
        }
        let bytes: Vec<u8> = match t.dtype {
            Some(DType::I64) => (*value as i64).to_le_bytes().to_vec(),
            Some(DType::I32) => match i32::try_from(*value) {
                Ok(v) => v.to_le_bytes().to_vec(),
                Err(_) => continue,
            },
            _ => continue,
        };
        let dtype = t.dtype.expect("matched above");
        let Ok(tensor) = Tensor::from_raw(dtype, dims, bytes.into()) else {
            continue;
        };
        g.node_mut(id).op = Op::Const(Box::new(tensor));
        let inputs = g.inputs().iter().copied().filter(|&i| i != id).collect();
        g.set_inputs(inputs);
    }
}

/// Replaces bound symbols by their sizes in every value type of `g` and its sub-graphs.
fn bind_symbols(g: &mut Graph, bind: &std::collections::HashMap<String, u64>) {
    let ids: Vec<_> = g.node_ids().collect();
    for id in ids {
        let node = g.node_mut(id);
        for v in &mut node.outputs {
            let bound = |d: &Dim| matches!(d, Dim::Sym(name) if bind.contains_key(name.as_str()));
            let binds = matches!(v.ty.as_deref(), Some(TypeInfo {
                ty: ValueType::Tensor(TensorType { shape: Some(s), .. }),
                ..
            }) if s.0.iter().any(bound));
            if !binds {
                // (A type shared with other values is copied only when it changes.)
                continue;
            }
            if let Some(TypeInfo {
                ty: ValueType::Tensor(TensorType { shape: Some(s), .. }),
                ..
            }) = v.ty.as_mut().map(std::sync::Arc::make_mut)
            {
                for d in &mut s.0 {
                    if let Dim::Sym(name) = d {
                        if let Some(&n) = bind.get(name.as_str()) {
                            *d = Dim::Known(n);
                        }
                    }
                }
            }
        }
        for sub in node.subgraphs_mut() {
            bind_symbols(sub, bind);
        }
    }
}
