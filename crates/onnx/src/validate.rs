//! Checks run before a model is written: the type constraints of the ONNX schema for the
//! ops where a converter can get them wrong (QuantizeLinear / DequantizeLinear and their
//! zero points, ops whose inputs share one type, index inputs), on every type the graph
//! knows (declared or inferred value types, constants), and the shape constraints shape
//! inference checks (`modelc_ir::infer::check_graph`: a Squeeze of a dim that is not 1,
//! ScatterND updates of the wrong shape, shapes that do not broadcast, ...). A file
//! onnxruntime would reject as invalid is refused here, naming the node and the reason.

use modelc_ir::{node_label, DType, Graph, Model, NodeId, OnnxOp, Op, ValueRef};

use crate::OnnxError;

/// Checks every graph of the model (sub-graphs included) at the model's `ai.onnx` opset,
/// reporting every node that fails at once.
pub(crate) fn check_types(m: &Model) -> Result<(), OnnxError> {
    let opset = m
        .opset_imports
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let mut problems = Vec::new();
    check_graph(&m.graph, opset, &mut problems);
    // Shapes: what shape inference finds a node cannot compute on its inputs (ONNX's own
    // inference, which onnxruntime runs on load or on the first run, finds it too).
    problems.extend(
        modelc_ir::infer::check_graph(&m.graph, &m.opset_imports)
            .errors
            .into_iter()
            .map(|e| format!("graph `{}`: {e}", m.graph.name)),
    );
    if problems.is_empty() {
        return Ok(());
    }
    Err(OnnxError::Unsupported(format!(
        "{} (onnxruntime rejects such a file; not written)",
        problems.join("; ")
    )))
}

/// Domains modelc's other readers give the ops they keep untranslated: no ONNX runtime
/// implements them, so a file holding one would load nowhere. (Custom ops read from an ONNX
/// file keep their own domain and are written back as they came.)
const FOREIGN_DOMAINS: &[(&str, &str)] = &[
    ("tflite", "a TFLite custom op"),
    ("aten", "an aten op without a translation"),
];

fn check_graph(g: &Graph, opset: i64, problems: &mut Vec<String>) {
    for id in g.node_ids() {
        let node = g.node(id);
        for sub in node.subgraphs() {
            check_graph(sub, opset, problems);
        }
        let why = match &node.op {
            Op::Onnx(op) => check_node(g, id, *op, opset),
            Op::Custom(c) => match FOREIGN_DOMAINS.iter().find(|(d, _)| *d == c.domain) {
                Some((_, what)) => Err(format!("{what} with no ONNX form")),
                None => Ok(()),
            },
            _ => Ok(()),
        };
        if let Err(why) = why {
            problems.push(format!(
                "graph `{}`, node {}: {why}",
                g.name,
                node_label(node)
            ));
        }
    }
}

/// The element type of a value: a constant's, else the declared or inferred one.
fn dtype(g: &Graph, v: Option<ValueRef>) -> Option<DType> {
    let v = v?;
    match &g.try_node(v.node)?.op {
        Op::Const(t) => Some(t.dtype),
        Op::Input { default: Some(t) } if g.dtype_of(v).is_none() => Some(t.dtype),
        _ => g.dtype_of(v),
    }
}

fn out_dtype(g: &Graph, id: NodeId) -> Option<DType> {
    dtype(g, Some(ValueRef::new(id, 0)))
}

const FLOATS: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::F64];
const INDICES: &[DType] = &[DType::I32, DType::I64];

/// Integer types QuantizeLinear produces and DequantizeLinear reads (besides float8), by the
/// opset that made them legal.
fn quantized_types(opset: i64) -> Vec<DType> {
    let mut t = vec![DType::I8, DType::U8];
    if opset >= 19 {
        t.extend([
            DType::F8E4M3FN,
            DType::F8E4M3FNUZ,
            DType::F8E5M2,
            DType::F8E5M2FNUZ,
        ]);
    }
    if opset >= 21 {
        t.extend([DType::I16, DType::U16, DType::I4, DType::U4]);
    }
    if opset >= 23 {
        t.push(DType::F4E2M1);
    }
    if opset >= 25 {
        t.extend([DType::I2, DType::U2]);
    }
    t
}

