//! Writing a model file: the proto is streamed to a temporary file beside the target (no
//! second in-memory copy of the weights) and renamed into place only when complete; large
//! tensors can go to an external-data file, which ONNX needs past protobuf's 2 GB limit.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::buf::UninitSlice;
use bytes::BufMut;
use prost::Message;

use crate::proto::{self, tensor_proto::DataLocation};
use crate::OnnxError;

/// Where tensor data goes when writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExternalData {
    /// In the model file, unless the tensors add up to more than protobuf allows in one
    /// message (2 GB); then as for `Always`.
    #[default]
    Auto,
    /// Always in the model file (fails for models over 2 GB).
    Never,
    /// Tensors of at least [`WriteOptions::external_threshold`] bytes in `<model file>.data`.
    Always,
}

#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub external_data: ExternalData,
    /// Smallest tensor (in bytes) moved to the external file.
    pub external_threshold: usize,
    /// A model with NHWC ops (imported from TFLite) is moved to NCHW; with this set its inputs
    /// and outputs stay channels-last, a Transpose at each, instead of becoming NCHW.
    pub keep_io_layout: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            external_data: ExternalData::Auto,
            external_threshold: 1024,
            keep_io_layout: false,
        }
    }
}

/// Protobuf messages cannot exceed 2 GiB; leave room for the graph structure.
const INLINE_LIMIT: u64 = (1 << 31) - (64 << 20);

/// Alignment of tensors in the external file, so readers can map them directly.
const EXTERNAL_ALIGN: u64 = 4096;

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> OnnxError + '_ {
    move |source| OnnxError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The main graph's nodes as the writer holds them until the file is written: each encoded
/// as soon as the exporter makes it (tens of bytes for a typical node, where the `NodeProto`
/// and its strings take hundreds), except the nodes whose attributes hold tensors or graphs,
/// which stay protos so their tensor data can still move to the external-data file.
#[derive(Default)]
pub(crate) struct MainNodes(Vec<MainNode>);

enum MainNode {
    Encoded(Box<[u8]>),
    Proto(Box<proto::NodeProto>),
}

impl crate::export::NodeSink for MainNodes {
    fn reserve(&mut self, additional: usize) {
        self.0.reserve_exact(additional);
    }

    fn push(&mut self, node: proto::NodeProto) {
        let holds_data = node.attribute.iter().any(|a| {
            a.t.is_some() || !a.tensors.is_empty() || a.g.is_some() || !a.graphs.is_empty()
        });
        self.0.push(if holds_data {
            MainNode::Proto(Box::new(node))
        } else {
            MainNode::Encoded(node.encode_to_vec().into_boxed_slice())
        });
    }
}

impl MainNodes {
    /// Bytes of the nodes as `GraphProto.node` fields (tag 1).
    fn encoded_len(&self) -> usize {
        use prost::encoding::{encoded_len_varint, key_len, message};
        self.0
            .iter()
            .map(|n| match n {
                MainNode::Encoded(b) => key_len(1) + encoded_len_varint(b.len() as u64) + b.len(),
                MainNode::Proto(p) => message::encoded_len(1, p.as_ref()),
            })
            .sum()
    }

    fn encode(&self, buf: &mut impl BufMut) {
        use prost::encoding::{encode_key, encode_varint, message, WireType};
        for n in &self.0 {
            match n {
                MainNode::Encoded(b) => {
                    encode_key(1, WireType::LengthDelimited, buf);
                    encode_varint(b.len() as u64, buf);
                    buf.put_slice(b);
                }
                MainNode::Proto(p) => message::encode(1, p.as_ref(), buf),
            }
        }
    }

    fn protos_mut(&mut self) -> impl Iterator<Item = &mut proto::NodeProto> {
        self.0.iter_mut().filter_map(|n| match n {
            MainNode::Proto(p) => Some(p.as_mut()),
            MainNode::Encoded(_) => None,
        })
    }
}

