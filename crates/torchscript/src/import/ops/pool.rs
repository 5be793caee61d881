//! Pooling: max_pool1d/2d/3d → MaxPool (kernel, stride (empty = kernel), padding,
//! dilation, ceil_mode); avg_pool1d/2d/3d → AveragePool (count_include_pad; a
//! divisor_override scales the padded mean, without ceil_mode); adaptive_avg_pool*/adaptive_max_pool* with output size 1
//! → GlobalAveragePool / GlobalMaxPool; other output sizes need the input's spatial size
//! (traced models record their input shapes): sizes that divide it → AveragePool / MaxPool
//! with kernel = stride = in / out (torch's own windows then), others → per axis, each
//! torch window [⌊i·in/out⌋, ⌈(i+1)·in/out⌉) sliced, reduced (ReduceMean / ReduceMax: a
//! mean or max over a box window separates over its axes) and concatenated. adaptive max
//! pooling returns torch's (values, indices) pair, the indices flat per plane (for uneven
//! windows one ArgMax per output cell, up to 1024 cells).

use modelc_ir::{Attr, Attrs, OnnxOp, OpsetImport, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

fn spatial(op: &str) -> usize {
    if op.ends_with("1d") {
        1
    } else if op.ends_with("3d") {
        3
    } else {
        2
    }
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let with_indices = op.ends_with("_with_indices");
    let op = op.strip_suffix("_with_indices").unwrap_or(op);
    let max = matches!(op, "max_pool1d" | "max_pool2d" | "max_pool3d");
    if with_indices && !max {
        return None;
    }
    let avg = matches!(op, "avg_pool1d" | "avg_pool2d" | "avg_pool3d");
    let adaptive = op.starts_with("adaptive_avg_pool") || op.starts_with("adaptive_max_pool");
    if !(max || avg || adaptive) {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        let x = arg(
            op,
            operand(cx, a.get(0, "self").unwrap_or(&PyValue::None), None),
        )?;
        let n = spatial(op);
        if adaptive {
            let out = super::conv::expand(arg(op, a.ints(1, "output_size", None))?, n);
            let avg = op.starts_with("adaptive_avg_pool");
            let (values, indices) = if out.iter().all(|&o| o == 1) {
                let onnx = if avg {
                    OnnxOp::GlobalAveragePool
                } else {
                    OnnxOp::GlobalMaxPool
                };
                let v = cx.b.op(onnx, &[x.v], Attrs::default());
                (v, (!avg).then(|| global_argmax(cx, x.v, n)))
            } else {
                adaptive_pool(cx, op, x, &out, avg)?
            };
            let values = PyValue::Tensor(x.with(values));
            if avg {
                return Ok(values);
            }
            // adaptive_max_pool returns (values, indices); where there are no indices
            // (uneven windows past 1024 cells) they are uninitialized, and reading them fails
            // the import.
            let indices = match indices {
                Some(i) => PyValue::Tensor(TensorRef::new(i, x.rank, modelc_ir::DType::I64)),
                None => PyValue::Uninit,
            };
            return Ok(PyValue::Tuple(vec![values, indices]));
        }
        let kernel = super::conv::expand(arg(op, a.ints(1, "kernel_size", None))?, n);
        let stride = arg(op, a.ints(2, "stride", Some(&[])))?;
        let stride = if stride.is_empty() {
            kernel.clone()
        } else {
            super::conv::expand(stride, n)
        };
        let pad = super::conv::expand(arg(op, a.ints(3, "padding", Some(&[0])))?, n);
        let pads: Vec<i64> = pad.iter().chain(&pad).copied().collect();
        let v = if max {
            let dil = super::conv::expand(arg(op, a.ints(4, "dilation", Some(&[1])))?, n);
            let ceil = arg(op, a.bool(5, "ceil_mode", false))?;
            let window = attrs(vec![
                ("kernel_shape", Attr::Ints(kernel)),
                ("strides", Attr::Ints(stride)),
                ("pads", Attr::Ints(pads)),
                ("dilations", Attr::Ints(dil)),
                ("ceil_mode", Attr::Int(ceil as i64)),
            ]);
            if with_indices {
                // `max_pool2d_with_indices` (what torch.export records for max pooling):
                // (values, indices), torch's indices flat per plane — MaxPool's flat index
                // modulo the plane's size, taken from the input's shape at run time.
                // The values come from a one-output MaxPool, so that when nothing reads the
                // indices the two-output one is dead code (TFLite has no indices form).
                let values = cx.b.op(OnnxOp::MaxPool, &[x.v], window.clone());
                let vi = cx.b.node(OnnxOp::MaxPool, &[Some(x.v)], window, 2);
                let shape = cx.b.op(
                    OnnxOp::Shape,
                    &[x.v],
                    attrs(vec![("start", Attr::Int(-(n as i64)))]),
                );
                let plane = cx.b.op(
                    OnnxOp::ReduceProd,
                    &[shape],
                    attrs(vec![("keepdims", Attr::Int(0))]),
                );
                let idx = cx.b.op(OnnxOp::Mod, &[vi[1], plane], Attrs::default());
                return Ok(PyValue::Tuple(vec![
                    PyValue::Tensor(x.with(values)),
                    PyValue::Tensor(TensorRef::new(idx, x.rank, modelc_ir::DType::I64)),
                ]));
            }
            cx.b.op(OnnxOp::MaxPool, &[x.v], window)
        } else {
            let ceil = arg(op, a.bool(4, "ceil_mode", false))?;
            let include = arg(op, a.bool(5, "count_include_pad", true))?;
            // divisor_override: each window's sum over the divisor — the padded mean
            // times the window's size over the divisor (every window lies within the
            // padded input unless ceil_mode adds partial ones).
            let divisor = match a.some(6, "divisor_override") {
                Some(d) if !ceil => Some(arg(
                    op,
                    d.as_int()
                        .filter(|&d| d != 0)
                        .ok_or_else(|| "divisor_override is not a nonzero constant".to_string()),
                )?),
                Some(_) => {
                    return Err(Stop::Fatal(format!(
                        "aten::{op}: divisor_override with ceil_mode is not supported"
                    )))
                }
                None => None,
            };
            let include = include || divisor.is_some();
            let mean = cx.b.op(
                OnnxOp::AveragePool,
                &[x.v],
                attrs(vec![
                    ("kernel_shape", Attr::Ints(kernel.clone())),
                    ("strides", Attr::Ints(stride)),
                    ("pads", Attr::Ints(pads)),
                    ("ceil_mode", Attr::Int(ceil as i64)),
                    ("count_include_pad", Attr::Int(include as i64)),
                ]),
            );
            match divisor {
                Some(d) => {
                    let size = kernel.iter().product::<i64>() as f64;
                    let k = cx.b.scalar(x.dtype, size / d as f64);
                    cx.b.op(OnnxOp::Mul, &[mean, k], Attrs::default())
                }
                None => mean,
            }
        };
        Ok(PyValue::Tensor(x.with(v)))
    })())
}

