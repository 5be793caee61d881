//! `int64-to-int32`: int64 feature maps made int32, for targets whose kernels take no int64
//! (Ethos-U: "64-bit feature-maps are not supported"; TFLite Micro's ARG_MAX / ARG_MIN write
//! int32 only; the target files cite each). Run by `convert --target` / `quantize --target`
//! when [`super::Target::lowering`] finds such a rule in the target file.
//!
//! What changes, in the main graph (valid ONNX throughout):
//! - int64 graph inputs become int32 (the model's interface changes: the run's notes say so);
//! - an `ArgMax` / `ArgMin` is followed by `Cast(to=INT32)` (ONNX fixes their output to
//!   int64; the TFLite writer folds the pair into ARG_MAX with an int32 `output_type`);
//! - `Cast(to=INT64)` casts to int32;
//! - then, in execution order, an op reading a converted value: when its output has the
//!   input's element type (Add, Reshape's data, Gather's data, Concat, ...), its int64
//!   operands of that type become int32 (constants narrowed: a value outside int32 is an
//!   error naming the node; other values cast) and so do its int64 outputs; comparisons
//!   narrow their operands the same way; index inputs that take either type (Gather's
//!   indices, Slice's starts) stay as they are; any other slot (Reshape's shape, Tile's
//!   repeats, which ONNX defines as int64) reads the value through a `Cast(to=INT64)`, noted.

use std::collections::HashSet;

use modelc_ir::{Builder, DType, Graph, NodeId, OnnxOp, Op, Tensor, ValueRef, ValueType};

use crate::{Changed, Pass, PassContext, PassError};

pub struct Int64ToInt32;

