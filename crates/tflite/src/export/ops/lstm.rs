//! ONNX `LSTM` → TFLite UNIDIRECTIONAL_SEQUENCE_LSTM, one per direction.
//!
//! Supported: float32, `direction` forward / reverse / bidirectional, `layout` 0 (time
//! major) or 1 (batch major), the default activations (Sigmoid, Tanh, Tanh), constant W, R
//! and optional B and P (peepholes), no `sequence_lens` (or a constant one equal to the
//! sequence length), and an initial state that is absent or zeros (TFLite keeps the state in
//! variable tensors the runtime zeroes; see below for the others). The ONNX gate order i, o,
//! f, c becomes TFLite's separate i, f, c, o tensors, and the two ONNX biases (W's and R's)
//! are added. Constant weights may be float16 cast to float, and stacked from pieces by
//! data-movement ops (as a TFLite import of float16 weights is); they are written as float32.
//!
//! A reverse direction runs on the input reversed in time (REVERSE_V2) and its output is
//! reversed back. `Y` is the per-direction outputs with the direction axis (RESHAPE, and
//! CONCATENATION for two directions) unless its only reader drops that axis: a Squeeze of
//! the direction axis (one direction; torch's export) reads the LSTM output directly, and
//! torch's bidirectional Transpose + Reshape to `[seq, batch, 2 * hidden]` becomes one
//! CONCATENATION. `Y_h` is each direction's last step (STRIDED_SLICE). `Y_c` and a state
//! input have no form here (TFLite's kernel keeps its state in variable tensors): the
//! `decompose-lstm-state` pass unrolls such LSTMs before lowering, and one it could not
//! unroll is reported.
//!
//! torch's `batch_first` form, `Transpose([1, 0, 2]) → LSTM → … → LSTM → Transpose([1, 0,
//! 2])` with each LSTM's Y read directly by the next, runs batch major (time_major = false)
//! without the Transposes ([`prepare`] finds these chains, and the zero-state and weight
//! computations that need no op, before lowering starts).

use std::collections::HashSet;

use bytes::Bytes;
use modelc_ir::{Attr, DType, NodeId, OnnxOp, Op, ValueRef};
use modelc_passes::passes::decompose::{lstm_state, quantized_weight};

use super::dynamic::concat_into;
use super::shape::reshape;
use crate::export::lower::{attr_i, attr_ints, attr_s, Lower};
use crate::fb::{self, ActivationFunctionType, BuiltinOperator as B, BuiltinOptions};
use crate::TfliteError;

fn unsupported(m: impl Into<String>) -> TfliteError {
    TfliteError::Unsupported(m.into())
}

// Input slots of ONNX LSTM (the pass's list).
use lstm_state::{BIAS, INITIAL_C, INITIAL_H, P, R, SEQ_LENS, W, X};

/// ONNX gate index (i, o, f, c) of TFLite's gates in TFLite's order i, f, c, o.
const GATES: [usize; 4] = [0, 2, 3, 1];
/// ONNX peephole index (i, o, f) of TFLite's cell_to_input, cell_to_forget, cell_to_output.
const PEEPHOLES: [usize; 3] = [0, 2, 1];

/// Whether `v` is all zeros (through shape-only ops): the state TFLite's variable tensors
/// start from. The `decompose-lstm-state` pass owns the test (it unrolls the other LSTMs).
fn is_zero(lowering: &Lower, v: ValueRef) -> bool {
    lstm_state::is_zero(
        lowering.g,
        lowering.model.resolve(v),
        lstm_state::ZERO_DEPTH,
    )
}

