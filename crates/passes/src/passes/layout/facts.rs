//! What the layout passes know about value shapes: the rank, and each dimension when it is
//! known, always in the graph's *original* coordinates (before any value was permuted).
//!
//! Declared types win; otherwise a few rules cover what CNN graphs need: ranks through
//! convolutions, pools and elementwise ops, and the unit spatial axes of a global pool, which
//! decide whether a following Flatten or Reshape is layout-free.

use modelc_ir::{Graph, Layout, NodeId, OnnxOp, Op, ValueRef};

use super::engine::const_of;

/// Dimensions of a value of known rank; `None` entries are unknown sizes.
pub type Dims = Vec<Option<u64>>;

/// Declared shape of `v`, if its type gives one.
pub fn declared(g: &Graph, v: ValueRef) -> Option<Dims> {
    let shape = g.value(v)?.ty.as_ref()?.ty.as_tensor()?.shape.as_ref()?;
    Some(shape.0.iter().map(|d| d.known()).collect())
}

/// [`declared`] in the shape the transpose rewrites take.
pub fn declared_dims(g: &Graph, v: ValueRef) -> Option<Dims> {
    declared(g, v)
}

/// The spatial sizes of data dims in the node's layout.
fn spatial(d: &Dims, chan_last: bool) -> Dims {
    let r = d.len();
    if r < 3 {
        return vec![];
    }
    if chan_last {
        d[1..r - 1].to_vec()
    } else {
        d[2..].to_vec()
    }
}

/// Output sizes of a convolution or pool window over spatial sizes `xs` (ONNX rules:
/// `pads`, `strides`, `dilations`, `auto_pad`, `ceil_mode`); unknown where `xs` is.
fn window_out(g: &Graph, id: NodeId, xs: &Dims, k: &[u64], ceil: bool) -> Dims {
    let n = xs.len();
    if k.len() != n {
        return vec![None; n];
    }
    let node = g.node(id);
    let get = |name: &str, def: i64, len: usize| {
        let v = ints(g, id, name);
        if v.len() == len {
            v
        } else {
            vec![def; len]
        }
    };
    let (strides, dil, pads) = (
        get("strides", 1, n),
        get("dilations", 1, n),
        get("pads", 0, 2 * n),
    );
    let auto = node.attrs.string("auto_pad", "NOTSET").unwrap_or_default();
    (0..n)
        .map(|i| {
            let x = xs[i]? as i64;
            let s = strides[i].max(1);
            match auto.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => return Some(((x + s - 1) / s) as u64),
                "VALID" => {}
                _ => {}
            }
            let (pb, pe) = if auto == "VALID" {
                (0, 0)
            } else {
                (pads[i], pads[n + i])
            };
            let ek = dil[i] * (k[i] as i64 - 1) + 1;
            let span = x + pb + pe - ek;
            if span < 0 {
                return None;
            }
            let mut o = if ceil {
                (span + s - 1) / s + 1
            } else {
                span / s + 1
            };
            if ceil && (o - 1) * s >= x + pb {
                o -= 1;
            }
            Some(o as u64)
        })
        .collect()
}

fn dim(d: &Dims, i: usize) -> Option<u64> {
    d.get(i).copied().flatten()
}

fn ints(g: &Graph, id: NodeId, name: &str) -> Vec<i64> {
    g.node(id).attrs.ints(name, vec![]).unwrap_or_default()
}

/// Numpy-style broadcast of known dims: a known size > 1 wins, all-ones stay 1.
fn broadcast(all: &[Dims]) -> Option<Dims> {
    let r = all.iter().map(Vec::len).max()?;
    let mut out = vec![Some(1u64); r];
    for d in all {
        let off = r - d.len();
        for (i, x) in d.iter().enumerate() {
            out[off + i] = match (out[off + i], *x) {
                (Some(1), x) => x,
                (o, Some(1)) => o,
                (Some(a), Some(b)) if a == b => Some(a),
                _ => None,
            };
        }
    }
    Some(out)
}

