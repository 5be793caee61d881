//! TFLite flatbuffer → IR [`Model`].
//!
//! The main subgraph's operators are translated in execution order: a builtin with a
//! one-to-one form by its row in [`crate::table`], the others by their operator family's
//! file. Layout-sensitive ops keep TFLite's NHWC as `layout = NHWC`; fused activations
//! become ops of their own; quantized tensors become QDQ: a quantized constant or graph
//! input is followed by `DequantizeLinear`, a quantized op output is produced in float and
//! passed through `QuantizeLinear` (the quantized tensor, with the TFLite tensor's name) and
//! `DequantizeLinear` (what readers consume), so the exporter can recover the quantized op.
//! Sparse constants are made dense when the file is read (`sparse`), so DENSIFY passes a
//! constant on; variable tensors start as zeros. Custom ops with a public meaning
//! (MediaPipe's `Convolution2DTransposeBias`) become standard ops; other operators without a
//! translation become `Custom { domain: "tflite" }` nodes.

mod activation;
mod binary;
mod context;
mod control;
mod conv;
pub(crate) mod custom;
mod fully_connected;
mod lstm;
mod lut16;
mod max_pool_argmax;
mod pool;
mod quant;
mod reduce;
mod resize;
mod select;
mod shape;
mod slice;
pub(crate) mod softmax16;
mod space_batch;
mod sparse;
mod transpose_conv_bias;
mod unary;

use std::collections::HashMap;

use bytes::Bytes;
use modelc_ir::{Model, OpsetImport, ValueRef};

use crate::fb::{self, BuiltinOperator};
use crate::{table, TfliteError};

pub(crate) use context::{Ctx, OpIn, Quant};

/// ONNX opset of imported models: QuantizeLinear/DequantizeLinear of int16 (and the axes
/// inputs of Reduce*, Resize's `axes`) are legal from 21 on.
pub(crate) const OPSET: i64 = 21;

/// Domain of the custom nodes TFLite operators without a translation become.
pub(crate) const DOMAIN: &str = "tflite";

/// Model-level keys in the IR: where the TFLite description and signature key go.
pub(crate) const META_SIGNATURE_KEY: &str = "tflite.signature_key";
/// Prefix of [`modelc_ir::Model::meta`] keys holding TFLite metadata buffers by name; the
/// value is the buffer in hex (metadata is binary; model metadata is text in ONNX).
pub(crate) const EXTRA_METADATA: &str = "tflite.metadata.";

pub(crate) fn import_model(m: fb::Model<'_>, file: &Bytes) -> Result<Model, TfliteError> {
    let subgraphs = m
        .subgraphs()
        .ok_or_else(|| TfliteError::invalid("model", "has no subgraphs"))?;
    if subgraphs.is_empty() {
        return Err(TfliteError::invalid("model", "has no subgraphs"));
    }
    let sg = subgraphs.get(0);
    let mut cx = Ctx::new(m, sg, file)?;

    // Signature names for the main subgraph's inputs and outputs.
    let mut sig_names: HashMap<usize, String> = HashMap::new();
    let mut sig_key = None;
    if let Some(sigs) = m.signature_defs() {
        if let Some(sig) = sigs.iter().find(|s| s.subgraph_index() == 0) {
            sig_key = sig.signature_key().map(str::to_string);
            for map in sig.inputs().into_iter().chain(sig.outputs()).flatten() {
                if let Some(name) = map.name() {
                    sig_names.insert(map.tensor_index() as usize, name.to_string());
                }
            }
        }
    }

    for t in sg.inputs().into_iter().flatten() {
        let t = cx.tensor_index(t, "subgraph input")?;
        cx.add_graph_input(t, sig_names.get(&t).cloned())?;
    }
    if let Some(ops) = sg.operators() {
        for (i, op) in ops.iter().enumerate() {
            let op = cx.operator(i, op)?;
            import_op(&mut cx, &op)?;
        }
    }
    let mut outputs: Vec<ValueRef> = Vec::new();
    for t in sg.outputs().into_iter().flatten() {
        let t = cx.tensor_index(t, "subgraph output")?;
        outputs.push(cx.graph_output(t, sig_names.get(&t).cloned())?);
    }
    let (mut graph, used_custom) = cx.finish();
    graph.set_outputs(outputs);
    graph.name = sg.name().unwrap_or("main").to_string();

    let opset = quant::opset_for(&graph).min(OPSET);
    let mut model = Model::new(graph, opset);
    if used_custom {
        model.opset_imports.push(OpsetImport {
            domain: DOMAIN.into(),
            version: 1,
        });
    }
    model.producer_name = "modelc (from TFLite)".into();
    model.doc = m.description().unwrap_or_default().to_string();
    if let Some(key) = sig_key {
        model.meta.push((META_SIGNATURE_KEY.into(), key));
    }
    if let Some(md) = m.metadata() {
        let buffers = m.buffers();
        for entry in md.iter() {
            let name = entry.name().unwrap_or_default();
            let data = context::buffer_bytes(buffers, entry.buffer() as usize, file)
                .map_err(|e| TfliteError::invalid(format!("metadata `{name}`"), e))?
                .unwrap_or_default();
            // modelc's provenance map is JSON text that goes back onto the values.
            let entry = match std::str::from_utf8(&data) {
                Ok(json) if name == modelc_ir::provenance::KEY => (name.to_string(), json.into()),
                _ => (format!("{EXTRA_METADATA}{name}"), crate::hex::hex(&data)),
            };
            model.meta.push(entry);
        }
    }
    modelc_ir::provenance::restore(&mut model);
    Ok(model)
}