/// Nodes that only compute LSTM inputs the lowering takes as constants: initial states that
/// are zeros (the state is the TFLite variable tensor's) and weights computed from constants
/// (see [`eval_f32`]). Every node all of whose readers are such an LSTM input or another
/// node of the set needs no op. `order` is topological.
fn constant_input_producers(lowering: &Lower, order: &[NodeId]) -> HashSet<NodeId> {
    let outputs: HashSet<ValueRef> = lowering.g.outputs().iter().copied().collect();
    let mut dead: HashSet<NodeId> = HashSet::new();
    for &id in order.iter().rev() {
        let node = lowering.g.node(id);
        if !matches!(node.op, Op::Onnx(_)) {
            continue;
        }
        let mut readers = 0;
        let all_dead = (0..node.outputs.len()).all(|s| {
            let v = ValueRef::new(id, s);
            if outputs.contains(&v) {
                return false;
            }
            lowering.g.users(v).into_iter().all(|(u, slot)| {
                readers += 1;
                dead.contains(&u)
                    || (lowering.g.node(u).op.onnx() == Some(OnnxOp::LSTM)
                        && match slot {
                            INITIAL_H | INITIAL_C => is_zero(lowering, v),
                            W | R | BIAS | P => eval_f32(lowering, v, EVAL_DEPTH).is_some(),
                            _ => false,
                        })
            })
        });
        if all_dead && readers > 0 {
            dead.insert(id);
        }
    }
    dead
}

/// Whether output `slot` of `id` is read (by a node or as a graph output).
fn is_used(lowering: &Lower, id: NodeId, slot: usize) -> bool {
    let v = ValueRef::new(id, slot);
    let present = lowering.g.value(v).is_some_and(|val| !val.is_absent());
    present && (!lowering.g.users(v).is_empty() || lowering.g.outputs().contains(&v))
}

/// The only reader of `v` when `v` is not a graph output.
fn only_reader(lowering: &Lower, v: ValueRef) -> Option<NodeId> {
    if lowering.g.outputs().contains(&v) {
        return None;
    }
    match lowering.g.users(v).as_slice() {
        [(u, 0)] => Some(*u),
        _ => None,
    }
}

/// How deep [`eval_f32`] follows data-movement ops back to constants.
const EVAL_DEPTH: usize = 8;

/// The float contents and dims of `v` when it is computed from constants only by moving
/// data: a float32 constant, a float16 one cast to float (fp16 weights), a symmetric int8 /
/// int4 one behind DequantizeLinear (dequantized), and Reshape /
/// Unsqueeze / Squeeze / Flatten / Identity / Concat of such values (a TFLite import's
/// stacked float16 weights).
fn eval_f32(lowering: &Lower, v: ValueRef, depth: usize) -> Option<(Vec<f32>, Vec<u64>)> {
    let v = lowering.model.resolve(v);
    let node = lowering.g.node(v.node);
    let (vals, dims): (Vec<f32>, Vec<u64>) = match &node.op {
        Op::Const(t) => {
            let raw = t.raw()?;
            let vals = match t.dtype {
                DType::F32 => raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                DType::F16 => raw
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                _ => return None,
            };
            (vals, t.dims.clone())
        }
        Op::Onnx(op) if depth > 0 => match op {
            OnnxOp::Cast if lowering.model.dtype_of(v) == Some(DType::F32) => {
                eval_f32(lowering, lowering.g.input(v.node, 0)?, depth - 1)?
            }
            OnnxOp::Reshape
            | OnnxOp::Unsqueeze
            | OnnxOp::Squeeze
            | OnnxOp::Flatten
            | OnnxOp::Identity => {
                let (vals, _) = eval_f32(lowering, lowering.g.input(v.node, 0)?, depth - 1)?;
                let dims = lowering.model.shape_of(v)?;
                if dims.iter().any(|&d| d < 0) {
                    return None;
                }
                (vals, dims.iter().map(|&d| d as u64).collect())
            }
            OnnxOp::Concat => {
                let parts: Vec<(Vec<f32>, Vec<u64>)> = lowering
                    .g
                    .inputs_of(v.node)
                    .into_iter()
                    .map(|i| eval_f32(lowering, i?, depth - 1))
                    .collect::<Option<_>>()?;
                let rank = parts.first()?.1.len();
                let axis = attr_i(lowering.g, v.node, "axis", 0);
                let axis = if axis < 0 { axis + rank as i64 } else { axis };
                let axis = usize::try_from(axis).ok().filter(|&a| a < rank)?;
                let mut dims = parts[0].1.clone();
                dims[axis] = 0;
                for (_, d) in &parts {
                    if d.len() != rank || (0..rank).any(|k| k != axis && d[k] != parts[0].1[k]) {
                        return None;
                    }
                    dims[axis] += d[axis];
                }
                let outer: u64 = dims[..axis].iter().product();
                let mut vals = Vec::new();
                for o in 0..outer as usize {
                    for (pv, pd) in &parts {
                        let chunk: u64 = pd[axis..].iter().product();
                        let chunk = chunk as usize;
                        vals.extend_from_slice(pv.get(o * chunk..(o + 1) * chunk)?);
                    }
                }
                (vals, dims)
            }
            // Quantized weights (int8 / int4 behind DequantizeLinear): TFLite's sequence-LSTM
            // kernel takes them float.
            OnnxOp::DequantizeLinear => quantized_weight::dequantize(lowering.g, v.node)?,
            _ => return None,
        },
        _ => return None,
    };
    (modelc_ir::element_count(&dims) == Some(vals.len() as u64)).then_some((vals, dims))
}

