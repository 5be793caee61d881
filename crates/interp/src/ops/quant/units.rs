//! QDQ units, found once when an interpreter is created: groups of nodes a run computes
//! in integers as one step instead of node by node through float tensors.
//!
//! A convolution unit is `DequantizeLinear(x_q, scale, zp)` read only by a `Conv` whose
//! weight is a `DequantizeLinear` of constants (computed ahead of the runs) and whose bias
//! (if any) is a constant f32 (or constant-computed) vector, the Conv's result read only by
//! a `QuantizeLinear` with constant scalar scale and zero point — optionally through a
//! Relu or constant Clip the plan fused into the Conv. The unit runs where the
//! QuantizeLinear stands ([`super::qconv::QConv`]); the DequantizeLinear of x, the Conv and
//! the activation are not run (the DequantizeLinear of x still runs when something else
//! reads its result: a residual connection). Runs with an observer see every value and so
//! do not use units; a run without one reads only the unit's output (every skipped value
//! has no other reader, checked here).
//!
//! An addition unit is `DequantizeLinear(a_q) + DequantizeLinear(b_q)`, both of run-time
//! values with constant scalar scales and zero points and read only by the Add, the sum
//! (through a fused Relu or Clip) read only by such a QuantizeLinear
//! ([`super::qadd::QAdd`], bit-identical to the nodes).

use std::collections::{HashMap, HashSet};

use modelc_ir::{DType, Graph, Layout, NodeId, OnnxOp, Op, ValueRef};

use super::igemm::Kernel;
use super::qadd::{Operand, QAdd};
use super::qconv::{QConv, Requant};
use crate::plan::{Act, Plan};
use crate::pool::Pool;
use crate::{Array, Data, KernelError};

/// A unit, run in place of the node that ends it.
#[derive(Debug)]
pub(crate) struct Unit {
    /// The node errors are reported for (the Conv or Add).
    pub node: NodeId,
    /// The quantized inputs the unit reads; the plan counts one read of each for the
    /// unit, released after it has run.
    pub inputs: Vec<ValueRef>,
    pub kind: Kind,
}

/// What a unit computes.
#[derive(Debug)]
pub(crate) enum Kind {
    Conv(QConv),
    Add(QAdd),
}

impl Unit {
    /// Computes the unit's output from its inputs (in [`Unit::inputs`] order).
    pub(crate) fn run(
        &self,
        inputs: &[&Array],
        kernel: Kernel,
        pool: Option<&Pool>,
    ) -> Result<Array, KernelError> {
        match (&self.kind, inputs) {
            (Kind::Conv(c), &[x]) => c.run(x, kernel, pool),
            (Kind::Add(a), &[x, y]) => a.run(x, y, pool),
            _ => Err(KernelError::new("a QDQ unit was given the wrong inputs")),
        }
    }

    /// The op name a profile lists the unit under.
    pub(crate) fn name(&self) -> &'static str {
        match self.kind {
            Kind::Conv(_) => "QLinearConv (QDQ unit)",
            Kind::Add(_) => "QLinearAdd (QDQ unit)",
        }
    }
}

/// The units of one graph.
#[derive(Debug)]
pub(crate) struct Units {
    /// Unit by the node it replaces (its QuantizeLinear).
    pub at: HashMap<NodeId, Unit>,
    /// Nodes a run does not run (their inputs are released as if they had run).
    pub skip: HashSet<NodeId>,
    pub kernel: Kernel,
}

impl Units {
    /// No units (sub-graphs, tests).
    pub(crate) fn none() -> Units {
        Units {
            at: HashMap::new(),
            skip: HashSet::new(),
            kernel: Kernel::best(),
        }
    }

    /// Takes back the reads [`Units::find`] counted, for runs that do not use the units.
    pub(crate) fn uncount(&self, uses: &mut HashMap<ValueRef, usize>) {
        for unit in self.at.values() {
            for v in &unit.inputs {
                if let Some(n) = uses.get_mut(v) {
                    *n -= 1;
                }
            }
        }
    }

