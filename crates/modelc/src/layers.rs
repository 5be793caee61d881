//! `modelc verify --layers`: run two models on the same inputs, compare every pair of
//! matched intermediate values, and name the first node where the error jumps.
//!
//! Values are matched by provenance, then by name: a value of B is compared with A's value
//! of the source name B's provenance gives it ([`modelc_ir::provenance`], recorded in the
//! file by the writer: the quantized copy `x_Q` of `x` stands for `x`), else with A's value
//! of the same name. A quantized value of B is compared dequantized (the DequantizeLinear
//! result reading it stands for it), and a quantized value of A by the float value it
//! quantizes. A value of B whose shape is A's channels-first shape moved channels-last
//! (`[N, C, H, W]` → `[N, H, W, C]`, a
//! TFLite conversion) is compared with A's transposed. Each B node with a matched output gets
//! its error — the relative L2 distance `‖b − a‖ / ‖a‖` — and its **jump**: that error less
//! the largest error among the values it reads (for an unmatched input, the largest error
//! of the matched values it is computed from). A node adds error where its jump is large.
//! A dequantized value's jump is first reduced by a few times the error rounding to its
//! quantization step explains (see [`Layer::excess`]): that is the error quantization is
//! expected to add, not a fault.
//! The node blamed is the first, in B's order, whose excess jump exceeds the tolerance and at
//! least half the largest excess of the model: a broken node stands out against the error every
//! quantized layer adds, and a correct float conversion (jumps at rounding level) blames
//! nothing. Only a node some graph output computed from it is off by more than the
//! tolerance can be blamed: a value a pass left under its old name while it now holds
//! something else (a Mul moved past a Transpose) differs, but nothing downstream does.

use std::collections::HashMap;

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::{node_label, Model, Op, Tensor, ValueRef};
use serde::Serialize;

use crate::run::RunError;

/// One compared value: the node of B computing it and how far it is from A's.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// The node of B, labelled as messages do (`Conv "conv1"`).
    pub node: String,
    pub op: String,
    /// The value's name (in both models).
    pub value: String,
    /// Relative L2 error ‖b − a‖ / ‖a‖.
    pub error: f64,
    /// Largest |b − a| over the largest |a|.
    pub max_rel: f64,
    pub cosine: f64,
    /// `error` less the largest error of the node's inputs.
    pub jump: f64,
    /// For a dequantized value: the relative error rounding to its quantization step adds
    /// by itself (step / √12 over the RMS of A's value); 0 for the others.
    pub rounding: f64,
    /// Compared after moving A's channels last.
    pub transposed: bool,
    /// Whether a graph output computed from this value is off by more than the tolerance
    /// too; an error that vanishes downstream is not blamed.
    pub persists: bool,
}

/// How many times its own rounding error a quantized value's jump may be before it is
/// blamed: rounding to a step adds uniform noise of RMS step / √12, and a correctly
/// quantized layer's jump stays within a few times that (a clamped outlier, a requantized
/// sum); a wrong scale or weight is off by far more.
const ROUNDING_ALLOWANCE: f64 = 3.0;

impl Layer {
    /// The jump beyond what the value's own quantization explains.
    pub fn excess(&self) -> f64 {
        (self.jump - ROUNDING_ALLOWANCE * self.rounding).max(0.0)
    }
}

/// The per-layer comparison.
#[derive(Debug, Serialize)]
pub struct LayerReport {
    /// Matched values in B's order.
    pub layers: Vec<Layer>,
    /// Values B computes that A has none of (by name) or of another size.
    pub unmatched: usize,
    /// The node to blame (index into `layers`), if any jump exceeds the tolerance.
    pub blamed: Option<usize>,
    /// The smallest jump blamed: the one asked for, raised for a quantized B to a few times
    /// its median rounding error.
    pub tolerance: f64,
}