/// The f32 contents of input `i`, with its dims, when it is a constant (see [`eval_f32`]).
fn const_f32(
    lowering: &Lower,
    id: NodeId,
    i: usize,
    what: &str,
) -> Result<(Vec<f32>, Vec<u64>), TfliteError> {
    let v = lowering
        .g
        .input(id, i)
        .ok_or_else(|| unsupported(format!("{what} is missing")))?;
    if lowering.model.dtype_of(v) != Some(DType::F32) {
        return Err(unsupported(format!("{what}: only float32 is supported")));
    }
    eval_f32(lowering, v, EVAL_DEPTH)
        .ok_or_else(|| unsupported(format!("{what} must be a constant")))
}

fn f32_bytes(v: &[f32]) -> Bytes {
    Bytes::from(v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>())
}

/// What one direction needs, checked before anything is emitted.
struct Direction {
    reverse: bool,
    /// input_to_{i,f,c,o}, recurrent_to_{i,f,c,o}, biases {i,f,c,o}: row-major data.
    input_w: [Vec<f32>; 4],
    recurrent_w: [Vec<f32>; 4],
    bias: [Vec<f32>; 4],
    peephole: Option<[Vec<f32>; 3]>,
}

pub(crate) fn lstm(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    if lowering.quantized {
        return Err(unsupported("quantized LSTM (only float32 is supported)"));
    }
    // ---------------------------------------------------------------- checks
    let direction = attr_s(lowering.g, id, "direction", "forward");
    let num_dir = match direction.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        other => return Err(unsupported(format!("direction `{other}`"))),
    };
    let layout = attr_i(lowering.g, id, "layout", 0);
    if !matches!(layout, 0 | 1) {
        return Err(unsupported(format!("layout {layout}")));
    }
    let time_major = layout == 0;
    if lowering.g.node(id).attrs.contains("clip") {
        return Err(unsupported(
            "`clip` (TFLite clips the cell state, not the gate inputs)",
        ));
    }
    if attr_i(lowering.g, id, "input_forget", 0) != 0 {
        return Err(unsupported(
            "input_forget = 1 (coupled input and forget gates)",
        ));
    }
    if let Some(Attr::Strings(acts)) = lowering.g.node(id).attrs.get("activations") {
        let want = ["sigmoid", "tanh", "tanh"];
        let default = acts.len() == 3 * num_dir
            && acts
                .iter()
                .enumerate()
                .all(|(k, a)| String::from_utf8_lossy(a).eq_ignore_ascii_case(want[k % 3]));
        if !default {
            let names: Vec<_> = acts.iter().map(|a| String::from_utf8_lossy(a)).collect();
            return Err(unsupported(format!(
                "activations {names:?} (TFLite's LSTM has Sigmoid, Tanh, Tanh)"
            )));
        }
    }
    let xv = lowering
        .g
        .input(id, X)
        .ok_or_else(|| unsupported("input X is missing"))?;
    if lowering.model.dtype_of(xv) != Some(DType::F32) {
        return Err(unsupported("only float32 LSTMs are supported"));
    }
    let xs = lowering
        .model
        .shape_of(xv)
        .filter(|s| s.len() == 3)
        .ok_or_else(|| unsupported("input X needs a known rank-3 shape"))?;
    let (seq, batch, input_size) = if time_major {
        (xs[0], xs[1], xs[2])
    } else {
        (xs[1], xs[0], xs[2])
    };
    if batch <= 0 {
        return Err(unsupported(
            "the batch size must be static (TFLite's LSTM state tensors have a fixed shape)",
        ));
    }
    if let Some(sl) = lowering.g.input(id, SEQ_LENS) {
        let all_full = lowering
            .model
            .const_ints(sl)
            .is_some_and(|v| seq > 0 && v.iter().all(|&l| l == seq));
        if !all_full {
            return Err(unsupported(
                "sequence_lens (only absent or a constant equal to the sequence length)",
            ));
        }
    }
    for (slot, what) in [(INITIAL_H, "initial_h"), (INITIAL_C, "initial_c")] {
        if let Some(v) = lowering.g.input(id, slot) {
            if !is_zero(lowering, v) {
                return Err(unsupported(format!(
                    "{what} is not constant zeros (TFLite keeps the LSTM state in variable \
                     tensors that start at zero), and decompose-lstm-state could not unroll \
                     the cell (it needs float32, constant W, R, B and P, the default \
                     activations, no sequence_lens and a known sequence length of at most {} \
                     steps)",
                    lstm_state::MAX_STEPS
                )));
            }
        }
    }
    if is_used(lowering, id, 2) {
        return Err(unsupported(format!(
            "Y_c (the last cell state) is read, and TFLite's LSTM has no such output; \
             decompose-lstm-state could not unroll the cell (it needs float32, constant W, \
             R, B and P, the default activations, no sequence_lens and a known sequence \
             length of at most {} steps)",
            lstm_state::MAX_STEPS
        )));
    }
    let (w, wd) = const_f32(lowering, id, W, "W")?;
    let (r, rd) = const_f32(lowering, id, R, "R")?;
    let hidden = rd.get(2).copied().unwrap_or(0) as usize;
    if hidden == 0 {
        return Err(unsupported(format!(
            "R has shape {rd:?}, expected [num_directions, 4*hidden, hidden]"
        )));
    }
    let h_attr = attr_i(lowering.g, id, "hidden_size", hidden as i64);
    if h_attr != hidden as i64 {
        return Err(unsupported(format!(
            "hidden_size {h_attr} but R has shape {rd:?}"
        )));
    }
    let n_in = if input_size > 0 {
        input_size as usize
    } else {
        wd.get(2).copied().unwrap_or(0) as usize
    };
    if wd != [num_dir as u64, 4 * hidden as u64, n_in as u64] {
        return Err(unsupported(format!(
            "W has shape {wd:?}, expected [{num_dir}, {}, {n_in}]",
            4 * hidden
        )));
    }
    if rd != [num_dir as u64, 4 * hidden as u64, hidden as u64] {
        return Err(unsupported(format!(
            "R has shape {rd:?}, expected [{num_dir}, {}, {hidden}]",
            4 * hidden
        )));
    }
    let bias = match lowering.g.input(id, BIAS) {
        Some(_) => {
            let (b, bd) = const_f32(lowering, id, BIAS, "B")?;
            if bd != [num_dir as u64, 8 * hidden as u64] {
                return Err(unsupported(format!(
                    "B has shape {bd:?}, expected [{num_dir}, {}]",
                    8 * hidden
                )));
            }
            Some(b)
        }
        None => None,
    };
    let peep = match lowering.g.input(id, P) {
        Some(_) => {
            let (p, pd) = const_f32(lowering, id, P, "P")?;
            if pd != [num_dir as u64, 3 * hidden as u64] {
                return Err(unsupported(format!(
                    "P has shape {pd:?}, expected [{num_dir}, {}]",
                    3 * hidden
                )));
            }
            Some(p)
        }
        None => None,
    };
    let h = hidden;
    let dirs: Vec<Direction> = (0..num_dir)
        .map(|d| {
            let w = &w[d * 4 * h * n_in..(d + 1) * 4 * h * n_in];
            let r = &r[d * 4 * h * h..(d + 1) * 4 * h * h];
            let gate =
                |m: &[f32], k: usize, cols: usize| m[k * h * cols..(k + 1) * h * cols].to_vec();
            let bias = |k: usize| match &bias {
                Some(b) => {
                    let b = &b[d * 8 * h..(d + 1) * 8 * h];
                    (0..h).map(|j| b[k * h + j] + b[(4 + k) * h + j]).collect()
                }
                None => vec![0.0; h],
            };
            Direction {
                reverse: direction == "reverse" || d == 1,
                input_w: GATES.map(|k| gate(w, k, n_in)),
                recurrent_w: GATES.map(|k| gate(r, k, h)),
                bias: GATES.map(bias),
                peephole: peep.as_ref().map(|p| {
                    let p = &p[d * 3 * h..(d + 1) * 3 * h];
                    PEEPHOLES.map(|k| p[k * h..(k + 1) * h].to_vec())
                }),
            }
        })
        .collect();

    // ---------------------------------------------------------------- emit
    // In a batch-major chain the LSTM runs with time_major = false on the batch-major data
    // its absorbed Transpose (or the previous LSTM of the chain) provides.
    let chain = if time_major {
        chain_of(lowering, id)
    } else {
        None
    };
    let time_major = time_major && chain.is_none();
    let xs = if chain.is_some() {
        vec![xs[1], xs[0], xs[2]]
    } else {
        xs
    };
    let input = lowering.req(id, X)?;
    let name = lowering.model.value_name(ValueRef::new(id, 0));
    let time_axis = if time_major { 0 } else { 1 };
    let seq_shape = if time_major {
        vec![seq, batch, h as i64]
    } else {
        vec![batch, seq, h as i64]
    };
    // Y: [seq, num_dir, batch, hidden] (layout 0) or [batch, seq, num_dir, hidden].
    let y_used = is_used(lowering, id, 0);
    let dir_axis = if layout == 0 { 1 } else { 2 };
    // When Y's reader(s) drop the direction axis, the tensor the directions' outputs go
    // into, side by side ([seq, batch, num_dir * hidden], batch first in a chain).
    let direct_out = match &chain {
        Some(c) => {
            let (_, last) = c
                .links
                .iter()
                .zip(&c.lstms)
                .find(|(_, &l)| l == id)
                .map(|(link, _)| link.clone())
                .ok_or_else(|| unsupported("LSTM chain without this LSTM"))?;
            let mut shape = seq_shape.clone();
            shape[2] *= num_dir as i64;
            let t = if c.lstms.last() == Some(&id) {
                // The chain's closing Transpose produces the model's batch-major value.
                lowering
                    .model
                    .value_tensor(ValueRef::new(c.last, 0), None)?
            } else {
                let t = lowering.model.add_tensor(
                    lowering.model.value_name(last),
                    DType::F32,
                    shape,
                    None,
                    None,
                )?;
                lowering.model.map.insert(last, t);
                t
            };
            Some(t)
        }
        None if y_used => match direct_reader(lowering, ValueRef::new(id, 0), num_dir, dir_axis) {
            Some((readers, last)) => {
                lowering.absorbed.extend(readers);
                Some(lowering.model.value_tensor(last, None)?)
            }
            None => None,
        },
        None => None,
    };
    // The per-direction outputs in the original time order (`ys`), and as computed (`zs`).
    let mut ys = Vec::new();
    let mut zs = Vec::new();
    for dir in &dirs {
        let tag = if dir.reverse { "bw" } else { "fw" };
        let base = format!("{name}/{tag}");
        let src = if dir.reverse {
            let t = lowering.model.add_tensor(
                format!("{base}/input_reversed"),
                DType::F32,
                xs.clone(),
                None,
                None,
            )?;
            reverse(lowering, input, t, time_axis)?;
            t
        } else {
            input
        };
        let mut ins: Vec<Option<usize>> = vec![Some(src)];
        let gates = ["input", "forget", "cell", "output"];
        for (k, g) in gates.iter().enumerate() {
            let shape = vec![h as i64, n_in as i64];
            let t = weight(
                lowering,
                &format!("{base}/input_to_{g}_weights"),
                &dir.input_w[k],
                shape,
            )?;
            ins.push(Some(t));
        }
        for (k, g) in gates.iter().enumerate() {
            let shape = vec![h as i64, h as i64];
            let t = weight(
                lowering,
                &format!("{base}/recurrent_to_{g}_weights"),
                &dir.recurrent_w[k],
                shape,
            )?;
            ins.push(Some(t));
        }
        for (k, g) in ["input", "forget", "output"].iter().enumerate() {
            match &dir.peephole {
                Some(p) => {
                    let shape = vec![h as i64];
                    let t = weight(
                        lowering,
                        &format!("{base}/cell_to_{g}_weights"),
                        &p[k],
                        shape,
                    )?;
                    ins.push(Some(t));
                }
                None => ins.push(None),
            }
        }
        for (k, g) in gates.iter().enumerate() {
            let t = weight(
                lowering,
                &format!("{base}/{g}_gate_bias"),
                &dir.bias[k],
                vec![h as i64],
            )?;
            ins.push(Some(t));
        }
        // Projection weights and bias.
        ins.extend([None, None]);
        let state = vec![batch, h as i64];
        let hs = lowering.model.variable_tensor(
            format!("{base}/output_state"),
            DType::F32,
            state.clone(),
        )?;
        let cs = lowering
            .model
            .variable_tensor(format!("{base}/cell_state"), DType::F32, state)?;
        ins.extend([Some(hs), Some(cs)]);
        // Layer-norm coefficients.
        ins.extend([None, None, None, None]);
        let z = match direct_out {
            Some(t) if !dir.reverse && num_dir == 1 => t,
            _ => lowering.model.add_tensor(
                format!("{base}/output"),
                DType::F32,
                seq_shape.clone(),
                None,
                None,
            )?,
        };
        let o = fb::UnidirectionalSequenceLSTMOptions::create(
            &mut lowering.model.fbb,
            &fb::UnidirectionalSequenceLSTMOptionsArgs {
                fused_activation_function: ActivationFunctionType::TANH,
                cell_clip: 0.0,
                proj_clip: 0.0,
                time_major,
                asymmetric_quantize_inputs: false,
                diagonal_recurrent_tensors: false,
            },
        )
        .as_union_value();
        lowering.model.emit(
            B::UNIDIRECTIONAL_SEQUENCE_LSTM,
            1,
            &ins,
            &[z],
            Some((BuiltinOptions::UnidirectionalSequenceLSTMOptions, o)),
        );
        zs.push(z);
        if dir.reverse && y_used {
            let t = match direct_out {
                Some(t) if num_dir == 1 => t,
                _ => lowering.model.add_tensor(
                    format!("{base}/output_reversed"),
                    DType::F32,
                    seq_shape.clone(),
                    None,
                    None,
                )?,
            };
            reverse(lowering, z, t, time_axis)?;
            ys.push(t);
        } else {
            ys.push(z);
        }
    }

    if let (Some(out), 2) = (direct_out, num_dir) {
        // torch's bidirectional Transpose + Reshape: the two outputs side by side.
        concat_into(lowering, &ys, out, 2)?;
    } else if y_used && direct_out.is_none() {
        let out = lowering.output(0)?;
        let mut with_axis = seq_shape.clone();
        with_axis.insert(dir_axis, 1);
        if num_dir == 1 {
            reshape(lowering, ys[0], out, &with_axis)?;
        } else {
            let mut parts = Vec::new();
            for (d, &t) in ys.iter().enumerate() {
                let p = lowering.model.add_tensor(
                    format!("{name}/dir{d}"),
                    DType::F32,
                    with_axis.clone(),
                    None,
                    None,
                )?;
                reshape(lowering, t, p, &with_axis)?;
                parts.push(p);
            }
            concat_into(lowering, &parts, out, dir_axis as i32)?;
        }
    }
    // Y_h: [num_dir, batch, hidden] (layout 0) or [batch, num_dir, hidden]: the last step
    // each direction computed.
    if is_used(lowering, id, 1) {
        let out = lowering.output(1)?;
        let mut step = seq_shape.clone();
        step[time_axis] = 1;
        if num_dir == 1 {
            last_step(lowering, zs[0], out, time_axis)?;
        } else {
            let mut parts = Vec::new();
            for (d, &z) in zs.iter().enumerate() {
                let p = lowering.model.add_tensor(
                    format!("{name}/h{d}"),
                    DType::F32,
                    step.clone(),
                    None,
                    None,
                )?;
                last_step(lowering, z, p, time_axis)?;
                parts.push(p);
            }
            concat_into(lowering, &parts, out, time_axis as i32)?;
        }
    }
    Ok(())
}

