//! What every hand-built TFLite file in these tests ends with: its one subgraph, the operator
//! codes and buffers, the model table and the finished buffer.

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use modelc_tflite::fb;

/// The parts of a one-subgraph model, made with the builder they are finished in.
pub struct Parts<'b, 'd> {
    pub tensors: &'d [WIPOffset<fb::Tensor<'b>>],
    pub operators: &'d [WIPOffset<fb::Operator<'b>>],
    pub inputs: &'d [i32],
    pub outputs: &'d [i32],
    pub codes: &'d [WIPOffset<fb::OperatorCode<'b>>],
    pub buffers: &'d [WIPOffset<fb::Buffer<'b>>],
    pub version: u32,
    pub description: Option<&'d str>,
}

/// The file's bytes.
pub fn finish<'b>(mut b: FlatBufferBuilder<'b>, p: Parts<'b, '_>) -> Vec<u8> {
    let tensors = b.create_vector(p.tensors);
    let operators = b.create_vector(p.operators);
    let (inputs, outputs) = (b.create_vector(p.inputs), b.create_vector(p.outputs));
    let sg = fb::SubGraph::create(
        &mut b,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(inputs),
            outputs: Some(outputs),
            operators: Some(operators),
            name: None,
        },
    );
    let subgraphs = b.create_vector(&[sg]);
    let codes = b.create_vector(p.codes);
    let buffers = b.create_vector(p.buffers);
    let description = p.description.map(|d| b.create_string(d));
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: p.version,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            description,
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut b, model);
    b.finished_data().to_vec()
}
