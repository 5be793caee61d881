//! IR → TFLite flatbuffer: layout conversion to NHWC when the model has NCHW ops, shape
//! inference, lowering ([`lower`], one file per op family under [`ops`]), then the file.

mod builder;
mod file;
mod legalize;
mod lower;
mod ops;
mod sparse;

use std::borrow::Cow;
use std::path::Path;

use modelc_ir::{Layout, Model};
use modelc_passes::passes::layout::{to_nhwc_io, LayoutOptions};

use crate::{TfliteError, WriteOptions};

/// The flatbuffer is limited to 2 GB; past this much tensor data, buffers go after it.
const INLINE_LIMIT: u64 = (1 << 31) - (64 << 20);

pub(crate) fn write(
    model: Cow<'_, Model>,
    path: &Path,
    opts: &WriteOptions,
) -> Result<(), TfliteError> {
    write_with_limit(model, path, opts, INLINE_LIMIT)
}

/// [`write`] with the inline-data limit as a parameter (tests use a small one to exercise the
/// offset-buffer form).
pub(crate) fn write_with_limit(
    model: Cow<'_, Model>,
    path: &Path,
    opts: &WriteOptions,
    inline_limit: u64,
) -> Result<(), TfliteError> {
    // The writer legalizes a model of its own; one handed over is not copied first.
    let mut m = model.into_owned();
    prepare(&mut m, opts)?;
    let g = &m.graph;
    let total: u64 = g
        .node_ids()
        .filter_map(|id| match &g.node(id).op {
            modelc_ir::Op::Const(t) => Some(t.byte_len()),
            _ => None,
        })
        .sum();
    let external = total > inline_limit;
    let mut model = builder::Builder::new(g, external);
    model.sparse_weights = opts.sparse_weights;
    let mut lowering = lower::Lower::new(g, model);
    lowering.run()?;
    let outputs = lowering.graph_output_tensors();
    if !lowering.unsupported.is_empty() {
        return Err(TfliteError::Unsupported(format!(
            "{} node(s) have no TFLite form: {}",
            lowering.unsupported.len(),
            lowering.unsupported.join("; ")
        )));
    }
    let outputs = outputs?;
    let inputs: Vec<(String, usize)> = g
        .inputs()
        .iter()
        .map(|&id| {
            let v = modelc_ir::ValueRef::new(id, 0);
            (
                lowering.model.value_name(v),
                lowering
                    .model
                    .map
                    .get(v)
                    .expect("graph inputs are lowered first"),
            )
        })
        .collect();
    let io = file::Io { inputs, outputs };
    let ext: Vec<(u64, bytes::Bytes)> = lowering
        .model
        .buffers
        .iter()
        .filter_map(|b| match b {
            builder::BufferData::External(o, d) => Some((*o, d.clone())),
            _ => None,
        })
        .collect();
    let records = lowering.model.into_records();
    let provenance = modelc_ir::provenance::encode(&m.graph);
    if !external {
        // The records hold all the file needs (names, shapes, shared weight bytes): the graph
        // is freed before the tables are built, so a node-heavy model is not held as IR,
        // records and flatbuffer at once.
        let name = std::mem::take(&mut m.graph.name);
        m.graph = modelc_ir::Graph::new(name);
        let (mut fbuf, appended) = file::finish(records, &m, provenance, &io, 0);
        let (buf, head) = fbuf.mut_finished_buffer();
        let flatbuffer = &mut buf[head..];
        let tail = file::append_data(flatbuffer, &appended)?;
        return file::write_file(path, flatbuffer, &tail);
    }
    // External data: the flatbuffer's length does not depend on the offset values (every
    // offset field is written), so build once to learn it, then again with real offsets.
    drop(records);
    let (probe, _) = file::finish(rebuild(&m, external)?, &m, provenance.clone(), &io, 1 << 40);
    let base = (probe.finished_data().len() as u64).next_multiple_of(16);
    drop(probe);
    let (fbuf, _) = file::finish(rebuild(&m, external)?, &m, provenance, &io, base);
    let fbuf = fbuf.finished_data();
    if fbuf.len() as u64 > base {
        return Err(TfliteError::Unsupported(
            "flatbuffer size changed between passes".into(),
        ));
    }
    let tail: Vec<(u64, bytes::Bytes)> = ext.into_iter().map(|(off, d)| (base + off, d)).collect();
    file::write_file(path, fbuf, &tail)
}