    /// Finds the units of `graph` given its constants (by value) and the nodes computed
    /// ahead of the runs, and counts the units' reads in the plan.
    pub(crate) fn find(
        graph: &Graph,
        plan: &mut Plan,
        consts: &HashMap<ValueRef, Data>,
        precomputed: &HashSet<NodeId>,
    ) -> Units {
        let mut units = Units::none();
        let ctx = Ctx {
            graph,
            plan,
            consts,
            precomputed,
        };
        for &id in &plan.order {
            let found = match onnx_op(graph, id) {
                Some(OnnxOp::Conv) => ctx.conv_unit(id),
                Some(OnnxOp::Add) => ctx.add_unit(id),
                _ => None,
            };
            if let Some(Found { q, unit, skips }) = found {
                if skips.iter().any(|n| units.skip.contains(n)) {
                    continue;
                }
                units.skip.extend(skips);
                units.at.insert(q, unit);
            }
        }
        for unit in units.at.values() {
            for &v in &unit.inputs {
                *plan.uses.entry(v).or_default() += 1;
            }
        }
        units
    }
}

/// A unit found: the node it runs at, the unit, and the nodes it skips.
struct Found {
    q: NodeId,
    unit: Unit,
    skips: Vec<NodeId>,
}

/// What [`Ctx::walk`] found.
struct Walk {
    inputs: Vec<(ValueRef, f32, i16, DType)>,
    out: OutputQ,
    skips: Vec<NodeId>,
}

/// The QuantizeLinear ending a unit, and the activation before it.
struct OutputQ {
    q: NodeId,
    act: Option<Act>,
    act_node: Option<NodeId>,
    ys: f32,
    yz: i16,
    y_dtype: DType,
}

impl OutputQ {
    /// The activation's float bounds (±∞ without one). Silu never reaches here.
    fn bounds(&self) -> (f32, f32) {
        match self.act {
            Some(Act::Relu) => (0.0, f32::INFINITY),
            Some(Act::Clip { lo, hi }) => {
                (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY))
            }
            None | Some(Act::Silu) => (f32::NEG_INFINITY, f32::INFINITY),
        }
    }
}

struct Ctx<'a> {
    graph: &'a Graph,
    plan: &'a Plan,
    consts: &'a HashMap<ValueRef, Data>,
    precomputed: &'a HashSet<NodeId>,
}

fn onnx_op(graph: &Graph, id: NodeId) -> Option<OnnxOp> {
    match graph.node(id).op {
        Op::Onnx(op) => Some(op),
        _ => None,
    }
}

/// Shifted 8-bit integers and their type.
fn ints8(a: &Array) -> Option<(Vec<i16>, DType)> {
    match a {
        Array::U8(v) => Some((v.iter().map(|&x| x as i16).collect(), DType::U8)),
        Array::I8(v) => Some((v.iter().map(|&x| x as i16).collect(), DType::I8)),
        _ => None,
    }
}

fn floats(a: &Array) -> Option<Vec<f32>> {
    match a {
        Array::F32(v) => Some(v.iter().copied().collect()),
        _ => None,
    }
}

/// A positive, finite scalar scale.
fn scale(a: &Array) -> Option<f32> {
    match floats(a)?.as_slice() {
        &[s] if s.is_finite() && s > 0.0 => Some(s),
        _ => None,
    }
}

