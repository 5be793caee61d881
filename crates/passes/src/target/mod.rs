//! Hardware targets as data. Each target is a TOML file (`targets/*.toml` in the
//! repository, embedded here as the built-in set; `MODELC_TARGETS_DIR` or a user's own file
//! can add or replace them): the format it consumes, the element types, ranks, shapes and
//! quantization it accepts, the operators it runs with their numeric limits, and what
//! happens to the rest — each rule citing the vendor document or tool source it comes from.
//!
//! [`Target::parse`] reads and validates a file (unknown op names, bad ranges, unknown
//! element types are errors naming the file and the key); [`check::check`] places each
//! operator of a [`view::TargetGraph`] on the accelerator or the fallback, with the
//! violated rule.

pub mod check;
pub mod fill_omitted;
pub mod fp16_weights;
pub mod int64_to_int32;
pub mod layer_norm_rsqrt;
pub mod onnx_view;
pub mod quantize_io;
pub mod scalar_gather;
pub mod schema;
pub mod sink_cpu_ops;
pub mod static_shapes;
pub mod view;

use std::path::Path;

use modelc_ir::DType;

pub use check::{check, Placement, Report};
pub use onnx_view::onnx_graph;
pub use schema::{Fallback, Format, OpRule, QuantScheme, Range, TargetFile};
pub use view::{Params, QuantView, TargetGraph, TargetNode, TensorView};

/// The built-in targets: the files of `targets/`, compiled in so the binary works anywhere.
pub const BUILTIN: &[(&str, &str)] = &[
    ("cpu", include_str!("../../../../targets/cpu.toml")),
    (
        "ethos-u55-128",
        include_str!("../../../../targets/ethos-u55-128.toml"),
    ),
    (
        "ethos-u65-256",
        include_str!("../../../../targets/ethos-u65-256.toml"),
    ),
    ("edgetpu", include_str!("../../../../targets/edgetpu.toml")),
    ("tflm", include_str!("../../../../targets/tflm.toml")),
    ("nnapi", include_str!("../../../../targets/nnapi.toml")),
    ("coreml", include_str!("../../../../targets/coreml.toml")),
    ("qnn-htp", include_str!("../../../../targets/qnn-htp.toml")),
    (
        "tensorrt",
        include_str!("../../../../targets/tensorrt.toml"),
    ),
    (
        "tflite-gpu",
        include_str!("../../../../targets/tflite-gpu.toml"),
    ),
];

/// Why a target could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("unknown target `{0}` (`modelc targets` lists them)")]
    Unknown(String),
}

/// Which op names exist in a format's vocabulary; the caller (who knows the formats)
/// supplies it, so a misspelt op in a target file is an error, not a rule that never fires.
pub type KnownOp<'a> = &'a dyn Fn(Format, &str) -> bool;

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    pub file: TargetFile,
    /// Where it was read from (a path, or `built-in targets/NAME.toml`).
    pub origin: String,
    feature_dtypes: Option<Vec<DType>>,
}

impl Target {
    pub fn name(&self) -> &str {
        &self.file.target.name
    }

