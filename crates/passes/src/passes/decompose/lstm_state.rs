//! `decompose-lstm-state`: a float32 `LSTM` that carries state across calls (its initial
//! state is not zeros, or its last cell state `Y_c` is read: streaming voice-activity and
//! keyword models feed the state in and take the new state out) → the cell unrolled over
//! the known time steps: one `MatMul` of the whole input sequence by `W`, then per step a
//! `MatMul` of the hidden state by `R`, `Split` into the gates, `Sigmoid` / `Tanh`, `Mul`,
//! `Add` (peepholes and `clip` included), and `Concat`s for `Y`, `Y_h`, `Y_c`.
//!
//! Why unrolled: TFLite's sequence-LSTM kernel keeps its state in variable tensors that the
//! runtime zeroes and never exposes, so neither a state input nor `Y_c` has a form there;
//! the unrolled cell is plain ops every runtime has, exact to float rounding. A WHILE loop
//! over time would also need the per-step outputs stacked (a scan output), which TFLite's
//! WHILE cannot carry. Streaming models run few steps per call; past [`MAX_STEPS`] steps, or
//! with an unknown sequence length, the LSTM stays (and a writer reports it).
//!
//! LSTMs with zero initial state whose `Y_c` is unread stay: TFLite's fused kernel is their
//! form.
//!
//! Quantized weights: W and R may come from DequantizeLinears of symmetric int8 / int4
//! constants through data-movement ops (`quantize --mode int8-weight`, `compress`; silero
//! VAD reorders the gates with Slice / Concat). Each product is then a `Gemm` (transB = 1) of
//! the input by the integers, one scale per gate row, behind a DequantizeLinear — what the
//! TFLite writer stores as INT8 / INT4 weights DEQUANTIZE feeds to FULLY_CONNECTED — instead
//! of a float MatMul. B and P behind DequantizeLinear are dequantized.

use modelc_ir::{Attr, Builder, DType, Dim, Graph, NodeId, OnnxOp, Op, Tensor, ValueRef};

use super::quantized_weight::{self, QuantizedWeight};
use super::{base_name, Decompose};
use crate::pattern::const_tensor;

pub const PASS: Decompose = Decompose {
    name: "decompose-lstm-state",
    description:
        "float32 LSTM with a state input or a read Y_c → the cell unrolled over its time steps",
    ops: &[OnnxOp::LSTM],
    opsets: 7..=i64::MAX,
    rewrite: |g, id, _, opset| unroll(g, id, opset, true),
};

/// `decompose-lstm`: the same unrolling for every float32 LSTM it can take, state or not,
/// for runtimes with no sequence-LSTM kernel at all (ExecuTorch's portable library).
pub const UNROLL_ALL: Decompose = Decompose {
    name: "decompose-lstm",
    description: "float32 LSTM (any state) → the cell unrolled over its time steps, for \
                  runtimes without an LSTM kernel",
    ops: &[OnnxOp::LSTM],
    opsets: 7..=i64::MAX,
    rewrite: |g, id, _, opset| unroll(g, id, opset, false),
};

/// Longest sequence unrolled (each step is about fifteen ops).
pub const MAX_STEPS: u64 = 128;

/// How deep [`is_zero`] follows shape-only ops back to a constant.
pub const ZERO_DEPTH: usize = 16;

/// Input slots of ONNX LSTM.
pub const X: usize = 0;
pub const W: usize = 1;
pub const R: usize = 2;
pub const BIAS: usize = 3;
pub const SEQ_LENS: usize = 4;
pub const INITIAL_H: usize = 5;
pub const INITIAL_C: usize = 6;
pub const P: usize = 7;

