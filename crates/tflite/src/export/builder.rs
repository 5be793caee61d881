//! The export state: one flatbuffers builder, the TFLite tensors, buffers, operator codes
//! and operators made so far, and which IR value each tensor stands for.
//!
//! Tensor data goes into the flatbuffer 16-byte aligned, or, for models past the 2 GB
//! flatbuffer limit, after it (Buffer.offset/size); see [`super::file`].

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, UnionWIPOffset, WIPOffset};
use modelc_ir::{DType, Dim, Graph, Op, Tensor, ValueRef};

use crate::dtype::to_tflite;
use crate::fb::{self, BuiltinOperator, BuiltinOptions};
use crate::import::Quant;
use crate::TfliteError;

/// A byte that the flatbuffers builder aligns to 16 (Buffer.data is `force_align: 16`, and
/// LiteRT maps weights in place).
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Aligned16(u8);

// SAFETY: `push` writes the one byte `size()` promises into the slot the builder gives it.
#[allow(unsafe_code)] // Push::push is an unsafe fn
impl Push for Aligned16 {
    type Output = u8;
    unsafe fn push(&self, dst: &mut [u8], _written_len: usize) {
        dst[0] = self.0;
    }
    fn size() -> usize {
        1
    }
    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

/// A byte vector whose data starts 16-byte aligned in the finished buffer.
#[allow(unsafe_code)] // reinterprets &[u8] as &[Aligned16]; see the SAFETY note
pub(crate) fn aligned_bytes(
    fbb: &mut FlatBufferBuilder<'static>,
    data: &[u8],
) -> WIPOffset<flatbuffers::Vector<'static, u8>> {
    // SAFETY: Aligned16 is a repr(transparent) u8, so the slices have the same layout.
    let items: &[Aligned16] =
        unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), data.len()) };
    WIPOffset::new(fbb.create_vector(items).value())
}

/// Where a buffer's bytes go.
pub(crate) enum BufferData {
    Empty,
    /// A vector built inside the flatbuffer (small buffers: metadata).
    Inline(WIPOffset<flatbuffers::Vector<'static, u8>>),
    /// A `data` vector placed after the flatbuffer's tables and streamed from the IR's bytes
    /// when the file is written (see `file::append_data`): the weights are never copied into
    /// the builder, so a conversion holds one copy of them, not two.
    Appended(Bytes),
    /// Appended after the flatbuffer: (offset relative to the data section, bytes).
    External(u64, Bytes),
}

/// One per tensor of the file (a node-heavy graph has one per node): the name and shape are
/// boxed slices (16 bytes each, a `Vec` or `String` takes 24) and tensors of one shape share
/// it (see [`Builder::add_tensor`]).
pub(crate) struct TensorOut {
    pub name: Box<str>,
    pub dtype: DType,
    pub shape: Arc<[i64]>,
    pub buffer: u32,
    /// Boxed, as `sparsity` is: most tensors have neither, and a graph of 200,000 float
    /// tensors would otherwise carry 110 empty bytes in each record.
    pub quant: Option<Box<Quant>>,
    /// State a stateful op (LSTM) reads and updates in place between invocations.
    pub is_variable: bool,
    /// A constant stored in `SparsityParameters` form (the buffer holds the stored values).
    pub sparsity: Option<Box<super::sparse::Layout>>,
}

/// An operator waiting to be written. Its tensor indices are not a `Vec` of its own: a graph of
/// 200,000 operators held 400,000 small allocations (and 48 bytes of `Vec` headers per
/// operator) until the file was finished; they are a range of the subgraph's `op_io`.
pub(crate) struct OperatorOut {
    pub opcode: u32,
    /// Where this operator's input then output tensor indices start in `op_io` (4 bytes: a
    /// file has fewer than 2^32 of them, since a flatbuffer holds at most 2 GB).
    pub io_start: u32,
    pub n_inputs: u32,
    /// (The outputs run to the next operator's `io_start`, see [`OperatorOut::io`].)
    pub options_type: BuiltinOptions,
    pub options: Option<WIPOffset<UnionWIPOffset>>,
    /// Boxed: only custom operators have them.
    pub custom_options: Option<Box<Bytes>>,
}

impl OperatorOut {
    /// This operator's input and output tensor indices, given the operators' `op_io` and the
    /// operator after it (`None` for the last).
    pub fn io<'a>(&self, op_io: &'a [i32], next: Option<&OperatorOut>) -> (&'a [i32], &'a [i32]) {
        let start = self.io_start as usize;
        let end = next.map_or(op_io.len(), |n| n.io_start as usize);
        op_io[start..end].split_at(self.n_inputs as usize)
    }
}