impl Pass for Int64ToInt32 {
    fn name(&self) -> &'static str {
        "int64-to-int32"
    }

    fn description(&self) -> &'static str {
        "int64 inputs, ArgMax/ArgMin outputs and Casts to int64 made int32, and the ops they \
         feed (for targets without int64 kernels); run by --target"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let mut converted = HashSet::new();
        let mut notes = Vec::new();
        // Seeds: graph inputs, ArgMax/ArgMin results, Casts to int64.
        for id in g.inputs().to_vec() {
            let v = ValueRef::new(id, 0);
            if dtype(g, v) == Some(DType::I64) {
                set_dtype(g, v, DType::I32);
                converted.insert(v);
                notes.push(format!("input `{}` is int32", value_name(g, v)));
            }
        }
        let order = g.topo_order().map_err(|e| PassError::Failed {
            pass: "int64-to-int32",
            message: e.to_string(),
        })?;
        for &id in &order {
            let op = g.node(id).op.onnx();
            let v = ValueRef::new(id, 0);
            match op {
                Some(OnnxOp::ArgMax | OnnxOp::ArgMin)
                    if dtype(g, v) != Some(DType::I32) && !narrowed(g, v) =>
                {
                    let mut b = Builder::new(g);
                    let name = b.node(id).outputs[0].name.clone();
                    let wide_name = b.fresh(&format!("{name}_i64"));
                    // The Cast takes over the result's name, readers and place among the
                    // outputs (its own input too: reconnected below); the int64 result is
                    // renamed.
                    let narrow = b
                        .op(OnnxOp::Cast, &[v])
                        .int("to", DType::I32.onnx_code() as i64)
                        .take_over(v);
                    g.connect(v, narrow.node, 0);
                    if let Some(val) = g.value_mut(v) {
                        val.name = wide_name;
                    }
                    set_dtype(g, narrow, DType::I32);
                    converted.insert(narrow);
                }
                Some(OnnxOp::Cast)
                    if g.node(id).attrs.int("to", 0).ok()
                        == Some(DType::I64.onnx_code() as i64)
                        && !widens_for_int64_slots(g, id) =>
                {
                    g.node_mut(id)
                        .attrs
                        .set("to", modelc_ir::Attr::Int(DType::I32.onnx_code() as i64));
                    set_dtype(g, v, DType::I32);
                    converted.insert(v);
                }
                _ => {}
            }
        }
        // Propagation, in execution order (the seeds' Casts are new nodes: order again).
        let order = g.topo_order().map_err(|e| PassError::Failed {
            pass: "int64-to-int32",
            message: e.to_string(),
        })?;
        for id in order {
            let Some(op) = g.node(id).op.onnx() else {
                continue;
            };
            let ins = g.inputs_of(id);
            let reads: Vec<usize> = (0..ins.len())
                .filter(|&i| ins[i].is_some_and(|v| converted.contains(&v)))
                .collect();
            if reads.is_empty()
                || (op == OnnxOp::Cast && !converted.contains(&ValueRef::new(id, 0)))
            {
                continue;
            }
            let (typed, outputs) = same_type_slots(op, ins.len());
            let typed_read = reads.iter().any(|i| typed.contains(i));
            if typed_read {
                for &i in &typed {
                    let Some(v) = ins[i] else { continue };
                    if converted.contains(&v) || dtype(g, v) != Some(DType::I64) {
                        continue;
                    }
                    narrow_operand(g, id, i, v)?;
                }
                for o in outputs {
                    let v = ValueRef::new(id, o);
                    // These outputs have the type of the int64 input just read: int64 also
                    // when the graph has not recorded it.
                    if o < g.node(id).outputs.len()
                        && matches!(dtype(g, v), Some(DType::I64) | None)
                    {
                        set_dtype(g, v, DType::I32);
                        converted.insert(v);
                    }
                }
            }
            for i in reads {
                if typed.contains(&i) || takes_int32(op, i) {
                    continue;
                }
                // A slot ONNX defines as int64 (a shape, repeats, axes): widen back there.
                let v = ins[i].expect("read slot");
                let base = format!("{}_i64", value_name(g, v));
                let mut b = Builder::new(g);
                let wide = b
                    .op(OnnxOp::Cast, &[v])
                    .int("to", DType::I64.onnx_code() as i64)
                    .out(base)
                    .value();
                set_dtype(g, wide, DType::I64);
                g.connect(wide, id, i);
                notes.push(format!(
                    "`{}` reads `{}` as int64 (input {i} of {op:?} is int64 in ONNX)",
                    g.node(id).name,
                    value_name(g, v)
                ));
            }
        }
        if converted.is_empty() {
            return Ok(Changed::No);
        }
        for o in g.outputs().to_vec() {
            if converted.contains(&o) {
                notes.push(format!("output `{}` is int32", value_name(g, o)));
            }
        }
        cx.notes.extend(notes);
        Ok(Changed::Yes)
    }
}

/// Whether Cast node `id` widens an int32 value for readers that ONNX defines as int64 only
/// (what this pass inserts before a Reshape's shape or an Expand's shape): it stays, so a
/// second run changes nothing.
fn widens_for_int64_slots(g: &Graph, id: NodeId) -> bool {
    let Some(src) = g.input(id, 0) else {
        return false;
    };
    let users = g.users(ValueRef::new(id, 0));
    dtype(g, src) == Some(DType::I32)
        && !users.is_empty()
        && !g.outputs().contains(&ValueRef::new(id, 0))
        && users.iter().all(|&(user, slot)| {
            let Some(op) = g.node(user).op.onnx() else {
                return false;
            };
            let n_in = g.node(user).num_inputs;
            !same_type_slots(op, n_in).0.contains(&slot) && !takes_int32(op, slot)
        })
}

/// Whether `v` is read by one `Cast(to=INT32)` only (this pass ran before).
fn narrowed(g: &Graph, v: ValueRef) -> bool {
    let users = g.users(v);
    let [(cast, 0)] = users[..] else {
        return false;
    };
    let n = g.node(cast);
    n.op.onnx() == Some(OnnxOp::Cast)
        && n.attrs.int("to", 0).ok() == Some(DType::I32.onnx_code() as i64)
        && !g.outputs().contains(&v)
}

