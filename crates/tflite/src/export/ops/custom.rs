//! `tflite` custom nodes (operators the importer kept as they were) back to their operator:
//! a custom code with its options bytes, or a builtin code without options.

use modelc_ir::{Attr, NodeId, Op};

use crate::export::lower::Lower;
use crate::fb::BuiltinOperator;
use crate::import::custom::{
    ATTR_BUILTIN_CODE, ATTR_CUSTOM_OPTIONS, ATTR_HAS_OPTIONS, ATTR_VERSION,
};
use crate::TfliteError;

pub(crate) fn lower(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let node = lowering.g.node(id);
    let Op::Custom(c) = &node.op else {
        return Err(TfliteError::Unsupported("not a custom op".into()));
    };
    let name = c.name.clone();
    let attrs = node.attrs.clone();
    let version = attrs.int(ATTR_VERSION, 1).unwrap_or(1) as i32;
    let mut inputs = Vec::new();
    for i in 0..node.num_inputs {
        inputs.push(lowering.input(id, i)?);
    }
    let mut outputs = Vec::new();
    for s in 0..lowering.outs.len() {
        outputs.push(lowering.output(s)?);
    }
    match attrs.get(ATTR_BUILTIN_CODE) {
        Some(Attr::Int(code)) => {
            if attrs.int(ATTR_HAS_OPTIONS, 0).unwrap_or(0) != 0 {
                return Err(TfliteError::Unsupported(format!(
                    "builtin {name} had options the importer did not keep"
                )));
            }
            lowering.model.emit_custom(
                BuiltinOperator(*code as i32),
                None,
                version,
                &inputs,
                &outputs,
                None,
            );
        }
        _ => {
            let opts = match attrs.get(ATTR_CUSTOM_OPTIONS) {
                Some(Attr::String(b)) => Some(b.clone()),
                _ => None,
            };
            lowering.model.emit_custom(
                BuiltinOperator::CUSTOM,
                Some(name),
                version,
                &inputs,
                &outputs,
                opts,
            );
        }
    }
    Ok(())
}
