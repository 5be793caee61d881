//! Recurrent layers: LSTM and GRU (opsets 7-22) as `torch.lstm` / `torch.gru`, one layer,
//! forward or bidirectional, sequence-first (`layout=0`).
//!
//! ONNX stacks LSTM gates as (input, output, forget, cell) and torch as (input, forget,
//! cell, output); GRU as (update, reset, hidden) against torch's (reset, update, new). The
//! constant weights W, R and bias B are re-stacked per direction into torch's `w_ih`,
//! `w_hh`, `b_ih`, `b_hh` buffers. ONNX's Y is `[seq, dirs, batch, hidden]` where torch's
//! output is `[seq, batch, dirs * hidden]`: a reshape and permute. Weights computed at run
//! time (inside an If branch, or dequantized) are re-stacked by the generated code. Not taken: peepholes (P),
//! `sequence_lens`, `clip`, `input_forget`, other `activations`, `reverse` alone,
//! `layout=1`, and GRU with `linear_before_reset=0` (torch always applies the reset gate
//! after the hidden projection).

use bytes::Bytes;
use modelc_ir::{Attr, NodeId, OnnxOp, Tensor, ValueRef};

use super::emit::{Emitter, Info};

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    Some(match op {
        OnnxOp::LSTM => rnn(e, id, Kind::Lstm),
        OnnxOp::GRU => rnn(e, id, Kind::Gru),
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lstm,
    Gru,
}

/// ONNX's gate blocks in torch's order: LSTM i, f, c, o from i, o, f, c.
const LSTM_ORDER: &[usize] = &[0, 2, 3, 1];
/// GRU r, z, n from z, r, h.
const GRU_ORDER: &[usize] = &[1, 0, 2];

fn rnn(e: &mut Emitter<'_>, id: NodeId, kind: Kind) -> Result<(), String> {
    let (order, default_acts): (&[usize], &[&[u8]]) = match kind {
        Kind::Lstm => (LSTM_ORDER, &[b"Sigmoid", b"Tanh", b"Tanh"]),
        Kind::Gru => (GRU_ORDER, &[b"Sigmoid", b"Tanh"]),
    };
    let g = order.len();
    let node = e.g.node(id);
    let a = &node.attrs;
    let err = |x: modelc_ir::AttrTypeError| x.to_string();
    let hidden = a.int("hidden_size", 0).map_err(err)?;
    let direction = a.string("direction", "forward").map_err(err)?;
    let dirs = match direction.as_str() {
        "forward" => 1usize,
        "bidirectional" => 2,
        other => {
            return Err(format!(
                "direction={other} (torch runs forward or both ways)"
            ))
        }
    };
    if a.int("layout", 0).map_err(err)? != 0 {
        return Err("layout=1".into());
    }
    if a.contains("clip") {
        return Err("clip".into());
    }
    if a.int("input_forget", 0).map_err(err)? != 0 {
        return Err("input_forget=1".into());
    }
    if let Some(Attr::Strings(acts)) = a.get("activations") {
        let want: Vec<&[u8]> = default_acts
            .iter()
            .copied()
            .cycle()
            .take(acts.len())
            .collect();
        if acts.iter().map(|s| s.as_ref()).collect::<Vec<&[u8]>>() != want {
            return Err("activations other than the default ones".into());
        }
    }
    if kind == Kind::Gru && a.int("linear_before_reset", 0).map_err(err)? == 0 {
        return Err("linear_before_reset=0".into());
    }
    if e.input(id, 4).is_some() {
        return Err("sequence_lens (torch.lstm runs every sequence to the full length)".into());
    }
    if e.input(id, 7).is_some() {
        return Err("peephole weights (P)".into());
    }
    let h = usize::try_from(hidden).map_err(|_| "hidden_size is negative")?;
    if let Some(w) = e.const_input(id, 1) {
        if h == 0 || w.dims.len() != 3 || w.dims[0] as usize != dirs || w.dims[1] as usize != g * h
        {
            return Err(format!(
                "W of shape {:?} does not fit hidden_size {h}",
                w.dims
            ));
        }
    } else if h == 0 {
        return Err("hidden_size 0".into());
    }
    let has_bias = e.input(id, 3).is_some();
    let name = node.name.clone();
    let hint = match (name.is_empty(), kind) {
        (false, _) => name,
        (true, Kind::Lstm) => "lstm".to_string(),
        (true, Kind::Gru) => "gru".to_string(),
    };
    let mut params = Vec::new();
    for d in 0..dirs {
        let suffix = if d == 0 { "" } else { "_reverse" };
        let blocks = Blocks { d, g, h, order };
        params.push(weight(
            e,
            id,
            1,
            blocks,
            0,
            &format!("{hint}_weight_ih{suffix}"),
        )?);
        params.push(weight(
            e,
            id,
            2,
            blocks,
            0,
            &format!("{hint}_weight_hh{suffix}"),
        )?);
        if has_bias {
            params.push(weight(
                e,
                id,
                3,
                blocks,
                0,
                &format!("{hint}_bias_ih{suffix}"),
            )?);
            params.push(weight(
                e,
                id,
                3,
                blocks,
                g * h,
                &format!("{hint}_bias_hh{suffix}"),
            )?);
        }
    }
    let x = e.tensor(id, 0)?;
    let zeros = match e.input_info(id, 0).dtype.and_then(super::emit::scalar_type) {
        // (`zeros` with x's device rather than `new_zeros`: the same tensor, in a form
        // modelc's reader also takes.)
        Some(code) => format!(
            "torch.zeros([{dirs}, torch.size({x}, 1), {h}], dtype={code}, layout=None, device=ops.prim.device({x}))"
        ),
        None => format!("torch.new_zeros({x}, [{dirs}, torch.size({x}, 1), {h}])"),
    };
    let h0 = match e.input(id, 5) {
        Some(_) => e.tensor(id, 5)?,
        None => zeros.clone(),
    };
    let out = e.fresh(&format!("{hint}_out"));
    let hn = e.fresh(&format!("{hint}_h"));
    let flags = format!(
        "[{}], {}, 1, 0.0, False, {}, False",
        params.join(", "),
        if has_bias { "True" } else { "False" },
        if dirs == 2 { "True" } else { "False" }
    );
    let mut states = vec![(1, hn.clone())];
    if kind == Kind::Lstm {
        let c0 = match e.input(id, 6) {
            Some(_) => e.tensor(id, 6)?,
            None => zeros,
        };
        let cn = e.fresh(&format!("{hint}_c"));
        e.lines.push(format!(
            "{out}, {hn}, {cn} = torch.lstm({x}, [{h0}, {c0}], {flags})"
        ));
        states.push((2, cn));
    } else {
        e.lines
            .push(format!("{out}, {hn} = torch.gru({x}, {h0}, {flags})"));
    }
    let dtype = e.input_info(id, 0).dtype;
    let names = e.g.node(id).outputs.clone();
    // Y: [seq, batch, dirs * hidden] -> [seq, dirs, batch, hidden].
    if names.first().is_some_and(|v| !v.is_absent()) {
        let y = e.fresh(&names[0].name);
        e.lines.push(format!(
            "{y} = torch.permute(torch.reshape({out}, [torch.size({out}, 0), torch.size({out}, 1), {dirs}, {h}]), [0, 2, 1, 3])"
        ));
        e.bind(ValueRef::new(id, 0), y);
        e.set_info(
            ValueRef::new(id, 0),
            Info {
                rank: Some(4),
                dtype,
            },
        );
    }
    for (slot, n) in states {
        e.bind(ValueRef::new(id, slot), n);
        e.set_info(
            ValueRef::new(id, slot),
            Info {
                rank: Some(3),
                dtype,
            },
        );
    }
    Ok(())
}

/// Where one of torch's weights sits in an ONNX weight input: direction `d`, `g` gate
/// blocks of `h` rows each, re-stacked in `order`.
#[derive(Clone, Copy)]
struct Blocks<'o> {
    d: usize,
    g: usize,
    h: usize,
    order: &'o [usize],
}

