//! `fold`: constant folding. A node whose inputs are all constants is computed once by the
//! interpreter's kernel and replaced by constants holding its results — unless that would
//! make the model bigger: results larger than the node's constant inputs plus 1 KiB (a Tile,
//! Expand or ConstantOfShape blowing a small constant up) stay unfolded. Random ops, nodes
//! with sub-graphs, ops without a kernel and `DequantizeLinear` (quantized weights stay
//! quantized) are left alone. Integer values that shape
//! inference can compute (`Shape` of known dims and the Gather/Concat chains after it) become
//! constants first. An `If` whose condition becomes a constant is replaced by the branch it
//! takes ([`super::fold_if`]), and folding goes on in what it inlined.

use modelc_interp::{Data, Interpreter};
use modelc_ir::{Graph, Node, NodeId, OnnxOp, Op, Randomness, ValueRef};

use crate::{Changed, Pass, PassContext, PassError};

pub struct Fold;

/// Most rounds of folding and inlining the `If`s whose conditions folded.
const MAX_IF_ROUNDS: usize = 16;

/// How much bigger than its inputs a folded result may be.
const GROWTH_ALLOWANCE: u64 = 1024;

impl Pass for Fold {
    fn name(&self) -> &'static str {
        "fold"
    }

    fn description(&self) -> &'static str {
        "compute nodes whose inputs are all constants, unless the result is bigger than the inputs"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let mut changed = false;
        // An `If` whose condition folds is replaced by its branch, whose own conditions may
        // fold in the next round (nested Ifs: silero-vad has three levels).
        for _ in 0..MAX_IF_ROUNDS {
            changed |= fold_known_ints(g, cx);
            for id in g.topo_order().map_err(|e| PassError::Failed {
                pass: "fold",
                message: e.to_string(),
            })? {
                if let Some(results) = try_fold(g, id, cx) {
                    replace_with_constants(g, id, results);
                    changed = true;
                }
            }
            if !super::fold_if::inline_constant_ifs(g) {
                break;
            }
            changed = true;
        }
        Ok(Changed::from_bool(changed))
    }
}

/// Replaces integer values whose contents shape inference knows — `Shape` of a value with
/// known dims, `Size`, and what Gather/Slice/Concat/Unsqueeze/arithmetic make of them — by
/// constants, so the chains torch exports around `x.view(x.size(0), -1)` fold away and
/// Reshape/Expand/ConstantOfShape see constant shapes. A symbolic dim picked out of a shape
/// stays computed at run time.
fn fold_known_ints(g: &mut Graph, cx: &PassContext) -> bool {
    let mut changed = false;
    for (v, t) in modelc_ir::infer::known_int_values(g, &cx.opsets) {
        if g.users(v).is_empty() && !g.outputs().contains(&v) {
            continue;
        }
        let value = g.value(v).cloned().expect("live value");
        let c = g.add_const(value.name.clone(), t);
        let cv = g.value_mut(ValueRef::new(c, 0)).expect("new constant");
        cv.doc = value.doc;
        cv.meta = value.meta;
        g.replace_uses(v, ValueRef::new(c, 0));
        changed = true;
        let node = g.node(v.node);
        let used = (0..node.outputs.len()).any(|s| {
            let r = ValueRef::new(v.node, s);
            !g.users(r).is_empty() || g.outputs().contains(&r)
        });
        if !used {
            g.remove_node(v.node);
        }
    }
    changed
}

/// Whether the op may be folded: not one that draws random numbers on every run. Dropout
/// (random only in training mode) is folded as before: the interpreter draws its mask from
/// the `seed` attribute (0 without one), and outside training mode it is the identity.
fn deterministic(op: OnnxOp) -> bool {
    op.traits().randomness != Randomness::Always
}

/// The node's results as tensors, if it can and should be folded.
fn try_fold(g: &Graph, id: NodeId, cx: &PassContext) -> Option<Vec<Option<modelc_ir::Tensor>>> {
    let node = g.node(id);
    let op = node.op.onnx()?;
    // A constant behind a DequantizeLinear is a quantized weight (or bias) in QDQ form, which
    // runtimes and the TFLite exporter turn into integer kernels: it is the representation,
    // not a computation to do ahead of time (and folding it makes it 2-4x bigger).
    if op == OnnxOp::DequantizeLinear
        || !deterministic(op)
        || node.subgraphs().next().is_some()
        || modelc_interp::ops::lookup(op).is_none()
    {
        return None;
    }
    // Every present input is a constant.
    let inputs = g.inputs_of(id);
    let mut input_bytes = 0u64;
    let mut mini = Graph::new("fold");
    let mut slots = Vec::new();
    for v in &inputs {
        match v {
            None => slots.push(None),
            Some(v) => match &g.node(v.node).op {
                Op::Const(t) => {
                    input_bytes += t.byte_len();
                    slots.push(Some(
                        mini.add_const(format!("in{}", slots.len()), (**t).clone()),
                    ));
                }
                _ => return None,
            },
        }
    }
    let mut copy = Node::new(node.op.clone(), node.num_inputs, node.outputs.clone());
    copy.attrs = node.attrs.clone();
    copy.layout = node.layout;
    let n = mini.add_node(copy);
    for (slot, c) in slots.iter().enumerate() {
        if let Some(c) = c {
            mini.connect(ValueRef::new(*c, 0), n, slot);
        }
    }
    let present: Vec<usize> = (0..node.outputs.len())
        .filter(|&i| !node.outputs[i].is_absent())
        .collect();
    for &i in &present {
        mini.push_output(ValueRef::new(n, i));
    }
    let interp = Interpreter::for_graph(&mini, &cx.opsets).ok()?;
    // A kernel error (e.g. an out-of-range index) leaves the node for run time to report.
    let outputs = interp.run(Vec::new()).ok()?;
    let mut results = vec![None; node.outputs.len()];
    let mut output_bytes = 0u64;
    for (&slot, (_, data)) in present.iter().zip(outputs) {
        let Data::Tensor(a) = data else { return None };
        let t = a.to_tensor();
        output_bytes += t.byte_len();
        results[slot] = Some(t);
    }
    (output_bytes <= input_bytes + GROWTH_ALLOWANCE).then_some(results)
}

fn replace_with_constants(g: &mut Graph, id: NodeId, results: Vec<Option<modelc_ir::Tensor>>) {
    for (slot, t) in results.into_iter().enumerate() {
        let Some(t) = t else { continue };
        let old = ValueRef::new(id, slot);
        let value = g.value(old).cloned().expect("live value");
        let c = g.add_const(value.name.clone(), t);
        // Keep the declared doc and metadata; the type is the constant's own.
        let cv = g.value_mut(ValueRef::new(c, 0)).expect("new constant");
        cv.doc = value.doc;
        cv.meta = value.meta;
        g.replace_uses(old, ValueRef::new(c, 0));
    }
    g.remove_node(id);
}
