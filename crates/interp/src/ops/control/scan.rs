//! Scan (opsets 8–25). Opset 9+: inputs are N initial state values then M scan inputs
//! (`num_scan_inputs`); each iteration the `body` gets the states and one slice of every scan
//! input (along `scan_input_axes`, default 0, reversed where `scan_input_directions` is 1)
//! and returns new states and K per-iteration scan outputs, which are stacked along
//! `scan_output_axes` (default 0; reversed where `scan_output_directions` is 1). Opset 8:
//! a leading batch axis on every input and output, an optional first input
//! `sequence_lens` (only full lengths are supported) and `directions` for the inputs.

use super::common::{graph_attr, index_axis, move_first_axis, stack, tensor};
use crate::ops::util::normalize_axis;
use crate::{bail, Array, Data, KernelError, OpCtx};

struct Spec<'a> {
    body: &'a modelc_ir::Graph,
    m: usize,
    in_axes: Vec<i64>,
    in_dirs: Vec<i64>,
    out_axes: Vec<i64>,
    out_dirs: Vec<i64>,
}

fn run_scan(
    ctx: &OpCtx<'_>,
    spec: &Spec<'_>,
    states: Vec<Data>,
    scan_inputs: &[&Array],
) -> Result<Vec<Data>, KernelError> {
    let n = states.len();
    let m = spec.m;
    let mut axes = Vec::with_capacity(m);
    let mut len: Option<usize> = None;
    for (j, x) in scan_inputs.iter().enumerate() {
        let ax = normalize_axis(spec.in_axes.get(j).copied().unwrap_or(0), x.shape().len())?;
        let l = x.shape()[ax];
        if len.is_some_and(|p| p != l) {
            bail!("Scan inputs have different sequence lengths");
        }
        len = Some(l);
        axes.push(ax);
    }
    let len = len.unwrap_or(0);
    let outs = spec.body.outputs().len();
    if outs < n {
        bail!("Scan body has {outs} outputs for {n} states");
    }
    let k = outs - n;
    let mut states = states;
    let mut scans: Vec<Vec<Array>> = vec![Vec::with_capacity(len); k];
    for t in 0..len {
        let mut inputs = std::mem::take(&mut states);
        for (j, x) in scan_inputs.iter().enumerate() {
            let idx = if spec.in_dirs.get(j).copied().unwrap_or(0) == 1 {
                len - 1 - t
            } else {
                t
            };
            inputs.push(Data::Tensor(index_axis(x, axes[j], idx)?));
        }
        let mut out = ctx.run_subgraph(spec.body, inputs)?.into_iter();
        states = out.by_ref().take(n).collect();
        if states.len() != n {
            bail!("Scan body produced too few outputs");
        }
        for (s, d) in scans.iter_mut().zip(out) {
            s.push(tensor(&d, "a Scan output")?.clone());
        }
    }
    let mut result = states;
    for (j, mut s) in scans.into_iter().enumerate() {
        if s.is_empty() {
            bail!("Scan over an empty sequence has no output shape");
        }
        if spec.out_dirs.get(j).copied().unwrap_or(0) == 1 {
            s.reverse();
        }
        let stacked = stack(&s, 0)?;
        let rank = stacked.shape().len();
        let ax = normalize_axis(spec.out_axes.get(j).copied().unwrap_or(0), rank)?;
        result.push(Data::Tensor(move_first_axis(stacked, ax)?));
    }
    Ok(result)
}

pub fn scan(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let body = graph_attr(ctx, "body")?;
    let attrs = ctx.attrs();
    let m = attrs.int("num_scan_inputs", 0)?;
    if m < 1 {
        bail!("num_scan_inputs must be positive");
    }
    let m = m as usize;
    if ctx.opset <= 8 {
        return scan8(ctx, body, m);
    }
    let total = ctx.num_inputs();
    if total < m {
        bail!("Scan has {total} inputs for {m} scan inputs");
    }
    let n = total - m;
    let spec = Spec {
        body,
        m,
        in_axes: attrs.ints("scan_input_axes", vec![0; m])?,
        in_dirs: attrs.ints("scan_input_directions", vec![0; m])?,
        out_axes: attrs.ints("scan_output_axes", vec![])?,
        out_dirs: attrs.ints("scan_output_directions", vec![])?,
    };
    let states: Vec<Data> = (0..n)
        .map(|i| {
            ctx.data(i)
                .cloned()
                .ok_or_else(|| KernelError::new(format!("Scan state input {i} is missing")))
        })
        .collect::<Result<_, _>>()?;
    let xs: Vec<&Array> = (n..total).map(|i| ctx.input(i)).collect::<Result<_, _>>()?;
    run_scan(ctx, &spec, states, &xs)
}

