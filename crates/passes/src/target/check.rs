//! `modelc check`: each operator of a [`TargetGraph`] placed on the accelerator or the
//! fallback, with the first rule it violates ("STRIDED_SLICE: rank 5 > 4"), and the summary
//! (operators on the accelerator, partitions). For a target that cuts the graph at the first
//! unsupported operator, everything after it counts as fallback too.

use modelc_ir::DType;
use serde::Serialize;

use super::schema::{Fallback, OpRule, Range, StaticShape};
use super::view::{TargetGraph, TargetNode, TensorView};
use super::Target;

/// Where one operator runs.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub node: String,
    pub op: String,
    pub accelerator: bool,
    /// Why it falls back (the violated rule), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The verdict on a whole graph.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub fallback: &'static str,
    pub nodes: Vec<Placement>,
    /// Operators on the accelerator.
    pub accelerated: usize,
    pub total: usize,
    /// Runs of consecutive accelerator operators (in execution order).
    pub partitions: usize,
}

impl Report {
    pub fn all_on_accelerator(&self) -> bool {
        self.accelerated == self.total
    }

    /// "41 of 43 ops on ethos-u55-128 (1 partition); 2 fall back to the CPU".
    pub fn summary(&self) -> String {
        let fallback = self.total - self.accelerated;
        let parts = match self.partitions {
            1 => "1 partition".to_string(),
            n => format!("{n} partitions"),
        };
        let tail = match (fallback, self.fallback) {
            (0, _) => String::new(),
            (n, "error") => format!("; {n} unsupported (the target refuses the model)"),
            (n, _) => format!("; {n} fall back to the CPU"),
        };
        format!(
            "{} of {} ops on {} ({parts}){tail}",
            self.accelerated, self.total, self.target
        )
    }
}

/// Places every operator of `g` for `target`.
pub fn check(target: &Target, g: &TargetGraph) -> Report {
    let mut nodes = Vec::with_capacity(g.nodes.len());
    let mut cut = None::<String>;
    let batch_free = target
        .file
        .tensors
        .static_shape
        .as_ref()
        .is_some_and(|r| r.value == StaticShape::AllButFirst);
    for n in &g.nodes {
        let reason = match &cut {
            Some(first) => Some(format!(
                "{}: after the first unsupported op `{first}` (the graph is cut there)",
                n.op
            )),
            // A dynamic batch is compiled as batch 1 (Vela: "Setting shape axis 0 to 1").
            None if batch_free => violation(target, &batch_one(n)),
            None => violation(target, n),
        };
        if reason.is_some() && cut.is_none() && target.file.target.fallback == Fallback::Cut {
            cut = Some(n.name.clone());
        }
        nodes.push(Placement {
            node: n.name.clone(),
            op: n.op.clone(),
            accelerator: reason.is_none(),
            reason,
        });
    }
    let accelerated = nodes.iter().filter(|p| p.accelerator).count();
    let partitions = nodes
        .iter()
        .enumerate()
        .filter(|(i, p)| p.accelerator && (*i == 0 || !nodes[i - 1].accelerator))
        .count();
    Report {
        target: target.name().to_string(),
        fallback: target.file.target.fallback.name(),
        total: nodes.len(),
        accelerated,
        partitions,
        nodes,
    }
}

/// `n` with a dynamic first dimension of each tensor set to 1.
fn batch_one(n: &TargetNode) -> TargetNode {
    let mut n = n.clone();
    let tensors = n.inputs.iter_mut().flatten().chain(n.outputs.iter_mut());
    for t in tensors {
        if let Some(d) = t.shape.first_mut().filter(|d| **d < 0) {
            *d = 1;
        }
    }
    n
}

/// Non-constant inputs and every output: the tensors the rules call feature maps.
fn feature_maps(n: &TargetNode) -> impl Iterator<Item = &TensorView> {
    n.inputs
        .iter()
        .flatten()
        .filter(|t| !t.is_const)
        .chain(n.outputs.iter())
}

fn dtype_list(names: &[String]) -> Vec<DType> {
    // Validated when the target was loaded.
    names.iter().filter_map(|n| n.parse().ok()).collect()
}

fn names(list: &[DType]) -> String {
    list.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
}