/// Whether `v` is all zeros: a zero constant, or a zero constant passed through shape-only
/// ops (torch exports the default state as `Expand(0, Concat(..Shape(x)..))`).
pub fn is_zero(g: &Graph, v: ValueRef, depth: usize) -> bool {
    let node = g.node(v.node);
    match &node.op {
        Op::Const(t) => {
            let Some(raw) = t.raw() else { return false };
            match t.dtype {
                DType::F32 => raw
                    .chunks_exact(4)
                    .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) == 0.0),
                _ => raw.iter().all(|&b| b == 0),
            }
        }
        Op::Onnx(op) if depth > 0 => match op {
            OnnxOp::ConstantOfShape => match node.attrs.get("value") {
                None => true,
                Some(Attr::Tensor(t)) => t.raw().is_some_and(|r| r.iter().all(|&b| b == 0)),
                Some(_) => false,
            },
            OnnxOp::Expand
            | OnnxOp::Tile
            | OnnxOp::Reshape
            | OnnxOp::Unsqueeze
            | OnnxOp::Squeeze
            | OnnxOp::Flatten
            | OnnxOp::Identity
            | OnnxOp::Cast => g.input(v.node, 0).is_some_and(|s| is_zero(g, s, depth - 1)),
            _ => false,
        },
        _ => false,
    }
}

fn is_read(g: &Graph, id: NodeId, slot: usize) -> bool {
    let v = ValueRef::new(id, slot);
    g.value(v).is_some_and(|x| !x.is_absent())
        && (!g.users(v).is_empty() || g.outputs().contains(&v))
}

/// Whether LSTM `id` carries state: a non-zero initial state, or a read `Y_c`.
pub fn carries_state(g: &Graph, id: NodeId) -> bool {
    let state_in = [INITIAL_H, INITIAL_C]
        .iter()
        .any(|&s| g.input(id, s).is_some_and(|v| !is_zero(g, v, ZERO_DEPTH)));
    state_in || is_read(g, id, 2)
}

