//! Col2Im (18): rearranges column blocks `[N, C * prod(block_shape), L]` back into an image
//! `[N, C, *image_shape]`, summing overlapping values; attributes `dilations`, `pads`
//! (`[begin..., end...]`) and `strides`, each defaulting per spatial axis. Any number of
//! spatial dimensions; numeric types (accumulated in f64).

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{dims_usize, flat, mv_dispatch_num, typed, Num};
use super::gather::for_each_index;
use crate::ops::elem::checked_count;

struct Geometry {
    image: Vec<usize>,
    block: Vec<usize>,
    dil: Vec<usize>,
    pad_b: Vec<usize>,
    stride: Vec<usize>,
    /// Number of block positions along each spatial axis.
    count: Vec<usize>,
}

fn attr_dims(
    ctx: &OpCtx<'_>,
    name: &str,
    n: usize,
    default: i64,
) -> Result<Vec<usize>, KernelError> {
    let v = ctx.attrs().ints(name, vec![default; n])?;
    if v.len() != n {
        bail!("attribute `{name}` has {} values, expected {n}", v.len());
    }
    if v.iter().any(|&x| x > crate::ops::elem::MAX_ELEMS as i64) {
        bail!("attribute `{name}` has an out-of-range value");
    }
    dims_usize(&v)
}

fn col2im_t<T: Num>(x: &Array, g: &Geometry) -> Result<Array, KernelError> {
    let a = typed::<T>(x)?;
    let s = a.shape();
    let data = flat(a);
    let kprod: usize = g.block.iter().product();
    let l: usize = g.count.iter().product();
    let (n, c) = (s[0], s[1] / kprod);
    let mut out_shape = vec![n, c];
    out_shape.extend_from_slice(&g.image);
    let img: usize = checked_count(&out_shape)? / (n * c).max(1);
    let mut acc = vec![0f64; n * c * img];
    let sp = g.image.len();
    let mut img_strides = vec![1usize; sp];
    for i in (0..sp.saturating_sub(1)).rev() {
        img_strides[i] = img_strides[i + 1] * g.image[i + 1];
    }
    let mut kpos: Vec<Vec<usize>> = Vec::with_capacity(kprod);
    for_each_index(&g.block, |_, k| {
        kpos.push(k.to_vec());
        Ok(())
    })?;
    let mut lpos: Vec<Vec<usize>> = Vec::with_capacity(l);
    for_each_index(&g.count, |_, p| {
        lpos.push(p.to_vec());
        Ok(())
    })?;
    for b in 0..n {
        for ch in 0..c {
            for (kf, k) in kpos.iter().enumerate() {
                let row = (b * s[1] + ch * kprod + kf) * l;
                for (lf, p) in lpos.iter().enumerate() {
                    let mut off = 0usize;
                    let mut inside = true;
                    for d in 0..sp {
                        let pos = (p[d] * g.stride[d] + k[d] * g.dil[d]) as i64 - g.pad_b[d] as i64;
                        if pos < 0 || pos as usize >= g.image[d] {
                            inside = false;
                            break;
                        }
                        off += pos as usize * img_strides[d];
                    }
                    if inside {
                        acc[(b * c + ch) * img + off] += data[row + lf].to_f64();
                    }
                }
            }
        }
    }
    let out: Vec<T> = acc.into_iter().map(T::from_f64).collect();
    Ok(T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?))
}

pub fn col2im(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let image = dims_usize(&ctx.input(1)?.to_i64_vec()?)?;
    let block = dims_usize(&ctx.input(2)?.to_i64_vec()?)?;
    checked_count(&image)?;
    let sp = image.len();
    if block.len() != sp || sp == 0 {
        bail!("image_shape {image:?} and block_shape {block:?} do not match");
    }
    let dil = attr_dims(ctx, "dilations", sp, 1)?;
    let stride = attr_dims(ctx, "strides", sp, 1)?;
    let pads = attr_dims(ctx, "pads", 2 * sp, 0)?;
    let s = x.shape();
    if s.len() != 3 {
        bail!("Col2Im input must be 3-D, got {s:?}");
    }
    let kprod = checked_count(&block)?;
    if kprod == 0 || !s[1].is_multiple_of(kprod) {
        bail!(
            "input channels {} are not a multiple of the block size {kprod}",
            s[1]
        );
    }
    let mut count = Vec::with_capacity(sp);
    for d in 0..sp {
        if dil[d] == 0 || stride[d] == 0 || block[d] == 0 {
            bail!("dilations, strides and block_shape must be positive");
        }
        let span = dil[d] * (block[d] - 1) + 1;
        let padded = image[d] + pads[d] + pads[d + sp];
        if padded < span {
            bail!("block larger than the padded image on axis {d}");
        }
        count.push((padded - span) / stride[d] + 1);
    }
    if count.iter().product::<usize>() != s[2] {
        bail!("input has {} blocks, the geometry gives {count:?}", s[2]);
    }
    let g = Geometry {
        image,
        block,
        dil,
        pad_b: pads[..sp].to_vec(),
        stride,
        count,
    };
    one(mv_dispatch_num!(x, T => col2im_t::<T>(x, &g)?))
}