/// A finished nested subgraph (an IF branch, a WHILE condition or body): its tensors and
/// operators, and which tensors are its inputs and outputs.
pub(crate) struct SubgraphOut {
    pub name: String,
    pub tensors: Vec<TensorOut>,
    pub operators: Vec<OperatorOut>,
    /// The operators' input and output tensor indices (see [`OperatorOut::io_start`]).
    pub op_io: Vec<i32>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
}

/// What [`super::file::finish`] makes the file of: a finished [`Builder`]'s flatbuffer so far
/// (operator options), tensors, buffers, operator codes and operators, owning everything
/// they need (names, shapes, shared weight bytes) and borrowing nothing from the graph.
pub(crate) struct Records {
    pub fbb: FlatBufferBuilder<'static>,
    pub tensors: Vec<TensorOut>,
    pub buffers: Vec<BufferData>,
    pub opcodes: Vec<(BuiltinOperator, Option<String>, i32)>,
    pub operators: Vec<OperatorOut>,
    pub op_io: Vec<i32>,
    pub subgraphs: Vec<SubgraphOut>,
}

/// IR value → TFLite tensor index. First outputs (nearly every value) are a `Vec` indexed by
/// node index, 4 bytes each; the other slots a map. A `HashMap<ValueRef, usize>` took about
/// 50 bytes per value (9.8 MB for a 200,000-node graph) at the moment the writer peaks.
#[derive(Default)]
pub(crate) struct ValueMap {
    first: Vec<u32>,
    other: HashMap<ValueRef, usize>,
}

impl ValueMap {
    const NONE: u32 = u32::MAX;

    /// A map with room for the first outputs of `nodes` nodes (grown by doubling, the index
    /// vector could hold twice the graph's).
    pub fn for_nodes(nodes: usize) -> ValueMap {
        ValueMap {
            first: Vec::with_capacity(nodes),
            other: HashMap::new(),
        }
    }

    pub fn get(&self, v: ValueRef) -> Option<usize> {
        if v.slot == 0 {
            match self.first.get(v.node.index()) {
                Some(&t) if t != Self::NONE => Some(t as usize),
                _ => None,
            }
        } else {
            self.other.get(&v).copied()
        }
    }

    pub fn contains_key(&self, v: ValueRef) -> bool {
        self.get(v).is_some()
    }

    pub fn insert(&mut self, v: ValueRef, tensor: usize) {
        match u32::try_from(tensor) {
            Ok(t) if v.slot == 0 && t != Self::NONE => {
                let i = v.node.index();
                if self.first.len() <= i {
                    self.first.resize(i + 1, Self::NONE);
                }
                self.first[i] = t;
            }
            _ => {
                self.other.insert(v, tensor);
            }
        }
    }
}

/// The per-subgraph state of the enclosing subgraph while a nested one is built.
pub(crate) struct Enclosing<'g> {
    g: &'g Graph,
    tensors: Vec<TensorOut>,
    operators: Vec<OperatorOut>,
    op_io: Vec<i32>,
    map: ValueMap,
    alias: HashMap<ValueRef, ValueRef>,
    outer_consts: HashMap<ValueRef, &'g Tensor>,
    transposed_weights: HashMap<(Option<ValueRef>, Option<ValueRef>, bool), usize>,
}

pub(crate) struct Builder<'g> {
    pub fbb: FlatBufferBuilder<'static>,
    pub g: &'g Graph,
    pub tensors: Vec<TensorOut>,
    pub buffers: Vec<BufferData>,
    /// (builtin code, custom code, version) → index.
    opcodes: Vec<(BuiltinOperator, Option<String>, i32)>,
    pub operators: Vec<OperatorOut>,
    /// The current subgraph's operators' input and output tensor indices.
    pub op_io: Vec<i32>,
    /// IR value → TFLite tensor.
    pub map: ValueMap,
    /// Values that stand for others (Identity, absorbed activations): value → source.
    pub alias: HashMap<ValueRef, ValueRef>,
    /// FULLY_CONNECTED weights made by transposing a constant: (constant, dequantization
    /// scale, quantized op) → tensor, so a weight shared by several layers is stored once.
    pub transposed_weights: HashMap<(Option<ValueRef>, Option<ValueRef>, bool), usize>,
    /// In a nested subgraph: outer-scope values that are constants of an enclosing graph
    /// (made constants of this subgraph, so kernels that need constant operands get them).
    pub outer_consts: HashMap<ValueRef, &'g Tensor>,
    /// Nested subgraphs finished so far; the file's subgraph `i + 1` is `subgraphs[i]`.
    pub subgraphs: Vec<SubgraphOut>,
    /// Store float FULLY_CONNECTED weights with enough zeros sparse (`WriteOptions`).
    pub sparse_weights: bool,
    /// Data past this many bytes goes after the flatbuffer.
    external: bool,
    external_len: u64,
}

