//! UNIDIRECTIONAL_SEQUENCE_LSTM and BIDIRECTIONAL_SEQUENCE_LSTM (float32) → ONNX `LSTM`.
//!
//! TFLite's separate gate tensors (order i, f, c, o) become ONNX's stacked W, R, B (order
//! i, o, f, c; R's bias half zero) and P (peepholes, order i, o, f). ONNX LSTM is time major
//! (onnxruntime has no `layout = 1`), so a batch-major op (`time_major = false`) gets a
//! Transpose on each side; `Y`'s direction axis is removed with Squeeze (one direction),
//! Gather (two unmerged outputs) or Transpose + Reshape (merged outputs). The state inputs
//! are TFLite variable tensors the runtime zeroes: they become the zero initial state (a
//! state input that is a constant or a computed value becomes `initial_h` / `initial_c`).
//!
//! `cell_clip` (TFLite clips the carried cell state; ONNX LSTM's `clip` bounds the gate
//! pre-activations instead, a different function) unrolls the LSTM over its static time
//! steps into MatMul / Sigmoid / Tanh / Clip per step ([`Unrolled`]). The TensorFlow
//! converter sets cell_clip 10 on every Keras LSTM it fuses.
//!
//! REVERSE_V2, which reverse-direction LSTMs are wrapped in, becomes `Slice` with step -1.
//!
//! Weights that are not constants (float16 weights behind DEQUANTIZE) are flattened,
//! concatenated and reshaped into W, R, B and P in the graph.
//!
//! Not supported, each with an error naming the op and the feature: quantized or hybrid
//! LSTMs, CIFG (no input gate), projection, layer normalization, cell clipping with two
//! directions or peepholes, diagonal recurrent weights,
//! auxiliary inputs, and fused activations other than TANH and RELU.

use bytes::Bytes;
use modelc_ir::{Attr, DType, OnnxOp, Tensor, ValueRef};

use super::{Ctx, OpIn};
use crate::fb::ActivationFunctionType;
use crate::TfliteError;

/// Where one direction's tensors are among the op's inputs.
struct Slots {
    /// input_to_{i,f,c,o}, recurrent_to_{i,f,c,o}, cell_to_{i,f,o}, {i,f,c,o} gate bias,
    /// projection weights, projection bias: 17 consecutive inputs from here.
    first: usize,
    output_state: usize,
    cell_state: usize,
}

/// One TFLite weight tensor: its data, or, for computed weights (float16 weights behind
/// DEQUANTIZE), the tensor whose IR value is read.
enum Part {
    Data(Vec<f32>),
    Tensor(usize),
}

/// One direction's ONNX weights, in ONNX order.
struct DirWeights {
    w: Vec<Part>,
    r: Vec<Part>,
    b: Vec<Part>,
    p: Option<Vec<Part>>,
}

/// TFLite offsets (within a direction's 17) of the gates in ONNX order i, o, f, c.
const GATES: [usize; 4] = [0, 3, 1, 2];
/// TFLite offsets of the peepholes cell_to_{input, forget, output} in ONNX order i, o, f.
const PEEPHOLES: [usize; 3] = [8, 10, 9];

fn bad(op: &OpIn, msg: impl Into<String>) -> TfliteError {
    TfliteError::invalid(op.label(), msg)
}

/// Float32 input `i` with shape `shape`: its data when it is a constant.
fn weights(cx: &Ctx, op: &OpIn, i: usize, what: &str, shape: &[i64]) -> Result<Part, TfliteError> {
    let t = op
        .inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| bad(op, format!("{what} (input {i}) is missing")))?;
    let info = cx.info(t);
    if info.dtype != DType::F32 || info.quant.is_some() {
        return Err(bad(
            op,
            format!(
                "{what} (input {i}) is {}: quantized (hybrid) LSTMs are not supported",
                info.dtype
            ),
        ));
    }
    if info.shape != shape {
        return Err(bad(
            op,
            format!(
                "{what} (input {i}) has shape {:?}, expected {shape:?}",
                info.shape
            ),
        ));
    }
    Ok(match &info.data {
        Some(data) => Part::Data(
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        None => Part::Tensor(t),
    })
}