/// torch's index of each plane's maximum, flat over the `n` spatial axes, shaped
/// [N, C, 1, ...] like the pooled values.
fn global_argmax(cx: &mut Evaluator, x: ValueRef, n: usize) -> ValueRef {
    let flat = cx.b.ints(&[0, 0, -1]);
    let planes = cx.b.op(OnnxOp::Reshape, &[x, flat], Attrs::default());
    let at = cx.b.op(
        OnnxOp::ArgMax,
        &[planes],
        attrs(vec![("axis", Attr::Int(2)), ("keepdims", Attr::Int(1))]),
    );
    let mut shape = vec![0, 0];
    shape.resize(n + 2, 1);
    let shape = cx.b.ints(&shape);
    cx.b.op(OnnxOp::Reshape, &[at, shape], Attrs::default())
}

/// Adaptive pooling (average, or max with `avg` false) to `out` (one size per spatial axis)
/// of an input whose spatial size is known by now (see the module docs).
/// Returns the pooled values and, for max pooling to sizes that divide the input, torch's
/// indices (flat per plane: MaxPool's flat index modulo the plane size).
fn adaptive_pool(
    cx: &mut Evaluator,
    op: &str,
    x: TensorRef,
    out: &[i64],
    avg: bool,
) -> EvalResult<(ValueRef, Option<ValueRef>)> {
    let opsets = [OpsetImport {
        domain: String::new(),
        version: crate::import::OPSET,
    }];
    modelc_ir::infer::infer_graph(&mut cx.b.g, &opsets);
    let dims = cx.b.g.shape_of(x.v).and_then(|s| s.as_known());
    let Some(dims) = dims.filter(|d| d.len() == out.len() + 2) else {
        return Err(Stop::Fatal(format!(
            "aten::{op}: output size {out:?} needs the input's size, which is not known here \
             (a traced model records it; a scripted one does not)"
        )));
    };
    let spatial = &dims[2..];
    if out.iter().any(|&o| o < 1) {
        return arg(op, Err(format!("output size {out:?}")));
    }
    if spatial.iter().zip(out).all(|(&i, &o)| i as i64 % o == 0) {
        let k: Vec<i64> = spatial
            .iter()
            .zip(out)
            .map(|(&i, &o)| i as i64 / o)
            .collect();
        let window = attrs(vec![
            ("kernel_shape", Attr::Ints(k.clone())),
            ("strides", Attr::Ints(k)),
        ]);
        if avg {
            return Ok((cx.b.op(OnnxOp::AveragePool, &[x.v], window), None));
        }
        let vi = cx.b.node(OnnxOp::MaxPool, &[Some(x.v)], window, 2);
        let plane: u64 = spatial.iter().product();
        let plane = cx.b.scalar_i64(plane as i64);
        let idx = cx.b.op(OnnxOp::Mod, &[vi[1], plane], Attrs::default());
        return Ok((vi[0], Some(idx)));
    }
    let indices = if avg {
        None
    } else {
        uneven_max_indices(cx, x.v, spatial, out)
    };
    let mut v = x.v;
    for (axis, (&size, &o)) in spatial.iter().zip(out).enumerate() {
        let (size, axis) = (size as i64, axis as i64 + 2);
        if size == o {
            continue;
        }
        // Each window is a few nodes: a hostile size must not make millions.
        if o > 1024 {
            return arg(op, Err(format!("output size {o} is too large to unroll")));
        }
        let ax = cx.b.ints(&[axis]);
        let parts: Vec<ValueRef> = (0..o)
            .map(|i| {
                // In i128: a declared size near 2^63 must not overflow.
                let (i, n, o) = (i as i128, size as i128, o as i128);
                let start = (i * n / o) as i64;
                let end = (((i + 1) * n + o - 1) / o).min(i64::MAX as i128) as i64;
                let (s, e) = (cx.b.ints(&[start]), cx.b.ints(&[end]));
                let w = cx.b.op(OnnxOp::Slice, &[v, s, e, ax], Attrs::default());
                cx.b.op(
                    if avg {
                        OnnxOp::ReduceMean
                    } else {
                        OnnxOp::ReduceMax
                    },
                    &[w, ax],
                    attrs(vec![("keepdims", Attr::Int(1))]),
                )
            })
            .collect();
        v = cx.b.op(
            OnnxOp::Concat,
            &parts,
            attrs(vec![("axis", Attr::Int(axis))]),
        );
    }
    Ok((v, indices))
}

