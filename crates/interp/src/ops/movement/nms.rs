//! NonMaxSuppression (10, 11): per batch and class, greedily keeps the highest-scoring boxes
//! (ties: lower box index first) whose IoU with every kept box is at most `iou_threshold`,
//! up to `max_output_boxes_per_class` (default 0: none); boxes scoring at or below
//! `score_threshold` (when given) are dropped. `center_point_box` 0: `[y1, x1, y2, x2]`
//! with any diagonal corners, 1: `[x_center, y_center, width, height]`. Output i64
//! `[num_selected, 3]` rows of (batch, class, box). f64 inputs compute in f64, others in f32.

use ndarray::{ArrayD, IxDyn};
use num_traits::Float;

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// Axis-aligned extents `(x_min, x_max, y_min, y_max)` of a box.
fn extents<F: Float>(b: &[F], center: bool) -> (F, F, F, F) {
    if center {
        let two = F::one() + F::one();
        let (hw, hh) = (b[2] / two, b[3] / two);
        (b[0] - hw, b[0] + hw, b[1] - hh, b[1] + hh)
    } else {
        (
            b[1].min(b[3]),
            b[1].max(b[3]),
            b[0].min(b[2]),
            b[0].max(b[2]),
        )
    }
}

fn suppress<F: Float>(a: &[F], b: &[F], center: bool, iou: F) -> bool {
    let (ax0, ax1, ay0, ay1) = extents(a, center);
    let (bx0, bx1, by0, by1) = extents(b, center);
    let (ix0, ix1) = (ax0.max(bx0), ax1.min(bx1));
    if ix1 <= ix0 {
        return false;
    }
    let (iy0, iy1) = (ay0.max(by0), ay1.min(by1));
    if iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    let area_a = (ax1 - ax0) * (ay1 - ay0);
    let area_b = (bx1 - bx0) * (by1 - by0);
    let union = area_a + area_b - inter;
    if inter <= F::zero() || area_a <= F::zero() || area_b <= F::zero() || union <= F::zero() {
        return false;
    }
    inter / union > iou
}

struct Params {
    batches: usize,
    classes: usize,
    boxes: usize,
    max_out: usize,
    center: bool,
}

fn select<F: Float>(
    boxes: &[F],
    scores: &[F],
    p: &Params,
    iou: F,
    score_threshold: Option<F>,
) -> Vec<i64> {
    let mut out = Vec::new();
    for b in 0..p.batches {
        let bb = &boxes[b * p.boxes * 4..(b + 1) * p.boxes * 4];
        for c in 0..p.classes {
            let sc = &scores[(b * p.classes + c) * p.boxes..(b * p.classes + c + 1) * p.boxes];
            let mut cand: Vec<usize> = (0..p.boxes)
                .filter(|&i| score_threshold.is_none_or(|t| sc[i] > t))
                .collect();
            cand.sort_by(|&i, &j| {
                sc[j]
                    .partial_cmp(&sc[i])
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(i.cmp(&j))
            });
            let mut kept: Vec<usize> = Vec::new();
            for i in cand {
                if kept.len() >= p.max_out {
                    break;
                }
                let bi = &bb[i * 4..i * 4 + 4];
                if kept
                    .iter()
                    .all(|&k| !suppress(bi, &bb[k * 4..k * 4 + 4], p.center, iou))
                {
                    kept.push(i);
                    out.extend_from_slice(&[b as i64, c as i64, i as i64]);
                }
            }
        }
    }
    out
}

fn scalar_f64(a: Option<&Array>) -> Result<Option<f64>, KernelError> {
    match a {
        Some(a) if !a.is_empty() => Ok(Some(a.to_f64_vec()?[0])),
        _ => Ok(None),
    }
}

pub fn non_max_suppression(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let boxes = ctx.input(0)?;
    let scores = ctx.input(1)?;
    let (bs, ss) = (boxes.shape(), scores.shape());
    if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
        bail!("boxes {bs:?} and scores {ss:?} do not match [B, N, 4] and [B, C, N]");
    }
    let max_out = match ctx.opt_input(2)? {
        Some(m) if !m.is_empty() => m.to_i64_vec()?[0].max(0),
        _ => 0,
    };
    let iou = scalar_f64(ctx.opt_input(3)?)?.unwrap_or(0.0);
    let score_threshold = scalar_f64(ctx.opt_input(4)?)?;
    let p = Params {
        batches: bs[0],
        classes: ss[1],
        boxes: bs[1],
        max_out: usize::try_from(max_out).unwrap_or(usize::MAX),
        center: match ctx.attrs().int("center_point_box", 0)? {
            0 => false,
            1 => true,
            v => bail!("center_point_box must be 0 or 1, got {v}"),
        },
    };
    let sel = match (boxes, scores) {
        (Array::F64(_), _) => select(
            &boxes.to_f64_vec()?,
            &scores.to_f64_vec()?,
            &p,
            iou,
            score_threshold,
        ),
        _ => {
            let f = |a: &Array| -> Result<Vec<f32>, KernelError> {
                Ok(a.to_f64_vec()?.into_iter().map(|v| v as f32).collect())
            };
            select(
                &f(boxes)?,
                &f(scores)?,
                &p,
                iou as f32,
                score_threshold.map(|t| t as f32),
            )
        }
    };
    let n = sel.len() / 3;
    one(Array::I64(ArrayD::from_shape_vec(IxDyn(&[n, 3]), sel)?))
}