/// The parts (every direction's, in order) as one ONNX input of shape `dims`: a constant
/// when every part is one, else flattened, concatenated and reshaped in the graph.
fn stack(
    cx: &mut Ctx,
    op: &OpIn,
    parts: Vec<Part>,
    dims: &[u64],
    name: &str,
) -> Result<ValueRef, TfliteError> {
    if parts.iter().all(|p| matches!(p, Part::Data(_))) {
        let vals: Vec<f32> = parts
            .into_iter()
            .flat_map(|p| match p {
                Part::Data(v) => v,
                Part::Tensor(_) => Vec::new(),
            })
            .collect();
        let t = Tensor::from_f32(dims.to_vec(), &vals).map_err(|e| bad(op, e.to_string()))?;
        return Ok(cx.constant(name, t));
    }
    let flat = cx.const_1d(&[-1]);
    let mut items = Vec::new();
    for p in parts {
        items.push(Some(match p {
            Part::Data(v) => cx.const_f32(&v, &[v.len() as u64]),
            Part::Tensor(t) => {
                let v = cx.view(t)?;
                cx.op(OnnxOp::Reshape, &[Some(v), Some(flat)], vec![])
            }
        }));
    }
    let all = cx.op(OnnxOp::Concat, &items, vec![("axis", Attr::Int(0))]);
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let shape = cx.const_1d(&dims);
    Ok(cx.op(OnnxOp::Reshape, &[Some(all), Some(shape)], vec![]))
}

fn present(op: &OpIn, i: usize) -> bool {
    op.inputs.get(i).copied().flatten().is_some()
}

/// Checks one direction's optional features and gathers its weights in ONNX order.
fn direction(
    cx: &Ctx,
    op: &OpIn,
    s: &Slots,
    dir: &str,
    n_in: i64,
) -> Result<(DirWeights, i64), TfliteError> {
    let f = s.first;
    if !present(op, f) {
        return Err(bad(
            op,
            format!("{dir}CIFG (no input_to_input_weights: coupled gates) is not supported"),
        ));
    }
    if present(op, f + 15) || present(op, f + 16) {
        return Err(bad(op, format!("{dir}projection is not supported")));
    }
    // n_cell from input_to_forget_weights [n_cell, n_input].
    let forget = op.inputs.get(f + 1).copied().flatten().ok_or_else(|| {
        bad(
            op,
            format!("{dir}input_to_forget_weights (input {}) is missing", f + 1),
        )
    })?;
    let h = match cx.info(forget).shape[..] {
        [h, _] if h > 0 => h,
        ref other => {
            return Err(bad(
                op,
                format!(
                    "{dir}input_to_forget_weights has shape {other:?}, expected [n_cell, n_input]"
                ),
            ))
        }
    };
    let names = ["input", "forget", "cell", "output"];
    let mut w = Vec::new();
    let mut r = Vec::new();
    let mut b = Vec::new();
    for k in GATES {
        w.push(weights(
            cx,
            op,
            f + k,
            &format!("{dir}input_to_{}_weights", names[k]),
            &[h, n_in],
        )?);
    }
    for k in GATES {
        r.push(weights(
            cx,
            op,
            f + 4 + k,
            &format!("{dir}recurrent_to_{}_weights", names[k]),
            &[h, h],
        )?);
    }
    for k in GATES {
        b.push(weights(
            cx,
            op,
            f + 11 + k,
            &format!("{dir}{}_gate_bias", names[k]),
            &[h],
        )?);
    }
    // ONNX adds W's and R's biases: R's half is zero.
    b.push(Part::Data(vec![0.0; 4 * h as usize]));
    let peepholes = PEEPHOLES.map(|k| present(op, f + k));
    let p = match peepholes {
        [false, false, false] => None,
        [true, true, true] => {
            let mut p = Vec::new();
            for k in PEEPHOLES {
                let g = ["input", "forget", "output"][k - 8];
                p.push(weights(
                    cx,
                    op,
                    f + k,
                    &format!("{dir}cell_to_{g}_weights"),
                    &[h],
                )?);
            }
            Some(p)
        }
        _ => {
            return Err(bad(
                op,
                format!("{dir}has some peephole weights but not all three"),
            ))
        }
    };
    // The state tensors are [batch, n_cell].
    for (t, what) in [
        (s.output_state, "output_state"),
        (s.cell_state, "cell_state"),
    ] {
        if !present(op, t) {
            return Err(bad(op, format!("{dir}{what} (input {t}) is missing")));
        }
    }
    Ok((DirWeights { w, r, b, p }, h))
}