fn scan8(ctx: &OpCtx<'_>, body: &modelc_ir::Graph, m: usize) -> Result<Vec<Data>, KernelError> {
    let total = ctx.num_inputs();
    if total < 1 + m {
        bail!("Scan has {total} inputs for {m} scan inputs");
    }
    let n = total - 1 - m;
    let states: Vec<&Array> = (1..1 + n).map(|i| ctx.input(i)).collect::<Result<_, _>>()?;
    let xs: Vec<&Array> = (1 + n..total)
        .map(|i| ctx.input(i))
        .collect::<Result<_, _>>()?;
    let batch = match xs.first().map(|x| x.shape()) {
        Some([b, ..]) => *b,
        _ => bail!("Scan-8 inputs need a batch axis"),
    };
    for a in states.iter().chain(&xs) {
        if a.shape().first() != Some(&batch) {
            bail!("Scan-8 inputs disagree on the batch size");
        }
    }
    if let Some(lens) = ctx.opt_input(0)? {
        let full = xs[0].shape().get(1).copied().unwrap_or(0) as i64;
        if lens.to_i64_vec()?.iter().any(|&l| l != full) {
            bail!("Scan-8 with sequence_lens shorter than the inputs is not supported");
        }
    }
    let spec = Spec {
        body,
        m,
        in_axes: vec![0; m],
        in_dirs: ctx.attrs().ints("directions", vec![0; m])?,
        out_axes: vec![],
        out_dirs: vec![],
    };
    let mut per_batch: Vec<Vec<Data>> = Vec::with_capacity(batch);
    for b in 0..batch {
        let st: Vec<Data> = states
            .iter()
            .map(|a| index_axis(a, 0, b).map(Data::Tensor))
            .collect::<Result<_, _>>()?;
        let sx: Vec<Array> = xs
            .iter()
            .map(|a| index_axis(a, 0, b))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&Array> = sx.iter().collect();
        per_batch.push(run_scan(ctx, &spec, st, &refs)?);
    }
    let outs = body.outputs().len();
    (0..outs)
        .map(|j| {
            let parts: Vec<Array> = per_batch
                .iter()
                .map(|r| tensor(&r[j], "a Scan output").cloned())
                .collect::<Result<_, _>>()?;
            Ok(Data::Tensor(stack(&parts, 0)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelc_ir::{Attr, Graph, Node, OnnxOp, Op, Value, ValueRef};
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn reversed_input_and_output_axis() {
        // Body (s, x) -> (s, x): the scan output is the slices in the order visited.
        let mut g = Graph::new("body");
        let s = g.add_input(Value::named("s"));
        let x = g.add_input(Value::named("x"));
        g.set_outputs(vec![ValueRef::new(s, 0), ValueRef::new(x, 0)]);
        let mut node = Node::new(
            Op::Onnx(OnnxOp::Scan),
            2,
            vec![Value::named("s_out"), Value::named("y")],
        );
        node.attrs.set("body", Attr::Graph(Box::new(g)));
        node.attrs.set("num_scan_inputs", Attr::Int(1));
        node.attrs.set("scan_input_directions", Attr::Ints(vec![1]));
        node.attrs.set("scan_output_axes", Attr::Ints(vec![-1]));
        let state = Data::Tensor(Array::scalar_f32(0.0));
        // x: [3, 2] scanned along axis 0 in reverse.
        let xs = Data::Tensor(Array::F32(
            ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![1., 2., 3., 4., 5., 6.]).unwrap(),
        ));
        let inputs = [Some(state), Some(xs)];
        let ctx = OpCtx::for_test(&node, &inputs, 16);
        let out = scan(&ctx).unwrap();
        // Visited rows [5,6], [3,4], [1,2]; stacked on the last axis -> [2, 3].
        assert_eq!(
            out[1],
            Data::Tensor(Array::F32(
                ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![5., 3., 1., 6., 4., 2.]).unwrap()
            ))
        );
    }
}
