//! Reductions and ops shaped like them: Reduce* (axes attribute, or input from opset 13 for
//! ReduceSum and 18 for the others; `keepdims`; `noop_with_empty_axes`), ArgMax/ArgMin,
//! TopK (`k` attribute before 10, input after), LayerNormalization (with its Mean and
//! InvStdDev outputs), and the recurrent ops RNN/GRU/LSTM (`layout` 0 and 1).

use crate::{DType, Dim, OnnxOp};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::axis;
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        ReduceL1 | ReduceL2 | ReduceLogSum | ReduceLogSumExp | ReduceMax | ReduceMean
        | ReduceMin | ReduceProd | ReduceSum | ReduceSumSquare => reduce,
        ArgMax | ArgMin => arg,
        TopK => topk,
        LayerNormalization => layer_norm,
        RNN | GRU | LSTM => recurrent,
        _ => return None,
    })
}

fn reduce(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let keep = cx.attr_int("keepdims", 1)? != 0;
    let Some(s) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    let r = s.len();
    let axes: Option<Vec<i64>> = if cx.has(1) {
        cx.ints(1)
    } else {
        Some(cx.attr_ints("axes")?.unwrap_or_default())
    };
    let shape = match axes {
        None if keep => Some(vec![Dim::Unknown; r]),
        None => None,
        Some(a) if a.is_empty() && cx.attr_int("noop_with_empty_axes", 0)? != 0 => Some(s.to_vec()),
        Some(a) => {
            let axes: Vec<usize> = if a.is_empty() {
                (0..r).collect()
            } else {
                a.iter().map(|&x| axis(x, r)).collect::<Result<_, _>>()?
            };
            Some(
                s.iter()
                    .enumerate()
                    .filter_map(|(k, d)| match (axes.contains(&k), keep) {
                        (false, _) => Some(d.clone()),
                        (true, true) => Some(Dim::Known(1)),
                        (true, false) => None,
                    })
                    .collect(),
            )
        }
    };
    out.set(0, dtype, shape);
    Ok(())
}

fn arg(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let keep = cx.attr_int("keepdims", 1)? != 0;
    let shape = match cx.shape(0) {
        Some(s) => {
            let a = axis(cx.attr_int("axis", 0)?, s.len())?;
            let mut sh = s.to_vec();
            if keep {
                sh[a] = Dim::Known(1);
            } else {
                sh.remove(a);
            }
            Some(sh)
        }
        None => None,
    };
    out.set(0, Some(DType::I64), shape);
    Ok(())
}

fn topk(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let k = if cx.has(1) {
        match cx.ints(1).as_deref() {
            Some([k]) if *k >= 0 => Dim::Known(*k as u64),
            Some([k]) => fail!("TopK with k = {k}"),
            _ => Dim::Unknown,
        }
    } else {
        Dim::Known(cx.attr_int("k", 0)?.max(0) as u64)
    };
    let shape = match cx.shape(0) {
        Some(s) => {
            let a = axis(cx.attr_int("axis", -1)?, s.len())?;
            if let (Dim::Known(n), Dim::Known(k)) = (&s[a], &k) {
                if k > n {
                    fail!("TopK of {k} from {n} elements");
                }
            }
            let mut sh = s.to_vec();
            sh[a] = k;
            Some(sh)
        }
        None => None,
    };
    out.set(0, cx.dtype(0), shape.clone());
    out.set(1, Some(DType::I64), shape);
    Ok(())
}

fn layer_norm(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, cx.dtype(0), cx.shape(0).map(<[_]>::to_vec));
    let stash = cx.attr_dtype("stash_type")?.unwrap_or(DType::F32);
    let stat = match cx.shape(0) {
        Some(s) => {
            let a = axis(cx.attr_int("axis", -1)?, s.len())?;
            let mut sh = s[..a].to_vec();
            sh.extend(std::iter::repeat_n(Dim::Known(1), s.len() - a));
            Some(sh)
        }
        None => None,
    };
    out.set(1, Some(stash), stat.clone());
    out.set(2, Some(stash), stat);
    Ok(())
}

fn recurrent(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let hidden = match cx.attr_int("hidden_size", -1)? {
        h if h > 0 => Dim::Known(h as u64),
        _ => cx
            .shape(2)
            .and_then(|r| r.get(2).cloned())
            .unwrap_or(Dim::Unknown),
    };
    let dirs = match cx.attr_string("direction", "forward")?.as_str() {
        "bidirectional" => 2,
        _ => 1,
    };
    let dirs = Dim::Known(dirs);
    let batch_first = cx.attr_int("layout", 0)? != 0;
    let Some(x) = cx.shape(0).filter(|x| x.len() == 3) else {
        for i in 0..cx.num_outputs {
            out.set(i, dtype, None);
        }
        return Ok(());
    };
    let (seq, batch) = if batch_first {
        (&x[1], &x[0])
    } else {
        (&x[0], &x[1])
    };
    let y = if batch_first {
        vec![batch.clone(), seq.clone(), dirs.clone(), hidden.clone()]
    } else {
        vec![seq.clone(), dirs.clone(), batch.clone(), hidden.clone()]
    };
    let h = if batch_first {
        vec![batch.clone(), dirs, hidden]
    } else {
        vec![dirs, batch.clone(), hidden]
    };
    out.set(0, dtype, Some(y));
    out.set(1, dtype, Some(h.clone()));
    out.set(2, dtype, Some(h));
    Ok(())
}
