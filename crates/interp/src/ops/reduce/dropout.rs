//! Dropout (opsets 1, 6, 7, 10, 12, 13, 22).
//!
//! Outside training the output is the input unchanged (any type) and the optional mask is
//! all true (before opset 10: all ones of the input's type). Before opset 12 the op is
//! always treated as inference (as runtimes do).
//! From opset 12 the optional inputs `ratio` (0.5) and `training_mode` (false) select
//! training; then, as in the ONNX reference, `mask = U[0,1) >= ratio` with the uniform
//! numbers drawn from numpy's legacy `RandomState(seed)` (MT19937), and
//! `output = x * mask / (1 − ratio)`. Attribute `seed`: without it the seed is 0 (runs
//! are deterministic). Training requires a float input (f16/bf16 computed in f32).

use ndarray::{ArrayD, IxDyn};

use crate::ops::elem::{float_dispatch, Real};
use crate::{bail, Array, Data, KernelError, OpCtx};

/// numpy's legacy MT19937 generator.
struct Mt19937 {
    key: [u32; 624],
    pos: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Mt19937 {
        let mut key = [0u32; 624];
        let mut s = seed;
        for (pos, k) in key.iter_mut().enumerate() {
            *k = s;
            s = 1812433253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Mt19937 { key, pos: 624 }
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..624 {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % 624] & LOWER);
            let mut v = self.key[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= MATRIX_A;
            }
            self.key[i] = v;
        }
        self.pos = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos >= 624 {
            self.twist();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// A double in [0, 1) with 53 random bits, as numpy's `random_sample`.
    fn next_f64(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) / 9007199254740992.0
    }
}

fn train<T: Real>(x_in: &Array, ratio: f64, seed: u32) -> Result<(Array, Array), KernelError> {
    let x = T::cow(x_in)?;
    let x = x.as_standard_layout();
    let mut rng = Mt19937::new(seed);
    let scale = T::c(1.0) / (T::c(1.0) - T::c(ratio));
    let mut mask = Vec::with_capacity(x.len());
    let mut y = Vec::with_capacity(x.len());
    for &v in x.iter() {
        let keep = rng.next_f64() >= ratio;
        mask.push(keep);
        y.push(if keep { v * scale } else { T::zero() * v });
    }
    let shape = IxDyn(x.shape());
    let y = ArrayD::from_shape_vec(shape.clone(), y)?;
    Ok((
        T::wrap(y, x_in.dtype())?,
        Array::Bool(ArrayD::from_shape_vec(shape, mask)?),
    ))
}

fn ones_like<T: Real>(x: &Array) -> Result<Array, KernelError> {
    T::wrap(ArrayD::from_elem(IxDyn(x.shape()), T::one()), x.dtype())
}

pub fn dropout(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let (ratio, training) = if ctx.opset >= 12 {
        let ratio = match ctx.opt_input(1)? {
            Some(r) => match r.to_f64_vec()?.as_slice() {
                [v] => *v,
                _ => bail!("ratio must be a scalar"),
            },
            None => 0.5,
        };
        let training = match ctx.opt_input(2)? {
            Some(Array::Bool(t)) => match t.iter().next() {
                Some(&b) if t.len() == 1 => b,
                _ => bail!("training_mode must be a scalar"),
            },
            Some(other) => bail!("training_mode must be bool, got {}", other.dtype()),
            None => false,
        };
        (ratio, training)
    } else {
        (ctx.float("ratio")? as f64, false)
    };
    if !training || ratio == 0.0 {
        if ctx.node.outputs.len() < 2 {
            return Ok(vec![Data::Tensor(x.clone())]);
        }
        let mask = if ctx.opset < 10 {
            // Before opset 10 the mask has the input's type.
            float_dispatch!(x.dtype(), ones_like(x))?
        } else {
            Array::Bool(ArrayD::from_elem(IxDyn(x.shape()), true))
        };
        return Ok(vec![Data::Tensor(x.clone()), Data::Tensor(mask)]);
    }
    if !(0.0..1.0).contains(&ratio) {
        bail!("ratio must be in [0, 1), got {ratio}");
    }
    let seed = ctx.attrs().int("seed", 0)?;
    let seed = u32::try_from(seed)
        .map_err(|_| KernelError::new(format!("seed {seed} is outside 0..2^32")))?;
    let (y, mask) = float_dispatch!(x.dtype(), train(x, ratio, seed))?;
    Ok(vec![Data::Tensor(y), Data::Tensor(mask)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_random_state() {
        // numpy.random.RandomState(0).random_sample(2) == [0.5488135039273248, 0.7151893663724195]
        let mut r = Mt19937::new(0);
        assert_eq!(r.next_f64(), 0.548_813_503_927_324_8);
        assert_eq!(r.next_f64(), 0.715_189_366_372_419_5);
    }
}