/// Encodes `mp` with `nodes` as its main graph's nodes: `ModelProto.graph` (field 7) is
/// written by hand, the nodes first, then the rest of the graph (protobuf readers accept
/// fields in any order; repeated fields keep theirs).
fn encode_model(mp: &mut proto::ModelProto, nodes: &MainNodes, buf: &mut impl BufMut) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let graph = mp.graph.take();
    mp.encode_raw(buf);
    if let Some(gp) = &graph {
        encode_key(7, WireType::LengthDelimited, buf);
        encode_varint((nodes.encoded_len() + gp.encoded_len()) as u64, buf);
        nodes.encode(buf);
        gp.encode_raw(buf);
    }
    mp.graph = graph;
}

/// Writes `mp`, with `nodes` as its main graph's nodes, to `path` atomically (temporary
/// file, then rename).
pub(crate) fn write_proto(
    mut mp: proto::ModelProto,
    mut nodes: MainNodes,
    path: &Path,
    opts: &WriteOptions,
) -> Result<(), OnnxError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let total: u64 = tensors_mut(&mut mp, &mut nodes)
        .iter()
        .map(|t| t.raw_data.as_ref().map_or(0, |b| b.len() as u64))
        .sum();
    let external = match opts.external_data {
        ExternalData::Never => false,
        ExternalData::Always => true,
        ExternalData::Auto => total > INLINE_LIMIT,
    };
    let mut data_file = None;
    if external {
        let file_name = path.file_name().ok_or_else(|| {
            OnnxError::Unsupported(format!("`{}` is not a file path", path.display()))
        })?;
        let location = format!("{}.data", file_name.to_string_lossy());
        let data_path = dir.join(&location);
        let tmp = temp_file(&dir).map_err(write_err(&data_path))?;
        let mut out = BufWriter::with_capacity(1 << 20, tmp);
        let mut offset = 0u64;
        for t in tensors_mut(&mut mp, &mut nodes) {
            let Some(raw) = t.raw_data.as_ref() else {
                continue;
            };
            if raw.len() < opts.external_threshold {
                continue;
            }
            let pad = offset.next_multiple_of(EXTERNAL_ALIGN) - offset;
            out.write_all(&vec![0u8; pad as usize])
                .map_err(write_err(&data_path))?;
            offset += pad;
            out.write_all(raw).map_err(write_err(&data_path))?;
            let entry = |k: &str, v: String| proto::StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v),
            };
            t.external_data = vec![
                entry("location", location.clone()),
                entry("offset", offset.to_string()),
                entry("length", raw.len().to_string()),
            ];
            offset += raw.len() as u64;
            t.raw_data = None;
            t.data_location = Some(DataLocation::External as i32);
        }
        let tmp = out
            .into_inner()
            .map_err(|e| write_err(&data_path)(e.into_error()))?;
        data_file = Some((tmp, data_path));
    } else if total > INLINE_LIMIT {
        return Err(OnnxError::Unsupported(format!(
            "tensors hold {total} bytes, more than one protobuf file can; write them as external data"
        )));
    }

    let tmp = temp_file(&dir).map_err(write_err(path))?;
    let mut stream = StreamBuf::new(BufWriter::with_capacity(1 << 20, tmp));
    encode_model(&mut mp, &nodes, &mut stream);
    let tmp = stream.finish().map_err(write_err(path))?;
    if let Some((data_tmp, data_path)) = data_file {
        data_tmp
            .as_file()
            .sync_data()
            .map_err(write_err(&data_path))?;
        data_tmp
            .persist(&data_path)
            .map_err(|e| write_err(&data_path)(e.error))?;
    }
    tmp.persist(path).map_err(|e| write_err(path)(e.error))?;
    Ok(())
}

/// A hidden temporary file in `dir`, readable like any file the user creates (tempfile's
/// default of 0600 would survive the rename).
fn temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(".modelc-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
}

