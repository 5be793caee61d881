//! Recurrent layers: RNN (opsets 1, 7, 14), GRU (1, 3, 7, 14), LSTM (1, 7, 14).
//!
//! Inputs X, W, R, B, sequence_lens, initial_h (and initial_c, P for LSTM); outputs Y,
//! Y_h (and Y_c). Attributes: `direction` (forward / reverse / bidirectional),
//! `hidden_size`, `activations` with `activation_alpha` / `activation_beta` (Relu, Tanh,
//! Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign,
//! Softplus), `clip` (applied to gate pre-activations), `layout` (14+: batch-major X, Y,
//! states), GRU `linear_before_reset`, LSTM `input_forget` and peepholes P (order i, o, f).
//! Gate orders: GRU z, r, h; LSTM i, o, f, c. Steps past a batch entry's sequence length
//! leave its state unchanged and its Y rows zero.

use ndarray::{s, Array2, Array3, ArrayD, ArrayView2, Axis, Ix3, IxDyn};

use crate::ops::elem::{float_dispatch, Real};
use crate::{bail, Data, KernelError, OpCtx};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Rnn,
    Gru,
    Lstm,
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Affine(f64, f64),
    LeakyRelu(f64),
    ThresholdedRelu(f64),
    ScaledTanh(f64, f64),
    HardSigmoid(f64, f64),
    Elu(f64),
    Softsign,
    Softplus,
}

impl Act {
    fn parse(name: &str, alpha: Option<f64>, beta: Option<f64>) -> Result<Act, KernelError> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "relu" => Act::Relu,
            "tanh" => Act::Tanh,
            "sigmoid" => Act::Sigmoid,
            "affine" => Act::Affine(alpha.unwrap_or(1.0), beta.unwrap_or(0.0)),
            "leakyrelu" => Act::LeakyRelu(alpha.unwrap_or(0.01)),
            "thresholdedrelu" => Act::ThresholdedRelu(alpha.unwrap_or(1.0)),
            "scaledtanh" => Act::ScaledTanh(alpha.unwrap_or(1.0), beta.unwrap_or(1.0)),
            "hardsigmoid" => Act::HardSigmoid(alpha.unwrap_or(0.2), beta.unwrap_or(0.5)),
            "elu" => Act::Elu(alpha.unwrap_or(1.0)),
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            other => bail!("unknown recurrent activation `{other}`"),
        })
    }

    fn apply<T: Real>(self, x: T) -> T {
        let one = T::one();
        match self {
            Act::Relu => x.max(T::zero()),
            Act::Tanh => x.tanh(),
            Act::Sigmoid => one / (one + (-x).exp()),
            Act::Affine(a, b) => T::c(a) * x + T::c(b),
            Act::LeakyRelu(a) => {
                if x >= T::zero() {
                    x
                } else {
                    T::c(a) * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > T::c(a) {
                    x
                } else {
                    T::zero()
                }
            }
            Act::ScaledTanh(a, b) => T::c(a) * (T::c(b) * x).tanh(),
            Act::HardSigmoid(a, b) => (T::c(a) * x + T::c(b)).max(T::zero()).min(one),
            Act::Elu(a) => {
                if x >= T::zero() {
                    x
                } else {
                    T::c(a) * (x.exp() - one)
                }
            }
            Act::Softsign => x / (one + x.abs()),
            Act::Softplus => (one + x.exp()).ln(),
        }
    }
}

fn cow3<'a, T: Real>(
    ctx: &OpCtx<'a>,
    i: usize,
    what: &str,
) -> Result<Option<Array3<T>>, KernelError> {
    match ctx.opt_input(i)? {
        None => Ok(None),
        Some(a) => {
            let v = T::cow(a)?;
            if v.ndim() != 3 {
                bail!("{what} must be 3-D, got {:?}", v.shape());
            }
            Ok(Some(v.into_owned().into_dimensionality::<Ix3>()?))
        }
    }
}

