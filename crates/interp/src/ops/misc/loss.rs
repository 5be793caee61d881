//! Loss functions: NegativeLogLikelihoodLoss (opsets 12, 13, 22) and
//! SoftmaxCrossEntropyLoss (opsets 12, 13).
//!
//! Input `(N, C, d1, ..., dk)` (scores / log-probabilities, any float type), target
//! `(N, d1, ..., dk)` of int32/int64 class indices, optional per-class `weights` `(C)`.
//! Attributes: `reduction` (`none` | `sum` | `mean`, default `mean`) and `ignore_index`
//! (no default: targets equal to it contribute 0 to the loss and to the mean's divisor).
//! `mean` divides the weighted sum by the sum of the applied weights. A target outside
//! `[0, C)` that is not `ignore_index` is an error. SoftmaxCrossEntropyLoss applies
//! log-softmax over axis 1 first and also returns those log-probabilities.

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{float_array, float_values};

struct LossOut {
    values: Vec<f64>,
    shape: Vec<usize>,
}

/// Splits `(N, C, d...)` into `(N, C, D)`.
fn ncd(shape: &[usize]) -> Result<(usize, usize, usize), KernelError> {
    if shape.len() < 2 {
        bail!("input must have rank >= 2, got shape {shape:?}");
    }
    Ok((shape[0], shape[1], shape[2..].iter().product()))
}

#[allow(clippy::too_many_arguments)]
fn nll(
    x: &[f64],
    shape: &[usize],
    target: &[i64],
    tshape: &[usize],
    weight: Option<&[f64]>,
    ignore: Option<i64>,
    reduction: &str,
) -> Result<LossOut, KernelError> {
    let (n, c, d) = ncd(shape)?;
    let mut expect = vec![n];
    expect.extend_from_slice(&shape[2..]);
    if tshape != expect.as_slice() {
        bail!("target shape {tshape:?} does not match input shape {shape:?}");
    }
    if let Some(w) = weight {
        if w.len() != c {
            bail!("weight has {} elements, expected {c}", w.len());
        }
    }
    let mut loss = vec![0.0; n * d];
    let mut wsum = 0.0;
    for i in 0..n {
        for j in 0..d {
            let t = target[i * d + j];
            if Some(t) == ignore {
                continue;
            }
            if t < 0 || t as u64 >= c as u64 {
                bail!("target {t} is out of range for {c} classes");
            }
            let t = t as usize;
            let w = weight.map_or(1.0, |w| w[t]);
            loss[i * d + j] = -x[(i * c + t) * d + j] * w;
            wsum += w;
        }
    }
    Ok(match reduction {
        "none" => LossOut {
            values: loss,
            shape: tshape.to_vec(),
        },
        "sum" => LossOut {
            values: vec![loss.iter().sum()],
            shape: vec![],
        },
        "mean" => LossOut {
            values: vec![loss.iter().sum::<f64>() / wsum],
            shape: vec![],
        },
        other => bail!("unknown reduction `{other}`"),
    })
}

struct Common {
    target: Vec<i64>,
    weight: Option<Vec<f64>>,
    ignore: Option<i64>,
    reduction: String,
}

fn common(ctx: &OpCtx<'_>) -> Result<Common, KernelError> {
    let t = ctx.input(1)?;
    if !matches!(t, Array::I32(_) | Array::I64(_)) {
        bail!("target must be int32 or int64, got {}", t.dtype());
    }
    let weight = ctx.opt_input(2)?.map(float_values).transpose()?;
    let ignore = if ctx.attrs().contains("ignore_index") {
        Some(ctx.attrs().int("ignore_index", 0)?)
    } else {
        None
    };
    Ok(Common {
        target: t.to_i64_vec()?,
        weight,
        ignore,
        reduction: ctx.attrs().string("reduction", "mean")?,
    })
}

/// NegativeLogLikelihoodLoss: `loss[n, d] = -input[n, target[n, d], d] * weight[target]`.
pub fn nll_loss(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let xv = float_values(x)?;
    let c = common(ctx)?;
    let out = nll(
        &xv,
        x.shape(),
        &c.target,
        ctx.input(1)?.shape(),
        c.weight.as_deref(),
        c.ignore,
        &c.reduction,
    )?;
    one(float_array(x.dtype(), &out.shape, out.values)?)
}

/// Log-softmax of `(N, C, D)` data over C.
fn log_softmax(x: &[f64], n: usize, c: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for i in 0..n {
        for j in 0..d {
            let at = |k: usize| (i * c + k) * d + j;
            let m = (0..c).map(|k| x[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..c).map(|k| (x[at(k)] - m).exp()).sum();
            let ls = s.ln();
            for k in 0..c {
                out[at(k)] = x[at(k)] - m - ls;
            }
        }
    }
    out
}

/// SoftmaxCrossEntropyLoss: NLL of `log_softmax(scores, axis=1)`; outputs the loss and
/// the log-probabilities.
pub fn softmax_cross_entropy_loss(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let xv = float_values(x)?;
    let (n, cl, d) = ncd(x.shape())?;
    let lp = log_softmax(&xv, n, cl, d);
    let c = common(ctx)?;
    let out = nll(
        &lp,
        x.shape(),
        &c.target,
        ctx.input(1)?.shape(),
        c.weight.as_deref(),
        c.ignore,
        &c.reduction,
    )?;
    Ok(vec![
        Data::Tensor(float_array(x.dtype(), &out.shape, out.values)?),
        Data::Tensor(float_array(x.dtype(), x.shape(), lp)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    // x: N=1, C=3, D=2, laid out (n, c, d).
    const X: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];

    #[test]
    fn mean_divides_by_applied_weights_and_skips_ignored() {
        let w = [0.5, 2.0, 4.0];
        // Targets: [2, 1] -> -x[0,2,0]*4 = -20, -x[0,1,1]*2 = -8; weight sum 6.
        let out = nll(&X, &[1, 3, 2], &[2, 1], &[1, 2], Some(&w), None, "mean").unwrap();
        assert_eq!(out.values, vec![-28.0 / 6.0]);
        // Ignoring class 1: only -20 with weight 4.
        let out = nll(&X, &[1, 3, 2], &[2, 1], &[1, 2], Some(&w), Some(1), "mean").unwrap();
        assert_eq!(out.values, vec![-5.0]);
        let out = nll(&X, &[1, 3, 2], &[2, 1], &[1, 2], None, Some(1), "none").unwrap();
        assert_eq!((out.values, out.shape), (vec![-5.0, 0.0], vec![1, 2]));
    }

    #[test]
    fn out_of_range_target_is_an_error_unless_ignored() {
        assert!(nll(&X, &[1, 3, 2], &[3, 0], &[1, 2], None, None, "sum").is_err());
        assert!(nll(&X, &[1, 3, 2], &[-1, 0], &[1, 2], None, None, "sum").is_err());
        let out = nll(&X, &[1, 3, 2], &[-1, 0], &[1, 2], None, Some(-1), "sum").unwrap();
        assert_eq!(out.values, vec![-2.0]);
        // Mismatched target shape.
        assert!(nll(&X, &[1, 3, 2], &[0], &[1], None, None, "sum").is_err());
    }

    #[test]
    fn log_softmax_of_equal_scores() {
        let lp = log_softmax(&[0.0, 0.0], 1, 2, 1);
        assert!((lp[0] - (0.5f64).ln()).abs() < 1e-12 && lp[0] == lp[1]);
    }
}