/// A float value seen while A ran: its shape and elements.
struct Seen {
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn floats(d: &Data) -> Option<Seen> {
    let Data::Tensor(a) = d else { return None };
    if !matches!(
        a,
        Array::F32(_) | Array::F16(_) | Array::BF16(_) | Array::F64(_)
    ) {
        return None;
    }
    let values = a.to_f64_vec().ok()?.into_iter().map(|v| v as f32).collect();
    Some(Seen {
        shape: a.shape().to_vec(),
        values,
    })
}

fn to_data(inputs: &[(String, Tensor)]) -> Result<Vec<(String, Data)>, RunError> {
    inputs
        .iter()
        .map(|(n, t)| {
            Array::from_tensor(t)
                .map(|a| (n.clone(), Data::Tensor(a)))
                .map_err(|e| RunError::Inputs(format!("input `{n}`: {e}")))
        })
        .collect()
}

/// Runs `a` on `inputs_a` and `b` on `inputs_b` and compares their matched values (see the
/// module doc). `tolerance`: the smallest jump that is blamed.
pub fn compare_layers(
    a: &Model,
    inputs_a: &[(String, Tensor)],
    b: &Model,
    inputs_b: &[(String, Tensor)],
    tolerance: f64,
) -> Result<LayerReport, RunError> {
    // A's float values by name, and the names of A's values each source value goes by
    // (A may itself be a converted file with a provenance map).
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let interp = Interpreter::new(a)?;
    interp.run_observed(to_data(inputs_a)?, &mut |v: ValueRef, d: &Data| {
        if let (Some(value), Some(s)) = (a.graph.value(v), floats(d)) {
            seen.insert(value.name.clone(), s);
        }
    })?;
    let mut aliases: HashMap<String, String> = HashMap::new();
    for id in a.graph.node_ids() {
        let node = a.graph.node(id);
        for value in &node.outputs {
            if value.origin.is_some() && seen.contains_key(&value.name) {
                aliases
                    .entry(value.source().to_string())
                    .or_insert_with(|| value.name.clone());
            }
        }
        // A quantized value of A stands for the float value it quantizes: B's dequantized
        // copy of it (a TFLite int8 tensor named after it) is compared with that float
        // value. (Provenance says so too; this covers files written without it.)
        if node.op == Op::Onnx(modelc_ir::OnnxOp::QuantizeLinear) {
            if let Some(x) = a.graph.input(id, 0).and_then(|x| a.graph.value(x)) {
                aliases
                    .entry(node.outputs[0].name.clone())
                    .or_insert_with(|| x.name.clone());
            }
        }
    }
    let lookup = |key: &str| {
        seen.get(key)
            .or_else(|| seen.get(aliases.get(key)?.as_str()))
    };
    // B's values compared as they are computed: by the source value B's provenance names,
    // then by name (for a DequantizeLinear result, those of the value it dequantizes).
    let mut errors: HashMap<ValueRef, (f64, f64, f64, bool)> = HashMap::new();
    let mut noise: HashMap<ValueRef, f64> = HashMap::new();
    let mut unmatched = 0;
    let interp = Interpreter::new(b)?;
    interp.run_observed(to_data(inputs_b)?, &mut |v: ValueRef, d: &Data| {
        let Some(got) = floats(d) else { return };
        let want = keys(&b.graph, v).into_iter().find_map(&lookup);
        match want.and_then(|want| Some((distance(want, &got)?, want))) {
            Some((e, want)) => {
                if let Some(n) = rounding_noise(&b.graph, v, want) {
                    noise.insert(v, n);
                }
                errors.insert(v, e);
            }
            None => unmatched += 1,
        }
    })?;
    let g = &b.graph;
    let order = g
        .topo_order()
        .map_err(|e| RunError::Inputs(e.to_string()))?;
    // The error reaching each value: its own when compared, else the largest of what it is
    // computed from (constants and inputs without a counterpart: none).
    let mut reach: HashMap<ValueRef, f64> = HashMap::new();
    let mut layers = Vec::new();
    let mut refs = Vec::new();
    for &id in &order {
        let node = g.node(id);
        let from_inputs = g
            .inputs_of(id)
            .into_iter()
            .flatten()
            .chain(g.captures_of(id))
            .map(|u| reach.get(&u).copied().unwrap_or(0.0));
        let (from_inputs, combined) = from_inputs.fold((0.0f64, 0.0f64), |(m, sq), e| {
            (
                m.max(e),
                if e.is_finite() {
                    sq + e * e
                } else {
                    f64::INFINITY
                },
            )
        });
        // Independent errors of several inputs add in quadrature (a product of two inputs
        // off by e each is off by about e·√2): the jump is measured from that.
        let combined = combined.sqrt().max(from_inputs);
        for slot in 0..node.outputs.len() {
            let v = ValueRef::new(id, slot);
            let e = match errors.get(&v) {
                Some(&(error, max_rel, cosine, transposed)) => {
                    if !matches!(node.op, Op::Input { .. }) {
                        refs.push(v);
                        layers.push(Layer {
                            node: node_label(node),
                            op: node.op.display_name(),
                            value: node.outputs[slot].name.clone(),
                            error,
                            max_rel,
                            cosine,
                            jump: (error - combined).max(0.0),
                            rounding: noise.get(&v).copied().unwrap_or(0.0),
                            transposed,
                            persists: false,
                        });
                    }
                    error
                }
                None if node.op.is_structural() => 0.0,
                None => from_inputs,
            };
            reach.insert(v, e);
        }
    }
    // The largest error of the graph outputs computed from each value: an error the outputs
    // do not keep is a value that holds something else under the same name (a pass that
    // moved a Mul past a Transpose keeps the names), not a broken node.
    let mut below: HashMap<ValueRef, f64> = HashMap::new();
    for &o in g.outputs() {
        below.insert(o, errors.get(&o).map_or(0.0, |e| e.0));
    }
    for &id in order.iter().rev() {
        let node = g.node(id);
        let here = (0..node.outputs.len())
            .map(|slot| {
                let v = ValueRef::new(id, slot);
                below.get(&v).copied().unwrap_or(0.0)
            })
            .fold(0.0f64, f64::max);
        for u in g
            .inputs_of(id)
            .into_iter()
            .flatten()
            .chain(g.captures_of(id))
        {
            let e = below.entry(u).or_default();
            *e = e.max(here);
        }
    }
    for (l, v) in layers.iter_mut().zip(&refs) {
        let kept = below.get(v).copied().unwrap_or(0.0);
        l.persists = kept > tolerance;
    }
    // In a quantized B every layer adds error at the level of its rounding: a jump is
    // blamed only above a few times the typical (median) rounding error as well.
    let mut roundings: Vec<f64> = layers
        .iter()
        .map(|l| l.rounding)
        .filter(|&r| r > 0.0)
        .collect();
    roundings.sort_by(f64::total_cmp);
    let tolerance = roundings
        .get(roundings.len() / 2)
        .map_or(tolerance, |&m| tolerance.max(ROUNDING_ALLOWANCE * m));
    let largest = layers
        .iter()
        .filter(|l| l.persists)
        .map(Layer::excess)
        .fold(0.0f64, f64::max);
    let blamed = layers
        .iter()
        .position(|l| l.persists && l.excess() > tolerance && l.excess() >= 0.5 * largest);
    Ok(LayerReport {
        layers,
        unmatched,
        blamed,
        tolerance,
    })
}

/// The names A's counterpart of B's value `v` may go by, best first: the source value its
/// provenance names, its own name, and for a DequantizeLinear result the same two of the
/// quantized value it restores (a TFLite int8 tensor `x` reads as QDQ: `x` is the int8
/// value, `x/dq` the float one) and of the float value its QuantizeLinear reads.
fn keys(g: &modelc_ir::Graph, v: ValueRef) -> Vec<&str> {
    let mut values: Vec<&modelc_ir::Value> = g.value(v).into_iter().collect();
    if g.node(v.node).op == Op::Onnx(modelc_ir::OnnxOp::DequantizeLinear) {
        if let Some(q) = g.input(v.node, 0) {
            values.extend(g.value(q));
            // `DQ(Q(x))` stands for `x` (an ONNX file does not record it).
            if g.node(q.node).op == Op::Onnx(modelc_ir::OnnxOp::QuantizeLinear) {
                values.extend(g.input(q.node, 0).and_then(|x| g.value(x)));
            }
        }
    }
    let mut keys = Vec::new();
    for value in values {
        if value.origin.is_some() {
            keys.push(value.source());
        }
        keys.push(value.name.as_str());
    }
    keys
}

/// When `v` is a DequantizeLinear result with one scale: the relative error rounding to
/// that step adds, (step / √12) / RMS(a).
fn rounding_noise(g: &modelc_ir::Graph, v: ValueRef, want: &Seen) -> Option<f64> {
    if g.node(v.node).op != Op::Onnx(modelc_ir::OnnxOp::DequantizeLinear) {
        return None;
    }
    let Op::Const(t) = &g.node(g.input(v.node, 1)?.node).op else {
        return None;
    };
    let step = match Array::from_tensor(t).ok()?.to_f64_vec().ok()?.as_slice() {
        [one] => one.abs(),
        _ => return None,
    };
    let n = want.values.len().max(1) as f64;
    let rms = (want
        .values
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        / n)
        .sqrt();
    (rms > 0.0).then(|| step / 12f64.sqrt() / rms)
}

/// (relative L2 error, max |b − a| / max |a|, cosine, compared transposed) when the shapes
/// agree as they are or with A's channels moved last.
fn distance(want: &Seen, got: &Seen) -> Option<(f64, f64, f64, bool)> {
    let (a, transposed): (std::borrow::Cow<'_, [f32]>, bool) = if want.shape == got.shape {
        (std::borrow::Cow::Borrowed(&want.values), false)
    } else {
        let s = &want.shape;
        if s.len() != 4 || got.shape != [s[0], s[2], s[3], s[1]] {
            return None;
        }
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let mut out = vec![0f32; want.values.len()];
        for i in 0..n {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        out[((i * h + y) * w + x) * c + ch] =
                            want.values[((i * c + ch) * h + y) * w + x];
                    }
                }
            }
        }
        (std::borrow::Cow::Owned(out), true)
    };
    let (mut diff2, mut a2, mut b2, mut dot, mut max_d, mut max_a) =
        (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(&got.values) {
        let (x, y) = (x as f64, y as f64);
        if !x.is_finite() || !y.is_finite() {
            if x.to_bits() != y.to_bits() {
                diff2 = f64::INFINITY;
            }
            continue;
        }
        let d = y - x;
        diff2 += d * d;
        a2 += x * x;
        b2 += y * y;
        dot += x * y;
        max_d = max_d.max(d.abs());
        max_a = max_a.max(x.abs());
    }
    let error = if a2 > 0.0 {
        (diff2 / a2).sqrt()
    } else {
        diff2.sqrt()
    };
    let cosine = if a2 > 0.0 && b2 > 0.0 {
        dot / (a2.sqrt() * b2.sqrt())
    } else if a2 == b2 {
        1.0
    } else {
        0.0
    };
    let max_rel = if max_a > 0.0 { max_d / max_a } else { max_d };
    Some((error, max_rel, cosine, transposed))
}

