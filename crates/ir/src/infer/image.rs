//! Image-geometry ops whose output size comes from a constant input: AffineGrid (`[N, H, W,
//! 2]` or `[N, D, H, W, 3]` from `size`), Col2Im (`[N, C, image_shape...]`, C the input's
//! channels over the block size) and CenterCropPad (the input's shape with the `axes` set
//! to `shape`).

use crate::{Dim, OnnxOp};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::axis;
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        AffineGrid => affine_grid,
        Col2Im => col2im,
        CenterCropPad => center_crop_pad,
        _ => return None,
    })
}

fn known(v: i64) -> Dim {
    if v >= 0 {
        Dim::Known(v as u64)
    } else {
        Dim::Unknown
    }
}

fn affine_grid(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = match cx.ints(1).as_deref() {
        Some([n, _c, spatial @ ..]) if matches!(spatial.len(), 2 | 3) => {
            let mut s = vec![known(*n)];
            s.extend(spatial.iter().map(|&d| known(d)));
            s.push(Dim::Known(spatial.len() as u64));
            Some(s)
        }
        Some(size) => fail!("AffineGrid size has {} elements", size.len()),
        None => None,
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn col2im(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let (Some(image), Some(block)) = (cx.ints(1), cx.ints(2)) else {
        out.set(0, cx.dtype(0), None);
        return Ok(());
    };
    let shape = cx.shape(0).map(|x| {
        let n = x.first().cloned().unwrap_or(Dim::Unknown);
        let block: Option<u64> = block.iter().try_fold(1u64, |p, &b| {
            u64::try_from(b).ok().and_then(|b| p.checked_mul(b))
        });
        let c = match (x.get(1), block) {
            (Some(Dim::Known(ck)), Some(b)) if b > 0 && ck % b == 0 => Dim::Known(ck / b),
            _ => Dim::Unknown,
        };
        let mut s = vec![n, c];
        s.extend(image.iter().map(|&d| known(d)));
        s
    });
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn center_crop_pad(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let (Some(x), Some(target)) = (cx.shape(0), cx.ints(1)) else {
        out.set(0, cx.dtype(0), None);
        return Ok(());
    };
    let r = x.len();
    let axes: Vec<i64> = cx
        .attr_ints("axes")?
        .unwrap_or_else(|| (0..r as i64).collect());
    if axes.len() != target.len() {
        fail!(
            "CenterCropPad has {} axes and {} sizes",
            axes.len(),
            target.len()
        );
    }
    let mut s = x.to_vec();
    for (&a, &t) in axes.iter().zip(&target) {
        s[axis(a, r)?] = known(t);
    }
    out.set(0, cx.dtype(0), Some(s));
    Ok(())
}