fn f32_values(t: &Tensor) -> Option<Vec<f32>> {
    if t.dtype != DType::F32 {
        return None;
    }
    Some(
        t.raw()?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// `m` ([rows, cols], row-major) transposed.
fn transposed(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// W or R: float, or integers with one scale per row (a gate's output channel).
enum Weights {
    Float(Vec<f32>),
    Quantized {
        q: Vec<i32>,
        row_scales: Vec<f32>,
        dtype: DType,
    },
}

/// LSTM input `v` ([dirs, 4 * hidden, cols]): a float32 constant, or integers behind
/// DequantizeLinear with one scale per row.
fn weights(g: &Graph, v: ValueRef, dims: [u64; 3], opset: i64) -> Option<Weights> {
    if let Some(t) = const_tensor(g, v) {
        return (t.dims == dims)
            .then(|| f32_values(t))
            .flatten()
            .map(Weights::Float);
    }
    let w = quantized_weight::trace(g, v, opset)?;
    if w.dims != dims {
        return None;
    }
    Some(Weights::Quantized {
        row_scales: w.row_scales(dims[2] as usize)?,
        q: w.q,
        dtype: w.dtype,
    })
}

/// B or P: a float32 constant, or dequantized from integers.
fn float_input(g: &Graph, v: ValueRef, dims: [u64; 2], opset: i64) -> Option<Vec<f32>> {
    match const_tensor(g, v) {
        Some(t) => (t.dims == dims).then(|| f32_values(t)).flatten(),
        None => {
            let w: QuantizedWeight = quantized_weight::trace(g, v, opset)?;
            (w.dims == dims).then(|| w.dequantized())
        }
    }
}

/// What the rewrite needs of the node, checked before anything is added.
struct Spec {
    x: ValueRef,
    layout: i64,
    seq: u64,
    batch: u64,
    input: u64,
    hidden: u64,
    dirs: usize,
    reverse_only: bool,
    w: Weights,
    r: Weights,
    b: Option<Vec<f32>>,
    p: Option<Vec<f32>>,
    clip: Option<f32>,
    h0: Option<ValueRef>,
    c0: Option<ValueRef>,
}

/// What the unrolling needs of LSTM `id`; `None` when it cannot take it (or, with
/// `stateful_only`, when the LSTM carries no state).
fn spec(g: &Graph, id: NodeId, stateful_only: bool, opset: i64) -> Option<Spec> {
    if stateful_only && !carries_state(g, id) {
        return None;
    }
    let node = g.node(id);
    let dirs = match node.attrs.string("direction", "forward").ok()?.as_str() {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        _ => return None,
    };
    if node.attrs.int("input_forget", 0).ok()? != 0 {
        return None;
    }
    if let Some(Attr::Strings(acts)) = node.attrs.get("activations") {
        let want = ["sigmoid", "tanh", "tanh"];
        let default = acts.len() == 3 * dirs.0
            && acts
                .iter()
                .enumerate()
                .all(|(k, a)| String::from_utf8_lossy(a).eq_ignore_ascii_case(want[k % 3]));
        if !default {
            return None;
        }
    }
    let layout = node.attrs.int("layout", 0).ok()?;
    let clip = match node.attrs.get("clip") {
        Some(_) => Some(node.attrs.float("clip", 0.0).ok()?),
        None => None,
    };
    let x = g.input(id, X)?;
    if g.dtype_of(x) != Some(DType::F32) || g.input(id, SEQ_LENS).is_some() {
        return None;
    }
    let xs = g.shape_of(x)?.as_known()?;
    let (seq, batch, input) = match (layout, xs.as_slice()) {
        (0, &[s, b, i]) => (s, b, i),
        (1, &[b, s, i]) => (s, b, i),
        _ => return None,
    };
    if seq == 0 || seq > MAX_STEPS {
        return None;
    }
    let hidden = u64::try_from(node.attrs.int("hidden_size", 0).ok()?).ok()?;
    let hidden = match hidden {
        0 => {
            let rv = g.input(id, R)?;
            *g.shape_of(rv)?.as_known()?.get(2)?
        }
        h => h,
    };
    let d = dirs.0 as u64;
    let w = weights(g, g.input(id, W)?, [d, 4 * hidden, input], opset)?;
    let r = weights(g, g.input(id, R)?, [d, 4 * hidden, hidden], opset)?;
    let b = match g.input(id, BIAS) {
        Some(v) => Some(float_input(g, v, [d, 8 * hidden], opset)?),
        None => None,
    };
    let p = match g.input(id, P) {
        Some(v) => Some(float_input(g, v, [d, 3 * hidden], opset)?),
        None => None,
    };
    // A state dim not known yet (a streaming model's state input declared [2, ?, 128],
    // only the audio input pinned) is the LSTM's own: ONNX requires it to equal X's batch
    // and the weights' sizes, which are known here.
    let state_ok = |slot: usize| {
        g.input(id, slot).is_none_or(|v| {
            let want = if layout == 0 {
                [d, batch, hidden]
            } else {
                [batch, d, hidden]
            };
            g.dtype_of(v) == Some(DType::F32)
                && g.shape_of(v).is_some_and(|s| {
                    s.rank() == 3
                        && s.0.iter().zip(want).all(|(dim, w)| match dim {
                            Dim::Known(n) => *n == w,
                            Dim::Sym(_) | Dim::Unknown => true,
                        })
                })
        })
    };
    if !state_ok(INITIAL_H) || !state_ok(INITIAL_C) {
        return None;
    }
    Some(Spec {
        x,
        layout,
        seq,
        batch,
        input,
        hidden,
        dirs: dirs.0,
        reverse_only: dirs.1,
        w,
        r,
        b,
        p,
        clip,
        h0: g.input(id, INITIAL_H),
        c0: g.input(id, INITIAL_C),
    })
}

/// Direction `d`'s part of W or R ([rows, cols] of [dirs, rows, cols]) as the right operand
/// of a product: float transposed for `MatMul`, or the integers as they are (Gemm transB = 1)
/// behind a DequantizeLinear with one scale per row.
#[derive(Clone, Copy)]
enum Product {
    Float(ValueRef),
    Quantized(ValueRef),
}

impl Product {
    fn new(
        g: &mut Builder<'_>,
        w: &Weights,
        d: usize,
        rows: usize,
        cols: usize,
        name: &str,
    ) -> Product {
        let part = d * rows * cols..(d + 1) * rows * cols;
        match w {
            Weights::Float(v) => Product::Float(g.const_f32s(
                &format!("{name}_t"),
                &[cols as u64, rows as u64],
                &transposed(&v[part], rows, cols),
            )),
            Weights::Quantized {
                q,
                row_scales,
                dtype,
            } => {
                let dims = [rows as u64, cols as u64];
                let t = crate::quant::params::zero_point_tensor(*dtype, dims.to_vec(), &q[part]);
                let q = g.constant(&format!("{name}_quantized"), t);
                let scales = &row_scales[d * rows..(d + 1) * rows];
                let s = g.const_f32s(&format!("{name}_scale"), &[rows as u64], scales);
                Product::Quantized(
                    g.op(OnnxOp::DequantizeLinear, &[q, s])
                        .out(format!("{name}_dequantized"))
                        .int("axis", 0)
                        .value(),
                )
            }
        }
    }
}

fn unroll(g: &mut Builder<'_>, id: NodeId, opset: i64, stateful_only: bool) -> bool {
    let Some(s) = spec(g, id, stateful_only, opset) else {
        return false;
    };
    let name = base_name(g, id);
    let (h, n_in) = (s.hidden as usize, s.input as usize);
    let axes_as_input = opset >= 13;
    let unsqueeze = |g: &mut Builder<'_>, v: ValueRef, axis: i64, out: String| {
        g.op(OnnxOp::Unsqueeze, &[v])
            .out(out)
            .axes(&[axis], axes_as_input)
            .value()
    };
    let concat = |g: &mut Builder<'_>, parts: &[ValueRef], axis: i64, out: String| {
        if let [one] = parts {
            return *one;
        }
        g.op(OnnxOp::Concat, parts)
            .out(out)
            .int("axis", axis)
            .value()
    };
    // Time-major input and state.
    let (x, h0, c0) = if s.layout == 1 {
        let swap = |g: &mut Builder<'_>, v: ValueRef, what: &str| {
            g.op(OnnxOp::Transpose, &[v])
                .out(format!("{name}_{what}_time_major"))
                .ints("perm", [1, 0, 2])
                .value()
        };
        (
            swap(g, s.x, "x"),
            s.h0.map(|v| swap(g, v, "initial_h")),
            s.c0.map(|v| swap(g, v, "initial_c")),
        )
    } else {
        (s.x, s.h0, s.c0)
    };
    let mut y_dirs = Vec::new();
    let mut h_last = Vec::new();
    let mut c_last = Vec::new();
    for d in 0..s.dirs {
        let tag = format!("{name}_d{d}");
        let reverse = s.reverse_only || d == 1;
        let w = Product::new(g, &s.w, d, 4 * h, n_in, &format!("{tag}_w"));
        let r = Product::new(g, &s.r, d, 4 * h, h, &format!("{tag}_r"));
        let bias = |g: &mut Builder<'_>| {
            s.b.as_ref().map(|b| {
                let b = &b[d * 8 * h..(d + 1) * 8 * h];
                let sum: Vec<f32> = (0..4 * h).map(|j| b[j] + b[4 * h + j]).collect();
                g.const_f32s(&format!("{tag}_bias"), &[4 * s.hidden], &sum)
            })
        };
        // x · Wᵀ (+ Wb + Rb) for every step at once.
        let xw = match w {
            Product::Float(wt) => {
                let xw = g
                    .op(OnnxOp::MatMul, &[x, wt])
                    .out(format!("{tag}_xw"))
                    .value();
                match bias(g) {
                    Some(bias) => g
                        .op(OnnxOp::Add, &[xw, bias])
                        .out(format!("{tag}_xw_bias"))
                        .value(),
                    None => xw,
                }
            }
            Product::Quantized(wq) => {
                // Gemm takes a matrix: the steps' rows one under another, and back.
                let bias = bias(g);
                let rows = (s.seq * s.batch) as i64;
                let flat = g.const_i64s(&format!("{tag}_x_rows"), &[rows, s.input as i64]);
                let x2 = g
                    .op(OnnxOp::Reshape, &[x, flat])
                    .out(format!("{tag}_x_rows"))
                    .value();
                let xw = g
                    .op(OnnxOp::Gemm, &[x2, wq])
                    .optional(bias)
                    .out(format!("{tag}_xw_rows"))
                    .int("transB", 1)
                    .value();
                let back = g.const_i64s(
                    &format!("{tag}_xw_shape"),
                    &[s.seq as i64, s.batch as i64, 4 * h as i64],
                );
                g.op(OnnxOp::Reshape, &[xw, back])
                    .out(format!("{tag}_xw"))
                    .value()
            }
        };
        let peep: Option<[ValueRef; 3]> = s.p.as_ref().map(|p| {
            let p = &p[d * 3 * h..(d + 1) * 3 * h];
            [0, 1, 2]
                .map(|k| g.const_f32s(&format!("{tag}_p{k}"), &[s.hidden], &p[k * h..(k + 1) * h]))
        });
        let dir_index = g.const_i64(&format!("{tag}_index"), d as i64);
        let state = |g: &mut Builder<'_>, v: Option<ValueRef>, what: &str| match v {
            Some(v) => g
                .op(OnnxOp::Gather, &[v, dir_index])
                .out(format!("{tag}_{what}0"))
                .int("axis", 0)
                .value(),
            None => {
                let zeros = vec![0.0; (s.batch * s.hidden) as usize];
                g.const_f32s(&format!("{tag}_{what}0"), &[s.batch, s.hidden], &zeros)
            }
        };
        let mut hs = state(g, h0, "h");
        let mut cs = state(g, c0, "c");
        let split_sizes = g.const_i64s(&format!("{tag}_gate_sizes"), &[h as i64; 4]);
        let clip = s.clip.map(|c| {
            (
                g.const_f32(&format!("{tag}_clip_lo"), -c),
                g.const_f32(&format!("{tag}_clip_hi"), c),
            )
        });
        let mut ys = vec![None; s.seq as usize];
        let steps: Vec<u64> = if reverse {
            (0..s.seq).rev().collect()
        } else {
            (0..s.seq).collect()
        };
        for t in steps {
            let st = format!("{tag}_t{t}");
            let ti = g.const_i64(&format!("{st}_index"), t as i64);
            let xt = g
                .op(OnnxOp::Gather, &[xw, ti])
                .out(format!("{st}_x"))
                .int("axis", 0)
                .value();
            let hr = match r {
                Product::Float(rt) => g.op(OnnxOp::MatMul, &[hs, rt]),
                Product::Quantized(rq) => g.op(OnnxOp::Gemm, &[hs, rq]).int("transB", 1),
            }
            .out(format!("{st}_hr"))
            .value();
            let pre = g
                .op(OnnxOp::Add, &[xt, hr])
                .out(format!("{st}_gates"))
                .value();
            let split = g
                .op(OnnxOp::Split, &[pre])
                .name(format!("{st}_split"))
                .int("axis", 1)
                .out_names(&[
                    format!("{st}_i"),
                    format!("{st}_o"),
                    format!("{st}_f"),
                    format!("{st}_c"),
                ]);
            let split = if opset >= 13 {
                split.input(split_sizes)
            } else {
                split.ints("split", [h as i64; 4])
            };
            let gates = split.values();
            let (mut gi, mut go, mut gf, mut gc) = (gates[0], gates[1], gates[2], gates[3]);
            if let Some([pi, _, pf]) = peep {
                let a = g.op(OnnxOp::Mul, &[pi, cs]).out(format!("{st}_pi")).value();
                gi = g
                    .op(OnnxOp::Add, &[gi, a])
                    .out(format!("{st}_i_peep"))
                    .value();
                let a = g.op(OnnxOp::Mul, &[pf, cs]).out(format!("{st}_pf")).value();
                gf = g
                    .op(OnnxOp::Add, &[gf, a])
                    .out(format!("{st}_f_peep"))
                    .value();
            }
            let clipped = |g: &mut Builder<'_>, v: ValueRef, what: &str| match clip {
                Some((lo, hi)) => {
                    let out = format!("{st}_{what}_clip");
                    if opset >= 11 {
                        g.op(OnnxOp::Clip, &[v, lo, hi]).out(out).value()
                    } else {
                        let c = s.clip.unwrap_or(0.0);
                        g.op(OnnxOp::Clip, &[v])
                            .out(out)
                            .float("min", -c)
                            .float("max", c)
                            .value()
                    }
                }
                None => v,
            };
            gi = clipped(g, gi, "i");
            gf = clipped(g, gf, "f");
            gc = clipped(g, gc, "c");
            let i = g
                .op(OnnxOp::Sigmoid, &[gi])
                .out(format!("{st}_input_gate"))
                .value();
            let f = g
                .op(OnnxOp::Sigmoid, &[gf])
                .out(format!("{st}_forget_gate"))
                .value();
            let cand = g
                .op(OnnxOp::Tanh, &[gc])
                .out(format!("{st}_candidate"))
                .value();
            let kept = g
                .op(OnnxOp::Mul, &[f, cs])
                .out(format!("{st}_kept"))
                .value();
            let added = g
                .op(OnnxOp::Mul, &[i, cand])
                .out(format!("{st}_added"))
                .value();
            cs = g
                .op(OnnxOp::Add, &[kept, added])
                .out(format!("{st}_cell"))
                .value();
            if let Some([_, po, _]) = peep {
                let a = g.op(OnnxOp::Mul, &[po, cs]).out(format!("{st}_po")).value();
                go = g
                    .op(OnnxOp::Add, &[go, a])
                    .out(format!("{st}_o_peep"))
                    .value();
            }
            go = clipped(g, go, "o");
            let o = g
                .op(OnnxOp::Sigmoid, &[go])
                .out(format!("{st}_output_gate"))
                .value();
            let ct = g
                .op(OnnxOp::Tanh, &[cs])
                .out(format!("{st}_cell_tanh"))
                .value();
            hs = g
                .op(OnnxOp::Mul, &[o, ct])
                .out(format!("{st}_hidden"))
                .value();
            ys[t as usize] = Some(hs);
        }
        if is_read(g, id, 0) {
            let steps: Vec<ValueRef> = ys
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(t, v)| unsqueeze(g, v, 0, format!("{tag}_y{t}")))
                .collect();
            let y = concat(g, &steps, 0, format!("{tag}_y"));
            y_dirs.push(unsqueeze(g, y, 1, format!("{tag}_y_dir")));
        }
        h_last.push(unsqueeze(g, hs, 0, format!("{tag}_h_last")));
        c_last.push(unsqueeze(g, cs, 0, format!("{tag}_c_last")));
    }
    // Y: [seq, dirs, batch, hidden] (layout 1: [batch, seq, dirs, hidden]); Y_h, Y_c:
    // [dirs, batch, hidden] (layout 1: [batch, dirs, hidden]).
    let mut results = Vec::new();
    if is_read(g, id, 0) {
        let mut y = concat(g, &y_dirs, 1, format!("{name}_y"));
        if s.layout == 1 {
            y = g
                .op(OnnxOp::Transpose, &[y])
                .out(format!("{name}_y_batch_major"))
                .ints("perm", [2, 0, 1, 3])
                .value();
        }
        results.push((0, y));
    }
    for (slot, parts, what) in [(1, &h_last, "h"), (2, &c_last, "c")] {
        if !is_read(g, id, slot) {
            continue;
        }
        let mut v = concat(g, parts, 0, format!("{name}_y_{what}"));
        if s.layout == 1 {
            v = g
                .op(OnnxOp::Transpose, &[v])
                .out(format!("{name}_y_{what}_batch_major"))
                .ints("perm", [1, 0, 2])
                .value();
        }
        results.push((slot, v));
    }
    for (slot, v) in results {
        g.take_over(ValueRef::new(id, slot), v);
    }
    modelc_ir::build::remove_with_dead_consts(g, &[id]);
    true
}
