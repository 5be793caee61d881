//! `decompose-fmod`: `Mod` with fmod 1 (C's fmod: the dividend's sign) → the floor modulo
//! (`Mod` fmod 0) less the divisor where it is non-zero and its sign differs from the
//! dividend's (`Equal`, `Less`, `Not`, `And`, `Sub`, `Where`): exact, as both are. float32,
//! int32 and int64.

use modelc_ir::{Builder, DType, NodeId, OnnxOp};

use super::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-fmod",
    description: "Mod fmod=1 → floor Mod and a sign fix (exact)",
    ops: &[OnnxOp::Mod],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| c_fmod(g, id),
};

/// `Mod` fmod 1 → floor modulo and a sign fix (see the module docs).
fn c_fmod(g: &mut Builder<'_>, id: NodeId) -> bool {
    if g.node(id).attrs.int("fmod", 0).ok() != Some(1) {
        return false;
    }
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let Some(dtype) = g
        .dtype_of(a)
        .filter(|d| matches!(d, DType::F32 | DType::I32 | DType::I64))
    else {
        return false;
    };
    let name = base_name(g, id);
    // All-zero bytes are 0 in each of these dtypes.
    let width = (dtype.bits() / 8) as usize;
    let zero = modelc_ir::Tensor::from_raw(dtype, vec![], vec![0u8; width].into()).expect("scalar");
    let zero = g.constant(&format!("{name}_zero"), zero);
    let r = g
        .op(OnnxOp::Mod, &[a, b])
        .out(format!("{name}_floor_mod"))
        .int("fmod", 0)
        .value();
    let is_zero = g
        .op(OnnxOp::Equal, &[r, zero])
        .out(format!("{name}_is_zero"))
        .value();
    let nonzero = g
        .op(OnnxOp::Not, &[is_zero])
        .out(format!("{name}_nonzero"))
        .value();
    let r_neg = g
        .op(OnnxOp::Less, &[r, zero])
        .out(format!("{name}_r_negative"))
        .value();
    let a_neg = g
        .op(OnnxOp::Less, &[a, zero])
        .out(format!("{name}_a_negative"))
        .value();
    let same = g
        .op(OnnxOp::Equal, &[r_neg, a_neg])
        .out(format!("{name}_same_sign"))
        .value();
    let differ = g
        .op(OnnxOp::Not, &[same])
        .out(format!("{name}_sign_differs"))
        .value();
    let fix = g
        .op(OnnxOp::And, &[nonzero, differ])
        .out(format!("{name}_fix"))
        .value();
    let shifted = g
        .op(OnnxOp::Sub, &[r, b])
        .out(format!("{name}_shifted"))
        .value();
    let y = g
        .op(OnnxOp::Where, &[fix, shifted, r])
        .out(format!("{name}_fmod"))
        .value();
    g.replace_node(id, y);
    true
}