/// Every tensor of the model whose data can move to an external file: initializers of all
/// graphs (including sub-graphs) and tensor attributes.
fn tensors_mut<'a>(
    mp: &'a mut proto::ModelProto,
    nodes: &'a mut MainNodes,
) -> Vec<&'a mut proto::TensorProto> {
    fn graph<'a>(g: &'a mut proto::GraphProto, out: &mut Vec<&'a mut proto::TensorProto>) {
        out.extend(g.initializer.iter_mut());
        for s in &mut g.sparse_initializer {
            out.extend(s.values.as_mut());
        }
        for n in &mut g.node {
            nodes_attrs(&mut n.attribute, out);
        }
    }
    fn nodes_attrs<'a>(
        attrs: &'a mut [proto::AttributeProto],
        out: &mut Vec<&'a mut proto::TensorProto>,
    ) {
        for a in attrs {
            out.extend(a.t.as_mut());
            out.extend(a.tensors.iter_mut());
            if let Some(g) = a.g.as_mut() {
                graph(g, out);
            }
            for g in &mut a.graphs {
                graph(g, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(g) = mp.graph.as_mut() {
        graph(g, &mut out);
    }
    for n in nodes.protos_mut() {
        nodes_attrs(&mut n.attribute, &mut out);
    }
    for f in &mut mp.functions {
        for n in &mut f.node {
            nodes_attrs(&mut n.attribute, &mut out);
        }
    }
    out
}

/// A `BufMut` that streams to a writer through a fixed buffer, so encoding a model never
/// holds the whole file in memory. I/O errors are kept and reported by [`StreamBuf::finish`].
struct StreamBuf<W: Write> {
    out: W,
    buf: Vec<u8>,
    error: Option<std::io::Error>,
}

const STREAM_BUF: usize = 1 << 16;

impl<W: Write> StreamBuf<W> {
    fn new(out: W) -> Self {
        StreamBuf {
            out,
            buf: Vec::with_capacity(STREAM_BUF),
            error: None,
        }
    }

    fn flush_buf(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.error = Some(e);
            }
        }
        self.buf.clear();
    }

    fn finish(mut self) -> std::io::Result<W::Inner>
    where
        W: IntoInner,
    {
        self.flush_buf();
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.into_inner_checked()
    }
}

/// A buffered writer that can be unwrapped after a final flush.
trait IntoInner {
    type Inner;
    fn into_inner_checked(self) -> std::io::Result<Self::Inner>;
}

impl<T: Write> IntoInner for BufWriter<T> {
    type Inner = T;
    fn into_inner_checked(self) -> std::io::Result<T> {
        self.into_inner().map_err(|e| e.into_error())
    }
}

// SAFETY: `chunk_mut` hands out the buffer's spare capacity, and `advance_mut` only extends
// the length over bytes the caller has initialized, as the trait requires.
#[allow(unsafe_code)] // BufMut is an unsafe trait
unsafe impl<W: Write> BufMut for StreamBuf<W> {
    fn remaining_mut(&self) -> usize {
        usize::MAX - self.buf.len()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let len = self.buf.len() + cnt;
        assert!(len <= self.buf.capacity(), "advance past the chunk");
        self.buf.set_len(len);
        if self.buf.len() == self.buf.capacity() {
            self.flush_buf();
        }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.buf.len() == self.buf.capacity() {
            self.flush_buf();
        }
        UninitSlice::uninit(self.buf.spare_capacity_mut())
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= STREAM_BUF {
            // Large tensor data goes straight to the writer.
            self.flush_buf();
            if self.error.is_none() {
                if let Err(e) = self.out.write_all(src) {
                    self.error = Some(e);
                }
            }
        } else {
            if self.buf.len() + src.len() > self.buf.capacity() {
                self.flush_buf();
            }
            self.buf.extend_from_slice(src);
        }
    }
}
