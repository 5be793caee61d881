//! Loop (opsets 1–25): inputs `M` (optional max trip count, i64 scalar), `cond` (optional
//! bool) and the initial loop-carried values; attribute `body` takes
//! `(iteration_num, cond, carried...)` and returns `(cond, carried..., scan...)`. Runs while
//! `i < M` and `cond`; outputs the final carried values, then each scan output's
//! per-iteration values stacked along a new axis 0. Carried values may be tensors,
//! sequences or optionals (opset 13 / 16).

use super::common::{
    bool_array, bool_scalar, empty_like_output, graph_attr, i64_scalar, int_scalar, stack, tensor,
};
use crate::{bail, Array, Data, KernelError, OpCtx};

/// A bound on iterations, so a loop without trip count and a constant-true condition fails
/// instead of running forever.
const MAX_ITERATIONS: i64 = 1 << 31;

pub fn loop_op(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let body = graph_attr(ctx, "body")?;
    let max_trip = match ctx.opt_input(0)? {
        Some(m) => Some(int_scalar(m, "Loop trip count M")?),
        None => None,
    };
    let mut cond = match ctx.data(1) {
        Some(c) => bool_scalar(c, "Loop condition")?,
        None => true,
    };
    let mut carried: Vec<Data> = Vec::new();
    for i in 2..ctx.num_inputs() {
        match ctx.data(i) {
            Some(d) => carried.push(d.clone()),
            // An omitted loop-carried input (opset 16): an empty optional.
            None => carried.push(Data::Optional(None)),
        }
    }
    let n = carried.len();
    let body_outputs = body.outputs().len();
    if body_outputs < 1 + n {
        bail!("Loop body has {body_outputs} outputs for {n} loop-carried values");
    }
    let k = body_outputs - 1 - n;
    let mut scans: Vec<Vec<Array>> = vec![Vec::new(); k];
    let mut i: i64 = 0;
    while cond && max_trip.is_none_or(|m| i < m) {
        if i >= MAX_ITERATIONS {
            bail!("Loop ran more than {MAX_ITERATIONS} iterations");
        }
        let mut inputs = Vec::with_capacity(2 + n);
        inputs.push(Data::Tensor(i64_scalar(i)));
        inputs.push(Data::Tensor(bool_array(cond)));
        inputs.append(&mut carried);
        let mut out = ctx.run_subgraph(body, inputs)?.into_iter();
        let c = out
            .next()
            .ok_or_else(|| KernelError::new("Loop body produced no condition"))?;
        cond = bool_scalar(&c, "Loop body condition")?;
        carried = out.by_ref().take(n).collect();
        for (s, d) in scans.iter_mut().zip(out) {
            s.push(tensor(&d, "a Loop scan output")?.clone());
        }
        i += 1;
    }
    let mut result = carried;
    for (j, s) in scans.into_iter().enumerate() {
        result.push(Data::Tensor(if s.is_empty() {
            empty_like_output(body, 1 + n + j)
        } else {
            stack(&s, 0)?
        }));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelc_ir::{Attr, Graph, Node, OnnxOp, Op, Value, ValueRef};
    use ndarray::{ArrayD, IxDyn};

    /// Body `(i, cond, acc) -> (cond, acc, i)`: the scan output collects the iteration numbers.
    fn body() -> Graph {
        let mut g = Graph::new("body");
        let i = g.add_input(Value::named("i"));
        let c = g.add_input(Value::named("c"));
        let a = g.add_input(Value::named("a"));
        g.set_outputs(vec![
            ValueRef::new(c, 0),
            ValueRef::new(a, 0),
            ValueRef::new(i, 0),
        ]);
        g
    }

    fn run_loop(m: Option<i64>) -> Result<Vec<Data>, KernelError> {
        let mut node = Node::new(
            Op::Onnx(OnnxOp::Loop),
            3,
            vec![Value::named("a_out"), Value::named("scan")],
        );
        node.attrs.set("body", Attr::Graph(Box::new(body())));
        let m = m.map(|v| Data::Tensor(i64_scalar(v)));
        let cond = Data::Tensor(bool_array(true));
        let acc = Data::Tensor(Array::scalar_f32(5.0));
        let inputs = [m, Some(cond), Some(acc)];
        let ctx = OpCtx::for_test(&node, &inputs, 16);
        loop_op(&ctx)
    }

    #[test]
    fn trip_count_and_scan_outputs() {
        let out = run_loop(Some(3)).unwrap();
        assert_eq!(out[0], Data::Tensor(Array::scalar_f32(5.0)));
        assert_eq!(
            out[1],
            Data::Tensor(Array::I64(
                ArrayD::from_shape_vec(IxDyn(&[3]), vec![0, 1, 2]).unwrap()
            ))
        );
        // Zero iterations: carried values pass through, scan outputs are empty.
        let out = run_loop(Some(0)).unwrap();
        assert_eq!(out[0], Data::Tensor(Array::scalar_f32(5.0)));
        let Data::Tensor(s) = &out[1] else { panic!() };
        assert_eq!(s.shape(), &[0]);
        // A trip count that is not a scalar is an error.
        let mut node = Node::new(Op::Onnx(OnnxOp::Loop), 2, vec![Value::named("x")]);
        node.attrs.set("body", Attr::Graph(Box::new(body())));
        let bad = Data::Tensor(Array::I64(ArrayD::zeros(IxDyn(&[2]))));
        let inputs = [Some(bad), None];
        let ctx = OpCtx::for_test(&node, &inputs, 16);
        assert!(loop_op(&ctx).is_err());
    }
}
