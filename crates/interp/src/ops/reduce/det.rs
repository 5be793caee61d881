//! Det (opsets 11, 22): the determinant of each square matrix in the last two dimensions
//! of a `[*, M, M]` tensor, by LU decomposition with partial pivoting in f64. Float types.

use ndarray::{ArrayD, IxDyn};

use crate::ops::elem::{float_dispatch, Real};
use crate::ops::util::one;
use crate::{bail, Data, KernelError, OpCtx};

/// The determinant of the row-major `m`×`m` matrix `a` (destroyed).
fn det_of(a: &mut [f64], m: usize) -> f64 {
    let mut det = 1.0;
    for col in 0..m {
        let mut piv = col;
        for r in col + 1..m {
            if a[r * m + col].abs() > a[piv * m + col].abs() {
                piv = r;
            }
        }
        let p = a[piv * m + col];
        if p == 0.0 {
            return 0.0;
        }
        if piv != col {
            for k in 0..m {
                a.swap(piv * m + k, col * m + k);
            }
            det = -det;
        }
        det *= p;
        for r in col + 1..m {
            let f = a[r * m + col] / p;
            if f != 0.0 {
                for k in col..m {
                    a[r * m + k] -= f * a[col * m + k];
                }
            }
        }
    }
    det
}

fn run<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let x = T::cow(x_in)?;
    let shape = x.shape().to_vec();
    let r = shape.len();
    if r < 2 || shape[r - 1] != shape[r - 2] {
        bail!("Det needs a tensor of square matrices, got shape {shape:?}");
    }
    let m = shape[r - 1];
    let x = x.as_standard_layout();
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
    let batch: usize = shape[..r - 2].iter().product();
    let mut out = Vec::with_capacity(batch);
    let mut buf = vec![0.0; m * m];
    for b in 0..batch {
        for (d, s) in buf.iter_mut().zip(&xs[b * m * m..(b + 1) * m * m]) {
            *d = s.as_f64();
        }
        out.push(T::c(det_of(&mut buf, m)));
    }
    let y = ArrayD::from_shape_vec(IxDyn(&shape[..r - 2]), out)?;
    one(T::wrap(y, x_in.dtype())?)
}

pub fn det(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn determinants() {
        assert_eq!(det_of(&mut [0.0, 1.0, 1.0, 0.0], 2), -1.0);
        assert_eq!(
            det_of(&mut [2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 4.0], 3),
            24.0
        );
        assert_eq!(det_of(&mut [1.0, 2.0, 2.0, 4.0], 2), 0.0);
        assert_eq!(det_of(&mut [], 0), 1.0);
    }
}