/// Translates one operator: by its row in the [`table`] when it has one in that form, else
/// by its op family's code.
pub(super) fn import_op(cx: &mut Ctx, op: &OpIn) -> Result<(), TfliteError> {
    use BuiltinOperator as B;
    // int16 LOG/RSQRT are table lookups in TFLite, not the function (see `lut16`), and int16
    // SOFTMAX is fixed-point arithmetic on two tables (see `softmax16`).
    if lut16::lut16(cx, op)? || softmax16::softmax16(cx, op)? {
        return Ok(());
    }
    if let Some(row) = table::by_code(op.code) {
        if import_row(cx, op, row)? {
            return Ok(());
        }
    }
    let handled = match op.code {
        B::CONV_2D => conv::conv_2d(cx, op)?,
        B::DEPTHWISE_CONV_2D => conv::depthwise_conv_2d(cx, op)?,
        B::TRANSPOSE_CONV => conv::transpose_conv(cx, op)?,
        B::FULLY_CONNECTED => fully_connected::fully_connected(cx, op)?,
        B::BATCH_MATMUL => fully_connected::batch_matmul(cx, op)?,
        B::MAX_POOL_2D | B::AVERAGE_POOL_2D => pool::pool_2d(cx, op)?,
        B::NOT_EQUAL | B::FLOOR_DIV | B::FLOOR_MOD | B::SQUARED_DIFFERENCE | B::SELECT => {
            binary::elementwise(cx, op)?
        }
        B::RELU6 | B::RELU_N1_TO_1 | B::RELU_0_TO_1 | B::SOFTMAX => activation::activation(cx, op)?,
        B::RSQRT | B::SQUARE | B::CAST | B::ZEROS_LIKE => unary::unary(cx, op)?,
        B::QUANTIZE | B::DEQUANTIZE => quant::quantize_dequantize(cx, op)?,
        B::RESHAPE
        | B::SQUEEZE
        | B::EXPAND_DIMS
        | B::TRANSPOSE
        | B::CONCATENATION
        | B::PACK
        | B::UNPACK
        | B::SPLIT
        | B::SPLIT_V
        | B::PAD
        | B::PADV2
        | B::MIRROR_PAD
        | B::TILE
        | B::BROADCAST_TO
        | B::SHAPE
        | B::FILL
        | B::RANGE
        | B::SPACE_TO_DEPTH
        | B::DEPTH_TO_SPACE => shape::shape_op(cx, op)?,
        B::STRIDED_SLICE | B::SLICE | B::GATHER | B::GATHER_ND => slice::slice_op(cx, op)?,
        B::MEAN
        | B::SUM
        | B::REDUCE_MAX
        | B::REDUCE_MIN
        | B::REDUCE_PROD
        | B::ARG_MAX
        | B::ARG_MIN => reduce::reduce(cx, op)?,
        B::RESIZE_BILINEAR | B::RESIZE_NEAREST_NEIGHBOR => resize::resize(cx, op)?,
        B::TOPK_V2 | B::CUMSUM | B::SCATTER_ND => select::select(cx, op)?,
        B::LOCAL_RESPONSE_NORMALIZATION | B::SPACE_TO_BATCH_ND | B::BATCH_TO_SPACE_ND => {
            space_batch::space_batch(cx, op)?
        }
        B::UNIDIRECTIONAL_SEQUENCE_LSTM => lstm::unidirectional(cx, op)?,
        B::BIDIRECTIONAL_SEQUENCE_LSTM => lstm::bidirectional(cx, op)?,
        B::REVERSE_V2 => lstm::reverse_v2(cx, op)?,
        B::IF => control::if_op(cx, op)?,
        B::WHILE => control::while_op(cx, op)?,
        B::DENSIFY => cx.alias_constant(cx.out_tensor(op, 0)?, cx.in_tensor(op, 0)?)?,
        _ => false,
    };
    if !handled {
        custom::custom(cx, op)?;
    }
    Ok(())
}

/// A table form: the row's op on the operator's inputs, with the attributes its options
/// give, then the fused activation. `false` when the options make it another form.
fn import_row(cx: &mut Ctx, op: &OpIn, row: &table::Row) -> Result<bool, TfliteError> {
    let Some(read) = row.options.read(&op.raw) else {
        return Ok(false);
    };
    let mut inputs = Vec::with_capacity(row.inputs);
    for i in 0..row.inputs {
        inputs.push(Some(cx.req(op, i)?));
    }
    let y = cx.op(row.op, &inputs, read.attrs);
    let y = cx.activation(y, read.activation, op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
