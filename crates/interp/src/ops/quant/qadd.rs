//! A QDQ addition run in one pass: `DQ(a_q) + DQ(b_q) [→ Relu | Clip] → Q` from the two
//! 8-bit inputs straight to the 8-bit output, with no float tensor in between.
//!
//! Each element goes through exactly the float path's operations — DequantizeLinear's
//! `((q − zp) · scale)` in f64 rounded to f32, the f32 sum, the activation, QuantizeLinear's
//! f32 division, round half to even, zero point and saturation — so the result is
//! bit-identical to running the four nodes. Inputs of different shapes are broadcast as the
//! Add kernel does (through dequantized copies: rare in quantized models).

use modelc_ir::DType;
use ndarray::{ArrayD, Zip};
use rayon::prelude::*;

use super::qconv::QInt;
use super::qdq::round_even_f32;
use crate::pool::Pool;
use crate::{bail, Array, KernelError};

/// Elements per block of lane arithmetic.
const LANES: usize = 16;
/// Elements per parallel task.
const TASK: usize = 4096;

/// One quantized operand: scale and zero point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operand {
    pub scale: f32,
    pub zp: i16,
}

impl Operand {
    #[inline]
    fn dequantize(self, q: i16) -> f32 {
        // DequantizeLinear's arithmetic: the integer as f32, then f64.
        ((q as f32 as f64 - self.zp as f64) * self.scale as f64) as f32
    }
}

/// A planned quantized addition.
#[derive(Debug, Clone)]
pub(crate) struct QAdd {
    pub a: Operand,
    pub b: Operand,
    /// The fused activation's bounds (±∞ without one), applied to the f32 sum.
    pub lo: f32,
    pub hi: f32,
    pub y_scale: f32,
    pub y_zp: f32,
    pub y_dtype: DType,
}

impl QAdd {
    #[inline]
    fn quantize<Y: QInt>(&self, mut v: f32) -> Y {
        // The Clip kernel's order: lower bound first, then the upper one. (Sums of finite
        // 8-bit values are finite: the NaN cases of the kernels cannot arise.)
        if v < self.lo {
            v = self.lo;
        }
        if v > self.hi {
            v = self.hi;
        }
        let r = round_even_f32(v / self.y_scale);
        Y::from_f32(if r.is_nan() {
            Y::LO
        } else {
            (r + self.y_zp).clamp(Y::LO, Y::HI)
        })
    }

    /// [`QAdd::quantize`] of up to [`LANES`] sums, as lane arithmetic: the division, then
    /// past ±1024 (in units of y_scale) every output saturates, and within that range
    /// adding 1.5 · 2²³ rounds half to even and leaves the integer in the float's low bits
    /// (as [`round_even_f32`]). Sums of finite 8-bit values are finite: no NaN arises.
    #[inline(always)]
    fn quantize_lanes<Y: QInt>(&self, v: &[f32; LANES], out: &mut [Y]) {
        const MAGIC: f32 = 12_582_912.0;
        const MAGIC_BITS: i32 = 0x4B40_0000;
        let (lo, hi, ys) = (self.lo, self.hi, self.y_scale);
        let zp = self.y_zp as i32;
        let (qlo, qhi) = (Y::LO as i32, Y::HI as i32);
        let mut r = [0i32; LANES];
        for (r, &v) in r.iter_mut().zip(v) {
            let mut v = v;
            if v < lo {
                v = lo;
            }
            if v > hi {
                v = hi;
            }
            #[allow(clippy::manual_clamp)]
            let t = (v / ys).max(-1024.0).min(1024.0);
            *r = (((t + MAGIC).to_bits() as i32) - MAGIC_BITS + zp).clamp(qlo, qhi);
        }
        for (o, &r) in out.iter_mut().zip(&r) {
            *o = Y::from_i32(r);
        }
    }