/// The initial state from state input `i` ([batch, hidden]): `None` (zeros) for a variable
/// tensor (no data, written by no operator) or a zero constant, else the value.
fn initial_state(
    cx: &mut Ctx,
    op: &OpIn,
    i: usize,
    batch: i64,
    h: i64,
) -> Result<Option<ValueRef>, TfliteError> {
    let t = match op.inputs.get(i).copied().flatten() {
        Some(t) => t,
        None => return Ok(None),
    };
    let shape = &cx.info(t).shape;
    let fits = matches!(shape[..], [b, n] if n == h && (b == batch || b < 0 || batch < 0));
    if !fits {
        return Err(bad(
            op,
            format!("state input {i} has shape {shape:?}, expected [{batch}, {h}]"),
        ));
    }
    if let Some(d) = &cx.info(t).data {
        if d.iter().all(|&b| b == 0) {
            return Ok(None);
        }
    }
    match cx.view(t) {
        Ok(v) => Ok(Some(v)),
        // A variable tensor: the runtime zeroes it.
        Err(_) if cx.info(t).data.is_none() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stacks the per-direction states ([batch, hidden] each) into ONNX's
/// [num_directions, batch, hidden]; `None` when every one is zero.
fn stacked_state(
    cx: &mut Ctx,
    op: &OpIn,
    slots: &[usize],
    batch: i64,
    h: i64,
) -> Result<Option<ValueRef>, TfliteError> {
    let states: Vec<Option<ValueRef>> = slots
        .iter()
        .map(|&i| initial_state(cx, op, i, batch, h))
        .collect::<Result<_, _>>()?;
    if states.iter().all(Option::is_none) {
        return Ok(None);
    }
    if batch <= 0 {
        return Err(bad(
            op,
            "a non-zero initial state needs a static batch size",
        ));
    }
    let axes = cx.const_1d(&[0]);
    let mut parts = Vec::new();
    for s in states {
        let s = match s {
            Some(v) => v,
            None => {
                // ConstantOfShape's default value is a float32 zero.
                let shape = cx.const_1d(&[batch, h]);
                cx.op(OnnxOp::ConstantOfShape, &[Some(shape)], vec![])
            }
        };
        parts.push(Some(cx.op(
            OnnxOp::Unsqueeze,
            &[Some(s), Some(axes)],
            vec![],
        )));
    }
    Ok(Some(if parts.len() == 1 {
        parts[0].expect("one state")
    } else {
        cx.op(OnnxOp::Concat, &parts, vec![("axis", Attr::Int(0))])
    }))
}

/// The ONNX `activations` for TFLite's fused activation (cell input and output).
fn activations(
    op: &OpIn,
    act: ActivationFunctionType,
    dirs: usize,
) -> Result<Option<Attr>, TfliteError> {
    let g = match act {
        ActivationFunctionType::TANH => return Ok(None),
        ActivationFunctionType::RELU => "Relu",
        ActivationFunctionType::SIGN_BIT => {
            return Err(bad(op, "fused activation SIGN_BIT is not supported"))
        }
        other => {
            return Err(bad(
                op,
                format!(
                    "fused activation {} is not supported (TANH, RELU only)",
                    other.variant_name().unwrap_or("?")
                ),
            ))
        }
    };
    let one = ["Sigmoid", g, g].map(|s| Bytes::from_static(s.as_bytes()));
    Ok(Some(Attr::Strings(
        one.iter().cycle().take(3 * dirs).cloned().collect(),
    )))
}

/// The common part: checks the input, builds the ONNX LSTM and returns `Y` (time major,
/// [seq, num_dir, batch, hidden]) and the hidden size.
#[allow(clippy::too_many_arguments)]
fn build(
    cx: &mut Ctx,
    op: &OpIn,
    slots: &[Slots],
    act: ActivationFunctionType,
    cell_clip: f32,
    proj_clip: f32,
    time_major: bool,
) -> Result<(ValueRef, i64), TfliteError> {
    // ONNX LSTM's `clip` is not TFLite's: onnxruntime and the ONNX reference bound each
    // gate's pre-activation (and the copy of the cell state fed to `h`) but carry the
    // unclipped cell state to the next step, while TFLite clips the cell state itself, which
    // then carries. A clipped LSTM is therefore unrolled over its (static) time steps instead.
    // proj_clip acts on the projection only, which is refused on its own (see `direction`).
    let _ = proj_clip;
    if cell_clip < 0.0 || !cell_clip.is_finite() {
        return Err(bad(op, format!("cell_clip {cell_clip} is not a bound")));
    }
    let xt = cx.in_tensor(op, 0)?;
    let info = cx.info(xt);
    if info.dtype != DType::F32 || info.quant.is_some() {
        return Err(bad(
            op,
            format!("input is {}: only float32 LSTMs are supported", info.dtype),
        ));
    }
    let info_seq = (
        info.shape.first().copied().unwrap_or(-1),
        info.shape.get(1).copied().unwrap_or(-1),
    );
    let (batch, n_in) = match info.shape[..] {
        [a, b, i] if i > 0 => (if time_major { b } else { a }, i),
        ref other => {
            return Err(bad(
                op,
                format!("input has shape {other:?}, expected rank 3 with a known feature size"),
            ))
        }
    };
    let mut dirs = Vec::new();
    let mut hidden = None;
    for (d, s) in slots.iter().enumerate() {
        let tag = match (slots.len(), d) {
            (1, _) => "",
            (_, 0) => "forward ",
            _ => "backward ",
        };
        let (w, h) = direction(cx, op, s, tag, n_in)?;
        if hidden.is_some_and(|x| x != h) {
            return Err(bad(op, "the two directions have different cell sizes"));
        }
        hidden = Some(h);
        dirs.push(w);
    }
    let h = hidden.ok_or_else(|| bad(op, "has no direction"))?;
    let n = dirs.len() as u64;
    let (hu, iu) = (h as u64, n_in as u64);
    let peepholes = dirs.iter().filter(|d| d.p.is_some()).count();
    if peepholes != 0 && peepholes != dirs.len() {
        return Err(bad(op, "only one direction has peephole weights"));
    }
    let (mut ws, mut rs, mut bs, mut ps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for d in dirs {
        ws.extend(d.w);
        rs.extend(d.r);
        bs.extend(d.b);
        ps.extend(d.p.into_iter().flatten());
    }
    let w = stack(cx, op, ws, &[n, 4 * hu, iu], "W")?;
    let r = stack(cx, op, rs, &[n, 4 * hu, hu], "R")?;
    let b = stack(cx, op, bs, &[n, 8 * hu], "B")?;
    let p = if peepholes > 0 {
        Some(stack(cx, op, ps, &[n, 3 * hu], "P")?)
    } else {
        None
    };
    let initial_h = stacked_state(
        cx,
        op,
        &slots.iter().map(|s| s.output_state).collect::<Vec<_>>(),
        batch,
        h,
    )?;
    let initial_c = stacked_state(
        cx,
        op,
        &slots.iter().map(|s| s.cell_state).collect::<Vec<_>>(),
        batch,
        h,
    )?;
    let mut attrs = vec![("hidden_size", Attr::Int(h))];
    if slots.len() == 2 {
        attrs.push((
            "direction",
            Attr::String(Bytes::from_static(b"bidirectional")),
        ));
    }
    if let Some(a) = activations(op, act, slots.len())? {
        attrs.push(("activations", a));
    }
    let x = cx.req(op, 0)?;
    let x = if time_major {
        x
    } else {
        transpose(cx, x, vec![1, 0, 2])
    };
    if cell_clip > 0.0 {
        let seq = if time_major { info_seq.0 } else { info_seq.1 };
        let unrolled = Unrolled {
            w,
            r,
            b,
            initial_h,
            initial_c,
            hidden: h,
            batch,
            seq,
            cell_clip,
            act,
        };
        if slots.len() != 1 || p.is_some() {
            return Err(bad(
                op,
                format!(
                    "cell_clip {cell_clip} clips the carried cell state (ONNX LSTM's `clip` \
                     bounds the gate pre-activations instead); the unrolled form that \
                     expresses it covers one direction without peepholes"
                ),
            ));
        }
        return Ok((unrolled.build(cx, op, x)?, h));
    }
    let node = cx.node(
        modelc_ir::Op::Onnx(OnnxOp::LSTM),
        &[
            Some(x),
            Some(w),
            Some(r),
            Some(b),
            None,
            initial_h,
            initial_c,
            p,
        ],
        attrs,
        3,
    );
    Ok((ValueRef::new(node, 0), h))
}

/// A one-direction LSTM with TFLite's cell clipping, as its time steps: per step the gates
/// `x_t W^T + h R^T + b` (ONNX order i, o, f, c), `C = clip(f C + i g(c), ±cell_clip)`,
/// `h = o g(C)`; the steps' `h` stacked into ONNX LSTM's `Y` [seq, 1, batch, hidden].
struct Unrolled {
    w: ValueRef,
    r: ValueRef,
    b: ValueRef,
    initial_h: Option<ValueRef>,
    initial_c: Option<ValueRef>,
    hidden: i64,
    batch: i64,
    seq: i64,
    cell_clip: f32,
    act: ActivationFunctionType,
}

/// Steps up to which an LSTM is unrolled (each step is about fifteen nodes).
const MAX_UNROLLED_STEPS: i64 = 1024;

impl Unrolled {
    fn build(&self, cx: &mut Ctx, op: &OpIn, x: ValueRef) -> Result<ValueRef, TfliteError> {
        if self.seq <= 0 || self.seq > MAX_UNROLLED_STEPS {
            return Err(bad(
                op,
                format!(
                    "cell_clip {} needs the LSTM unrolled over a known number of time steps \
                     (at most {MAX_UNROLLED_STEPS}); the sequence length is {}",
                    self.cell_clip,
                    if self.seq <= 0 {
                        "unknown".to_string()
                    } else {
                        self.seq.to_string()
                    }
                ),
            ));
        }
        let h4 = 4 * self.hidden;
        let matrix = |cx: &mut Ctx, v: ValueRef, cols: i64| {
            // [1, 4H, cols] → [cols, 4H]
            let shape = cx.const_1d(&[h4, cols]);
            let m = cx.op(OnnxOp::Reshape, &[Some(v), Some(shape)], vec![]);
            transpose(cx, m, vec![1, 0])
        };
        let wt = matrix(cx, self.w, -1);
        let rt = matrix(cx, self.r, self.hidden);
        let bias_shape = cx.const_1d(&[2, h4]);
        let b2 = cx.op(OnnxOp::Reshape, &[Some(self.b), Some(bias_shape)], vec![]);
        let zero_axis = cx.const_1d(&[0]);
        let bias = cx.op(
            OnnxOp::ReduceSum,
            &[Some(b2), Some(zero_axis)],
            vec![("keepdims", Attr::Int(0))],
        );
        // The input's share of every step at once: [seq, batch, 4H].
        let xw = cx.op(OnnxOp::MatMul, &[Some(x), Some(wt)], vec![]);
        let xw = cx.op(OnnxOp::Add, &[Some(xw), Some(bias)], vec![]);
        // A state input the runtime zeroes is a zero [batch, hidden] (batch from the input
        // when it is not static); a given one loses its direction axis.
        let state = |cx: &mut Ctx, v: Option<ValueRef>| match v {
            Some(v) => {
                let axes = cx.const_1d(&[0]);
                cx.op(OnnxOp::Squeeze, &[Some(v), Some(axes)], vec![])
            }
            None => {
                let shape = if self.batch > 0 {
                    cx.const_1d(&[self.batch, self.hidden])
                } else {
                    let full = cx.op(OnnxOp::Shape, &[Some(x)], vec![]);
                    let (start, end) = (cx.const_1d(&[1]), cx.const_1d(&[2]));
                    let batch = cx.op(OnnxOp::Slice, &[Some(full), Some(start), Some(end)], vec![]);
                    let hidden = cx.const_1d(&[self.hidden]);
                    cx.op(
                        OnnxOp::Concat,
                        &[Some(batch), Some(hidden)],
                        vec![("axis", Attr::Int(0))],
                    )
                };
                // ConstantOfShape's default value is a float32 zero.
                cx.op(OnnxOp::ConstantOfShape, &[Some(shape)], vec![])
            }
        };
        let mut h = state(cx, self.initial_h);
        let mut c = state(cx, self.initial_c);
        let g = |cx: &mut Ctx, v: ValueRef| match self.act {
            ActivationFunctionType::RELU => cx.op(OnnxOp::Relu, &[Some(v)], vec![]),
            _ => cx.op(OnnxOp::Tanh, &[Some(v)], vec![]),
        };
        let splits = cx.const_1d(&[self.hidden; 4]);
        let mut ys = Vec::new();
        for t in 0..self.seq {
            let index = cx.const_i64(&[t], &[]);
            let xt = cx.op(
                OnnxOp::Gather,
                &[Some(xw), Some(index)],
                vec![("axis", Attr::Int(0))],
            );
            let hr = cx.op(OnnxOp::MatMul, &[Some(h), Some(rt)], vec![]);
            let gates = cx.op(OnnxOp::Add, &[Some(xt), Some(hr)], vec![]);
            let split = cx.node(
                modelc_ir::Op::Onnx(OnnxOp::Split),
                &[Some(gates), Some(splits)],
                vec![("axis", Attr::Int(1))],
                4,
            );
            let gate = |k| ValueRef::new(split, k);
            let i = cx.op(OnnxOp::Sigmoid, &[Some(gate(0))], vec![]);
            let o = cx.op(OnnxOp::Sigmoid, &[Some(gate(1))], vec![]);
            let f = cx.op(OnnxOp::Sigmoid, &[Some(gate(2))], vec![]);
            let cand = g(cx, gate(3));
            let kept = cx.op(OnnxOp::Mul, &[Some(f), Some(c)], vec![]);
            let added = cx.op(OnnxOp::Mul, &[Some(i), Some(cand)], vec![]);
            let sum = cx.op(OnnxOp::Add, &[Some(kept), Some(added)], vec![]);
            c = cx.clip(sum, -self.cell_clip, self.cell_clip);
            let gc = g(cx, c);
            h = cx.op(OnnxOp::Mul, &[Some(o), Some(gc)], vec![]);
            let axes = cx.const_1d(&[0, 1]);
            ys.push(Some(cx.op(
                OnnxOp::Unsqueeze,
                &[Some(h), Some(axes)],
                vec![],
            )));
        }
        Ok(if ys.len() == 1 {
            ys[0].expect("one step")
        } else {
            cx.op(OnnxOp::Concat, &ys, vec![("axis", Attr::Int(0))])
        })
    }
}

fn transpose(cx: &mut Ctx, v: ValueRef, perm: Vec<i64>) -> ValueRef {
    cx.op(
        OnnxOp::Transpose,
        &[Some(v)],
        vec![("perm", Attr::Ints(perm))],
    )
}

/// [seq, batch, hidden] → the op's output layout.
fn from_time_major(cx: &mut Ctx, v: ValueRef, time_major: bool) -> ValueRef {
    if time_major {
        v
    } else {
        transpose(cx, v, vec![1, 0, 2])
    }
}

pub(crate) fn unidirectional(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op
        .raw
        .builtin_options_as_unidirectional_sequence_lstmoptions()
        .ok_or_else(|| bad(op, "has no UnidirectionalSequenceLSTMOptions"))?;
    if o.diagonal_recurrent_tensors() {
        return Err(bad(op, "diagonal recurrent tensors are not supported"));
    }
    if op.inputs.len() != 20 && op.inputs.len() != 24 {
        return Err(bad(
            op,
            format!("has {} inputs, expected 20 or 24", op.inputs.len()),
        ));
    }
    if (20..24).any(|i| present(op, i)) {
        return Err(bad(op, "layer normalization is not supported"));
    }
    let slots = [Slots {
        first: 1,
        output_state: 18,
        cell_state: 19,
    }];
    let (y, _) = build(
        cx,
        op,
        &slots,
        o.fused_activation_function(),
        o.cell_clip(),
        o.proj_clip(),
        o.time_major(),
    )?;
    let axes = cx.const_1d(&[1]);
    let y = cx.op(OnnxOp::Squeeze, &[Some(y), Some(axes)], vec![]);
    let y = from_time_major(cx, y, o.time_major());
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

pub(crate) fn bidirectional(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op
        .raw
        .builtin_options_as_bidirectional_sequence_lstmoptions()
        .ok_or_else(|| bad(op, "has no BidirectionalSequenceLSTMOptions"))?;
    if op.inputs.len() != 48 {
        return Err(bad(
            op,
            format!("has {} inputs, expected 48", op.inputs.len()),
        ));
    }
    if (39..48).any(|i| present(op, i)) {
        return Err(bad(op, "auxiliary inputs are not supported"));
    }
    let slots = [
        Slots {
            first: 1,
            output_state: 35,
            cell_state: 36,
        },
        Slots {
            first: 18,
            output_state: 37,
            cell_state: 38,
        },
    ];
    let time_major = o.time_major();
    let (y, _) = build(
        cx,
        op,
        &slots,
        o.fused_activation_function(),
        o.cell_clip(),
        o.proj_clip(),
        time_major,
    )?;
    if o.merge_outputs() {
        // [seq, 2, batch, h] → [seq, batch, 2, h] → [seq, batch, 2h].
        let t = transpose(cx, y, vec![0, 2, 1, 3]);
        let shape = cx.const_1d(&[0, 0, -1]);
        let m = cx.op(OnnxOp::Reshape, &[Some(t), Some(shape)], vec![]);
        let m = from_time_major(cx, m, time_major);
        cx.define(cx.out_tensor(op, 0)?, m)?;
    } else {
        for d in 0..2 {
            let out = cx.out_tensor(op, d)?;
            let idx = cx.const_i64(&[d as i64], &[]);
            let part = cx.op(
                OnnxOp::Gather,
                &[Some(y), Some(idx)],
                vec![("axis", Attr::Int(1))],
            );
            let part = from_time_major(cx, part, time_major);
            cx.define(out, part)?;
        }
    }
    Ok(true)
}

/// REVERSE_V2 (what a reverse-direction LSTM's export wraps it in) → `Slice` with step -1 on
/// each constant axis.
pub(crate) fn reverse_v2(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let Some(axes) = cx.const_ints(op, 1)? else {
        return Ok(false);
    };
    let t = cx.in_tensor(op, 0)?;
    let Some(rank) = cx.rank(t) else {
        return Ok(false);
    };
    let r = rank as i64;
    if let Some(a) = axes.iter().find(|&&a| a < -r || a >= r) {
        return Err(bad(op, format!("axis {a} out of range for rank {rank}")));
    }
    let x = cx.req(op, 0)?;
    let n = axes.len();
    let starts = cx.const_1d(&vec![-1; n]);
    let ends = cx.const_1d(&vec![i64::MIN; n]);
    let axes = cx.const_1d(&axes);
    let steps = cx.const_1d(&vec![-1; n]);
    let y = cx.op(
        OnnxOp::Slice,
        &[Some(x), Some(starts), Some(ends), Some(axes), Some(steps)],
        vec![],
    );
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