/// A float32 constant tensor.
fn weight(
    lowering: &mut Lower,
    name: &str,
    vals: &[f32],
    shape: Vec<i64>,
) -> Result<usize, TfliteError> {
    lowering.model.add_tensor(
        name.to_string(),
        DType::F32,
        shape,
        Some(&f32_bytes(vals)),
        None,
    )
}

/// When the only reader of Y drops the direction axis, the nodes to skip and the value
/// they produce, which the LSTM outputs then give directly:
/// - one direction: `Squeeze(Y, [dir_axis])`;
/// - two directions, layout 0: `Reshape(Transpose(Y, [0, 2, 1, 3]), [seq, batch, 2*hidden])`
///   (torch's bidirectional export), a concatenation of the two on the last axis.
fn direct_reader(
    lowering: &Lower,
    y: ValueRef,
    num_dir: usize,
    dir_axis: usize,
) -> Option<(Vec<NodeId>, ValueRef)> {
    let mut y_shape = lowering.model.shape_of(y)?;
    if y_shape.len() != 4 {
        return None;
    }
    let u = only_reader(lowering, y)?;
    let node = lowering.g.node(u);
    if num_dir == 1 {
        if node.op.onnx() != Some(OnnxOp::Squeeze) {
            return None;
        }
        let axes = match lowering.g.input(u, 1) {
            Some(a) => lowering.model.const_ints(a)?,
            None => attr_ints(lowering.g, u, "axes")?,
        };
        let ok =
            matches!(axes.as_slice(), [a] if *a == dir_axis as i64 || *a == dir_axis as i64 - 4);
        let out = ValueRef::new(u, 0);
        y_shape.remove(dir_axis);
        return (ok && lowering.model.shape_of(out) == Some(y_shape)).then_some((vec![u], out));
    }
    if dir_axis != 1
        || node.op.onnx() != Some(OnnxOp::Transpose)
        || attr_ints(lowering.g, u, "perm").as_deref() != Some(&[0, 2, 1, 3])
    {
        return None;
    }
    let t = ValueRef::new(u, 0);
    let rs = only_reader(lowering, t)?;
    if lowering.g.node(rs).op.onnx() != Some(OnnxOp::Reshape) {
        return None;
    }
    let out = ValueRef::new(rs, 0);
    let want = [y_shape[0], y_shape[2], 2 * y_shape[3]];
    let shape = lowering.model.shape_of(out)?;
    (shape == want && want.iter().all(|&d| d > 0)).then_some((vec![u, rs], out))
}

