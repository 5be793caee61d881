//! The sequence ops (opsets 11–25): SequenceEmpty (attribute `dtype`), SequenceConstruct,
//! SequenceAt, SequenceInsert (optional `position`, default append), SequenceErase
//! (optional `position`, default last), SequenceLength, SplitToSequence (optional `split`:
//! a chunk size or lengths; attributes `axis` = 0, `keepdims` = 1 used when `split` is
//! omitted), ConcatFromSequence (attributes `axis`, `new_axis` = 0) and SequenceMap
//! (opset 17: runs `body` once per element of the input sequences; tensor inputs are passed
//! whole to every iteration; each body output becomes a sequence). Positions may be
//! negative; out-of-range positions are errors.

use super::common::{concat, graph_attr, i64_scalar, int_scalar, slice_axis, stack, tensor};
use crate::ops::util::normalize_axis;
use crate::{bail, map_array, Array, Data, KernelError, OpCtx};

fn seq<'a>(ctx: &OpCtx<'a>, i: usize) -> Result<&'a Vec<Array>, KernelError> {
    match ctx.data(i) {
        Some(Data::Sequence(s)) => Ok(s),
        Some(_) => bail!("input {i} is not a sequence"),
        None => bail!("input {i} is missing"),
    }
}

/// Resolves a possibly negative position against `len`; `inclusive_end` allows `len`.
fn position(p: i64, len: usize, inclusive_end: bool) -> Result<usize, KernelError> {
    let n = len as i64;
    let hi = if inclusive_end { n } else { n - 1 };
    if p < -n || p > hi {
        bail!("position {p} is out of range for a sequence of length {len}");
    }
    Ok(if p < 0 { (p + n) as usize } else { p as usize })
}

pub fn sequence_empty(_ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    Ok(vec![Data::Sequence(vec![])])
}

pub fn sequence_construct(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let items: Vec<Array> = (0..ctx.num_inputs())
        .map(|i| ctx.input(i).cloned())
        .collect::<Result<_, _>>()?;
    if let Some(f) = items.first() {
        if items.iter().any(|a| a.dtype() != f.dtype()) {
            bail!("SequenceConstruct inputs have different element types");
        }
    }
    Ok(vec![Data::Sequence(items)])
}

pub fn sequence_at(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let s = seq(ctx, 0)?;
    let p = position(int_scalar(ctx.input(1)?, "position")?, s.len(), false)?;
    Ok(vec![Data::Tensor(s[p].clone())])
}

pub fn sequence_insert(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let mut s = seq(ctx, 0)?.clone();
    let t = ctx.input(1)?.clone();
    if let Some(f) = s.first() {
        if f.dtype() != t.dtype() {
            bail!(
                "cannot insert a {} tensor into a sequence of {}",
                t.dtype(),
                f.dtype()
            );
        }
    }
    let p = match ctx.opt_input(2)? {
        Some(p) => position(int_scalar(p, "position")?, s.len(), true)?,
        None => s.len(),
    };
    s.insert(p, t);
    Ok(vec![Data::Sequence(s)])
}

pub fn sequence_erase(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let mut s = seq(ctx, 0)?.clone();
    let p = match ctx.opt_input(1)? {
        Some(p) => position(int_scalar(p, "position")?, s.len(), false)?,
        None => {
            if s.is_empty() {
                bail!("cannot erase from an empty sequence");
            }
            s.len() - 1
        }
    };
    s.remove(p);
    Ok(vec![Data::Sequence(s)])
}

pub fn sequence_length(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let s = seq(ctx, 0)?;
    Ok(vec![Data::Tensor(i64_scalar(s.len() as i64))])
}

pub fn split_to_sequence(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let rank = x.shape().len();
    let axis = normalize_axis(ctx.attrs().int("axis", 0)?, rank)?;
    let keepdims = ctx.attrs().int("keepdims", 1)? != 0;
    let dim = x.shape()[axis];
    let split = ctx.opt_input(1)?;
    let lengths: Vec<usize> = match split {
        None => vec![1; dim],
        Some(s) if s.shape().is_empty() => {
            let c = int_scalar(s, "split")?;
            if c <= 0 {
                bail!("split size {c} must be positive");
            }
            let c = c as usize;
            (0..dim.div_ceil(c)).map(|i| c.min(dim - i * c)).collect()
        }
        Some(s) => {
            let v = s.to_i64_vec()?;
            if v.iter().any(|&l| l < 0) {
                bail!("negative split length");
            }
            let v: Vec<usize> = v.into_iter().map(|l| l as usize).collect();
            if v.iter().try_fold(0usize, |a, &b| a.checked_add(b)) != Some(dim) {
                bail!("split lengths {v:?} do not sum to {dim}");
            }
            v
        }
    };
    let mut out = Vec::with_capacity(lengths.len());
    let mut start = 0;
    for l in lengths {
        let part = slice_axis(x, axis, start, start + l)?;
        start += l;
        out.push(if split.is_none() && !keepdims {
            map_array!(part, a => a.remove_axis(ndarray::Axis(axis)))?
        } else {
            part
        });
    }
    Ok(vec![Data::Sequence(out)])
}

