//! Transpose (`perm`, default reversed axes; all opsets, every type) and the block
//! rearrangements built on it: DepthToSpace (`blocksize`, `mode` DCR/CRD from opset 11)
//! and SpaceToDepth (`blocksize`, `mode` DCR/CRD from opset 25). Both compute
//! channels-first; NHWC nodes are converted by the shared wrapper in `nn/layout.rs`.

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{gather_tables, reshape};
use crate::ops::elem::strides_of;

/// `a` with its axes permuted: output axis `i` is input axis `perm[i]`.
pub fn transpose_array(a: &Array, perm: &[usize]) -> Result<Array, KernelError> {
    let rank = a.shape().len();
    let mut seen = vec![false; rank];
    if perm.len() != rank {
        bail!("perm {perm:?} does not match rank {rank}");
    }
    for &p in perm {
        if p >= rank || seen[p] {
            bail!("perm {perm:?} is not a permutation of 0..{rank}");
        }
        seen[p] = true;
    }
    if let Array::Packed { .. } = a {
        let s = a.shape();
        let st = strides_of(s);
        let tables: Vec<Vec<usize>> = perm
            .iter()
            .map(|&p| (0..s[p]).map(|i| i * st[p]).collect())
            .collect();
        return gather_tables(a, &tables, None);
    }
    // Trailing axes that stay in place move as whole blocks (heads split out of
    // [batch, seq, heads, dim] by [0, 2, 1, 3]): one copy per block, not per element.
    let kept = (0..rank).rev().take_while(|&i| perm[i] == i).count();
    if kept > 0 && kept < rank {
        return crate::map_array!(a, x => permute_blocks(x, perm, rank - kept)?);
    }
    crate::map_array!(a, x => x.view().permuted_axes(ndarray::IxDyn(perm)).as_standard_layout().into_owned())
}

/// `x` with its first `outer` axes permuted by `perm` (the rest keep their places): the
/// output is walked in order, copying one contiguous block of the kept axes at a time.
fn permute_blocks<T: Clone>(
    x: &ndarray::ArrayD<T>,
    perm: &[usize],
    outer: usize,
) -> Result<ndarray::ArrayD<T>, KernelError> {
    let x = x.as_standard_layout();
    let src = x
        .as_slice()
        .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
    let shape = x.shape();
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let block: usize = shape[outer..].iter().product();
    let mut out = Vec::with_capacity(src.len());
    if !src.is_empty() {
        let st = strides_of(shape);
        let mut idx = vec![0usize; outer];
        let mut off = 0usize;
        'walk: loop {
            out.extend_from_slice(&src[off..off + block]);
            // Next output position: the last outer axis fastest.
            let mut ax = outer;
            loop {
                if ax == 0 {
                    break 'walk;
                }
                ax -= 1;
                idx[ax] += 1;
                off += st[perm[ax]];
                if idx[ax] < out_shape[ax] {
                    break;
                }
                off -= st[perm[ax]] * out_shape[ax];
                idx[ax] = 0;
            }
        }
    }
    Ok(ndarray::ArrayD::from_shape_vec(
        ndarray::IxDyn(&out_shape),
        out,
    )?)
}

pub fn transpose(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let rank = x.shape().len();
    let perm: Vec<usize> = match ctx.attrs().get("perm") {
        None => (0..rank).rev().collect(),
        Some(_) => ctx
            .attrs()
            .ints("perm", vec![])?
            .iter()
            .map(|&p| if p < 0 { p + rank as i64 } else { p })
            .map(|p| usize::try_from(p).map_err(|_| KernelError::new("invalid perm")))
            .collect::<Result<_, _>>()?,
    };
    one(transpose_array(x, &perm)?)
}

fn mul(a: usize, b: usize) -> Result<usize, KernelError> {
    a.checked_mul(b)
        .ok_or_else(|| KernelError::new("output shape is too large"))
}

fn block_and_dims(ctx: &OpCtx<'_>, x: &Array) -> Result<(usize, [usize; 4]), KernelError> {
    let b = ctx.attrs().int("blocksize", 0)?;
    if b <= 0 || b > 1 << 15 {
        bail!("blocksize must be in 1..=32768, got {b}");
    }
    let s = x.shape();
    if s.len() != 4 {
        bail!("expected a 4-D input, got {s:?}");
    }
    Ok((b as usize, [s[0], s[1], s[2], s[3]]))
}

pub fn depth_to_space(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let (b, [n, c, h, w]) = block_and_dims(ctx, x)?;
    if !c.is_multiple_of(b * b) {
        bail!("channels {c} are not divisible by blocksize² {}", b * b);
    }
    let c2 = c / (b * b);
    let mode = ctx.attrs().string("mode", "DCR")?;
    let y = match mode.as_str() {
        "DCR" => {
            let t = reshape(x, &[n, b, b, c2, h, w])?;
            transpose_array(&t, &[0, 3, 4, 1, 5, 2])?
        }
        "CRD" => {
            let t = reshape(x, &[n, c2, b, b, h, w])?;
            transpose_array(&t, &[0, 1, 4, 2, 5, 3])?
        }
        m => bail!("unknown mode {m:?}"),
    };
    let (hb, wb) = (mul(h, b)?, mul(w, b)?);
    one(reshape(&y, &[n, c2, hb, wb])?)
}

pub fn space_to_depth(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let (b, [n, c, h, w]) = block_and_dims(ctx, x)?;
    if !h.is_multiple_of(b) || !w.is_multiple_of(b) {
        bail!("spatial size {h}x{w} is not divisible by blocksize {b}");
    }
    let t = reshape(x, &[n, c, h / b, b, w / b, b])?;
    let mode = ctx.attrs().string("mode", "DCR")?;
    let y = match mode.as_str() {
        "DCR" => transpose_array(&t, &[0, 3, 5, 1, 2, 4])?,
        "CRD" => transpose_array(&t, &[0, 1, 3, 5, 2, 4])?,
        m => bail!("unknown mode {m:?}"),
    };
    let cbb = mul(c, b * b)?;
    one(reshape(&y, &[n, cbb, h / b, w / b])?)
}

#[cfg(test)]
mod block_tests {
    use ndarray::{ArrayD, IxDyn};

    use super::transpose_array;
    use crate::Array;

    /// Permutations that keep trailing axes in place (copied as blocks) give what the
    /// element-wise permutation gives.
    #[test]
    fn block_copies_match_elementwise_permutation() {
        let shape = [2usize, 3, 4, 5];
        let x =
            ArrayD::from_shape_vec(IxDyn(&shape), (0..120).map(|v| v as f32).collect()).unwrap();
        for perm in [
            [0, 2, 1, 3],
            [1, 0, 2, 3],
            [2, 1, 0, 3],
            [1, 2, 0, 3],
            [2, 0, 1, 3],
        ] {
            let want = x
                .view()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .into_owned();
            match transpose_array(&Array::F32(x.clone()), &perm).unwrap() {
                Array::F32(got) => assert_eq!(got, want, "{perm:?}"),
                other => panic!("wrong type {:?}", other.dtype()),
            }
        }
        let empty = ArrayD::<f32>::zeros(IxDyn(&[2, 0, 3]));
        let got = transpose_array(&Array::F32(empty), &[1, 0, 2]).unwrap();
        assert_eq!(got.shape(), &[0, 2, 3]);
    }
}