/// The first rule `n` violates, as "OP: what".
fn violation(target: &Target, n: &TargetNode) -> Option<String> {
    let file = &target.file;
    let op = n.op.as_str();
    let fail = |what: String| Some(format!("{op}: {what}"));
    if file.target.all_ops {
        return None;
    }
    let Some(rule) = file.ops.get(op) else {
        return fail(format!("not supported by {}", file.target.name));
    };
    if let Some(why) = generic(target, rule, n) {
        return fail(why);
    }
    specific(rule, n).and_then(fail)
}

fn generic(target: &Target, rule: &OpRule, n: &TargetNode) -> Option<String> {
    let t = &target.file.tensors;
    let op = n.op.as_str();
    if let Some(kind) = t.static_shape.as_ref().and_then(|r| r.for_op(op)) {
        for x in feature_maps(n) {
            let from = usize::from(*kind == StaticShape::AllButFirst);
            if x.shape.iter().skip(from).any(|&d| d < 0) {
                return Some(format!("`{}` has a dynamic shape {:?}", x.name, x.shape));
            }
        }
    }
    if t.omitted_inputs_dynamic.as_ref().and_then(|r| r.for_op(op)) == Some(&true) {
        let last_given = n.inputs.iter().rposition(Option::is_some);
        if let Some(i) = n.inputs.iter().position(Option::is_none) {
            if last_given.is_some_and(|l| l > i) {
                return Some(format!(
                    "input {i} is omitted (an empty name), which counts as a tensor without a \
                     fixed shape"
                ));
            }
        }
    }
    let allowed = match &rule.feature_dtypes {
        Some(list) => Some(dtype_list(list)),
        None => t
            .feature_dtypes
            .as_ref()
            .and_then(|r| r.for_op(op))
            .and(target.generic_feature_dtypes().map(<[DType]>::to_vec)),
    };
    if let Some(allowed) = allowed {
        for x in feature_maps(n) {
            if !allowed.contains(&x.dtype) {
                return Some(format!(
                    "{} tensor `{}` (accepted: {})",
                    x.dtype,
                    x.name,
                    names(&allowed)
                ));
            }
        }
    }
    let max_rank = rule
        .max_rank
        .or_else(|| t.max_rank.as_ref().and_then(|r| r.for_op(op)).copied());
    if let Some(max) = max_rank {
        for x in feature_maps(n) {
            if x.shape.len() > max as usize {
                return Some(format!("rank {} > {max} (`{}`)", x.shape.len(), x.name));
            }
        }
    }
    if let Some(&inner) = t.innermost_dims.as_ref().and_then(|r| r.for_op(op)) {
        for x in feature_maps(n) {
            let outer = x.shape.len().saturating_sub(inner as usize);
            if let Some(d) = x.shape[..outer].iter().find(|&&d| d != 1) {
                return Some(format!(
                    "dimension {d} of `{}` {:?} is outside the {inner} innermost (only those may exceed 1)",
                    x.name, x.shape
                ));
            }
        }
    }
    if let Some(range) = t.dim_range.as_ref().and_then(|r| r.for_op(op)) {
        for x in feature_maps(n) {
            if let Some(d) = x.shape.iter().find(|&&d| d >= 0 && !range.contains(d)) {
                return Some(format!("dimension {d} of `{}` outside {range}", x.name));
            }
        }
    }
    let weights = rule
        .weight_dtypes
        .is_some()
        .then(|| n.inputs.get(1))
        .flatten()
        .cloned()
        .flatten();
    if t.quantized.as_ref().and_then(|r| r.for_op(op)) == Some(&true) {
        for x in feature_maps(n).chain(weights.as_ref()) {
            if x.dtype.is_int() && x.quant.is_none() {
                return Some(format!("`{}` has no quantization parameters", x.name));
            }
            if let Some(q) = &x.quant {
                if q.scales.iter().any(|&s| s.is_nan() || s <= 0.0) {
                    return Some(format!(
                        "`{}` has a non-positive quantization scale",
                        x.name
                    ));
                }
            }
        }
    }
    if let Some(r) = &t.per_axis_ops {
        if !r.value.iter().any(|o| o == op) && r.for_op(op).is_some() {
            let all = n.inputs.iter().flatten().chain(n.outputs.iter());
            for x in all {
                if x.quant.as_ref().is_some_and(|q| q.per_axis()) {
                    return Some(format!("per-axis quantization of `{}`", x.name));
                }
            }
        }
    }
    if t.zero_points.as_ref().and_then(|r| r.for_op(op)) == Some(&true) {
        for x in feature_maps(n) {
            let Some(q) = &x.quant else { continue };
            if x.dtype == DType::I32 && q.zero_points.iter().any(|&z| z != 0) {
                return Some(format!(
                    "int32 tensor `{}` with a zero point other than 0",
                    x.name
                ));
            }
            if matches!(x.dtype, DType::U8 | DType::U16) && q.zero_points.iter().any(|&z| z < 0) {
                return Some(format!(
                    "unsigned tensor `{}` with a negative zero point",
                    x.name
                ));
            }
        }
    }
    None
}