impl Ctx<'_> {
    fn constant(&self, v: Option<ValueRef>) -> Option<&Array> {
        match self.consts.get(&v?)? {
            Data::Tensor(a) => Some(a),
            _ => None,
        }
    }

    /// Read by exactly one node input, and no graph output.
    fn single_use(&self, v: ValueRef) -> Option<NodeId> {
        match (self.plan.uses.get(&v), self.graph.users(v).as_slice()) {
            (Some(1), &[(n, _)]) => Some(n),
            _ => None,
        }
    }

    /// A DequantizeLinear / QuantizeLinear without block quantization or an explicit
    /// output type.
    fn plain_qdq(&self, id: NodeId, op: OnnxOp) -> bool {
        let node = self.graph.node(id);
        onnx_op(self.graph, id) == Some(op)
            && node.outputs.len() == 1
            && node.layout != Some(Layout::Nhwc)
            && self.graph.captures_of(id).is_empty()
            && !node.attrs.contains("output_dtype")
            && node.attrs.int("block_size", 0).ok() == Some(0)
    }

    /// `(x_q, x scale, x zero point, x type)` of a DequantizeLinear of a run-time 8-bit
    /// value with constant scalar scale and zero point.
    fn activation_dq(&self, v: ValueRef) -> Option<(ValueRef, f32, i16, DType)> {
        let dq = v.node;
        if !self.plain_qdq(dq, OnnxOp::DequantizeLinear) || self.precomputed.contains(&dq) {
            return None;
        }
        let ins = self.graph.inputs_of(dq);
        let xq = (*ins.first()?)?;
        let s = scale(self.constant(*ins.get(1)?)?)?;
        let (z, dt) = ints8(self.constant(*ins.get(2)?)?)?;
        match z.as_slice() {
            &[z] => Some((xq, s, z, dt)),
            _ => None,
        }
    }

    /// Per-output-channel weights `w_q − w_zp` (`[M, ...]`), scales and shape, from a
    /// DequantizeLinear of constants.
    fn weight_dq(&self, v: ValueRef) -> Option<(Vec<i16>, Vec<f32>, Vec<usize>)> {
        let dq = v.node;
        if !self.plain_qdq(dq, OnnxOp::DequantizeLinear) || !self.precomputed.contains(&dq) {
            return None;
        }
        let ins = self.graph.inputs_of(dq);
        let wa = self.constant(*ins.first()?)?;
        let shape = wa.shape().to_vec();
        let m = *shape.first()?;
        let (w, _) = ints8(wa)?;
        let ws = floats(self.constant(*ins.get(1)?)?)?;
        let wz = match ins.get(2).copied().flatten() {
            Some(z) => ints8(self.constant(Some(z))?)?.0,
            None => vec![0],
        };
        let per_channel = ws.len() > 1 || wz.len() > 1;
        if per_channel {
            let rank = shape.len() as i64;
            let axis = self.graph.node(dq).attrs.int("axis", 1).ok()?;
            let axis = if axis < 0 { axis + rank } else { axis };
            if axis != 0 || (ws.len() != 1 && ws.len() != m) || (wz.len() != 1 && wz.len() != m) {
                return None;
            }
        }
        if ws.iter().any(|s| !s.is_finite() || *s < 0.0) || m == 0 {
            return None;
        }
        let per = w.len() / m;
        let shifted = w
            .iter()
            .enumerate()
            .map(|(i, &x)| x - wz[if wz.len() == 1 { 0 } else { i / per }])
            .collect();
        let scales = (0..m)
            .map(|c| ws[if ws.len() == 1 { 0 } else { c }])
            .collect();
        Some((shifted, scales, shape))
    }

    /// The walk every unit shares: `node` (one output, no captures, run at run time) whose
    /// inputs `quantized` are DequantizeLinears of run-time 8-bit values, and whose result
    /// (through a fused Relu or Clip) only a QuantizeLinear reads. Returns the input
    /// DequantizeLinears' `(x_q, scale, zero point, type)`, the output side, and the nodes
    /// the unit skips: `node`, its activation, and each input DequantizeLinear nothing else
    /// reads (one read by something else still runs: a residual connection).
    fn walk(&self, node: NodeId, quantized: &[ValueRef]) -> Option<Walk> {
        let n = self.graph.node(node);
        if n.outputs.len() != 1
            || !self.graph.captures_of(node).is_empty()
            || self.precomputed.contains(&node)
            || self
                .plan
                .fused
                .get(&node)
                .is_some_and(|f| f.act == Some(Act::Silu) || f.affine.is_some())
        {
            return None;
        }
        let inputs = quantized
            .iter()
            .map(|&v| self.activation_dq(v))
            .collect::<Option<Vec<_>>>()?;
        let out = self.output_q(node)?;
        let mut skips = vec![node];
        skips.extend(
            quantized
                .iter()
                .filter(|&&v| self.single_use(v).is_some())
                .map(|v| v.node),
        );
        skips.extend(out.act_node);
        Some(Walk { inputs, out, skips })
    }

    /// The unit ending a Conv.
    fn conv_unit(&self, conv: NodeId) -> Option<Found> {
        if self.graph.node(conv).layout == Some(Layout::Nhwc) {
            return None;
        }
        let ins = self.graph.inputs_of(conv);
        let Walk { inputs, out, skips } = self.walk(conv, &[(*ins.first()?)?])?;
        let &[(xq, xs, x_zp, x_dtype)] = inputs.as_slice() else {
            return None;
        };
        let (w, ws, w_shape) = self.weight_dq((*ins.get(1)?)?)?;
        let m = w_shape[0];
        let bias = match ins.get(2).copied().flatten() {
            Some(b) => floats(self.constant(Some(b))?)?,
            None => vec![0.0; m],
        };
        if bias.len() != m {
            return None;
        }
        let ys = out.ys;
        // The activation's bounds in units of y_scale: the requantization compares there.
        let (lo, hi) = out.bounds();
        let requant = Requant {
            mult: ws
                .iter()
                .map(|&s| (xs as f64 * s as f64 / ys as f64) as f32)
                .collect(),
            offset: bias
                .iter()
                .map(|&b| (b as f64 / ys as f64) as f32)
                .collect(),
            lo: lo / ys,
            hi: hi / ys,
            y_zp: out.yz as f32,
        };
        let qconv = QConv::new(
            self.graph.node(conv).attrs.clone(),
            w,
            w_shape,
            x_zp,
            x_dtype,
            out.y_dtype,
            requant,
        )?;
        let unit = Unit {
            node: conv,
            inputs: vec![xq],
            kind: Kind::Conv(qconv),
        };
        Some(Found {
            q: out.q,
            unit,
            skips,
        })
    }

    /// The QuantizeLinear reading `producer`'s result (through the activation the plan
    /// fused into it, if any): `(Q, activation, activation node, y scale, y zp, y type)`.
    fn output_q(&self, producer: NodeId) -> Option<OutputQ> {
        let (act, last) = match self.plan.fused.get(&producer) {
            Some(f) => (f.act, f.into),
            None => (None, ValueRef::new(producer, 0)),
        };
        if act.is_some() {
            self.single_use(ValueRef::new(producer, 0))?;
        }
        let q = self.single_use(last)?;
        if !self.plain_qdq(q, OnnxOp::QuantizeLinear)
            || self.precomputed.contains(&q)
            || self.graph.inputs_of(q).first() != Some(&Some(last))
        {
            return None;
        }
        let qins = self.graph.inputs_of(q);
        let ys = scale(self.constant(*qins.get(1)?)?)?;
        let (yz, y_dtype) = ints8(self.constant(*qins.get(2)?)?)?;
        let &[yz] = yz.as_slice() else { return None };
        let act_node = act.map(|_| last.node);
        Some(OutputQ {
            q,
            act,
            act_node,
            ys,
            yz,
            y_dtype,
        })
    }

    /// The unit ending an Add of two dequantized values.
    fn add_unit(&self, add: NodeId) -> Option<Found> {
        let ins = self.graph.inputs_of(add);
        let (&[Some(a), Some(b)], true) = (ins.as_slice(), a_ne_b(&ins)) else {
            return None;
        };
        let Walk { inputs, out, skips } = self.walk(add, &[a, b])?;
        let &[(aq, sa, za, _), (bq, sb, zb, _)] = inputs.as_slice() else {
            return None;
        };
        // The sum is clipped in float, before QuantizeLinear's division.
        let (lo, hi) = out.bounds();
        let unit = Unit {
            node: add,
            inputs: vec![aq, bq],
            kind: Kind::Add(QAdd {
                a: Operand { scale: sa, zp: za },
                b: Operand { scale: sb, zp: zb },
                lo,
                hi,
                y_scale: out.ys,
                y_zp: out.yz as f32,
                y_dtype: out.y_dtype,
            }),
        };
        Some(Found {
            q: out.q,
            unit,
            skips,
        })
    }
}