fn check_node(g: &Graph, id: NodeId, op: OnnxOp, opset: i64) -> Result<(), String> {
    // All inputs at once: looking each up by slot costs time linear in their number.
    let inputs = g.inputs_of(id);
    let input = |i: usize| dtype(g, inputs.get(i).copied().flatten());
    let one_of = |what: &str, d: Option<DType>, allowed: &[DType]| -> Result<(), String> {
        match d {
            Some(d) if !allowed.contains(&d) => Err(format!(
                "{what} is {d}, which must be one of {}",
                allowed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Ok(()),
        }
    };
    match op {
        OnnxOp::QuantizeLinear => {
            let mut xs = FLOATS.to_vec();
            xs.push(DType::I32);
            one_of("the input", input(0), &xs)?;
            one_of("the scale", input(1), FLOATS)?;
            let declared = g
                .node(id)
                .int("output_dtype")
                .ok()
                .filter(|&c| c != 0)
                .and_then(|c| DType::from_onnx_code(c as i32));
            let zp = input(2);
            let result = zp.or(declared).unwrap_or(DType::U8);
            let allowed = quantized_types(opset);
            one_of("the zero point", zp, &allowed)?;
            one_of("the output type", Some(result), &allowed)?;
            if let (Some(z), Some(d)) = (zp, declared) {
                if z != d {
                    return Err(format!("output_dtype is {d} but the zero point is {z}"));
                }
            }
            if let Some(out) = out_dtype(g, id) {
                if out != result {
                    return Err(format!(
                        "its output is declared {out} but it produces {result} (the zero point's type)"
                    ));
                }
            }
        }
        OnnxOp::DequantizeLinear => {
            let mut allowed = quantized_types(opset);
            allowed.push(DType::I32);
            one_of("the input", input(0), &allowed)?;
            one_of("the scale", input(1), FLOATS)?;
            if let (Some(x), Some(z)) = (input(0), input(2)) {
                if x != z {
                    return Err(format!("the input is {x} but the zero point is {z}"));
                }
            }
            if let (Some(out), Some(s)) = (out_dtype(g, id), input(1)) {
                if out != s && g.node(id).int("output_dtype").unwrap_or(0) == 0 {
                    return Err(format!(
                        "its output is declared {out} but it produces {s} (the scale's type)"
                    ));
                }
            }
        }
        _ => {
            if let Some(group) = same_type_inputs(op) {
                let mut first: Option<(usize, DType)> = None;
                for i in group.start..group.end.min(inputs.len()) {
                    let Some(d) = input(i) else { continue };
                    match first {
                        None => first = Some((i, d)),
                        Some((j, e)) if e != d => {
                            return Err(format!("input {j} is {e} but input {i} is {d}"))
                        }
                        _ => {}
                    }
                }
            }
            for &(slot, allowed) in index_inputs(op) {
                one_of(&format!("input {slot}"), input(slot), allowed)?;
            }
        }
    }
    Ok(())
}

/// Input slots that must share one element type (`T` in the schema).
fn same_type_inputs(op: OnnxOp) -> Option<std::ops::Range<usize>> {
    use OnnxOp::*;
    Some(match op {
        Add | Sub | Mul | Div | Mod | Equal | Less | Greater | LessOrEqual | GreaterOrEqual
        | And | Or | Xor | MatMul | PRelu | BitShift => 0..2,
        Max | Min | Sum | Mean | Concat => 0..usize::MAX,
        Gemm | Conv | ConvTranspose => 0..3,
        Where => 1..3,
        _ => return None,
    })
}

/// Inputs that are indices or shapes, with the types the schema allows.
fn index_inputs(op: OnnxOp) -> &'static [(usize, &'static [DType])] {
    use OnnxOp::*;
    const I64: &[DType] = &[DType::I64];
    match op {
        Gather | GatherElements | GatherND => &[(1, INDICES)],
        Reshape | Expand | Tile => &[(1, I64)],
        Squeeze | Unsqueeze | ReduceSum | ReduceMean | ReduceMax | ReduceMin | ReduceProd => {
            &[(1, I64)]
        }
        Slice => &[(1, INDICES), (2, INDICES), (3, INDICES), (4, INDICES)],
        Pad => &[(1, I64)],
        Resize => &[(3, I64)],
        TopK => &[(1, I64)],
        ConstantOfShape => &[(0, I64)],
        _ => &[],
    }
}
