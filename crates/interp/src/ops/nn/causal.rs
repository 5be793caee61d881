//! CausalConvWithState (opset 27): stateful causal depthwise 1-D convolution.
//!
//! input [B, C, L], weight [C, 1, k], optional bias [C], optional past_state [B, C, k-1]
//! (zeros when absent). The input is left-padded with the state, convolved per channel
//! without padding, optionally passed through SiLU (`activation` = silu / swish / none);
//! present_state is the last k-1 positions of the padded input.

use ndarray::{ArrayD, IxDyn};

use crate::ops::elem::{checked_count, float_dispatch, Real};
use crate::{bail, Data, KernelError, OpCtx};

fn run<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let w = T::cow(ctx.input(1)?)?;
    let silu = match ctx.attrs().string("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        a => bail!("CausalConvWithState: unknown activation `{a}`"),
    };
    if x.ndim() != 3 || w.ndim() != 3 {
        bail!(
            "CausalConvWithState: input {:?} and weight {:?} must be rank 3",
            x.shape(),
            w.shape()
        );
    }
    let (b, c, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let k = w.shape()[2];
    if w.shape()[0] != c || w.shape()[1] != 1 || k == 0 {
        bail!(
            "CausalConvWithState: weight {:?} does not match {c} channels",
            w.shape()
        );
    }
    let bias: Option<Vec<T>> = match ctx.opt_input(2)? {
        Some(bv) => {
            let bv = T::cow(bv)?;
            if bv.len() != c {
                bail!(
                    "CausalConvWithState: bias has {} values for {c} channels",
                    bv.len()
                );
            }
            Some(bv.iter().copied().collect())
        }
        None => None,
    };
    let past = match ctx.opt_input(3)? {
        Some(p) => {
            let p = T::cow(p)?;
            if p.shape() != [b, c, k - 1] {
                bail!(
                    "CausalConvWithState: past_state {:?}, expected [{b}, {c}, {}]",
                    p.shape(),
                    k - 1
                );
            }
            Some(p.into_owned())
        }
        None => None,
    };
    let pl = l + k - 1;
    checked_count(&[b, c, pl])?;
    let mut out = Vec::with_capacity(b * c * l);
    let mut present = Vec::with_capacity(b * c * (k - 1));
    let mut padded = vec![T::zero(); pl];
    for bi in 0..b {
        for ci in 0..c {
            for j in 0..k - 1 {
                padded[j] = past.as_ref().map_or(T::zero(), |p| p[[bi, ci, j]]);
            }
            for t in 0..l {
                padded[k - 1 + t] = x[[bi, ci, t]];
            }
            let bb = bias.as_ref().map_or(T::zero(), |v| v[ci]);
            for t in 0..l {
                let mut acc = bb;
                for j in 0..k {
                    acc += w[[ci, 0, j]] * padded[t + j];
                }
                if silu {
                    acc = acc / (T::one() + (-acc).exp());
                }
                out.push(acc);
            }
            present.extend_from_slice(&padded[pl - (k - 1)..]);
        }
    }
    let dt = x0.dtype();
    Ok(vec![
        Data::Tensor(T::wrap(
            ArrayD::from_shape_vec(IxDyn(&[b, c, l]), out)?,
            dt,
        )?),
        Data::Tensor(T::wrap(
            ArrayD::from_shape_vec(IxDyn(&[b, c, k - 1]), present)?,
            dt,
        )?),
    ])
}

pub fn causal_conv_with_state(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx))
}
