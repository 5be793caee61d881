//! The built-in passes by name, and the optimization levels.

use crate::passes::decompose;
use crate::passes::quantize_bias::QuantizeBias;
use crate::passes::{cse::Cse, noop::NoopElim, reshape_merge::ReshapeMerge};
use crate::passes::{dce::Dce, fold::Fold, identity::IdentityElim, infer_shapes::InferShapes};
use crate::passes::{
    fuse_attention::FuseAttention, fuse_gelu::FuseGelu, fuse_layernorm::FuseLayerNorm,
};
use crate::passes::{fuse_bias::FuseBias, fuse_conv_bn::FuseConvBn, fuse_gemm::FuseGemm};
use crate::passes::{layout::ToNchw, layout::ToNhwc, transpose::TransposeOpt};
use crate::{Pass, PassError};

/// Every built-in pass, in the order `modelc passes` lists them.
pub fn all() -> Vec<Box<dyn Pass>> {
    let mut all: Vec<Box<dyn Pass>> = vec![
        Box::new(InferShapes),
        Box::new(IdentityElim),
        Box::new(Fold),
        Box::new(Dce),
        Box::new(Cse),
        Box::new(NoopElim),
        Box::new(ReshapeMerge),
        Box::new(crate::passes::slice_concat::SliceConcat),
        Box::new(FuseConvBn),
        Box::new(FuseBias),
        Box::new(FuseGemm),
        Box::new(FuseGelu),
        Box::new(FuseLayerNorm),
        Box::new(FuseAttention),
        Box::new(TransposeOpt),
        Box::new(QuantizeBias::default()),
        Box::new(ToNhwc::default()),
        Box::new(ToNchw::default()),
        Box::new(crate::opset::ConvertOpset {
            target: crate::opset::NEWEST,
        }),
        Box::new(crate::target::quantize_io::QuantizeIo),
        Box::new(crate::target::static_shapes::StaticShapes),
        // Not in decompose::all() (the TFLite writer's set): only targets without Flatten ask.
        Box::new(decompose::flatten::PASS),
        Box::new(crate::target::scalar_gather::PASS),
        Box::new(crate::target::fill_omitted::PASS),
        Box::new(crate::target::layer_norm_rsqrt::PASS),
        Box::new(crate::target::sink_cpu_ops::SinkCpuOps),
        Box::new(crate::target::fp16_weights::Fp16Weights),
        Box::new(crate::target::int64_to_int32::Int64ToInt32),
    ];
    all.extend(
        decompose::all()
            .into_iter()
            .map(|d| Box::new(d) as Box<dyn Pass>),
    );
    all
}

/// The built-in pass `name`; `convert-opset=N` is the opset conversion to version N.
pub fn get(name: &str) -> Result<Box<dyn Pass>, PassError> {
    if let Some(arg) = name.strip_prefix("convert-opset") {
        let target = arg
            .strip_prefix('=')
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| PassError::Failed {
                pass: "convert-opset",
                message: format!("`{name}`: give the target version, as in convert-opset=17"),
            })?;
        return Ok(Box::new(crate::opset::ConvertOpset { target }));
    }
    all()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| PassError::UnknownPass(name.to_string()))
}

/// A pipeline from a comma-separated list of pass names (`identity,dce`).
pub fn pipeline(spec: &str) -> Result<Vec<Box<dyn Pass>>, PassError> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(get)
        .collect()
}

/// The pipeline of optimization level `level` (0 to 3): 1 removes pass-through and dead
/// nodes (bit-exact: results computed by the same runtime are identical); 2 also folds
/// constants (computed by modelc's kernels, so the last bits of float results may differ
/// from what a runtime would compute). Level 3 is level 2 until more passes exist.
pub fn level(level: u8) -> Vec<Box<dyn Pass>> {
    match level {
        0 => Vec::new(),
        1 => vec![Box::new(IdentityElim), Box::new(Dce)],
        _ => vec![
            // Shapes first: fold turns Shape of known dims into constants.
            Box::new(InferShapes),
            Box::new(IdentityElim),
            Box::new(Cse),
            Box::new(Fold),
            Box::new(NoopElim),
            Box::new(ReshapeMerge),
            Box::new(TransposeOpt),
            // Fusions after folding, so weights reach them as constants.
            Box::new(FuseConvBn),
            Box::new(FuseBias),
            Box::new(FuseGemm),
            Box::new(FuseGelu),
            Box::new(FuseLayerNorm),
            Box::new(FuseAttention),
            Box::new(Dce),
        ],
    }
}