/// Two inputs from different nodes (one DequantizeLinear read twice is no unit).
fn a_ne_b(ins: &[Option<ValueRef>]) -> bool {
    matches!(ins, [Some(a), Some(b)] if a.node != b.node)
}

#[cfg(test)]
mod tests {
    use modelc_ir::text::parse_graph;
    use modelc_ir::OpsetImport;
    use ndarray::{ArrayD, IxDyn};

    use super::super::igemm::Kernel;
    use super::Kind;
    use crate::{Array, Data, Interpreter};

    /// A deterministic pseudo-random value in [0, 1).
    fn rnd(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    fn list(v: impl Iterator<Item = String>) -> String {
        v.collect::<Vec<_>>().join(", ")
    }

    /// `Q → DQ → Conv(DQ(w_q), b) [→ act] → Q → DQ` of an f32 input `[1, c, h, w]`, with
    /// 8-bit activations of type `adt` and per-channel i8 weights.
    fn qdq_conv(case: Case<'_>, seed: &mut u64) -> String {
        let (c, m, k, hw, attrs, group, act, adt) = case;
        let cg = c / group;
        let wq = list((0..m * cg * k * k).map(|_| ((rnd(seed) * 255.0) as i64 - 127).to_string()));
        let ws = list((0..m).map(|_| format!("{:.6}", 0.002 + 0.01 * rnd(seed))));
        let b = list((0..m).map(|_| format!("{:.6}", rnd(seed) - 0.5)));
        let (xz, yz) = if adt == "u8" { (131, 120) } else { (3, -7) };
        let act_line = match act {
            "relu" => "  %a = Relu(%c)\n".to_string(),
            "clip" => "  %a = Clip(%c, %lo, %hi)\n".to_string(),
            _ => "  %a = Identity(%c)\n".to_string(),
        };
        // Identity is no fused activation: the unit is not found through it; the tests
        // without an activation read %c straight.
        let qin = if act.is_empty() { "%c" } else { "%a" };
        let act_line = if act.is_empty() {
            String::new()
        } else {
            act_line
        };
        format!(
            "graph main(%x: f32[1,{c},{hw},{hw}]) -> (%y{extra}) {{
  %xs = const f32[] [0.02]
  %xz = const {adt}[] [{xz}]
  %wq = const i8[{m},{cg},{k},{k}] [{wq}]
  %ws = const f32[{m}] [{ws}]
  %wz = const i8[{m}] [{zeros}]
  %b = const f32[{m}] [{b}]
  %ys = const f32[] [0.05]
  %yz = const {adt}[] [{yz}]
  %lo = const f32[] [0.0]
  %hi = const f32[] [6.0]
  %xq = QuantizeLinear(%x, %xs, %xz)
  %xd = DequantizeLinear(%xq, %xs, %xz)
  %wd = DequantizeLinear(%wq, %ws, %wz) {{axis=0}}
  %c = Conv(%xd, %wd, %b) {{{attrs}group={group}}}
{act_line}  %yq = QuantizeLinear({qin}, %ys, %yz)
  %y = DequantizeLinear(%yq, %ys, %yz)
}}",
            zeros = list((0..m).map(|_| "0".to_string())),
            // A second reader of x's DequantizeLinear (a residual connection's): the node
            // runs, the unit still reads x_q.
            extra = if act == "relu" { ", %xd" } else { "" },
        )
    }

    /// Input channels, output channels, kernel size, input size, attributes, group,
    /// activation (`relu`, `clip` or none) and activation type (`u8`, `i8`).
    type Case<'a> = (usize, usize, usize, usize, &'a str, usize, &'a str, &'a str);

    fn outputs(d: &[(String, Data)]) -> Vec<f32> {
        match &d[0].1 {
            Data::Tensor(Array::F32(a)) => a.iter().copied().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conv_units_equal_the_float_path_within_one_step_on_every_kernel_and_thread_count() {
        let mut seed = 11;
        let opsets = [OpsetImport {
            domain: String::new(),
            version: 17,
        }];
        let cases: &[Case<'_>] = &[
            (16, 24, 1, 9, "", 1, "", "u8"),
            (8, 12, 3, 10, "pads=[1,1,1,1], ", 1, "relu", "u8"),
            (
                3,
                8,
                3,
                11,
                "pads=[1,1,1,1], strides=[2,2], ",
                1,
                "clip",
                "u8",
            ),
            (12, 12, 3, 9, "pads=[1,1,1,1], ", 12, "clip", "u8"),
            (
                10,
                10,
                3,
                12,
                "pads=[0,1,1,0], strides=[2,2], ",
                10,
                "",
                "i8",
            ),
            (
                8,
                16,
                3,
                8,
                "pads=[2,2,2,2], dilations=[2,2], ",
                4,
                "relu",
                "i8",
            ),
            (6, 12, 3, 7, "pads=[1,1,1,1], ", 6, "", "u8"),
            (7, 5, 1, 6, "strides=[2,2], ", 1, "", "i8"),
        ];
        for (i, &case) in cases.iter().enumerate() {
            let (c, _, _, hw, ..) = case;
            let src = qdq_conv(case, &mut seed);
            let g = parse_graph(&src, None).unwrap_or_else(|e| panic!("{e}\n{src}"));
            let interp = Interpreter::for_graph(&g, &opsets).unwrap();
            assert_eq!(interp.units().at.len(), 1, "case {i}: no unit found");
            let x: Vec<f32> = (0..c * hw * hw)
                .map(|_| (rnd(&mut seed) as f32 - 0.4) * 5.0)
                .collect();
            let ins = vec![(
                "x".to_string(),
                Data::Tensor(Array::F32(
                    ArrayD::from_shape_vec(IxDyn(&[1, c, hw, hw]), x).unwrap(),
                )),
            )];
            let float = outputs(&interp.run_observed(ins.clone(), &mut |_, _| {}).unwrap());
            let mut runs = Vec::new();
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                runs.push(outputs(&pool.install(|| interp.run(ins.clone())).unwrap()));
            }
            assert_eq!(runs[0], runs[1], "case {i}: thread counts differ");
            let fused = &runs[0];
            let step = 0.05;
            let off: Vec<usize> = (0..fused.len()).filter(|&j| fused[j] != float[j]).collect();
            assert!(
                off.iter()
                    .all(|&j| (fused[j] - float[j]).abs() <= step * 1.0001),
                "case {i}: more than one step apart"
            );
            // Rounding differs only near ties: a handful of elements at most.
            assert!(
                off.len() * 50 <= fused.len(),
                "case {i}: {} of {} differ",
                off.len(),
                fused.len()
            );
            // Every integer kernel gives the same integers.
            let unit = interp.units().at.values().next().unwrap();
            let Kind::Conv(conv) = &unit.kind else {
                panic!()
            };
            let xq = match interp.run_observed(ins.clone(), &mut |_, _| {}).map(|_| ()) {
                Ok(()) => {
                    let mut seen = None;
                    interp
                        .run_observed(ins.clone(), &mut |v, d| {
                            if v == unit.inputs[0] {
                                seen = Some(d.clone());
                            }
                        })
                        .unwrap();
                    seen.unwrap()
                }
                Err(e) => panic!("{e}"),
            };
            let Data::Tensor(xq) = xq else { panic!() };
            let results: Vec<Array> = Kernel::available()
                .into_iter()
                .map(|kern| conv.run(&xq, kern, None).unwrap())
                .collect();
            assert!(
                results.windows(2).all(|w| w[0] == w[1]),
                "case {i}: kernels differ"
            );
        }
    }

    #[test]
    fn add_units_are_bit_identical_to_the_float_path() {
        let opsets = [OpsetImport {
            domain: String::new(),
            version: 17,
        }];
        let mut seed = 5;
        for (bshape, act) in [("1,4,5,5", ""), ("1,4,5,5", "relu"), ("1,4,1,1", "")] {
            let (out, act_line) = match act {
                "relu" => ("%r", "  %r = Relu(%s)\n"),
                _ => ("%s", ""),
            };
            let src = format!(
                "graph main(%a: f32[1,4,5,5], %b: f32[{bshape}]) -> (%y) {{
  %as = const f32[] [0.031]
  %az = const u8[] [128]
  %bs = const f32[] [0.017]
  %bz = const i8[] [-3]
  %ys = const f32[] [0.03]
  %yz = const u8[] [101]
  %aq = QuantizeLinear(%a, %as, %az)
  %ad = DequantizeLinear(%aq, %as, %az)
  %bq = QuantizeLinear(%b, %bs, %bz)
  %bd = DequantizeLinear(%bq, %bs, %bz)
  %s = Add(%ad, %bd)
{act_line}  %yq = QuantizeLinear({out}, %ys, %yz)
  %y = DequantizeLinear(%yq, %ys, %yz)
}}"
            );
            let g = parse_graph(&src, None).unwrap_or_else(|e| panic!("{e}\n{src}"));
            let interp = Interpreter::for_graph(&g, &opsets).unwrap();
            assert_eq!(interp.units().at.len(), 1, "{bshape} {act}: no unit");
            let input = |shape: &[usize], seed: &mut u64| {
                let n = shape.iter().product();
                let v = (0..n).map(|_| (rnd(seed) as f32 - 0.5) * 8.0).collect();
                Data::Tensor(Array::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()))
            };
            let bdims: Vec<usize> = bshape.split(',').map(|d| d.parse().unwrap()).collect();
            let ins = vec![
                ("a".to_string(), input(&[1, 4, 5, 5], &mut seed)),
                ("b".to_string(), input(&bdims, &mut seed)),
            ];
            let float = outputs(&interp.run_observed(ins.clone(), &mut |_, _| {}).unwrap());
            let fused = outputs(&interp.run(ins).unwrap());
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fused), bits(&float), "{bshape} {act}");
            // Saturation happens (the sum's range exceeds the output's): not a trivial case.
            let top = ((255.0 - 101.0) * 0.03_f32 as f64) as f32;
            assert!(float.contains(&top), "{bshape} {act}: no saturation");
        }
    }
}
