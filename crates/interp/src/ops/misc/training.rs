//! `ai.onnx.preview.training` optimizers (opset 1). Inputs: learning rate `R` (float
//! scalar), iteration count `T` (int64 scalar), then `n` groups of tensors; outputs the
//! updated tensors group by group. Every tensor keeps its own float type (computed in
//! f64).
//! - Momentum: inputs `X.., G.., V..`; attributes `alpha`, `beta`, `mode`
//!   (`standard` | `nesterov`), `norm_coefficient` (all required). `beta` is taken as 1
//!   at `T == 0`. Outputs `X_new.., V_new..`.
//! - Adam: inputs `X.., G.., V.., H..`; attributes `alpha` (0.9), `beta` (0.999),
//!   `epsilon` (1e-6), `norm_coefficient` (0), `norm_coefficient_post` (0); bias
//!   correction for `T > 0`. Outputs `X_new.., V_new.., H_new..`.
//! - Adagrad: inputs `X.., G.., H..`; attributes `decay_factor` (0), `epsilon` (1e-6),
//!   `norm_coefficient` (0). Outputs `X_new.., H_new..`.

use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{float_array, float_values};

fn scalar_f64(a: &Array, what: &str) -> Result<f64, KernelError> {
    let v = a.to_f64_vec()?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => bail!("{what} must be a single value, got shape {:?}", a.shape()),
    }
}

fn required_float(ctx: &OpCtx<'_>, name: &str) -> Result<f64, KernelError> {
    if !ctx.attrs().contains(name) {
        bail!("attribute `{name}` is required");
    }
    Ok(ctx.attrs().float(name, 0.0)? as f64)
}

/// `R`, `T` and the `groups` tensor groups, each of `n` tensors of one shape per index.
struct Inputs<'a> {
    r: f64,
    t: i64,
    n: usize,
    tensors: Vec<&'a Array>,
}

fn inputs<'a>(ctx: &OpCtx<'a>, groups: usize) -> Result<Inputs<'a>, KernelError> {
    let r = scalar_f64(ctx.input(0)?, "R")?;
    let tv = ctx.input(1)?.to_i64_vec()?;
    let [t] = tv.as_slice() else {
        bail!("T must be a single value");
    };
    let rest = ctx.num_inputs().saturating_sub(2);
    if rest == 0 || !rest.is_multiple_of(groups) {
        bail!("expected a multiple of {groups} tensors after R and T, got {rest}");
    }
    let n = rest / groups;
    let tensors: Vec<&Array> = (2..ctx.num_inputs())
        .map(|i| ctx.input(i))
        .collect::<Result<_, _>>()?;
    for i in 0..n {
        for g in 1..groups {
            if tensors[g * n + i].shape() != tensors[i].shape() {
                bail!(
                    "tensor {} has shape {:?}, expected {:?}",
                    2 + g * n + i,
                    tensors[g * n + i].shape(),
                    tensors[i].shape()
                );
            }
        }
    }
    Ok(Inputs {
        r,
        t: *t,
        n,
        tensors,
    })
}

/// Runs `update` on group `i`'s values (one slice per input group) and returns the
/// outputs ordered output-group by output-group.
fn run(
    inp: &Inputs<'_>,
    groups: usize,
    outs: usize,
    update: impl Fn(&[Vec<f64>]) -> Vec<Vec<f64>>,
) -> Result<Vec<Data>, KernelError> {
    let n = inp.n;
    let mut result: Vec<Option<Data>> = vec![None; n * outs];
    for i in 0..n {
        let vals: Vec<Vec<f64>> = (0..groups)
            .map(|g| float_values(inp.tensors[g * n + i]))
            .collect::<Result<_, _>>()?;
        let new = update(&vals);
        for (o, v) in new.into_iter().enumerate() {
            // Output group o updates input group 0 (X) for o = 0, else input group o + 1.
            let like = inp.tensors[if o == 0 { i } else { (o + 1) * n + i }];
            result[o * n + i] = Some(Data::Tensor(float_array(like.dtype(), like.shape(), v)?));
        }
    }
    result
        .into_iter()
        .map(|d| d.ok_or_else(|| KernelError::new("missing optimizer output")))
        .collect()
}

pub fn momentum(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = required_float(ctx, "alpha")?;
    let beta = required_float(ctx, "beta")?;
    let norm = required_float(ctx, "norm_coefficient")?;
    let nesterov = match ctx.attrs().string("mode", "")?.as_str() {
        "standard" => false,
        "nesterov" => true,
        other => bail!("unknown mode `{other}`"),
    };
    let inp = inputs(ctx, 3)?;
    let (r, beta) = (inp.r, if inp.t > 0 { beta } else { 1.0 });
    run(&inp, 3, 2, |v| {
        let (x, g, vel) = (&v[0], &v[1], &v[2]);
        let mut xn = Vec::with_capacity(x.len());
        let mut vn = Vec::with_capacity(x.len());
        for k in 0..x.len() {
            let gr = norm * x[k] + g[k];
            let nv = alpha * vel[k] + beta * gr;
            xn.push(if nesterov {
                x[k] - r * (gr + alpha * nv)
            } else {
                x[k] - r * nv
            });
            vn.push(nv);
        }
        vec![xn, vn]
    })
}

pub fn adam(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")? as f64;
    let beta = ctx.float("beta")? as f64;
    let eps = ctx.float("epsilon")? as f64;
    let norm = ctx.float("norm_coefficient")? as f64;
    let post = ctx.float("norm_coefficient_post")? as f64;
    let inp = inputs(ctx, 4)?;
    let r = if inp.t > 0 {
        let t = i32::try_from(inp.t).unwrap_or(i32::MAX);
        inp.r * (1.0 - beta.powi(t)).sqrt() / (1.0 - alpha.powi(t))
    } else {
        inp.r
    };
    run(&inp, 4, 3, |v| {
        let (x, g, m, h) = (&v[0], &v[1], &v[2], &v[3]);
        let len = x.len();
        let (mut xn, mut vn, mut hn) = (
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
        );
        for k in 0..len {
            let gr = norm * x[k] + g[k];
            let nv = alpha * m[k] + (1.0 - alpha) * gr;
            let nh = beta * h[k] + (1.0 - beta) * gr * gr;
            let xk = x[k] - r * (nv / (nh.sqrt() + eps));
            xn.push((1.0 - post) * xk);
            vn.push(nv);
            hn.push(nh);
        }
        vec![xn, vn, hn]
    })
}

pub fn adagrad(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let decay = ctx.float("decay_factor")? as f64;
    let eps = ctx.float("epsilon")? as f64;
    let norm = ctx.float("norm_coefficient")? as f64;
    let inp = inputs(ctx, 3)?;
    let r = inp.r / (1.0 + inp.t as f64 * decay);
    run(&inp, 3, 2, |v| {
        let (x, g, h) = (&v[0], &v[1], &v[2]);
        let mut xn = Vec::with_capacity(x.len());
        let mut hn = Vec::with_capacity(x.len());
        for k in 0..x.len() {
            let gr = norm * x[k] + g[k];
            let nh = h[k] + gr * gr;
            xn.push(x[k] - r * gr / (nh.sqrt() + eps));
            hn.push(nh);
        }
        vec![xn, hn]
    })
}