    pub(crate) fn run(
        &self,
        a: &Array,
        b: &Array,
        pool: Option<&Pool>,
    ) -> Result<Array, KernelError> {
        fn go<A: QInt, B: QInt>(
            u: &QAdd,
            a: &ArrayD<A>,
            b: &ArrayD<B>,
            pool: Option<&Pool>,
        ) -> Result<Array, KernelError> {
            Ok(match u.y_dtype {
                DType::U8 => Array::U8(u.typed(a, b, pool)?),
                _ => Array::I8(u.typed(a, b, pool)?),
            })
        }
        match (a, b) {
            (Array::U8(a), Array::U8(b)) => go(self, a, b, pool),
            (Array::U8(a), Array::I8(b)) => go(self, a, b, pool),
            (Array::I8(a), Array::U8(b)) => go(self, a, b, pool),
            (Array::I8(a), Array::I8(b)) => go(self, a, b, pool),
            (a, b) => bail!("Add of quantized {} and {}", a.dtype(), b.dtype()),
        }
    }

    fn typed<A: QInt, B: QInt, Y: QInt>(
        &self,
        a: &ArrayD<A>,
        b: &ArrayD<B>,
        pool: Option<&Pool>,
    ) -> Result<ArrayD<Y>, KernelError> {
        let (oa, ob) = (self.a, self.b);
        if a.shape() == b.shape() {
            let (ac, bc) = (a.as_standard_layout(), b.as_standard_layout());
            if let (Some(xs), Some(ys)) = (ac.as_slice(), bc.as_slice()) {
                // Each operand's 256 dequantized values, computed once as the node does.
                let ta: Vec<f32> = (0..=255u8)
                    .map(|v| oa.dequantize(A::from_byte(v).to_i16()))
                    .collect();
                let tb: Vec<f32> = (0..=255u8)
                    .map(|v| ob.dequantize(B::from_byte(v).to_i16()))
                    .collect();
                // Every element is written below.
                let mut out: Vec<Y> = Pool::take(pool, xs.len());
                out.par_chunks_mut(TASK)
                    .zip(xs.par_chunks(TASK).zip(ys.par_chunks(TASK)))
                    .for_each(|(o, (x, y))| lanes::add(self, (&ta, &tb), x, y, o));
                return Ok(ArrayD::from_shape_vec(a.raw_dim(), out)?);
            }
        }
        let fa = a.mapv(|x| oa.dequantize(x.to_i16()));
        let fb = b.mapv(|y| ob.dequantize(y.to_i16()));
        let shape = crate::ops::util::broadcast_shapes(fa.shape(), fb.shape())?;
        let (Some(va), Some(vb)) = (fa.broadcast(shape.clone()), fb.broadcast(shape)) else {
            bail!(
                "Add shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            );
        };
        Ok(Zip::from(&va)
            .and(&vb)
            .map_collect(|&x, &y| self.quantize(x + y)))
    }
}

/// The same-shape loop, compiled a second time for AVX-512 (chosen at run time), where the
/// table lookups become gathers and the lane arithmetic sixteen wide.
#[allow(unsafe_code)]
mod lanes {
    use super::{QAdd, QInt, LANES};

    /// `o[i]` = the quantized `ta[x[i]] + tb[y[i]]`.
    pub(super) fn add<A: QInt, B: QInt, Y: QInt>(
        u: &QAdd,
        tables: (&[f32], &[f32]),
        x: &[A],
        y: &[B],
        o: &mut [Y],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
            unsafe { add_avx512(u, tables, x, y, o) };
            return;
        }
        add_body(u, tables, x, y, o)
    }

    #[inline(always)]
    fn add_body<A: QInt, B: QInt, Y: QInt>(
        u: &QAdd,
        (ta, tb): (&[f32], &[f32]),
        x: &[A],
        y: &[B],
        o: &mut [Y],
    ) {
        let (ta, tb): (&[f32; 256], &[f32; 256]) = (
            ta.try_into().expect("256 values"),
            tb.try_into().expect("256 values"),
        );
        for ((o, x), y) in o
            .chunks_mut(LANES)
            .zip(x.chunks(LANES))
            .zip(y.chunks(LANES))
        {
            let mut v = [0f32; LANES];
            for ((v, &x), &y) in v.iter_mut().zip(x).zip(y) {
                *v = ta[x.byte() as usize] + tb[y.byte() as usize];
            }
            u.quantize_lanes(&v, o);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn add_avx512<A: QInt, B: QInt, Y: QInt>(
        u: &QAdd,
        tables: (&[f32], &[f32]),
        x: &[A],
        y: &[B],
        o: &mut [Y],
    ) {
        add_body(u, tables, x, y, o)
    }
}