/// Whether node `id` is a Transpose swapping the first two axes of a rank-3 tensor.
fn is_swap01(lowering: &Lower, id: NodeId) -> bool {
    lowering.g.node(id).op.onnx() == Some(OnnxOp::Transpose)
        && attr_ints(lowering.g, id, "perm").as_deref() == Some(&[1, 0, 2])
}

/// A run of time-major LSTMs between two `[1, 0, 2]` Transposes (torch's `batch_first`):
/// `Transpose → LSTM → (direct reader) → LSTM → … → (direct reader) → Transpose`. Each LSTM
/// runs batch major (time_major = false) and the Transposes and direct readers need no op.
#[derive(Clone)]
pub(crate) struct Chain {
    first: NodeId,
    lstms: Vec<NodeId>,
    /// Per LSTM: the direct reader nodes of its Y and the value they produce.
    links: Vec<(Vec<NodeId>, ValueRef)>,
    last: NodeId,
}

/// LSTM `id` as a chain member: layout 0, Y_h and Y_c unread, Y read directly.
fn link(lowering: &Lower, id: NodeId) -> Option<(Vec<NodeId>, ValueRef)> {
    if lowering.g.node(id).op.onnx() != Some(OnnxOp::LSTM)
        || attr_i(lowering.g, id, "layout", 0) != 0
        || is_used(lowering, id, 1)
        || is_used(lowering, id, 2)
    {
        return None;
    }
    let num_dir = match attr_s(lowering.g, id, "direction", "forward").as_str() {
        "bidirectional" => 2,
        _ => 1,
    };
    direct_reader(lowering, ValueRef::new(id, 0), num_dir, 1)
}