fn run<T: Real>(ctx: &OpCtx<'_>, cell: Cell) -> Result<Vec<Data>, KernelError> {
    let at = ctx.attrs();
    let dtype = ctx.input(0)?.dtype();
    let layout = at.int("layout", 0)?;
    let g = match cell {
        Cell::Rnn => 1,
        Cell::Gru => 3,
        Cell::Lstm => 4,
    };
    let mut x = cow3::<T>(ctx, 0, "X")?.ok_or_else(|| KernelError::new("X is missing"))?;
    if layout != 0 {
        x = x.permuted_axes([1, 0, 2]).as_standard_layout().into_owned();
    }
    let w = cow3::<T>(ctx, 1, "W")?.ok_or_else(|| KernelError::new("W is missing"))?;
    let r = cow3::<T>(ctx, 2, "R")?.ok_or_else(|| KernelError::new("R is missing"))?;
    let (seq, batch, input) = x.dim();
    let direction = at.string("direction", "forward")?;
    let dirs = match direction.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        d => bail!("unknown direction `{d}`"),
    };
    let hidden = r.shape()[2];
    let hs = at.int("hidden_size", hidden as i64)?;
    if hs != hidden as i64 {
        bail!("hidden_size {hs} does not match R {:?}", r.shape());
    }
    if w.shape() != [dirs, g * hidden, input] || r.shape() != [dirs, g * hidden, hidden] {
        bail!(
            "W {:?} / R {:?} do not match {dirs} directions, hidden {hidden}, input {input}",
            w.shape(),
            r.shape()
        );
    }
    let bias: Option<Array2<T>> = match ctx.opt_input(3)? {
        None => None,
        Some(b) => {
            let b = T::cow(b)?;
            if b.shape() != [dirs, 2 * g * hidden] {
                bail!(
                    "B has shape {:?}, expected [{dirs}, {}]",
                    b.shape(),
                    2 * g * hidden
                );
            }
            Some(b.into_owned().into_dimensionality()?)
        }
    };
    let seq_lens: Vec<usize> = match ctx.opt_input(4)? {
        None => vec![seq; batch],
        Some(s) => {
            let v = s.to_i64_vec()?;
            if v.len() != batch {
                bail!("sequence_lens has {} values for batch {batch}", v.len());
            }
            v.iter()
                .map(|&l| {
                    if l < 0 || l as usize > seq {
                        bail!("sequence length {l} is out of range 0..={seq}")
                    }
                    Ok(l as usize)
                })
                .collect::<Result<_, _>>()?
        }
    };
    let state = |i: usize, what: &str| -> Result<Option<Array3<T>>, KernelError> {
        let s = cow3::<T>(ctx, i, what)?;
        Ok(match s {
            None => None,
            Some(s) => {
                let s = if layout != 0 {
                    s.permuted_axes([1, 0, 2]).as_standard_layout().into_owned()
                } else {
                    s
                };
                if s.shape() != [dirs, batch, hidden] {
                    bail!(
                        "{what} has shape {:?}, expected [{dirs}, {batch}, {hidden}]",
                        s.shape()
                    );
                }
                Some(s)
            }
        })
    };
    let h0 = state(5, "initial_h")?;
    let (c0, peep) = if cell == Cell::Lstm {
        let c0 = state(6, "initial_c")?;
        let p: Option<Array2<T>> = match ctx.opt_input(7)? {
            None => None,
            Some(p) => {
                let p = T::cow(p)?;
                if p.shape() != [dirs, 3 * hidden] {
                    bail!(
                        "P has shape {:?}, expected [{dirs}, {}]",
                        p.shape(),
                        3 * hidden
                    );
                }
                Some(p.into_owned().into_dimensionality()?)
            }
        };
        (c0, p)
    } else {
        (None, None)
    };
    // Activations.
    let nfn = match cell {
        Cell::Rnn => 1,
        Cell::Gru => 2,
        Cell::Lstm => 3,
    };
    let names: Vec<String> = match at.get("activations") {
        Some(modelc_ir::Attr::Strings(v)) => v
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect(),
        Some(_) => bail!("attribute `activations` must be strings"),
        None => vec![],
    };
    let alphas = at.floats("activation_alpha", vec![])?;
    let betas = at.floats("activation_beta", vec![])?;
    let defaults: &[&str] = match cell {
        Cell::Rnn => &["Tanh"],
        Cell::Gru => &["Sigmoid", "Tanh"],
        Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
    };
    let mut acts = Vec::new();
    for i in 0..nfn * dirs {
        let name = if names.is_empty() {
            defaults[i % nfn].to_string()
        } else if names.len() == nfn && dirs == 2 {
            names[i % nfn].clone()
        } else {
            names.get(i).cloned().ok_or_else(|| {
                KernelError::new(format!(
                    "{} activations given, need {}",
                    names.len(),
                    nfn * dirs
                ))
            })?
        };
        acts.push(Act::parse(
            &name,
            alphas.get(i).map(|&v| v as f64),
            betas.get(i).map(|&v| v as f64),
        )?);
    }
    let clip = match at.get("clip") {
        Some(_) => Some(T::c(at.float("clip", 0.0)? as f64)),
        None => None,
    };
    let cl = |v: T| match clip {
        Some(c) => v.max(-c).min(c),
        None => v,
    };
    let lbr = at.int("linear_before_reset", 0)? != 0;
    let input_forget = at.int("input_forget", 0)? != 0;

    let gh = g * hidden;
    let mut y = ArrayD::<T>::zeros(IxDyn(&[seq, dirs, batch, hidden]));
    let mut yh = Array3::<T>::zeros((dirs, batch, hidden));
    let mut yc = Array3::<T>::zeros((dirs, batch, hidden));
    let x2 = x
        .view()
        .into_shape_with_order((seq * batch, input))
        .map_err(|e| KernelError::new(e.to_string()))?;
    for d in 0..dirs {
        let reverse = direction == "reverse" || d == 1;
        let a = &acts[d * nfn..(d + 1) * nfn];
        let wd = w.index_axis(Axis(0), d);
        let rd = r.index_axis(Axis(0), d);
        let mut xw = x2.dot(&wd.t()); // (seq*batch, gh)
        let (wb, rb): (Vec<T>, Vec<T>) = match &bias {
            Some(b) => (b.slice(s![d, ..gh]).to_vec(), b.slice(s![d, gh..]).to_vec()),
            None => (vec![T::zero(); gh], vec![T::zero(); gh]),
        };
        // Fold biases into xw; GRU's recurrent bias of the h gate stays separate.
        for mut row in xw.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = *v
                    + wb[j]
                    + if cell == Cell::Gru && j >= 2 * hidden {
                        T::zero()
                    } else {
                        rb[j]
                    };
            }
        }
        let mut h: Array2<T> = match &h0 {
            Some(h) => h.index_axis(Axis(0), d).to_owned(),
            None => Array2::zeros((batch, hidden)),
        };
        let mut c: Array2<T> = match &c0 {
            Some(c) => c.index_axis(Axis(0), d).to_owned(),
            None => Array2::zeros((batch, hidden)),
        };
        let pv: Option<Vec<T>> = peep.as_ref().map(|p| p.index_axis(Axis(0), d).to_vec());
        for step in 0..seq {
            let hr = h.dot(&rd.t()); // (batch, gh)
            let mut newh = h.clone();
            let mut newc = c.clone();
            for b in 0..batch {
                let len = seq_lens[b];
                if step >= len {
                    continue;
                }
                let t = if reverse { len - 1 - step } else { step };
                let xr = xw.row(t * batch + b);
                let hrow = hr.row(b);
                match cell {
                    Cell::Rnn => {
                        for j in 0..hidden {
                            newh[[b, j]] = a[0].apply(cl(xr[j] + hrow[j]));
                        }
                    }
                    Cell::Gru => {
                        let mut rg = vec![T::zero(); hidden];
                        let mut zg = vec![T::zero(); hidden];
                        for j in 0..hidden {
                            zg[j] = a[0].apply(cl(xr[j] + hrow[j]));
                            rg[j] = a[0].apply(cl(xr[hidden + j] + hrow[hidden + j]));
                        }
                        let rh = rd.slice(s![2 * hidden.., ..]);
                        let hcand: Vec<T> = if lbr {
                            (0..hidden)
                                .map(|j| {
                                    xr[2 * hidden + j]
                                        + rg[j] * (hrow[2 * hidden + j] + rb[2 * hidden + j])
                                })
                                .collect()
                        } else {
                            let rhp: Vec<T> = (0..hidden).map(|j| rg[j] * h[[b, j]]).collect();
                            let rhv = ArrayView2::from_shape((1, hidden), &rhp[..])?;
                            let prod = rhv.dot(&rh.t());
                            (0..hidden)
                                .map(|j| xr[2 * hidden + j] + prod[[0, j]] + rb[2 * hidden + j])
                                .collect()
                        };
                        for j in 0..hidden {
                            let hc = a[1].apply(cl(hcand[j]));
                            newh[[b, j]] = (T::one() - zg[j]) * hc + zg[j] * h[[b, j]];
                        }
                    }
                    Cell::Lstm => {
                        for j in 0..hidden {
                            let cp = c[[b, j]];
                            let (pi, po, pf) = match &pv {
                                Some(p) => (p[j], p[hidden + j], p[2 * hidden + j]),
                                None => (T::zero(), T::zero(), T::zero()),
                            };
                            let f =
                                a[0].apply(cl(xr[2 * hidden + j] + hrow[2 * hidden + j] + pf * cp));
                            let i = if input_forget {
                                T::one() - f
                            } else {
                                a[0].apply(cl(xr[j] + hrow[j] + pi * cp))
                            };
                            let cc = a[1].apply(cl(xr[3 * hidden + j] + hrow[3 * hidden + j]));
                            let cn = f * cp + i * cc;
                            let o = a[0].apply(cl(xr[hidden + j] + hrow[hidden + j] + po * cn));
                            newc[[b, j]] = cn;
                            newh[[b, j]] = o * a[2].apply(cn);
                        }
                    }
                }
                for j in 0..hidden {
                    y[[t, d, b, j]] = newh[[b, j]];
                }
            }
            h = newh;
            c = newc;
        }
        yh.index_axis_mut(Axis(0), d).assign(&h);
        yc.index_axis_mut(Axis(0), d).assign(&c);
    }
    let (y, yh, yc) = if layout != 0 {
        (
            y.permuted_axes(IxDyn(&[2, 0, 1, 3]))
                .as_standard_layout()
                .into_owned(),
            yh.permuted_axes([1, 0, 2])
                .as_standard_layout()
                .into_owned(),
            yc.permuted_axes([1, 0, 2])
                .as_standard_layout()
                .into_owned(),
        )
    } else {
        (y, yh, yc)
    };
    let mut out = vec![
        Data::Tensor(T::wrap(y, dtype)?),
        Data::Tensor(T::wrap(yh.into_dyn(), dtype)?),
    ];
    if cell == Cell::Lstm {
        out.push(Data::Tensor(T::wrap(yc.into_dyn(), dtype)?));
    }
    Ok(out)
}

pub fn rnn(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, Cell::Rnn))
}

pub fn gru(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, Cell::Gru))
}

pub fn lstm(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, Cell::Lstm))
}