fn rebuild(m: &Model, external: bool) -> Result<builder::Records, TfliteError> {
    let mut lowering = lower::Lower::new(&m.graph, builder::Builder::new(&m.graph, external));
    lowering.run()?;
    lowering.graph_output_tensors()?;
    Ok(lowering.model.into_records())
}

/// The passes run before lowering (see `prepare`): a TorchScript import keeps BatchNorm
/// separate, an ONNX export from torch has usually fused it already.
/// `fold` computes the shape arithmetic dynamic-shape exports carry (Shape → Gather → ...)
/// where the sizes are known (what stays reads sizes unknown until run time and is lowered as
/// it is: SHAPE, GATHER, CONCATENATION, ...); it leaves quantized weights behind their
/// DequantizeLinear. `quantize-bias` gives a QDQ model's float Conv / Gemm biases the int32
/// form full-integer kernels take (such models keep the op in int8 instead of falling back
/// to DEQUANTIZE + float kernel).
const LEGALIZE: &str = "infer-shapes,identity,fold,fuse-conv-bn,quantize-bias,dce";

/// Then the ops TFLite has no builtin for, rewritten into ops it has by the `decompose-*`
/// passes (the forms TensorFlow's converter emits; `modelc passes` describes each). Crop
/// before edge padding: the edge rewrite reads the cropped shape. An LSTM that carries state
/// (a state input, `Y_c` read) is unrolled: TFLite's LSTM kernel hides its state.
const DECOMPOSE: &str = "decompose-lstm-state,decompose-batch-norm,decompose-hard-sigmoid,\
    decompose-layer-norm,\
    decompose-legacy-softmax,decompose-depth-to-space,decompose-grouped-conv-transpose,\
    decompose-softplus,decompose-elu,decompose-einsum,decompose-gemm,decompose-pad-crop,\
    decompose-pad-edge,decompose-fmod,decompose-vector-matmul,decompose-instance-norm,\
    decompose-reduce-l2,decompose-gather-elements,decompose-scatter-nd,\
    decompose-nan-inf";

/// Brings the graph into the form the lowering expects: NHWC layout-sensitive ops and types
/// on every value.
fn prepare(m: &mut Model, opts: &WriteOptions) -> Result<(), TfliteError> {
    let nchw = legalize::has_layout(&m.graph, Layout::Nchw);
    crate::set_channels_last_io(m, None);
    modelc_passes::pattern::constants_to_const(&mut m.graph);
    legalize::in_every_graph(&mut m.graph, &mut |g| {
        legalize::int16_softmax(g);
    });
    // TFLite has no inference BatchNormalization, Identity or Dropout builtin: fold
    // BatchNormalization into the producing convolution (as TensorFlow's converter does) and
    // drop pass-throughs before lowering; then ops without a builtin are decomposed.
    let legalize = modelc_passes::registry::pipeline(LEGALIZE)
        .map_err(|e| TfliteError::Unsupported(e.to_string()))?;
    modelc_passes::PassManager::new(legalize)
        .run(m)
        .map_err(|e| TfliteError::Unsupported(e.to_string()))?;
    let decompose = modelc_passes::registry::pipeline(DECOMPOSE)
        .map_err(|e| TfliteError::Unsupported(e.to_string()))?;
    modelc_passes::PassManager::new(decompose)
        .run(m)
        .map_err(|e| TfliteError::Unsupported(e.to_string()))?;
    let opset = m.opset("").unwrap_or(21);
    legalize::erf_gelu(&mut m.graph, opset);
    // Types first: the layout pass reads shapes (which inputs are images, Flatten/Reshape).
    modelc_ir::infer::infer_graph(&mut m.graph, &m.opset_imports);
    if nchw {
        let lo = LayoutOptions {
            keep_io_layout: opts.keep_io_layout,
            opset: m.opset(""),
        };
        let (_, switched) =
            to_nhwc_io(&mut m.graph, &lo).map_err(|e| TfliteError::Unsupported(e.to_string()))?;
        crate::set_channels_last_io(m, Some(&switched));
        legalize::in_every_graph(&mut m.graph, &mut |g| {
            legalize::flatten_nhwc(g);
            legalize::lift_1d(g, opset);
            legalize::requantize_movement(g);
        });
        modelc_ir::infer::infer_graph(&mut m.graph, &m.opset_imports);
    }
    if legalize::softmax_last_axis(&mut m.graph, opset) {
        modelc_ir::infer::infer_graph(&mut m.graph, &m.opset_imports);
    }
    Ok(())
}