/// The chain starting at Transpose `first`, if it is one.
fn chain_from(lowering: &Lower, first: NodeId) -> Option<Chain> {
    if !is_swap01(lowering, first) {
        return None;
    }
    let mut c = Chain {
        first,
        lstms: Vec::new(),
        links: Vec::new(),
        last: first,
    };
    let mut cur = only_reader(lowering, ValueRef::new(first, 0))?;
    // Each step takes a new LSTM; a graph has finitely many.
    for _ in 0..lowering.g.node_count() {
        let l = link(lowering, cur)?;
        let next = only_reader(lowering, l.1)?;
        c.lstms.push(cur);
        c.links.push(l);
        if is_swap01(lowering, next) {
            c.last = next;
            return Some(c);
        }
        cur = next;
    }
    None
}

/// The chain LSTM `id` belongs to: back along X inputs to the opening Transpose.
fn chain_of(lowering: &Lower, id: NodeId) -> Option<Chain> {
    let mut cur = id;
    for _ in 0..lowering.g.node_count() {
        let p = lowering.g.input(cur, X)?.node;
        if is_swap01(lowering, p) {
            return chain_from(lowering, p).filter(|c| c.lstms.contains(&id));
        }
        // A direct reader (one or two nodes) of the previous LSTM's Y.
        let mut q = p;
        let mut prev = None;
        for _ in 0..2 {
            let src = lowering.g.input(q, 0)?;
            if lowering.g.node(src.node).op.onnx() == Some(OnnxOp::LSTM) && src.slot == 0 {
                prev = Some(src.node);
                break;
            }
            q = src.node;
        }
        cur = prev?;
    }
    None
}