impl LayerReport {
    /// The table: the blamed node first, then every layer whose jump exceeds the tolerance
    /// (at most `limit`), in B's order.
    pub fn render(&self, limit: usize) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} values compared, {} of B without a counterpart in A",
            self.layers.len(),
            self.unmatched
        );
        match self.blamed {
            Some(i) => {
                let l = &self.layers[i];
                let _ = writeln!(
                    out,
                    "first node where the error jumps: {} (%{}: error {:.3e}, up {:.3e} from its inputs)",
                    l.node, l.value, l.error, l.jump
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "no node to blame: none adds more than {:.1e} relative error that reaches the outputs",
                    self.tolerance
                );
            }
        }
        let _ = writeln!(
            out,
            "{:<48} {:>10} {:>10} {:>12} {:>10}",
            "node", "error", "jump", "cosine", "max rel"
        );
        let mut rows: Vec<usize> = self.blamed.into_iter().collect();
        rows.extend(
            (0..self.layers.len())
                .filter(|&i| Some(i) != self.blamed && self.layers[i].excess() > self.tolerance)
                .take(limit.saturating_sub(1)),
        );
        for i in rows {
            let l = &self.layers[i];
            let chars: Vec<char> = l.node.chars().collect();
            let name: String = if chars.len() > 48 {
                format!(
                    "...{}",
                    chars[chars.len() - 45..].iter().collect::<String>()
                )
            } else {
                l.node.clone()
            };
            let _ = writeln!(
                out,
                "{name:<48} {:>10.3e} {:>10.3e} {:>12.8} {:>10.3e}{}",
                l.error,
                l.jump,
                l.cosine,
                l.max_rel,
                if l.transposed { "  (NHWC)" } else { "" }
            );
            if !l.persists {
                out.push_str("    (the outputs do not keep this error: not blamed)\n");
            }
        }
        out
    }
}