/// The inputs of `op` that share its element type `T` with the outputs listed second, when
/// int32 is as valid for `T` as int64. Empty: the op's outputs do not follow an int input.
fn same_type_slots(op: OnnxOp, n_in: usize) -> (Vec<usize>, Vec<usize>) {
    use OnnxOp::*;
    let all: Vec<usize> = (0..n_in).collect();
    match op {
        Add | Sub | Mul | Div | Mod | Min | Max | Sum | Abs | Neg | Sign | Identity | Relu
        | Concat | Clip => (all, vec![0]),
        Equal | Less | Greater | LessOrEqual | GreaterOrEqual => (all, vec![]),
        Reshape | Squeeze | Unsqueeze | Flatten | Transpose | Slice | Gather | GatherElements
        | GatherND | Expand | Tile | ReduceSum | ReduceMax | ReduceMin | ReduceProd | CumSum
        | DepthToSpace | SpaceToDepth => (vec![0], vec![0]),
        Split => (vec![0], (0..64).collect()),
        Pad => (vec![0, 2], vec![0]),
        Where => (vec![1, 2], vec![0]),
        Range => (all, vec![0]),
        _ => (vec![], vec![]),
    }
}

/// Input `i` of `op` is an index or parameter that ONNX allows as int32 or int64.
fn takes_int32(op: OnnxOp, i: usize) -> bool {
    use OnnxOp::*;
    matches!(
        (op, i),
        (Cast, 0)
            | (
                Gather | GatherElements | GatherND | ScatterElements | ScatterND,
                1
            )
            | (Slice, 1..=4)
            | (OneHot, 0 | 1)
            | (Where, 0)
    )
}

/// Input `i` (int64 value `v`) of node `id` read as int32: a constant narrowed (a copy when
/// others read it too), anything else through a `Cast(to=INT32)`.
fn narrow_operand(g: &mut Graph, id: NodeId, i: usize, v: ValueRef) -> Result<(), PassError> {
    let narrowed = match &g.node(v.node).op {
        Op::Const(t) => Some(narrow_tensor(t).ok_or_else(|| PassError::Failed {
            pass: "int64-to-int32",
            message: format!(
                "`{}`: constant `{}` has values outside int32",
                g.node(id).name,
                value_name(g, v)
            ),
        })?),
        _ => None,
    };
    let name = value_name(g, v);
    let mut b = Builder::new(g);
    let n = match narrowed {
        Some(t) => b.constant(&format!("{name}_i32"), t),
        None => b
            .op(OnnxOp::Cast, &[v])
            .int("to", DType::I32.onnx_code() as i64)
            .out(format!("{name}_i32"))
            .value(),
    };
    set_dtype(g, n, DType::I32);
    g.connect(n, id, i);
    Ok(())
}

/// An int64 tensor's values as int32, when they all fit.
fn narrow_tensor(t: &Tensor) -> Option<Tensor> {
    let raw = t.raw()?;
    let mut out = Vec::with_capacity(raw.len() / 2);
    for c in raw.chunks_exact(8) {
        let x = i64::from_le_bytes(c.try_into().ok()?);
        out.extend_from_slice(&i32::try_from(x).ok()?.to_le_bytes());
    }
    Tensor::from_raw(DType::I32, t.dims.clone(), out.into()).ok()
}

fn dtype(g: &Graph, v: ValueRef) -> Option<DType> {
    if let Op::Const(t) = &g.node(v.node).op {
        return Some(t.dtype);
    }
    match g.value(v)?.ty.as_ref().map(|t| &t.ty) {
        Some(ValueType::Tensor(tt)) => tt.dtype,
        _ => None,
    }
}

fn set_dtype(g: &mut Graph, v: ValueRef, d: DType) {
    let Some(val) = g.value_mut(v) else { return };
    match val.ty.as_mut().map(|t| &mut std::sync::Arc::make_mut(t).ty) {
        Some(ValueType::Tensor(tt)) => tt.dtype = Some(d),
        _ => {
            val.ty = Some(
                ValueType::Tensor(modelc_ir::TensorType {
                    dtype: Some(d),
                    shape: None,
                })
                .into(),
            )
        }
    }
}

fn value_name(g: &Graph, v: ValueRef) -> String {
    g.value(v).map(|x| x.name.clone()).unwrap_or_default()
}