/// Before lowering: skips the nodes that only compute zero LSTM initial states or weights
/// from constants, and the
/// Transposes and direct readers of batch-major chains (the opening Transpose's readers
/// see its input).
pub(crate) fn prepare(lowering: &mut Lower, order: &[NodeId]) {
    let dead = constant_input_producers(lowering, order);
    lowering.absorbed.extend(dead);
    for &id in order {
        if !is_swap01(lowering, id) || lowering.absorbed.contains(&id) {
            continue;
        }
        let Some(c) = chain_from(lowering, id) else {
            continue;
        };
        let Some(src) = lowering.g.input(c.first, 0) else {
            continue;
        };
        lowering.model.alias.insert(ValueRef::new(c.first, 0), src);
        lowering.absorbed.insert(c.first);
        lowering.absorbed.insert(c.last);
        for (readers, _) in &c.links {
            lowering.absorbed.extend(readers.iter().copied());
        }
    }
}

fn reverse(lowering: &mut Lower, input: usize, out: usize, axis: usize) -> Result<(), TfliteError> {
    let a = lowering.model.const_i32("axis", &[axis as i32], vec![1])?;
    let o = fb::ReverseV2Options::create(&mut lowering.model.fbb, &fb::ReverseV2OptionsArgs {})
        .as_union_value();
    lowering.model.emit(
        B::REVERSE_V2,
        1,
        &[Some(input), Some(a)],
        &[out],
        Some((BuiltinOptions::ReverseV2Options, o)),
    );
    Ok(())
}

/// `out = input[..., -1:, ...]` along `axis` of a rank-3 tensor (the dimension kept).
fn last_step(
    lowering: &mut Lower,
    input: usize,
    out: usize,
    axis: usize,
) -> Result<(), TfliteError> {
    let mut begin = vec![0i32; 3];
    begin[axis] = -1;
    let all = (1 << 3) - 1;
    let window = [begin, vec![0; 3], vec![1; 3]];
    super::shape::strided_slice(lowering, 1, input, out, &window, (all & !(1 << axis), all))
}
