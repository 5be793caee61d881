//! Recurrent layers: LSTM and GRU (opsets 7-22) as `torch.lstm` / `torch.gru`, one layer,
//! forward or bidirectional, sequence-first (`layout=0`).
//!
//! ONNX stacks LSTM gates as (input, output, forget, cell) and torch as (input, forget,
//! cell, output); GRU as (update, reset, hidden) against torch's (reset, update, new). The
//! constant weights W, R and bias B are re-stacked per direction into torch's `w_ih`,
//! `w_hh`, `b_ih`, `b_hh` buffers. ONNX's Y is `[seq, dirs, batch, hidden]` where torch's
//! output is `[seq, batch, dirs * hidden]`: a reshape and permute. Not taken: peepholes (P),
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
    let w = e.const_input(id, 1).ok_or("W is not a constant")?;
    let r = e.const_input(id, 2).ok_or("R is not a constant")?;
    let b = match e.input(id, 3) {
        Some(_) => Some(e.const_input(id, 3).ok_or("B is not a constant")?),
        None => None,
    };
    let h = usize::try_from(hidden).map_err(|_| "hidden_size is negative")?;
    if h == 0 || w.dims.len() != 3 || w.dims[0] as usize != dirs || w.dims[1] as usize != g * h {
        return Err(format!(
            "W of shape {:?} does not fit hidden_size {h}",
            w.dims
        ));
    }
    let name = node.name.clone();
    let hint = match (name.is_empty(), kind) {
        (false, _) => name,
        (true, Kind::Lstm) => "lstm".to_string(),
        (true, Kind::Gru) => "gru".to_string(),
    };
    let mut params = Vec::new();
    for d in 0..dirs {
        let suffix = if d == 0 { "" } else { "_reverse" };
        let w_ih = gates(&w, d, 0, g * h, order)?;
        let w_hh = gates(&r, d, 0, g * h, order)?;
        params.push(e.buffer(&format!("{hint}_weight_ih{suffix}"), w_ih)?);
        params.push(e.buffer(&format!("{hint}_weight_hh{suffix}"), w_hh)?);
        if let Some(b) = &b {
            let b_ih = gates(b, d, 0, g * h, order)?;
            let b_hh = gates(b, d, g * h, g * h, order)?;
            params.push(e.buffer(&format!("{hint}_bias_ih{suffix}"), b_ih)?);
            params.push(e.buffer(&format!("{hint}_bias_hh{suffix}"), b_hh)?);
        }
    }
    let x = e.tensor(id, 0)?;
    let zeros = format!("torch.new_zeros({x}, [{dirs}, torch.size({x}, 1), {h}])");
    let h0 = match e.input(id, 5) {
        Some(_) => e.tensor(id, 5)?,
        None => zeros.clone(),
    };
    let out = e.fresh(&format!("{hint}_out"));
    let hn = e.fresh(&format!("{hint}_h"));
    let flags = format!(
        "[{}], {}, 1, 0.0, False, {}, False",
        params.join(", "),
        if b.is_some() { "True" } else { "False" },
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
