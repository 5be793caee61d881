//! Running models for users: input files (`.npy`, ONNX `TensorProto` `.pb`), seeded random
//! inputs of the declared shapes, and the comparison `modelc verify` reports.

use std::collections::HashMap;
use std::path::Path;

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::{DType, Dim, Model, Tensor, ValueType};
use rand::{Rng, SeedableRng};

use crate::npy;

/// Why a model could not be run on the given inputs.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Npy(#[from] npy::NpyError),
    #[error("{}: {message}", path.display())]
    TensorFile {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("{0}")]
    Inputs(String),
    #[error(transparent)]
    Interp(#[from] modelc_interp::InterpError),
}

/// Reads an input tensor from `.npy` or `.pb` (a serialized ONNX `TensorProto`).
pub fn read_tensor(path: &Path) -> Result<Tensor, RunError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Ok(npy::read(path)?),
        Some("pb") => {
            let bytes = std::fs::read(path).map_err(|e| RunError::TensorFile {
                path: path.to_path_buf(),
                message: format!("cannot read: {e}"),
            })?;
            modelc_onnx::decode_tensor(bytes.into(), path.parent()).map_err(|e| {
                RunError::TensorFile {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                }
            })
        }
        _ => Err(RunError::TensorFile {
            path: path.to_path_buf(),
            message: "expected a .npy or .pb tensor file".into(),
        }),
    }
}

/// The declared inputs of the main graph: name and type.
pub fn declared_inputs(model: &Model) -> Vec<(String, Option<ValueType>)> {
    let g = &model.graph;
    g.inputs()
        .iter()
        .filter(|&&id| !matches!(g.node(id).op, modelc_ir::Op::Input { default: Some(_) }))
        .map(|&id| {
            let v = &g.node(id).outputs[0];
            (v.name.clone(), v.ty.as_ref().map(|t| t.ty.clone()))
        })
        .collect()
}

/// Seeded random inputs of the declared shapes; symbolic dimensions come from `dims`
/// (unknown ones are an error naming them). Floats are uniform in [-1, 1), integers in
/// [0, 10), bools fair coins.
pub fn random_inputs(
    model: &Model,
    seed: u64,
    dims: &HashMap<String, u64>,
) -> Result<Vec<(String, Tensor)>, RunError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for (name, ty) in declared_inputs(model) {
        let Some(ValueType::Tensor(tt)) = ty else {
            return Err(RunError::Inputs(format!(
                "input `{name}` is not a tensor; give it with --input"
            )));
        };
        let dtype = tt.dtype.ok_or_else(|| {
            RunError::Inputs(format!("input `{name}` has no declared element type"))
        })?;
        let shape = tt
            .shape
            .ok_or_else(|| RunError::Inputs(format!("input `{name}` has no declared shape")))?;
        let shape: Vec<u64> = shape
            .0
            .iter()
            .map(|d| match d {
                Dim::Known(n) => Ok(*n),
                Dim::Sym(s) => dims.get(s).copied().ok_or_else(|| {
                    RunError::Inputs(format!(
                        "input `{name}`: set symbolic dimension `{s}` with --dim {s}=N"
                    ))
                }),
                Dim::Unknown => Err(RunError::Inputs(format!(
                    "input `{name}` has a dimension of unknown size; give its shape with --input-shape {name}:D1,D2,..."
                ))),
            })
            .collect::<Result<_, _>>()?;
        let count = modelc_ir::element_count(&shape)
            .filter(|&c| c <= 1 << 31)
            .ok_or_else(|| {
                RunError::Inputs(format!("input `{name}` of shape {shape:?} is too large"))
            })? as usize;
        let bytes: Vec<u8> = match dtype {
            DType::F32 => (0..count)
                .flat_map(|_| rng.random_range(-1.0f32..1.0).to_le_bytes())
                .collect(),
            DType::F64 => (0..count)
                .flat_map(|_| rng.random_range(-1.0f64..1.0).to_le_bytes())
                .collect(),
            DType::F16 => (0..count)
                .flat_map(|_| half::f16::from_f32(rng.random_range(-1.0f32..1.0)).to_le_bytes())
                .collect(),
            DType::BF16 => (0..count)
                .flat_map(|_| half::bf16::from_f32(rng.random_range(-1.0f32..1.0)).to_le_bytes())
                .collect(),
            DType::Bool => (0..count).map(|_| rng.random::<bool>() as u8).collect(),
            DType::I64 => (0..count)
                .flat_map(|_| rng.random_range(0i64..10).to_le_bytes())
                .collect(),
            DType::I32 => (0..count)
                .flat_map(|_| rng.random_range(0i32..10).to_le_bytes())
                .collect(),
            DType::I8 | DType::U8 => (0..count).map(|_| rng.random_range(0u8..10)).collect(),
            other => {
                return Err(RunError::Inputs(format!(
                    "input `{name}`: random {other} values are not supported"
                )))
            }
        };
        let t = Tensor::from_raw(dtype, shape, bytes.into())
            .map_err(|e| RunError::Inputs(e.to_string()))?;
        out.push((name, t));
    }
    Ok(out)
}