fn range_fail(what: &str, v: i64, r: Range) -> Option<String> {
    (!r.contains(v)).then(|| {
        if v > r.1 {
            format!("{what} {v} > {}", r.1)
        } else {
            format!("{what} {v} < {}", r.0)
        }
    })
}

fn specific(rule: &OpRule, n: &TargetNode) -> Option<String> {
    let p = &n.params;
    let input = |i: usize| n.inputs.get(i).and_then(Option::as_ref);
    for &i in &rule.const_inputs {
        if let Some(x) = input(i) {
            if !x.is_const {
                return Some(format!("input {i} `{}` must be constant", x.name));
            }
        }
    }
    for &i in &rule.runtime_inputs {
        if let Some(x) = input(i) {
            if x.is_const {
                return Some(format!("input {i} `{}` is constant", x.name));
            }
        }
    }
    for (what, idx, list) in [
        ("weights", 1, &rule.weight_dtypes),
        ("bias", 2, &rule.bias_dtypes),
    ] {
        if let (Some(list), Some(x)) = (list, input(idx)) {
            let allowed = dtype_list(list);
            if !allowed.contains(&x.dtype) {
                return Some(format!(
                    "{} {what} (accepted: {})",
                    x.dtype,
                    names(&allowed)
                ));
            }
        }
    }
    if let Some(o) = p.options.iter().find(|o| rule.refused_options.contains(o)) {
        return Some(format!("option `{o}` is not supported"));
    }
    if let Some(r) = rule.input_count {
        let count = n.inputs.iter().flatten().count() as i64;
        if let Some(why) = range_fail("number of inputs", count, r) {
            return Some(why);
        }
    }
    for (i, r) in &rule.input_ranks {
        // Validated when the target was loaded.
        let Some(x) = i.parse().ok().and_then(input) else {
            continue;
        };
        if let Some(why) = range_fail(&format!("rank of input {i}"), x.shape.len() as i64, *r) {
            return Some(format!("{why} (`{}`)", x.name));
        }
    }
    let valid_d1 = p.padding_valid == Some(true) && p.dilation.is_none_or(|d| d == [1, 1]);
    if let (Some(r), Some(s)) = (rule.stride, p.stride) {
        let wide = rule.stride_valid_padding.filter(|_| valid_d1);
        for (axis, v) in ["height", "width"].iter().zip(s) {
            let r = wide.unwrap_or(r);
            if let Some(why) = range_fail(&format!("stride {axis}"), v, r) {
                return Some(why);
            }
        }
    }
    if let (Some(r), Some(d)) = (rule.dilation, p.dilation) {
        for (axis, v) in ["height", "width"].iter().zip(d) {
            if let Some(why) = range_fail(&format!("dilation {axis}"), v, r) {
                return Some(why);
            }
        }
    }
    if let Some(k) = p.kernel {
        if let Some(r) = rule.kernel {
            for (axis, v) in ["height", "width"].iter().zip(k) {
                if let Some(why) = range_fail(&format!("kernel {axis}"), v, r) {
                    return Some(why);
                }
            }
        }
        if let Some(r) = rule
            .kernel_same_padding
            .filter(|_| p.padding_valid == Some(false))
        {
            for (axis, v) in ["height", "width"].iter().zip(k) {
                if let Some(why) = range_fail(&format!("kernel {axis} with SAME padding"), v, r) {
                    return Some(why);
                }
            }
        }
        if let Some(r) = rule.kernel_h {
            if let Some(why) = range_fail("kernel height", k[0], r) {
                return Some(why);
            }
        }
        if let Some(r) = rule.kernel_area {
            if let Some(why) = range_fail("kernel area", k[0] * k[1], r) {
                return Some(why);
            }
        }
    }
    let x0 = input(0);
    let shape0 = x0.map(|x| x.shape.as_slice()).unwrap_or_default();
    if let (Some(r), Some(&d)) = (rule.depth, shape0.last()) {
        if let Some(why) = range_fail("depth", d, r) {
            return Some(why);
        }
    }
    if let (Some(r), Some(m), Some(&d)) = (rule.depth_multiplier, p.depth_multiplier, shape0.last())
    {
        if d != 1 {
            if let Some(why) = range_fail(&format!("depth multiplier (input depth {d})"), m, r) {
                return Some(why);
            }
        }
    }
    if let (Some(r), Some(&b)) = (rule.batch, shape0.first()) {
        if let Some(why) = range_fail("batch", b, r) {
            return Some(why);
        }
    }
    if let Some(r) = rule.hw_product {
        let hw = match shape0.len() {
            4 => Some(shape0[1] * shape0[2]),
            3 => Some(shape0[0] * shape0[1]),
            _ => None,
        };
        if let Some(why) = hw.and_then(|hw| range_fail("height × width", hw, r)) {
            return Some(why);
        }
    }
    let rank = shape0.len() as i64;
    if rule.last_axis_only {
        match &p.axes {
            Some(axes) if axes.iter().all(|&a| a == rank - 1) => {}
            Some(axes) => return Some(format!("axis {axes:?} is not the last ({})", rank - 1)),
            None => return Some("the axis is not a constant".to_string()),
        }
    }
    if rule.reduced_elements.is_some() || rule.reduced_axis.is_some() {
        let Some(axes) = &p.axes else {
            return Some("the reduced axes are not constant".to_string());
        };
        let dims: Vec<i64> = axes
            .iter()
            .filter_map(|&a| usize::try_from(a).ok().and_then(|a| shape0.get(a).copied()))
            .collect();
        if let Some(r) = rule.reduced_axis {
            for d in &dims {
                if let Some(why) = range_fail("reduced axis size", *d, r) {
                    return Some(why);
                }
            }
        }
        if let Some(r) = rule.reduced_elements {
            if let Some(why) = range_fail("reduced elements", dims.iter().product(), r) {
                return Some(why);
            }
        }
    }
    if let (Some(min), Some(x)) = (rule.min_input_scale, x0) {
        let eight_bit = matches!(x.dtype, DType::I8 | DType::U8);
        if let Some(q) = x.quant.as_ref().filter(|_| eight_bit) {
            if let Some(s) = q.scales.iter().find(|&&s| f64::from(s) <= min) {
                return Some(format!("input scale {s:e} <= {min:e}"));
            }
        }
    }
    if rule.whole_qdq_unit {
        let quantized_in = n
            .inputs
            .iter()
            .flatten()
            .find(|x| !x.is_const && x.quant.is_some());
        let float_out = n.outputs.iter().find(|y| y.dtype.is_float());
        if let (Some(x), Some(y)) = (quantized_in, float_out) {
            return Some(format!(
                "reads quantized `{}` but writes float `{}` (the QDQ unit must be quantized throughout)",
                x.name, y.name
            ));
        }
    }
    if rule.zero_point_zero {
        let all = n.inputs.iter().flatten().chain(n.outputs.iter());
        for x in all {
            if x.quant
                .as_ref()
                .is_some_and(|q| q.zero_points.iter().any(|&z| z != 0))
            {
                return Some(format!("zero point of `{}` is not 0", x.name));
            }
        }
    }
    if rule.same_io_dtype {
        if let (Some(x), Some(y)) = (x0, n.outputs.first()) {
            if x.dtype != y.dtype {
                return Some(format!("input {} and output {} differ", x.dtype, y.dtype));
            }
        }
    }
    if rule.same_quantization {
        let out = n.outputs.first().and_then(|y| y.quant.as_ref());
        for x in n.inputs.iter().flatten().filter(|x| !x.is_const) {
            let same = match (&x.quant, out) {
                (Some(a), Some(b)) => a.scales == b.scales && a.zero_points == b.zero_points,
                (None, None) => true,
                _ => false,
            };
            if !same {
                return Some(format!(
                    "quantization of input `{}` differs from the output's",
                    x.name
                ));
            }
        }
    }
    None
}
