//! Attributes and forms added at a version, which a downgrade can drop only where they say
//! what the older version meant anyway ([`ADDED`]: one row per fact), and the ops renamed or
//! re-spelled at a version: Scatter → ScatterElements (11), GridSample's mode names (20),
//! Gemm's optional `C` (11), per-axis quantization (13), CastLike → Cast (below 15).

use modelc_ir::build::scalar_tensor;
use modelc_ir::{Attr, Builder, NodeId, OnnxOp};

use super::{const_input, replace_op, set_input, Adapter, Cx};

/// What an attribute added at a version must be for a downgrade to drop it.
#[derive(Clone, Copy)]
enum Keep {
    /// Its default (when absent, it is).
    Int(i64),
    Str(&'static str),
    /// Every element 1 (dilations).
    Ones,
    /// Absent.
    Absent,
    /// Anything: the older version means the same or the value cannot arise there.
    Any,
}

/// `(op, version, attribute, what it must be below the version)`.
const ADDED: &[(OnnxOp, i64, &str, Keep)] = &[
    (OnnxOp::ArgMax, 12, "select_last_index", Keep::Int(0)),
    (OnnxOp::ArgMin, 12, "select_last_index", Keep::Int(0)),
    (OnnxOp::Reshape, 14, "allowzero", Keep::Int(0)),
    (OnnxOp::LSTM, 14, "layout", Keep::Int(0)),
    (OnnxOp::GRU, 14, "layout", Keep::Int(0)),
    (OnnxOp::RNN, 14, "layout", Keep::Int(0)),
    (OnnxOp::AveragePool, 10, "ceil_mode", Keep::Int(0)),
    (OnnxOp::AveragePool, 19, "dilations", Keep::Ones),
    (OnnxOp::MaxPool, 8, "storage_order", Keep::Int(0)),
    (OnnxOp::MaxPool, 10, "ceil_mode", Keep::Int(0)),
    (OnnxOp::MaxPool, 10, "dilations", Keep::Ones),
    (OnnxOp::TopK, 11, "largest", Keep::Int(1)),
    // Older TopK always sorts, which is one valid order for sorted=0.
    (OnnxOp::TopK, 11, "sorted", Keep::Any),
    (OnnxOp::ScatterElements, 16, "reduction", Keep::Str("none")),
    (OnnxOp::ScatterND, 16, "reduction", Keep::Str("none")),
    // Saturation applies to float8 types, which do not exist before.
    (OnnxOp::Cast, 19, "saturate", Keep::Any),
    (OnnxOp::QuantizeLinear, 19, "saturate", Keep::Any),
    (OnnxOp::QuantizeLinear, 21, "block_size", Keep::Int(0)),
    (OnnxOp::DequantizeLinear, 21, "block_size", Keep::Int(0)),
    (OnnxOp::QuantizeLinear, 21, "output_dtype", Keep::Int(0)),
    (OnnxOp::DepthToSpace, 11, "mode", Keep::Str("DCR")),
    (OnnxOp::SpaceToDepth, 28, "mode", Keep::Str("DCR")),
    (OnnxOp::LpPool, 18, "ceil_mode", Keep::Int(0)),
    (OnnxOp::LpPool, 18, "dilations", Keep::Ones),
    // RoiAlign before 16 computes in the `output_half_pixel` coordinates; the default
    // from 16 is `half_pixel`.
    (
        OnnxOp::RoiAlign,
        16,
        "coordinate_transformation_mode",
        Keep::Str("output_half_pixel"),
    ),
    (OnnxOp::Constant, 12, "value_float", Keep::Absent),
    (OnnxOp::Constant, 12, "value_floats", Keep::Absent),
    (OnnxOp::Constant, 12, "value_int", Keep::Absent),
    (OnnxOp::Constant, 12, "value_ints", Keep::Absent),
    (OnnxOp::Constant, 12, "value_string", Keep::Absent),
    (OnnxOp::Constant, 12, "value_strings", Keep::Absent),
    (OnnxOp::Constant, 12, "sparse_value", Keep::Absent),
];

/// Drops the attributes `node` has that were added to its op after opset `to` (and at or
/// before `from`), refusing the values the older version cannot express.
pub(crate) fn drop_added(
    b: &mut Builder<'_>,
    id: NodeId,
    op: OnnxOp,
    cx: &Cx,
) -> Result<(), String> {
    for &(o, version, name, keep) in ADDED {
        if o != op || version > cx.from || version <= cx.to {
            continue;
        }
        // Absent, the attribute has its default in the source opset.
        let value = b.node(id).attrs.get(name).cloned().or_else(|| {
            op.schema()
                .attrs
                .iter()
                .filter(|a| a.name == name)
                .find_map(|a| op.default_at(name, a.kind, cx.from))
                .and_then(super::attr_of_default)
        });
        let Some(value) = value else {
            continue;
        };
        let fine = match (keep, &value) {
            (Keep::Any, _) => true,
            (Keep::Int(d), Attr::Int(v)) => *v == d,
            (Keep::Str(d), Attr::String(v)) => v.as_ref() == d.as_bytes(),
            (Keep::Ones, Attr::Ints(v)) => v.iter().all(|&x| x == 1),
            _ => false,
        };
        if !fine {
            return Err(format!(
                "{name}={} has no form in opset {} ({op} gained `{name}` in opset {version})",
                show(&value),
                cx.to
            ));
        }
        b.node_mut(id).attrs.remove(name);
    }
    Ok(())
}

fn show(a: &Attr) -> String {
    match a {
        Attr::Int(v) => v.to_string(),
        Attr::Float(v) => v.to_string(),
        Attr::String(s) => String::from_utf8_lossy(s).into_owned(),
        Attr::Ints(v) => format!("{v:?}"),
        other => format!("<{}>", other.kind().name()),
    }
}

pub(crate) const ADAPTERS: &[Adapter] = &[
    Adapter {
        op: OnnxOp::CastLike,
        version: 15,
        up: |_, id, _| Ok(id),
        down: cast_like_down,
    },
    Adapter {
        op: OnnxOp::Scan,
        version: 9,
        up: |_, _, cx| {
            Err(format!(
                "Scan-8's batch axis has no form in opset {}",
                cx.to
            ))
        },
        down: |_, _, cx| {
            Err(format!(
                "Scan-9's scan axes have no form in opset {}",
                cx.to
            ))
        },
    },
    Adapter {
        op: OnnxOp::Scatter,
        version: 11,
        up: |b, id, _| Ok(replace_op(b, id, OnnxOp::ScatterElements)),
        down: |_, id, _| Ok(id),
    },
    Adapter {
        op: OnnxOp::ScatterElements,
        version: 11,
        up: |_, id, _| Ok(id),
        down: |b, id, _| Ok(replace_op(b, id, OnnxOp::Scatter)),
    },
    Adapter {
        op: OnnxOp::GridSample,
        version: 20,
        up: |b, id, _| {
            rename_mode(b, id, &[("bilinear", "linear"), ("bicubic", "cubic")]);
            Ok(id)
        },
        down: |b, id, cx| {
            if b.input(id, 0)
                .and_then(|x| cx.rank(b, x))
                .is_some_and(|r| r != 4)
            {
                return Err(format!("only 4-D GridSample has a form in opset {}", cx.to));
            }
            rename_mode(b, id, &[("linear", "bilinear"), ("cubic", "bicubic")]);
            Ok(id)
        },
    },
    Adapter {
        op: OnnxOp::Gemm,
        version: 11,
        up: |_, id, _| Ok(id),
        down: |b, id, cx| {
            if b.input(id, 2).is_none() {
                let a = b.input(id, 0).ok_or("no input")?;
                let dt = cx
                    .dtype(b, a)
                    .ok_or("C is absent and the element type of a zero C is unknown")?;
                let c = const_input(b, id, "C", scalar_tensor(dt, 0.0));
                set_input(b, id, 2, c);
            }
            Ok(id)
        },
    },
    Adapter {
        op: OnnxOp::QuantizeLinear,
        version: 13,
        up: |_, id, _| Ok(id),
        down: per_tensor_only,
    },
    Adapter {
        op: OnnxOp::DequantizeLinear,
        version: 13,
        up: |_, id, _| Ok(id),
        down: per_tensor_only,
    },
];

fn rename_mode(b: &mut Builder<'_>, id: NodeId, pairs: &[(&str, &str)]) {
    let attrs = &mut b.node_mut(id).attrs;
    if let Some(Attr::String(m)) = attrs.get("mode") {
        if let Some((_, to)) = pairs.iter().find(|(from, _)| m.as_ref() == from.as_bytes()) {
            attrs.set("mode", Attr::String(to.as_bytes().to_vec().into()));
        }
    }
}

/// Quantization with one scale per slice of `axis` came at 13.
fn per_tensor_only(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let scale = b.input(id, 1).ok_or("no scale")?;
    match cx.rank(b, scale) {
        Some(0) => {}
        Some(_) => {
            return Err(format!(
                "per-axis quantization has no form in opset {}",
                cx.to
            ))
        }
        None => {
            return Err("the scale's rank is unknown (per-axis quantization came at 13)".into())
        }
    }
    b.node_mut(id).attrs.remove("axis");
    Ok(id)
}

/// `CastLike(x, like)` (15) → `Cast(x) {to = like's element type}`.
fn cast_like_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let like = b.input(id, 1).ok_or("no target-type input")?;
    let dt = cx.dtype(b, like).ok_or_else(|| {
        format!(
            "the element type to cast to is unknown; opset {} has only Cast with a fixed type",
            cx.to
        )
    })?;
    b.node_mut(id).attrs.remove("saturate");
    super::take_input(b, id, 1);
    let new = replace_op(b, id, OnnxOp::Cast);
    b.node_mut(new)
        .attrs
        .set("to", Attr::Int(i64::from(dt.onnx_code())));
    Ok(new)
}