pub fn concat_from_sequence(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let s = seq(ctx, 0)?;
    let Some(first) = s.first() else {
        bail!("ConcatFromSequence of an empty sequence");
    };
    let rank = first.shape().len();
    let axis = ctx.attrs().int("axis", 0)?;
    let out = if ctx.attrs().int("new_axis", 0)? != 0 {
        stack(s, normalize_axis(axis, rank + 1)?)?
    } else {
        concat(s, normalize_axis(axis, rank)?)?
    };
    Ok(vec![Data::Tensor(out)])
}

pub fn sequence_map(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let body = graph_attr(ctx, "body")?;
    let n = seq(ctx, 0)?.len();
    let inputs: Vec<&Data> = (0..ctx.num_inputs())
        .map(|i| {
            ctx.data(i)
                .ok_or_else(|| KernelError::new(format!("input {i} is missing")))
        })
        .collect::<Result<_, _>>()?;
    for d in &inputs {
        if let Data::Sequence(s) = d {
            if s.len() != n {
                bail!("SequenceMap input sequences have different lengths");
            }
        }
    }
    let outs = body.outputs().len();
    let mut results: Vec<Vec<Array>> = vec![Vec::with_capacity(n); outs];
    for i in 0..n {
        let args: Vec<Data> = inputs
            .iter()
            .map(|d| match d {
                Data::Sequence(s) => Data::Tensor(s[i].clone()),
                other => (*other).clone(),
            })
            .collect();
        let out = ctx.run_subgraph(body, args)?;
        for (r, d) in results.iter_mut().zip(&out) {
            r.push(tensor(d, "a SequenceMap body output")?.clone());
        }
    }
    Ok(results.into_iter().map(Data::Sequence).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelc_ir::{Node, OnnxOp, Op, Value};
    use ndarray::{ArrayD, IxDyn};

    fn f(v: &[f32], s: &[usize]) -> Array {
        Array::F32(ArrayD::from_shape_vec(IxDyn(s), v.to_vec()).unwrap())
    }

    fn run(
        op: OnnxOp,
        inputs: &[Option<Data>],
        attrs: &[(&str, modelc_ir::Attr)],
    ) -> Result<Vec<Data>, KernelError> {
        let mut node = Node::new(Op::Onnx(op), inputs.len(), vec![Value::named("y")]);
        for (k, v) in attrs {
            node.attrs.set(k, v.clone());
        }
        let ctx = OpCtx::for_test(&node, inputs, 18);
        let k = super::super::lookup(op).unwrap();
        k(&ctx)
    }

    fn seq3() -> Data {
        Data::Sequence(vec![f(&[1.], &[1]), f(&[2.], &[1]), f(&[3.], &[1])])
    }

    fn pos(p: i64) -> Option<Data> {
        Some(Data::Tensor(i64_scalar(p)))
    }

    #[test]
    fn positions_negative_and_out_of_range() {
        let at = |p| run(OnnxOp::SequenceAt, &[Some(seq3()), pos(p)], &[]);
        assert_eq!(at(-1).unwrap(), vec![Data::Tensor(f(&[3.], &[1]))]);
        assert!(at(3).is_err());
        assert!(at(-4).is_err());
        // Insert accepts the end position; erase does not.
        let ins = run(
            OnnxOp::SequenceInsert,
            &[Some(seq3()), Some(Data::Tensor(f(&[9.], &[1]))), pos(3)],
            &[],
        )
        .unwrap();
        let Data::Sequence(s) = &ins[0] else { panic!() };
        assert_eq!(s[3], f(&[9.], &[1]));
        assert!(run(OnnxOp::SequenceErase, &[Some(seq3()), pos(3)], &[]).is_err());
        let er = run(OnnxOp::SequenceErase, &[Some(seq3()), None], &[]).unwrap();
        let Data::Sequence(s) = &er[0] else { panic!() };
        assert_eq!(s.len(), 2);
        assert!(run(
            OnnxOp::SequenceErase,
            &[Some(Data::Sequence(vec![])), None],
            &[]
        )
        .is_err());
    }

    #[test]
    fn split_to_sequence_uneven_chunks_and_concat_back() {
        let x = f(&[1., 2., 3., 4., 5.], &[5]);
        let out = run(
            OnnxOp::SplitToSequence,
            &[Some(Data::Tensor(x.clone())), pos(2)],
            &[],
        )
        .unwrap();
        let Data::Sequence(s) = &out[0] else { panic!() };
        assert_eq!(
            s.iter().map(|a| a.shape()[0]).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let back = run(OnnxOp::ConcatFromSequence, &[Some(out[0].clone())], &[]).unwrap();
        assert_eq!(back[0], Data::Tensor(x.clone()));
        let lens = Some(Data::Tensor(Array::I64(
            ArrayD::from_shape_vec(IxDyn(&[2]), vec![2, 2]).unwrap(),
        )));
        assert!(run(OnnxOp::SplitToSequence, &[Some(Data::Tensor(x)), lens], &[]).is_err());
    }
}