/// Named tensors, in order (a model's inputs or outputs).
pub type Named = Vec<(String, Tensor)>;

/// Runs the model's main graph on named inputs; returns the named outputs.
pub fn run(model: &Model, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>, RunError> {
    Ok(run_timed(model, inputs, 0, None)?.0)
}

/// Runs once, then `repeat` more times on the same inputs, timing each of those runs
/// (the first, warm-up run is not timed). Preparation (kernel lookup, constant
/// conversion) happens once, before any run. With `profile`, the timed runs (or the one
/// run, when `repeat` is 0) add their time per op type to it.
pub fn run_timed(
    model: &Model,
    inputs: &[(String, Tensor)],
    repeat: usize,
    mut profile: Option<&mut modelc_interp::Profile>,
) -> Result<(Named, Vec<std::time::Duration>), RunError> {
    let interp = Interpreter::new(model)?;
    let data: Vec<(String, Data)> = inputs
        .iter()
        .map(|(n, t)| {
            Array::from_tensor(t)
                .map(|a| (n.clone(), Data::Tensor(a)))
                .map_err(|e| RunError::Inputs(format!("input `{n}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = match profile.as_deref_mut().filter(|_| repeat == 0) {
        Some(p) => interp.run_profiled(data.clone(), p)?,
        None => interp.run(data.clone())?,
    };
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let started = std::time::Instant::now();
        match profile.as_deref_mut() {
            Some(p) => interp.run_profiled(data.clone(), p)?,
            None => interp.run(data.clone())?,
        };
        times.push(started.elapsed());
    }
    let outputs = outputs
        .into_iter()
        .map(|(n, d)| match d {
            Data::Tensor(a) => Ok((n, a.to_tensor())),
            _ => Err(RunError::Inputs(format!("output `{n}` is not a tensor"))),
        })
        .collect::<Result<_, _>>()?;
    Ok((outputs, times))
}

/// How two outputs differ.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    pub name: String,
    pub max_abs: f64,
    pub max_rel: f64,
    pub cosine: f64,
    /// Whether every element satisfies |a - b| <= atol + rtol * |b|.
    pub within: bool,
    /// What was done to compare them (e.g. a layout transpose), if anything.
    pub note: String,
}

fn values(t: &Tensor) -> Result<Vec<f64>, String> {
    Array::from_tensor(t)
        .and_then(|a| a.to_f64_vec())
        .map_err(|e| format!("cannot compare {} values: {e}", t.dtype))
}

/// How an output of the model under test is laid out relative to the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    /// The file says: channels last (`true`) or as the reference (`false`).
    Recorded(bool),
    /// Not recorded: a rank-3+ output whose dims are the reference's with the channels
    /// moved last is compared transposed; so is one whose dims fit both orders (C = H = W)
    /// when the model under test takes channels-last inputs (the `bool`).
    Guess(bool),
}

/// Compares `got` (from the model under test) with `want` (the reference), transposing a
/// channels-last `got` first where `layout` says or suggests it is one.
pub fn compare(
    name: &str,
    got: &Tensor,
    want: &Tensor,
    rtol: f64,
    atol: f64,
    layout: OutputLayout,
) -> Result<Difference, String> {
    let mut note = String::new();
    let mut got_v = values(got)?;
    let want_v = values(want)?;
    let fits_last = got.dims.len() >= 3 && channels_last_dims(&want.dims) == got.dims;
    let transpose = match layout {
        OutputLayout::Recorded(last) => last,
        OutputLayout::Guess(inputs_last) => fits_last && (got.dims != want.dims || inputs_last),
    };
    if transpose {
        if !fits_last {
            return Err(format!(
                "output `{name}`: shape {:?} is not {:?} channels last",
                got.dims, want.dims
            ));
        }
        got_v = channels_to_first(&got_v, &want.dims);
        note = "transposed channels last to first".into();
    } else if got.dims != want.dims {
        return Err(format!(
            "output `{name}`: shape {:?} vs {:?}",
            got.dims, want.dims
        ));
    }
    if got.dtype != want.dtype {
        note = format!(
            "{note}{}compared {} with {} as numbers",
            if note.is_empty() { "" } else { "; " },
            got.dtype,
            want.dtype
        );
    }
    let (mut max_abs, mut max_rel, mut dot, mut na, mut nb) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut within = true;
    for (&a, &b) in got_v.iter().zip(&want_v) {
        if a.is_nan() && b.is_nan() {
            continue;
        }
        let d = (a - b).abs();
        max_abs = max_abs.max(d);
        max_rel = max_rel.max(if b != 0.0 {
            d / b.abs()
        } else if d == 0.0 {
            0.0
        } else {
            f64::INFINITY
        });
        within &= d <= atol + rtol * b.abs();
        dot += a * b;
        na += a * a;
        nb += b * b;
    }
    let cosine = if na == 0.0 && nb == 0.0 {
        1.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    };
    Ok(Difference {
        name: name.to_string(),
        max_abs,
        max_rel,
        cosine,
        within,
        note,
    })
}

/// `dims` ([N, C, spatial...]) with the channels moved last.
fn channels_last_dims(dims: &[u64]) -> Vec<u64> {
    match dims {
        [n, c, spatial @ ..] if !spatial.is_empty() => {
            let mut d = vec![*n];
            d.extend_from_slice(spatial);
            d.push(*c);
            d
        }
        _ => dims.to_vec(),
    }
}

/// The channels-last form of a channels-first tensor of rank 3 or more ([N, C, S...] →
/// [N, S..., C]), element bytes moved as they are. Callers pass numeric (non-string)
/// tensors.
pub fn channels_to_last(t: &Tensor) -> Tensor {
    let (n, c) = (t.dims[0] as usize, t.dims[1] as usize);
    let s: usize = t.dims[2..].iter().map(|&d| d as usize).product();
    let size = (t.dtype.bits() / 8).max(1) as usize;
    let raw = t.raw().expect("numeric tensor");
    let mut out = vec![0u8; raw.len()];
    for ni in 0..n {
        for ci in 0..c {
            for si in 0..s {
                let src = ((ni * c + ci) * s + si) * size;
                let dst = ((ni * s + si) * c + ci) * size;
                out[dst..dst + size].copy_from_slice(&raw[src..src + size]);
            }
        }
    }
    Tensor {
        dtype: t.dtype,
        dims: channels_last_dims(&t.dims),
        data: modelc_ir::TensorData::Raw(out.into()),
    }
}

/// Values of a channels-last tensor in the order of `first` ([N, C, S...]).
fn channels_to_first(v: &[f64], first: &[u64]) -> Vec<f64> {
    let (n, c) = (first[0] as usize, first[1] as usize);
    let s: usize = first[2..].iter().map(|&d| d as usize).product();
    let mut out = vec![0.0; v.len()];
    for ni in 0..n {
        for si in 0..s {
            for ci in 0..c {
                out[(ni * c + ci) * s + si] = v[(ni * s + si) * c + ci];
            }
        }
    }
    out
}
