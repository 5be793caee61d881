//! Decodes a `ModelProto` with its main graph's nodes left encoded.
//!
//! prost decodes a message whole: a file of 200,000 small nodes became 200,000 `NodeProto`s
//! (about 300 bytes each with their strings) held beside the IR graph built from them. Here
//! the top-level fields, and the main graph's fields other than `node`, are decoded as
//! usual (each field merged on its own: protobuf's concatenation rule makes that the same
//! message), while each node stays a slice of the input until the importer decodes it, turns
//! it into an IR node and drops it. Sub-graphs inside attributes are small in practice and
//! decode whole.

use bytes::{Buf, Bytes};
use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;

use crate::{proto, OnnxError};

/// `ModelProto.graph`.
const MODEL_GRAPH: u32 = 7;
/// `GraphProto.node`.
const GRAPH_NODE: u32 = 1;

/// A model whose main graph (`model.graph`, with no nodes) has its nodes in `nodes`,
/// each an encoded `NodeProto`, in file order.
pub(crate) struct SplitModel {
    pub model: proto::ModelProto,
    pub nodes: NodeSlices,
}

/// The main graph's encoded nodes as (offset, length) pairs into the file's bytes: 8 bytes a
/// node where a `Bytes` handle takes 32 (a file of 2-byte nodes would otherwise make the
/// list alone 16 times the file).
#[derive(Default)]
pub(crate) struct NodeSlices {
    file: Bytes,
    ranges: Vec<(u32, u32)>,
}

impl NodeSlices {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Encoded node `i`.
    pub fn get(&self, i: usize) -> Bytes {
        let (at, len) = self.ranges[i];
        self.file.slice(at as usize..at as usize + len as usize)
    }

    /// Adds `node`, a slice of the file's bytes.
    fn push(&mut self, node: &Bytes) -> Result<(), OnnxError> {
        // Where the slice starts in the file: both point into the same buffer.
        let at = node.as_ptr() as usize - self.file.as_ptr() as usize;
        let at = u32::try_from(at).map_err(|_| OnnxError::Wire("a model over 4 GiB"))?;
        let len = u32::try_from(node.len()).map_err(|_| OnnxError::Wire("a node over 4 GiB"))?;
        self.ranges.push((at, len));
        Ok(())
    }
}

pub(crate) fn decode(bytes: Bytes) -> Result<SplitModel, OnnxError> {
    split(bytes.clone()).map_err(|walk| {
        // A malformed file is reported as prost reports it (it names the message and field:
        // "ModelProto.graph: buffer underflow"); the walk's own error only if prost, oddly,
        // accepts what the walk refused.
        match proto::ModelProto::decode(bytes) {
            Err(e) => OnnxError::Decode(e),
            Ok(_) => walk,
        }
    })
}

fn split(bytes: Bytes) -> Result<SplitModel, OnnxError> {
    let mut model = proto::ModelProto::default();
    let mut graph: Option<proto::GraphProto> = None;
    let mut nodes = NodeSlices {
        file: bytes.clone(),
        ranges: Vec::new(),
    };
    for field in Fields::new(bytes) {
        let field = field?;
        match (field.tag, field.payload) {
            (MODEL_GRAPH, Some(payload)) => {
                let g = graph.get_or_insert_with(Default::default);
                for inner in Fields::new(payload) {
                    let inner = inner?;
                    match (inner.tag, inner.payload) {
                        (GRAPH_NODE, Some(node)) => nodes.push(&node)?,
                        _ => g.merge(inner.raw)?,
                    }
                }
            }
            _ => model.merge(field.raw)?,
        }
    }
    if graph.is_some() {
        model.graph = graph;
    }
    Ok(SplitModel { model, nodes })
}

/// One field of an encoded message: its number, its whole encoding (key included, to merge
/// into a message) and, when length-delimited, its payload.
struct Field {
    tag: u32,
    raw: Bytes,
    payload: Option<Bytes>,
}

/// The fields of an encoded message, in order; slices of it, not copies.
struct Fields {
    bytes: Bytes,
    pos: usize,
}

impl Fields {
    fn new(bytes: Bytes) -> Fields {
        Fields { bytes, pos: 0 }
    }

    fn next_field(&mut self) -> Result<Field, OnnxError> {
        let start = self.pos;
        let mut rest = &self.bytes[start..];
        let before = rest.remaining();
        let (tag, wire) = decode_key(&mut rest)?;
        let mut payload = None;
        match wire {
            WireType::Varint => {
                decode_varint(&mut rest)?;
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let width = if wire == WireType::SixtyFourBit { 8 } else { 4 };
                if rest.remaining() < width {
                    return Err(OnnxError::Wire("a field is cut short"));
                }
                rest.advance(width);
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut rest)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= rest.remaining())
                    .ok_or(OnnxError::Wire("a field is cut short"))?;
                let at = start + (before - rest.remaining());
                payload = Some(self.bytes.slice(at..at + len));
                rest.advance(len);
            }
            // ONNX has no groups; prost refuses them for known fields too.
            WireType::StartGroup | WireType::EndGroup => {
                return Err(OnnxError::Wire("a group field, which ONNX does not use"));
            }
        }
        self.pos = start + (before - rest.remaining());
        Ok(Field {
            tag,
            raw: self.bytes.slice(start..self.pos),
            payload,
        })
    }
}

impl Iterator for Fields {
    type Item = Result<Field, OnnxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let field = self.next_field();
        if field.is_err() {
            // One error ends the walk.
            self.pos = self.bytes.len();
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(nodes: usize) -> proto::ModelProto {
        let node = |i: usize| proto::NodeProto {
            op_type: Some("Relu".into()),
            name: Some(format!("r{i}")),
            input: vec![format!("v{i}")],
            output: vec![format!("v{}", i + 1)],
            ..Default::default()
        };
        proto::ModelProto {
            ir_version: Some(8),
            producer_name: Some("test".into()),
            graph: Some(proto::GraphProto {
                name: Some("g".into()),
                node: (0..nodes).map(node).collect(),
                doc_string: Some("doc".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Split and put back together, the model is the one prost decodes whole.
    #[test]
    fn split_then_joined_equals_whole_decode() {
        let m = model(5);
        let bytes = Bytes::from(m.encode_to_vec());
        let split = decode(bytes.clone()).unwrap();
        let mut joined = split.model;
        let g = joined.graph.as_mut().unwrap();
        assert!(g.node.is_empty());
        g.node = (0..split.nodes.len())
            .map(|i| proto::NodeProto::decode(split.nodes.get(i)).unwrap())
            .collect();
        assert_eq!(joined, proto::ModelProto::decode(bytes).unwrap());
    }

    /// Every truncation of a valid model is an error or a model, never a panic.
    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = model(3).encode_to_vec();
        for cut in 0..bytes.len() {
            let _ = decode(Bytes::copy_from_slice(&bytes[..cut]));
        }
        let mut bad = bytes.clone();
        bad.extend_from_slice(&[0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(Bytes::from(bad)).is_err());
    }
}