/// Output dims of node `id` (per output slot) from its inputs' dims (`get`) in original
/// coordinates; only slot 0 unless stated.
pub fn infer(g: &Graph, id: NodeId, get: &dyn Fn(ValueRef) -> Option<Dims>) -> Vec<Option<Dims>> {
    let node = g.node(id);
    let n_out = node.outputs.len();
    let mut out: Vec<Option<Dims>> = (0..n_out)
        .map(|s| declared(g, ValueRef::new(id, s)))
        .collect();
    if out.first().is_some_and(Option::is_some) || n_out == 0 {
        return out;
    }
    let ins = g.inputs_of(id);
    let input = |i: usize| ins.get(i).copied().flatten().and_then(get);
    let Op::Onnx(op) = &node.op else {
        return out;
    };
    let chan_last = node.layout == Some(Layout::Nhwc);
    use OnnxOp::*;
    let d0 = input(0);
    let first = match op {
        Conv | ConvInteger | QLinearConv | ConvTranspose => {
            let w = input(if *op == QLinearConv { 3 } else { 1 });
            // Ranks below 3 or a weight of another rank are malformed: nothing is known.
            let r = d0.as_ref().map(Vec::len).or(w.as_ref().map(Vec::len));
            r.filter(|&r| r >= 3).map(|r| {
                let mut d = vec![None; r];
                d[0] = d0.as_ref().and_then(|x| dim(x, 0));
                let group = node.attrs.int("group", 1).unwrap_or(1).max(1) as u64;
                let m = match (op, chan_last) {
                    (ConvTranspose, false) => w.as_ref().and_then(|w| dim(w, 1)).map(|m| m * group),
                    _ => w.as_ref().and_then(|w| dim(w, 0)),
                };
                d[if chan_last { r - 1 } else { 1 }] = m;
                if *op != ConvTranspose {
                    // Spatial sizes from the kernel (weight) sizes.
                    let k: Option<Vec<u64>> = w.as_ref().filter(|w| w.len() == r).and_then(|w| {
                        let ks = if chan_last { &w[1..r - 1] } else { &w[2..] };
                        ks.iter().copied().collect()
                    });
                    let xs = d0.as_ref().map(|x| spatial(x, chan_last));
                    if let (Some(k), Some(xs)) = (k, xs) {
                        for (i, o) in window_out(g, id, &xs, &k, false).into_iter().enumerate() {
                            d[if chan_last { 1 + i } else { 2 + i }] = o;
                        }
                    }
                }
                d
            })
        }
        MaxPool | AveragePool | LpPool | GlobalAveragePool | GlobalMaxPool | GlobalLpPool => {
            let r = d0
                .as_ref()
                .map(Vec::len)
                .or_else(|| Some(ints(g, id, "kernel_shape").len() + 2).filter(|&r| r > 2));
            r.map(|r| {
                let c = if chan_last { r - 1 } else { 1 };
                let global = matches!(op, GlobalAveragePool | GlobalMaxPool | GlobalLpPool);
                (0..r)
                    .map(|i| {
                        if i == 0 || i == c {
                            d0.as_ref().and_then(|x| dim(x, i))
                        } else if global {
                            Some(1)
                        } else {
                            None
                        }
                    })
                    .collect::<Dims>()
            })
            .map(|mut d| {
                let k: Vec<u64> = ints(g, id, "kernel_shape")
                    .iter()
                    .map(|&k| k as u64)
                    .collect();
                let ceil = node.attrs.int("ceil_mode", 0).unwrap_or(0) != 0;
                if let Some(xs) = d0.as_ref().map(|x| spatial(x, chan_last)) {
                    if !k.is_empty() && k.len() + 2 == d.len() {
                        let first = if chan_last { 1 } else { 2 };
                        for (i, o) in window_out(g, id, &xs, &k, ceil).into_iter().enumerate() {
                            d[first + i] = o;
                        }
                    }
                }
                d
            })
        }
        Resize | Upsample | DepthToSpace | SpaceToDepth => d0.map(|d| vec![None; d.len()]),
        BatchNormalization
        | InstanceNormalization
        | GroupNormalization
        | LRN
        | MeanVarianceNormalization
        | LpNormalization
        | LayerNormalization
        | Softmax
        | LogSoftmax
        | Hardmax => d0,
        Concat => {
            let all: Option<Vec<Dims>> = (0..ins.len()).map(input).collect();
            all.and_then(|all| {
                let r = all.first()?.len();
                let axis = node.attrs.int("axis", 0).ok()?;
                let axis = if axis < 0 { axis + r as i64 } else { axis } as usize;
                let mut d = all[0].clone();
                if axis < r {
                    d[axis] = all.iter().map(|x| dim(x, axis)).sum();
                }
                Some(d)
            })
        }
        Flatten => d0.map(|d| {
            let r = d.len() as i64;
            let a = node.attrs.int("axis", 1).unwrap_or(1);
            let a = if a < 0 { a + r } else { a }.clamp(0, r) as usize;
            let prod = |s: &[Option<u64>]| checked_product(s.iter().copied());
            vec![prod(&d[..a]), prod(&d[a..])]
        }),
        Reshape => ins.get(1).copied().flatten().and_then(|s| {
            let shape = const_of(g, s)?.1;
            let allowzero = node.attrs.int("allowzero", 0).unwrap_or(0) != 0;
            let total = d0.as_ref().and_then(|d| checked_product(d.iter().copied()));
            let mut d: Dims = shape
                .iter()
                .enumerate()
                .map(|(i, &x)| match x {
                    x if x > 0 => Some(x as u64),
                    0 if !allowzero => d0.as_ref().and_then(|d| dim(d, i)),
                    0 => Some(0),
                    _ => None,
                })
                .collect();
            if let (Some(total), Some(pos)) = (total, shape.iter().position(|&x| x == -1)) {
                let rest = checked_product(
                    d.iter()
                        .enumerate()
                        .filter(|(i, _)| *i != pos)
                        .map(|(_, x)| *x),
                );
                d[pos] = rest.filter(|&r| r > 0).map(|r| total / r);
            }
            Some(d)
        }),
        Transpose => d0.map(|d| {
            let p = ints(g, id, "perm");
            if p.len() == d.len() {
                p.iter()
                    .map(|&i| d.get(i as usize).copied().flatten())
                    .collect()
            } else {
                d.iter().rev().copied().collect()
            }
        }),
        Gemm => Some(vec![None, None]),
        ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceProd | ReduceL1 | ReduceL2
        | ReduceLogSum | ReduceLogSumExp | ReduceSumSquare | ArgMax | ArgMin => d0.and_then(|d| {
            let r = d.len() as i64;
            let axes: Vec<i64> = if matches!(op, ArgMax | ArgMin) {
                vec![node.attrs.int("axis", 0).ok()?]
            } else if node.attrs.contains("axes") {
                ints(g, id, "axes")
            } else {
                match ins.get(1).copied().flatten() {
                    Some(v) => const_of(g, v)?.1,
                    None => (0..r).collect(),
                }
            };
            let axes: Vec<usize> = axes
                .iter()
                .map(|&a| if a < 0 { a + r } else { a })
                .filter(|a| (0..r).contains(a))
                .map(|a| a as usize)
                .collect();
            let keep = node.attrs.int("keepdims", 1).ok()? != 0;
            Some(
                d.iter()
                    .enumerate()
                    .filter_map(|(i, &x)| match (axes.contains(&i), keep) {
                        (true, true) => Some(Some(1)),
                        (true, false) => None,
                        (false, _) => Some(x),
                    })
                    .collect(),
            )
        }),
        _ if op.traits().same_shape => d0,
        _ if op.traits().broadcasting => {
            let all: Option<Vec<Dims>> = (0..ins.len())
                .filter(|&i| ins[i].is_some())
                .map(input)
                .collect();
            all.and_then(|a| broadcast(&a))
        }
        _ => None,
    };
    out[0] = first;
    if *op == Dropout && n_out > 1 {
        out[1] = out[0].clone();
    }
    out
}

/// The product of known sizes; `None` if one is unknown or it overflows (a hostile shape).
fn checked_product(mut sizes: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    sizes.try_fold(1u64, |p, x| p.checked_mul(x?))
}