/// torch's weight `hint` from ONNX input `slot` (rows from `start`): a constant becomes a
/// re-stacked buffer; a value computed at run time (in a branch, or dequantized) is
/// selected and re-stacked by the code, `torch.lstm` taking its weights as tensors.
fn weight(
    e: &mut Emitter<'_>,
    id: NodeId,
    slot: usize,
    b: Blocks<'_>,
    start: usize,
    hint: &str,
) -> Result<String, String> {
    let len = b.g * b.h;
    if let Some(t) = e.const_input(id, slot) {
        let stacked = gates(&t, b.d, start, len, b.order)?;
        return e.buffer(hint, stacked);
    }
    let x = e.tensor(id, slot)?;
    let dir = format!("torch.select({x}, 0, {})", b.d);
    let parts: Vec<String> = b
        .order
        .iter()
        .map(|&k| {
            let lo = start + k * b.h;
            format!("torch.slice({dir}, 0, {lo}, {}, 1)", lo + b.h)
        })
        .collect();
    let name = e.fresh(hint);
    e.lines
        .push(format!("{name} = torch.cat([{}], 0)", parts.join(", ")));
    Ok(name)
}

/// Rows `[start, start + len)` of direction `d` of a `[dirs, rows, ...]` tensor, with its
/// equal gate blocks re-stacked in `order`; the result drops the direction axis.
fn gates(
    t: &Tensor,
    d: usize,
    start: usize,
    len: usize,
    order: &[usize],
) -> Result<Tensor, String> {
    let raw = t.raw().ok_or("string weights")?;
    let elem = (t.dtype.bits() / 8) as usize;
    if elem == 0 || !t.dtype.bits().is_multiple_of(8) || t.dims.len() < 2 {
        return Err(format!("{} weights of shape {:?}", t.dtype, t.dims));
    }
    let rows = t.dims[1] as usize;
    let row_elems: usize = t.dims[2..].iter().map(|&x| x as usize).product();
    let row_bytes = row_elems * elem;
    let dir_bytes = rows * row_bytes;
    if start + len > rows || raw.len() < (d + 1) * dir_bytes || !len.is_multiple_of(order.len()) {
        return Err(format!("weights of shape {:?} are too small", t.dims));
    }
    let block = len / order.len() * row_bytes;
    let base = d * dir_bytes + start * row_bytes;
    let mut out = Vec::with_capacity(len * row_bytes);
    for &g in order {
        out.extend_from_slice(&raw[base + g * block..base + (g + 1) * block]);
    }
    let mut dims = vec![len as u64];
    dims.extend_from_slice(&t.dims[2..]);
    Tensor::from_raw(t.dtype, dims, Bytes::from(out)).map_err(|e| e.to_string())
}
