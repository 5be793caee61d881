//! Operators without a translation: CUSTOM ops (but those with a public meaning, translated
//! into standard ops first: `Convolution2DTransposeBias`, `MaxPoolingWithArgmax2D`,
//! `MaxUnpooling2D`) keep their custom code as the node name and
//! their options bytes (`custom_options`, any format) as an attribute; builtins the importer
//! does not translate keep their builtin name, code and version. Both become
//! `Custom { domain: "tflite" }` nodes, which the TFLite writer emits again unchanged (builtin
//! options are not kept, so a builtin with options cannot be written back) and the other
//! writers report.

use bytes::Bytes;
use modelc_ir::{Attr, Op, ValueRef};

use super::{Ctx, OpIn, DOMAIN};
use crate::TfliteError;

/// Attribute names on `tflite` custom nodes.
pub(crate) const ATTR_CUSTOM_OPTIONS: &str = "custom_options";
pub(crate) const ATTR_BUILTIN_CODE: &str = "builtin_code";
pub(crate) const ATTR_VERSION: &str = "version";
pub(crate) const ATTR_HAS_OPTIONS: &str = "has_builtin_options";

pub(crate) fn custom(cx: &mut Ctx, op: &OpIn) -> Result<(), TfliteError> {
    // Custom ops whose semantics are public become standard ops.
    let public = match op.custom_code.as_deref() {
        Some(super::transpose_conv_bias::CODE) => super::transpose_conv_bias::import(cx, op)?,
        Some(super::max_pool_argmax::ARGMAX) => super::max_pool_argmax::argmax(cx, op)?,
        Some(super::max_pool_argmax::UNPOOL) => super::max_pool_argmax::unpool(cx, op)?,
        _ => false,
    };
    if public {
        return Ok(());
    }
    let mut inputs = Vec::new();
    for i in 0..op.inputs.len() {
        inputs.push(cx.input(op, i)?);
    }
    let mut attrs = vec![(ATTR_VERSION, Attr::Int(op.version as i64))];
    let name = match &op.custom_code {
        Some(code) => {
            let opts = op
                .raw
                .custom_options()
                .map(|o| Bytes::copy_from_slice(o.bytes()))
                .unwrap_or_default();
            if op.raw.large_custom_options_size() > 0 {
                let (off, size) = (
                    op.raw.large_custom_options_offset(),
                    op.raw.large_custom_options_size(),
                );
                let end = off
                    .checked_add(size)
                    .filter(|&e| e <= cx.file().len() as u64)
                    .ok_or_else(|| {
                        TfliteError::invalid(op.label(), "custom options lie outside the file")
                    })?;
                attrs.push((
                    ATTR_CUSTOM_OPTIONS,
                    Attr::String(cx.file().slice(off as usize..end as usize)),
                ));
            } else {
                attrs.push((ATTR_CUSTOM_OPTIONS, Attr::String(opts)));
            }
            code.clone()
        }
        None => {
            attrs.push((ATTR_BUILTIN_CODE, Attr::Int(op.code.0 as i64)));
            let has = op.raw.builtin_options().is_some() || op.raw.builtin_options_2().is_some();
            attrs.push((ATTR_HAS_OPTIONS, Attr::Int(has as i64)));
            op.code
                .variant_name()
                .map(str::to_string)
                .unwrap_or_else(|| format!("BUILTIN_{}", op.code.0))
        }
    };
    let n = op.outputs.len();
    let id = cx.node(Op::custom(DOMAIN, name), &inputs, attrs, n);
    cx.mark_custom();
    for i in 0..n {
        cx.define(op.outputs[i], ValueRef::new(id, i))?;
    }
    Ok(())
}