/// Most output cells whose max-pooling indices are unrolled one window at a time.
const MAX_INDEX_CELLS: i64 = 1024;

/// torch's indices of adaptive max pooling over uneven windows: per output cell, its window
/// sliced and flattened, the first maximum's position in it (ArgMax keeps the first, as
/// torch's kernel does) looked up (Gather) in a constant of the window's flat indices in
/// the input plane (no integer division: TFLite has no exact int64 DIV), the cells
/// concatenated and shaped [N, C, out...]. `None` (the indices stay uninitialized) past
/// [`MAX_INDEX_CELLS`] cells or windows.
fn uneven_max_indices(
    cx: &mut Evaluator,
    x: ValueRef,
    spatial: &[u64],
    out: &[i64],
) -> Option<ValueRef> {
    let cells = out
        .iter()
        .try_fold(1i64, |a, &o| a.checked_mul(o))
        .filter(|&c| c <= MAX_INDEX_CELLS)?;
    let n = spatial.len();
    let size: Vec<i128> = spatial.iter().map(|&s| s as i128).collect();
    // Plane indices are int64 (and a declared size from a hostile file must not overflow).
    size.iter()
        .try_fold(1i128, |a, &s| a.checked_mul(s))
        .filter(|&p| p <= i64::MAX as i128)?;
    // Row-major strides of the input plane.
    let mut stride = vec![1i128; n];
    for j in (0..n.saturating_sub(1)).rev() {
        stride[j] = stride[j + 1] * size[j + 1];
    }
    let axes = cx.b.ints(&(2..n as i64 + 2).collect::<Vec<_>>());
    let flat = cx.b.ints(&[0, 0, -1]);
    let mut parts = Vec::new();
    let mut budget = MAX_INDEX_CELLS * 64;
    for cell in 0..cells {
        // The cell's coordinates (row-major) and its window per axis.
        let mut rest = cell as i128;
        let mut coord = vec![0i128; n];
        for j in (0..n).rev() {
            coord[j] = rest % out[j] as i128;
            rest /= out[j] as i128;
        }
        let win: Vec<(i128, i128)> = (0..n)
            .map(|j| {
                let (i, s, o) = (coord[j], size[j], out[j] as i128);
                (i * s / o, ((i + 1) * s + o - 1) / o)
            })
            .collect();
        // The window's flat plane indices, in the order Reshape flattens it.
        let mut index: Vec<i64> = vec![0];
        for j in 0..n {
            let extent = win[j].1 - win[j].0;
            budget -= index.len() as i64 * extent as i64;
            if budget < 0 {
                return None;
            }
            let (lo, hi, st) = (win[j].0, win[j].1, stride[j]);
            index = index
                .iter()
                .flat_map(|&p| (lo..hi).map(move |h| p + (h * st) as i64))
                .collect();
        }
        let starts =
            cx.b.ints(&win.iter().map(|w| w.0 as i64).collect::<Vec<_>>());
        let ends =
            cx.b.ints(&win.iter().map(|w| w.1 as i64).collect::<Vec<_>>());
        let w =
            cx.b.op(OnnxOp::Slice, &[x, starts, ends, axes], Attrs::default());
        let w = cx.b.op(OnnxOp::Reshape, &[w, flat], Attrs::default());
        let k = cx.b.op(
            OnnxOp::ArgMax,
            &[w],
            attrs(vec![("axis", Attr::Int(2)), ("keepdims", Attr::Int(1))]),
        );
        let table = cx.b.ints(&index);
        parts.push(cx.b.op(
            OnnxOp::Gather,
            &[table, k],
            attrs(vec![("axis", Attr::Int(0))]),
        ));
    }
    let all =
        cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(2))]));
    let mut shape = vec![0, 0];
    shape.extend_from_slice(out);
    let shape = cx.b.ints(&shape);
    Some(cx.b.op(OnnxOp::Reshape, &[all, shape], Attrs::default()))
}