    /// Parses and validates the text of a target file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, known: KnownOp<'_>) -> Result<Target, TargetError> {
        let file: TargetFile = toml::from_str(text).map_err(|e| TargetError::Parse {
            file: origin.to_string(),
            message: modelc_ir::one_line(&e.to_string()),
        })?;
        let invalid = |key: String, message: String| TargetError::Invalid {
            file: origin.to_string(),
            key,
            message,
        };
        let format = file.target.format;
        let op_ok = |op: &str| format == Format::Any || known(format, op);
        let dtypes = |key: String, names: &[String]| -> Result<Vec<DType>, TargetError> {
            names
                .iter()
                .map(|n| n.parse::<DType>().map_err(|e| invalid(key.clone(), e)))
                .collect()
        };
        let range = |key: String, r: Option<Range>| -> Result<(), TargetError> {
            match r {
                Some(r) if r.0 > r.1 => Err(invalid(
                    key,
                    format!("range {r} is empty (low bound above high bound)"),
                )),
                _ => Ok(()),
            }
        };
        if file.target.name.is_empty() {
            return Err(invalid("target.name".into(), "is empty".into()));
        }
        if !file.target.all_ops && file.ops.is_empty() {
            return Err(invalid(
                "ops".into(),
                "lists no operators (set target.all_ops = true for a target that runs all)".into(),
            ));
        }
        for pass in &file.target.lowering {
            if crate::registry::get(pass).is_err() {
                return Err(invalid(
                    "target.lowering".into(),
                    format!("`{pass}` is not a pass (`modelc passes` lists them)"),
                ));
            }
        }
        for pass in &file.target.before_quantize {
            if crate::registry::get(pass).is_err() {
                return Err(invalid(
                    "target.before_quantize".into(),
                    format!("`{pass}` is not a pass (`modelc passes` lists them)"),
                ));
            }
        }
        for op in &file.target.quantize_ops {
            if modelc_ir::OnnxOp::lookup("", op).is_none() {
                return Err(invalid(
                    "target.quantize_ops".into(),
                    format!("`{op}` is not an ONNX operator"),
                ));
            }
        }
        for op in file.ops.keys() {
            if !op_ok(op) {
                return Err(invalid(
                    format!("ops.{op}"),
                    format!("`{op}` is not an operator of the {format:?} format"),
                ));
            }
        }
        let t = &file.tensors;
        let excepts: [(&str, Option<&Vec<String>>); 9] = [
            (
                "feature_dtypes",
                t.feature_dtypes.as_ref().map(|r| &r.except),
            ),
            ("max_rank", t.max_rank.as_ref().map(|r| &r.except)),
            ("dim_range", t.dim_range.as_ref().map(|r| &r.except)),
            ("static_shape", t.static_shape.as_ref().map(|r| &r.except)),
            (
                "innermost_dims",
                t.innermost_dims.as_ref().map(|r| &r.except),
            ),
            ("quantized", t.quantized.as_ref().map(|r| &r.except)),
            ("per_axis_ops", t.per_axis_ops.as_ref().map(|r| &r.except)),
            ("zero_points", t.zero_points.as_ref().map(|r| &r.except)),
            (
                "omitted_inputs_dynamic",
                t.omitted_inputs_dynamic.as_ref().map(|r| &r.except),
            ),
        ];
        for (key, list) in excepts {
            for op in list.into_iter().flatten() {
                if !op_ok(op) {
                    return Err(invalid(
                        format!("tensors.{key}.except"),
                        format!("`{op}` is not an operator of the {format:?} format"),
                    ));
                }
            }
        }
        if let Some(r) = &t.per_axis_ops {
            for op in &r.value {
                if !op_ok(op) {
                    return Err(invalid(
                        "tensors.per_axis_ops.value".into(),
                        format!("`{op}` is not an operator of the {format:?} format"),
                    ));
                }
            }
        }
        if let Some(r) = &t.dim_range {
            range("tensors.dim_range.value".into(), Some(r.value))?;
        }
        let feature_dtypes = match &t.feature_dtypes {
            Some(r) => Some(dtypes("tensors.feature_dtypes.value".into(), &r.value)?),
            None => None,
        };
        for (op, rule) in &file.ops {
            let key = |k: &str| format!("ops.{op}.{k}");
            if rule.source.is_empty() {
                return Err(invalid(
                    key("source"),
                    "is empty: cite where the rule comes from".into(),
                ));
            }
            for (k, list) in [
                ("feature_dtypes", &rule.feature_dtypes),
                ("weight_dtypes", &rule.weight_dtypes),
                ("bias_dtypes", &rule.bias_dtypes),
            ] {
                if let Some(list) = list {
                    dtypes(key(k), list)?;
                }
            }
            for (k, r) in [
                ("stride", rule.stride),
                ("stride_valid_padding", rule.stride_valid_padding),
                ("dilation", rule.dilation),
                ("kernel", rule.kernel),
                ("kernel_h", rule.kernel_h),
                ("kernel_area", rule.kernel_area),
                ("kernel_same_padding", rule.kernel_same_padding),
                ("depth", rule.depth),
                ("batch", rule.batch),
                ("hw_product", rule.hw_product),
                ("reduced_elements", rule.reduced_elements),
                ("reduced_axis", rule.reduced_axis),
                ("depth_multiplier", rule.depth_multiplier),
                ("input_count", rule.input_count),
            ] {
                range(key(k), r)?;
            }
            for (i, r) in &rule.input_ranks {
                if i.parse::<usize>().is_err() {
                    return Err(invalid(
                        key("input_ranks"),
                        format!("`{i}` is not an input index"),
                    ));
                }
                range(key(&format!("input_ranks.{i}")), Some(*r))?;
            }
        }
        if let Some(q) = &file.quantization {
            let one_of = |key: &str, v: &str, allowed: &[&str]| {
                if allowed.contains(&v) {
                    Ok(())
                } else {
                    Err(invalid(
                        format!("quantization.{key}"),
                        format!("`{v}` is not one of {}", allowed.join(", ")),
                    ))
                }
            };
            const ACTIVATIONS: &[&str] = &["u8", "i8", "u16", "i16"];
            one_of("activation", &q.activation, ACTIVATIONS)?;
            for a in &q.activation_options {
                one_of("activation_options", a, ACTIVATIONS)?;
            }
            one_of("weight", &q.weight, &["i8"])?;
            one_of("bias", &q.bias, &["int32", "auto", "float"])?;
            if q.source.is_empty() {
                return Err(invalid(
                    "quantization.source".into(),
                    "is empty: cite where the scheme comes from".into(),
                ));
            }
        }
        Ok(Target {
            file,
            origin: origin.to_string(),
            feature_dtypes,
        })
    }

    /// Reads and validates a target file.
    pub fn read(path: &Path, known: KnownOp<'_>) -> Result<Target, TargetError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TargetError::Io {
            file: origin.clone(),
            source,
        })?;
        Target::parse(&text, &origin, known)
    }

    /// The passes that lower a model for this target, in order: `static-shapes` when every
    /// dimension must be known (an error naming the inputs that need `--input-shape`),
    /// `quantize-io` when the accelerator takes no float feature maps (the float inputs and
    /// outputs of a quantized model would run on the CPU), `int64-to-int32` when it refuses
    /// int64 feature maps ([`Target::refuses_int64`]).
    pub fn lowering(&self) -> Vec<&str> {
        let mut passes = Vec::new();
        let static_all = self.file.tensors.static_shape.as_ref();
        if static_all.is_some_and(|r| r.value == schema::StaticShape::All) {
            passes.push("static-shapes");
        }
        if self
            .generic_feature_dtypes()
            .is_some_and(|d| !d.contains(&DType::F32))
        {
            passes.push("quantize-io");
        }
        if self.refuses_int64() {
            passes.push("int64-to-int32");
        }
        if !self.file.target.lowering.is_empty() {
            // The rewrites read shapes (a Flatten's leading dimensions).
            passes.push("infer-shapes");
            passes.extend(self.file.target.lowering.iter().map(String::as_str));
        }
        passes
    }

    /// A TFLite target with a rule that refuses int64 feature maps (Ethos-U's generic list,
    /// TFLite Micro's ARG_MAX): its int64 values are made int32 (`int64-to-int32`), which
    /// TFLite's kernels take wherever they take int64. ONNX targets keep int64, which ONNX
    /// requires of shapes, indices from ArgMax and the like.
    pub fn refuses_int64(&self) -> bool {
        let no_i64 = |l: &Vec<String>| !l.iter().any(|d| d == "i64");
        self.file.target.format == Format::Tflite
            && (self
                .generic_feature_dtypes()
                .is_some_and(|d| !d.contains(&DType::I64))
                || self
                    .file
                    .ops
                    .values()
                    .any(|r| r.feature_dtypes.as_ref().is_some_and(no_i64)))
    }

    /// The generic feature-map element types, parsed.
    pub(crate) fn generic_feature_dtypes(&self) -> Option<&[DType]> {
        self.feature_dtypes.as_deref()
    }
}

/// Every available target: the built-in set, with the files of `dir` (when given) added or
/// replacing a built-in of the same name. Sorted by name.
pub fn all(dir: Option<&Path>, known: KnownOp<'_>) -> Result<Vec<Target>, TargetError> {
    let mut out = Vec::new();
    for (name, text) in BUILTIN {
        out.push(Target::parse(
            text,
            &format!("built-in targets/{name}.toml"),
            known,
        )?);
    }
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|source| TargetError::Io {
            file: dir.display().to_string(),
            source,
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let t = Target::read(&p, known)?;
            out.retain(|o: &Target| o.name() != t.name());
            out.push(t);
        }
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(out)
}

/// The target called `name` among [`all`].
pub fn find(name: &str, dir: Option<&Path>, known: KnownOp<'_>) -> Result<Target, TargetError> {
    all(dir, known)?
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| TargetError::Unknown(name.to_string()))
}
