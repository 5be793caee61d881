//! `int4-weight`: block-wise int4 weight-only quantization (DequantizeLinear with
//! `block_size`, opset 21) of the constant right operand of MatMul (blocks along K, axis 0)
//! and the constant table of Gather (blocks along each row, axis 1). Symmetric: scale =
//! max|w| / 7 per block, no zero point. Activations stay float.

use std::collections::HashMap;

use bytes::Bytes;
use modelc_ir::{Attr, Builder, DType, Graph, Names, NodeId, OnnxOp, Tensor, ValueRef};

use super::edit::{const_input, label, value_name};
use super::params::{f32_elements, f32_tensor, pack4, round_half_even};
use super::report::Layer;

/// A 2-D weight quantized to int4 in blocks of `block` along `axis`.
pub fn quantize_blocks(t: &Tensor, axis: usize, block: usize) -> Option<(Tensor, Tensor)> {
    let v = f32_elements(t)?;
    if t.dims.len() != 2 || block == 0 {
        return None;
    }
    let (r, c) = (t.dims[0] as usize, t.dims[1] as usize);
    let (sr, sc) = if axis == 0 {
        (r.div_ceil(block), c)
    } else {
        (r, c.div_ceil(block))
    };
    let scale_index = |i: usize, j: usize| {
        if axis == 0 {
            (i / block) * sc + j
        } else {
            i * sc + j / block
        }
    };
    let mut absmax = vec![0f32; sr * sc];
    for i in 0..r {
        for j in 0..c {
            let k = scale_index(i, j);
            absmax[k] = absmax[k].max(v[i * c + j].abs());
        }
    }
    let scales: Vec<f32> = absmax.iter().map(|&m| symmetric_int4_scale(m)).collect();
    let mut q = Vec::with_capacity(v.len());
    for i in 0..r {
        for j in 0..c {
            let s = scales[scale_index(i, j)];
            q.push(round_half_even(v[i * c + j] / s).clamp(-8.0, 7.0) as i32);
        }
    }
    let data = Tensor::from_raw(DType::I4, t.dims.clone(), Bytes::from(pack4(&q))).ok()?;
    Some((data, f32_tensor(vec![sr as u64, sc as u64], &scales)))
}

pub fn quantize_int4(
    g: &mut Graph,
    block: usize,
    excluded: &HashMap<NodeId, String>,
) -> Result<Vec<Layer>, String> {
    if block < 2 {
        return Err(format!("block size {block} is too small (at least 2)"));
    }
    let order = g.topo_order().map_err(|e| e.to_string())?;
    let mut names = Names::of(g);
    let mut layers = Vec::new();
    let mut done: HashMap<(NodeId, usize), ValueRef> = HashMap::new();
    for id in order {
        let Some(op) = g.node(id).op.onnx() else {
            continue;
        };
        let (slot, axis) = match op {
            OnnxOp::MatMul => (1, 0),
            OnnxOp::Gather if g.node(id).attrs.int("axis", 0).unwrap_or(0) == 0 => (0, 1),
            _ => continue,
        };
        let name = label(g, id);
        if let Some(r) = excluded.get(&id) {
            layers.push(Layer::float(op, &name, r));
            continue;
        }
        let Some((cid, t)) = const_input(g, id, slot) else {
            layers.push(Layer::float(op, &name, "weight is not a constant"));
            continue;
        };
        if t.dtype != DType::F32 || t.dims.len() != 2 {
            layers.push(Layer::float(
                op,
                &name,
                "weight is not a 2-D float32 constant",
            ));
            continue;
        }
        let dq = match done.get(&(cid, axis)) {
            Some(dq) => *dq,
            None => {
                let Some((data, scale)) = quantize_blocks(t, axis, block) else {
                    layers.push(Layer::float(op, &name, "cannot quantize"));
                    continue;
                };
                let base = value_name(g, ValueRef::new(cid, 0));
                let d = Builder::with_names(g, &mut names).constant(&format!("{base}_int4"), data);
                let s =
                    Builder::with_names(g, &mut names).constant(&format!("{base}_scale"), scale);
                let n = Builder::with_names(g, &mut names)
                    .op(OnnxOp::DequantizeLinear, &[d, s])
                    .out(format!("{base}_DequantizeLinear"))
                    .attrs(
                        vec![
                            ("axis", Attr::Int(axis as i64)),
                            ("block_size", Attr::Int(block as i64)),
                        ]
                        .into_iter()
                        .collect(),
                    )
                    .add();
                let dq = ValueRef::new(n, 0);
                done.insert((cid, axis), dq);
                dq
            }
        };
        g.connect(dq, id, slot);
        layers.push(Layer::quantized(
            op,
            &name,
            &format!("int4, blocks of {block}"),
        ));
    }
    Ok(layers)
}

/// The symmetric int4 scale (±7) for a block whose largest magnitude is `absmax`; 1 for an
/// all-zero (or denormal-scaled) block, so its values stay 0.
pub(crate) fn symmetric_int4_scale(absmax: f32) -> f32 {
    if absmax > 0.0 && (absmax / 7.0).is_normal() {
        absmax / 7.0
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_along_k_with_a_short_last_block() {
        // 3x2, blocks of 2 along axis 0: rows {0,1} and {2}.
        let t = f32_tensor(vec![3, 2], &[7.0, -1.2, 3.5, 2.0, -14.0, 0.0]);
        let (q, s) = quantize_blocks(&t, 0, 2).unwrap();
        assert_eq!(s.dims, vec![2, 2]);
        assert_eq!(f32_elements(&s).unwrap(), vec![1.0, 2.0 / 7.0, 2.0, 1.0]);
        // 7/1=7, -1.2/(2/7)=-4.2→-4, 3.5/1=3.5→4 (ties to even), 2/(2/7)=7, -14/2=-7, 0.
        assert_eq!(q.raw().unwrap().as_ref(), &pack4(&[7, -4, 4, 7, -7, 0])[..]);
    }
}