impl<'g> Builder<'g> {
    /// `external`: buffers go after the flatbuffer in the offset/size form (models over
    /// 2 GB); otherwise as `data` vectors appended after the tables. Either way the builder
    /// holds only tables, never weights.
    pub fn new(g: &'g Graph, external: bool) -> Builder<'g> {
        let mut fbb = FlatBufferBuilder::with_capacity(1 << 20);
        // Offsets and sizes of external buffers must be present even when 0-valued.
        fbb.force_defaults(false);
        Builder {
            fbb,
            g,
            // About one tensor and one operator per node: reserved once rather than grown by
            // doubling (a 200,000-node graph would otherwise hold up to twice the records).
            tensors: Vec::with_capacity(g.node_count()),
            buffers: vec![BufferData::Empty],
            opcodes: Vec::new(),
            operators: Vec::with_capacity(g.node_count()),
            // (A unary operator's input and output.)
            op_io: Vec::with_capacity(2 * g.node_count()),
            map: ValueMap::for_nodes(g.node_count()),
            alias: HashMap::new(),
            transposed_weights: HashMap::new(),
            outer_consts: HashMap::new(),
            subgraphs: Vec::new(),
            sparse_weights: false,
            external,
            external_len: 0,
        }
    }

    /// Starts building nested subgraph `g`: the tensors, operators and value map become
    /// empty ones of its own (buffers and operator codes stay shared by the whole file).
    pub fn enter(&mut self, g: &'g Graph) -> Enclosing<'g> {
        Enclosing {
            g: std::mem::replace(&mut self.g, g),
            tensors: std::mem::take(&mut self.tensors),
            operators: std::mem::take(&mut self.operators),
            op_io: std::mem::take(&mut self.op_io),
            map: std::mem::take(&mut self.map),
            alias: std::mem::take(&mut self.alias),
            outer_consts: std::mem::take(&mut self.outer_consts),
            // (Tensor indices are per subgraph.)
            transposed_weights: std::mem::take(&mut self.transposed_weights),
        }
    }

    /// Finishes the nested subgraph begun by [`Builder::enter`] with these input and output
    /// tensors, returns to the enclosing one and gives the new subgraph's index in the file.
    pub fn leave(
        &mut self,
        enclosing: Enclosing<'g>,
        name: String,
        inputs: &[usize],
        outputs: &[usize],
    ) -> i32 {
        self.g = enclosing.g;
        self.map = enclosing.map;
        self.alias = enclosing.alias;
        self.outer_consts = enclosing.outer_consts;
        self.transposed_weights = enclosing.transposed_weights;
        self.subgraphs.push(SubgraphOut {
            name,
            tensors: std::mem::replace(&mut self.tensors, enclosing.tensors),
            operators: std::mem::replace(&mut self.operators, enclosing.operators),
            op_io: std::mem::replace(&mut self.op_io, enclosing.op_io),
            inputs: inputs.iter().map(|&t| t as i32).collect(),
            outputs: outputs.iter().map(|&t| t as i32).collect(),
        });
        self.subgraphs.len() as i32
    }

    /// Follows aliases to the value that really holds the data.
    pub fn resolve(&self, mut v: ValueRef) -> ValueRef {
        while let Some(&s) = self.alias.get(&v) {
            v = s;
        }
        v
    }

    pub fn value_name(&self, v: ValueRef) -> String {
        self.g
            .value(v)
            .map(|x| x.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("t{}_{}", v.node.index(), v.slot))
    }

    /// The static shape of a value: known dimensions, -1 for the others.
    pub fn shape_of(&self, v: ValueRef) -> Option<Vec<i64>> {
        let s = self.g.shape_of(v)?;
        Some(
            s.0.iter()
                .map(|d| match d {
                    Dim::Known(n) => *n as i64,
                    _ => -1,
                })
                .collect(),
        )
    }

    pub fn dtype_of(&self, v: ValueRef) -> Option<DType> {
        match &self.g.node(v.node).op {
            Op::Const(t) => return Some(t.dtype),
            Op::Outer => {
                if let Some(t) = self.outer_consts.get(&v) {
                    return Some(t.dtype);
                }
            }
            _ => {}
        }
        self.g.dtype_of(v)
    }

    /// The constant a value is (through aliases), if any.
    pub fn const_of(&self, v: ValueRef) -> Option<&'g Tensor> {
        let v = self.resolve(v);
        match &self.g.node(v.node).op {
            Op::Const(t) => Some(t),
            Op::Outer => self.outer_consts.get(&v).copied(),
            _ => None,
        }
    }

    /// The integer contents of a constant value.
    pub fn const_ints(&self, v: ValueRef) -> Option<Vec<i64>> {
        let t = self.const_of(v)?;
        let raw = t.raw()?;
        Some(match t.dtype {
            DType::I64 => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            DType::I32 => raw
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
            _ => return None,
        })
    }

    /// The float contents of a small f32 constant (scales, clip bounds).
    pub fn const_floats(&self, v: ValueRef) -> Option<Vec<f32>> {
        let t = self.const_of(v)?;
        if t.dtype != DType::F32 {
            return None;
        }
        Some(
            t.raw()?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        )
    }

    pub fn add_buffer(&mut self, data: &Bytes) -> u32 {
        if data.is_empty() {
            return 0;
        }
        let entry = if self.external {
            let off = self.external_len.next_multiple_of(16);
            self.external_len = off + data.len() as u64;
            BufferData::External(off, data.clone())
        } else {
            BufferData::Appended(data.clone())
        };
        self.buffers.push(entry);
        (self.buffers.len() - 1) as u32
    }

    /// Adds a tensor; `data` makes it a constant.
    pub fn add_tensor(
        &mut self,
        name: String,
        dtype: DType,
        shape: Vec<i64>,
        data: Option<&Bytes>,
        quant: Option<Quant>,
    ) -> Result<usize, TfliteError> {
        if to_tflite(dtype).is_none() {
            return Err(TfliteError::Unsupported(format!(
                "tensor `{name}` has element type {dtype}, which TFLite does not have"
            )));
        }
        // TFLite shapes are int32; -1 marks an unknown size.
        if shape.iter().any(|&d| !(-1..=i32::MAX as i64).contains(&d)) {
            return Err(TfliteError::Unsupported(format!(
                "tensor `{name}` has shape {shape:?}, beyond TFLite's int32 sizes"
            )));
        }
        // A buffer without bytes means "no data": LiteRT would read an empty constant as a
        // run-time tensor nothing writes ("Input tensor N lacks data").
        if data.is_some_and(|d| d.is_empty()) {
            return Err(TfliteError::Unsupported(format!(
                "tensor `{name}` is an empty constant, which TFLite cannot hold"
            )));
        }
        let buffer = match data {
            Some(d) => self.add_buffer(d),
            None => 0,
        };
        // Consecutive tensors often have one shape (every tensor of an elementwise chain).
        let shape = match self.tensors.last() {
            Some(last) if *last.shape == *shape => last.shape.clone(),
            _ => Arc::from(shape),
        };
        self.tensors.push(TensorOut {
            name: name.into_boxed_str(),
            dtype,
            shape,
            buffer,
            quant: quant.map(Box::new),
            is_variable: false,
            sparsity: None,
        });
        Ok(self.tensors.len() - 1)
    }

    /// A variable tensor (no data; the runtime zeroes it and the op keeps its state there).
    pub fn variable_tensor(
        &mut self,
        name: String,
        dtype: DType,
        shape: Vec<i64>,
    ) -> Result<usize, TfliteError> {
        let t = self.add_tensor(name, dtype, shape, None, None)?;
        self.tensors[t].is_variable = true;
        Ok(t)
    }

    /// A constant tensor of `t`'s contents.
    pub fn const_tensor(
        &mut self,
        name: String,
        t: &Tensor,
        quant: Option<Quant>,
    ) -> Result<usize, TfliteError> {
        let raw = match t.raw() {
            Some(r) => r.clone(),
            None => encode_strings(t),
        };
        let shape = t.dims.iter().map(|&d| d as i64).collect();
        self.add_tensor(name, t.dtype, shape, Some(&raw), quant)
    }

    pub fn const_i32(
        &mut self,
        name: &str,
        vals: &[i32],
        shape: Vec<i64>,
    ) -> Result<usize, TfliteError> {
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let name = format!("{name}_{}", self.tensors.len());
        self.add_tensor(name, DType::I32, shape, Some(&Bytes::from(bytes)), None)
    }

    pub fn const_f32(
        &mut self,
        name: &str,
        vals: &[f32],
        shape: Vec<i64>,
    ) -> Result<usize, TfliteError> {
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let name = format!("{name}_{}", self.tensors.len());
        self.add_tensor(name, DType::F32, shape, Some(&Bytes::from(bytes)), None)
    }

    /// A fresh non-constant tensor for value `v` (its name, type and shape).
    pub fn value_tensor(
        &mut self,
        v: ValueRef,
        quant: Option<Quant>,
    ) -> Result<usize, TfliteError> {
        let dtype = self.dtype_of(v).ok_or_else(|| {
            TfliteError::Unsupported(format!(
                "the element type of `{}` is unknown",
                self.value_name(v)
            ))
        })?;
        let shape = self.shape_of(v).ok_or_else(|| {
            TfliteError::Unsupported(format!("the shape of `{}` is unknown", self.value_name(v)))
        })?;
        let name = self.value_name(v);
        let t = self.add_tensor(name, dtype, shape, None, quant)?;
        self.map.insert(v, t);
        Ok(t)
    }

    pub fn opcode(&mut self, code: BuiltinOperator, custom: Option<String>, version: i32) -> u32 {
        if let Some(i) = self
            .opcodes
            .iter()
            .position(|(c, cc, v)| *c == code && *cc == custom && *v == version)
        {
            return i as u32;
        }
        self.opcodes.push((code, custom, version));
        (self.opcodes.len() - 1) as u32
    }

    /// Appends an operator.
    pub fn emit(
        &mut self,
        code: BuiltinOperator,
        version: i32,
        inputs: &[Option<usize>],
        outputs: &[usize],
        options: Option<(BuiltinOptions, WIPOffset<UnionWIPOffset>)>,
    ) {
        let opcode = self.opcode(code, None, version);
        let (options_type, options) = match options {
            Some((t, o)) => (t, Some(o)),
            None => (BuiltinOptions::NONE, None),
        };
        self.push_operator(opcode, inputs, outputs, options_type, options, None);
    }

    pub fn emit_custom(
        &mut self,
        code: BuiltinOperator,
        custom: Option<String>,
        version: i32,
        inputs: &[Option<usize>],
        outputs: &[usize],
        custom_options: Option<Bytes>,
    ) {
        let opcode = self.opcode(code, custom, version);
        self.push_operator(
            opcode,
            inputs,
            outputs,
            BuiltinOptions::NONE,
            None,
            custom_options.map(Box::new),
        );
    }

    fn push_operator(
        &mut self,
        opcode: u32,
        inputs: &[Option<usize>],
        outputs: &[usize],
        options_type: BuiltinOptions,
        options: Option<WIPOffset<UnionWIPOffset>>,
        custom_options: Option<Box<Bytes>>,
    ) {
        let io_start =
            u32::try_from(self.op_io.len()).expect("fewer than 2^32 operator tensor indices");
        self.op_io
            .extend(inputs.iter().map(|t| t.map_or(-1, |t| t as i32)));
        self.op_io.extend(outputs.iter().map(|&t| t as i32));
        self.operators.push(OperatorOut {
            opcode,
            io_start,
            n_inputs: inputs.len() as u32,
            options_type,
            options,
            custom_options,
        });
    }

    /// The records the file is made of, without the graph they were lowered from (so the
    /// caller can free the graph before the flatbuffer's tables are built).
    pub fn into_records(self) -> Records {
        Records {
            fbb: self.fbb,
            tensors: self.tensors,
            buffers: self.buffers,
            opcodes: self.opcodes,
            operators: self.operators,
            op_io: self.op_io,
            subgraphs: self.subgraphs,
        }
    }
}

/// TFLite's string tensor encoding: count, count + 1 offsets, then the bytes.
fn encode_strings(t: &Tensor) -> Bytes {
    let modelc_ir::TensorData::Strings(items) = &t.data else {
        return Bytes::new();
    };
    let header = 4 * (items.len() + 2);
    let mut out = Vec::with_capacity(header + items.iter().map(|s| s.len()).sum::<usize>());
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    let mut off = header;
    for s in items {
        out.extend_from_slice(&(off as u32).to_le_bytes());
        off += s.len();
    }
    out.extend_from_slice(&(off as u32).to_le_bytes());
    for s in items {
        out.extend_from_slice(s);
    }
    Bytes::from(out)
}

/// The TFLite tensor type of `d` (callers checked it exists).
pub(crate) fn tensor_type(d: DType) -> fb::TensorType {
    to_tflite(d).unwrap_or(fb::TensorType::FLOAT32)
}
