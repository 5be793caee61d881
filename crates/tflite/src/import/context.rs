//! The import state: the graph under construction, what each TFLite tensor became in it,
//! and the helpers every operator translation uses (constants, QDQ, fused activations).

use bytes::Bytes;
use flatbuffers::{ForwardsUOffset, Vector};
use modelc_ir::{
    Attr, Builder, DType, Dim, Graph, Layout, Names, NodeId, OnnxOp, Op, Shape, Tensor, TensorType,
    TypeInfo, Value, ValueRef, ValueType,
};

use crate::dtype::from_tflite;
use crate::fb::{self, ActivationFunctionType, BuiltinOperator};
use crate::TfliteError;

/// Affine quantization of a tensor: `real = scale * (q - zero_point)`, per tensor (one
/// scale) or per channel along `axis`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: usize,
}

/// What the importer knows about one TFLite tensor.
pub(crate) struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    /// Shape with -1 for dimensions unknown until run time (`shape_signature` when given).
    pub shape: Vec<i64>,
    pub has_shape: bool,
    pub quant: Option<Quant>,
    /// The constant data, for tensors with a non-empty buffer (and the initial zeros of a
    /// variable tensor until an operator writes it).
    pub data: Option<Bytes>,
    /// A variable (state) tensor: TFLite allocates it zero-filled (`data` holds the zeros
    /// when its size is static), and operators may write it after it is read.
    pub is_variable: bool,
}

/// One operator, decoded: its code, tensor indices (`None` = omitted optional input) and
/// the flatbuffer table for its options.
pub(crate) struct OpIn<'a> {
    pub index: usize,
    pub code: BuiltinOperator,
    pub custom_code: Option<String>,
    pub version: i32,
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
    pub raw: fb::Operator<'a>,
}

impl OpIn<'_> {
    /// `CONV_2D #3` or the custom code: how messages name an operator.
    pub fn label(&self) -> String {
        match &self.custom_code {
            Some(c) => format!("custom op `{c}` #{}", self.index),
            None => format!(
                "{} #{}",
                self.code.variant_name().unwrap_or("builtin"),
                self.index
            ),
        }
    }

    /// Word `i` of a custom operator's options read as a C struct of little-endian int32s
    /// (MediaPipe's ops store TfLitePoolParams / TfLiteTransposeConvParams that way);
    /// `expected` says the struct's size in the error when the options are too short.
    pub fn custom_i32(&self, i: usize, expected: &str) -> Result<i32, TfliteError> {
        let opts = self
            .raw
            .custom_options()
            .map(|o| o.bytes())
            .unwrap_or_default();
        opts.get(4 * i..4 * i + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_le_bytes)
            .ok_or_else(|| {
                TfliteError::invalid(
                    self.label(),
                    format!(
                        "custom options are {} bytes, expected {expected}",
                        opts.len()
                    ),
                )
            })
    }

    /// The TfLitePadding word `i` of such options: 1 = SAME, 2 = VALID.
    pub fn custom_padding(&self, i: usize, expected: &str) -> Result<fb::Padding, TfliteError> {
        match self.custom_i32(i, expected)? {
            1 => Ok(fb::Padding::SAME),
            2 => Ok(fb::Padding::VALID),
            p => Err(TfliteError::invalid(
                self.label(),
                format!("padding {p} (expected 1 = SAME or 2 = VALID)"),
            )),
        }
    }
}

pub(crate) struct Ctx<'a> {
    g: Graph,
    model: fb::Model<'a>,
    /// How many IF / WHILE subgraphs enclose this one (bounded: subgraph indices may loop).
    depth: usize,
    file: &'a Bytes,
    op_codes: Vec<(BuiltinOperator, Option<String>, i32)>,
    tensors: Vec<TensorInfo>,
    /// The float (dequantized) value each tensor stands for in the IR, once made.
    views: Vec<Option<ValueRef>>,
    /// For quantized tensors: the value holding the integers (QuantizeLinear output or the
    /// quantized input / constant).
    raws: Vec<Option<ValueRef>>,
    names: Names,
    /// Name for the nodes made for the current operator.
    node_name: String,
    nodes_for_op: usize,
    used_custom: bool,
}

/// The bytes of buffer `index`: a slice of the file (inline data or the >2 GB
/// offset/size form), `None` when the buffer is empty.
pub(crate) fn buffer_bytes(
    buffers: Option<Vector<'_, ForwardsUOffset<fb::Buffer<'_>>>>,
    index: usize,
    file: &Bytes,
) -> Result<Option<Bytes>, String> {
    let Some(buffers) = buffers else {
        return if index == 0 {
            Ok(None)
        } else {
            Err(format!("buffer {index} is missing (the model has none)"))
        };
    };
    if index >= buffers.len() {
        return Err(format!(
            "buffer {index} is missing (the model has {})",
            buffers.len()
        ));
    }
    let b = buffers.get(index);
    if b.offset() > 1 {
        let (off, size) = (b.offset(), b.size());
        let end = off
            .checked_add(size)
            .filter(|&e| e <= file.len() as u64)
            .ok_or_else(|| {
                format!(
                    "buffer {index} at offset {off} size {size} lies outside the {}-byte file",
                    file.len()
                )
            })?;
        return Ok(Some(file.slice(off as usize..end as usize)));
    }
    match b.data() {
        Some(d) if !d.is_empty() => {
            let bytes = d.bytes();
            // The vector lies inside the verified file; share the file's bytes.
            let start = bytes.as_ptr() as usize - file.as_ptr() as usize;
            Ok(Some(file.slice(start..start + bytes.len())))
        }
        _ => Ok(None),
    }
}

impl<'a> Ctx<'a> {
    pub fn new(
        m: fb::Model<'a>,
        sg: fb::SubGraph<'a>,
        file: &'a Bytes,
    ) -> Result<Ctx<'a>, TfliteError> {
        let mut op_codes = Vec::new();
        for oc in m.operator_codes().into_iter().flatten() {
            // Files before schema 3a only set the byte-sized code.
            let code =
                BuiltinOperator(oc.builtin_code().0.max(oc.deprecated_builtin_code() as i32));
            op_codes.push((code, oc.custom_code().map(str::to_string), oc.version()));
        }
        let mut tensors = Vec::new();
        let mut zero_budget = file.len().saturating_mul(64).max(64 << 20);
        for (i, t) in sg.tensors().into_iter().flatten().enumerate() {
            let name = t.name().unwrap_or_default().to_string();
            let ctx = || format!("tensor {i} `{name}`");
            let dtype = from_tflite(t.type_()).ok_or_else(|| {
                TfliteError::invalid(
                    ctx(),
                    format!("element type {:?} has no IR equivalent", t.type_()),
                )
            })?;
            let shape: Vec<i64> = match (t.shape_signature(), t.shape()) {
                (Some(s), _) if !s.is_empty() => s.iter().map(i64::from).collect(),
                (_, Some(s)) => s.iter().map(i64::from).collect(),
                _ => Vec::new(),
            };
            if let Some(d) = shape.iter().find(|&&d| d < -1) {
                return Err(TfliteError::invalid(ctx(), format!("dimension {d}")));
            }
            let has_shape = t.shape().is_some() || t.has_rank();
            let mut data = buffer_bytes(m.buffers(), t.buffer() as usize, file)
                .map_err(|e| TfliteError::invalid(ctx(), e))?;
            // Float tensors may carry min/max for tooling; only integer tensors are quantized.
            let quant = quant_of(&t, &shape)
                .map_err(|e| TfliteError::invalid(ctx(), e))?
                .filter(|_| is_quantized_type(dtype));
            if let Some(sp) = t.sparsity() {
                // Made dense here: DENSIFY then passes the constant on (see `sparse`).
                let values = data.as_deref().unwrap_or_default();
                let Some(elem) = dtype
                    .storage_bytes(1)
                    .filter(|&n| n > 0 && dtype.storage_bytes(2) == Some(2 * n))
                else {
                    return Err(TfliteError::invalid(
                        ctx(),
                        format!("sparse {dtype} elements are smaller than a byte"),
                    ));
                };
                let dense = super::sparse::densify(&sp, &shape, elem as usize, values, file.len())
                    .map_err(|e| TfliteError::invalid(ctx(), format!("sparse tensor: {e}")))?;
                data = Some(Bytes::from(dense));
            }
            if let Some(d) = &data {
                let dims: Vec<u64> = shape.iter().map(|&d| d.max(0) as u64).collect();
                if dtype != DType::Str {
                    let want = modelc_ir::element_count(&dims)
                        .and_then(|n| dtype.storage_bytes(n))
                        .ok_or_else(|| TfliteError::invalid(ctx(), "shape overflows"))?;
                    if want != d.len() as u64 {
                        return Err(TfliteError::invalid(
                            ctx(),
                            format!(
                                "{dtype}{shape:?} needs {want} bytes, its buffer has {}",
                                d.len()
                            ),
                        ));
                    }
                }
            }
            // A variable tensor without data is zeroed by the interpreter: its value until
            // an operator writes it (the state of a first run).
            if t.is_variable() && data.is_none() {
                data = variable_zeros(dtype, &shape, has_shape, &mut zero_budget)
                    .map_err(|e| TfliteError::invalid(ctx(), e))?;
            }
            tensors.push(TensorInfo {
                name,
                dtype,
                shape,
                has_shape,
                quant,
                data,
                is_variable: t.is_variable(),
            });
        }
        let n = tensors.len();
        Ok(Ctx {
            g: Graph::new("main"),
            model: m,
            depth: 0,
            file,
            op_codes,
            tensors,
            views: vec![None; n],
            raws: vec![None; n],
            names: Names::default(),
            node_name: String::new(),
            nodes_for_op: 0,
            used_custom: false,
        })
    }

    pub fn finish(self) -> (Graph, bool) {
        (self.g, self.used_custom)
    }

    /// A context for subgraph `sg` of the same model building into `g` (an IF branch, a
    /// WHILE body, or an enclosing graph a WHILE condition is inlined into), sharing this
    /// import's names; [`Ctx::end_nested`] gives the graph and the names back.
    pub fn nested(&mut self, sg: fb::SubGraph<'a>, g: Graph) -> Result<Ctx<'a>, TfliteError> {
        let mut cx = Ctx::new(self.model, sg, self.file)?;
        cx.g = g;
        cx.names = std::mem::take(&mut self.names);
        cx.depth = self.depth + 1;
        Ok(cx)
    }

    pub fn end_nested(&mut self, cx: Ctx<'a>) -> Graph {
        self.names = cx.names;
        self.used_custom |= cx.used_custom;
        cx.g
    }

    pub fn model(&self) -> fb::Model<'a> {
        self.model
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn graph(&self) -> &Graph {
        &self.g
    }

    pub fn graph_mut(&mut self) -> &mut Graph {
        &mut self.g
    }

    /// Makes subgraph input `t` stand for `v` (a value of the graph being built; the caller
    /// checked `t` is not quantized).
    pub fn bind(&mut self, t: usize, v: ValueRef) {
        self.views[t] = Some(v);
    }

    pub fn mark_custom(&mut self) {
        self.used_custom = true;
    }

    pub fn file(&self) -> &Bytes {
        self.file
    }

    pub fn tensor_index(&self, t: i32, what: &str) -> Result<usize, TfliteError> {
        usize::try_from(t)
            .ok()
            .filter(|&t| t < self.tensors.len())
            .ok_or_else(|| {
                TfliteError::invalid(
                    what.to_string(),
                    format!(
                        "tensor index {t} out of range (the subgraph has {})",
                        self.tensors.len()
                    ),
                )
            })
    }

    pub fn info(&self, t: usize) -> &TensorInfo {
        &self.tensors[t]
    }

    /// Decodes operator `index` and points node naming at it.
    pub fn operator(
        &mut self,
        index: usize,
        raw: fb::Operator<'a>,
    ) -> Result<OpIn<'a>, TfliteError> {
        let label = || format!("operator #{index}");
        let (code, custom_code, version) = self
            .op_codes
            .get(raw.opcode_index() as usize)
            .cloned()
            .ok_or_else(|| {
                TfliteError::invalid(
                    label(),
                    format!("opcode index {} out of range", raw.opcode_index()),
                )
            })?;
        let mut inputs = Vec::new();
        for t in raw.inputs().into_iter().flatten() {
            inputs.push(if t < 0 {
                None
            } else {
                Some(self.tensor_index(t, &label())?)
            });
        }
        let mut outputs = Vec::new();
        for t in raw.outputs().into_iter().flatten() {
            outputs.push(self.tensor_index(t, &label())?);
        }
        self.node_name = match outputs.first() {
            Some(&t) if !self.tensors[t].name.is_empty() => self.tensors[t].name.clone(),
            _ => format!("op{index}"),
        };
        self.nodes_for_op = 0;
        Ok(OpIn {
            index,
            code,
            custom_code: if code == BuiltinOperator::CUSTOM {
                custom_code
            } else {
                None
            },
            version,
            inputs,
            outputs,
            raw,
        })
    }

    /// The graph's builder, with the names the whole import shares.
    fn build(&mut self) -> Builder<'_> {
        Builder::with_names(&mut self.g, &mut self.names)
    }

    /// A fresh value name (an unnamed tensor's base is `t`).
    pub fn unique(&mut self, base: &str) -> String {
        self.build().fresh(if base.is_empty() { "t" } else { base })
    }

    fn tensor_type(&self, t: usize, dtype: DType) -> Option<TypeInfo> {
        let info = &self.tensors[t];
        if !info.has_shape {
            return Some(
                ValueType::Tensor(TensorType {
                    dtype: Some(dtype),
                    shape: None,
                })
                .into(),
            );
        }
        let dims = info
            .shape
            .iter()
            .map(|&d| {
                if d < 0 {
                    Dim::Unknown
                } else {
                    Dim::Known(d as u64)
                }
            })
            .collect();
        Some(
            ValueType::Tensor(TensorType {
                dtype: Some(dtype),
                shape: Some(Shape(dims)),
            })
            .into(),
        )
    }

    // ------------------------------------------------------------------ nodes

    /// Adds a node of `op` with `outputs` fresh values; returns its id.
    pub fn node(
        &mut self,
        op: Op,
        inputs: &[Option<ValueRef>],
        attrs: Vec<(&str, Attr)>,
        outputs: usize,
    ) -> NodeId {
        let name = if self.nodes_for_op == 0 {
            self.node_name.clone()
        } else {
            format!("{}/{}", self.node_name, self.nodes_for_op)
        };
        self.nodes_for_op += 1;
        let base = format!("{name}/{}", op.display_name());
        self.build()
            .op_opt(op, inputs)
            .name(name)
            .out(base)
            .outs(outputs)
            .attrs(attrs.into_iter().collect())
            .add()
    }

    /// A single-output ONNX op.
    pub fn op(
        &mut self,
        op: OnnxOp,
        inputs: &[Option<ValueRef>],
        attrs: Vec<(&str, Attr)>,
    ) -> ValueRef {
        ValueRef::new(self.node(Op::Onnx(op), inputs, attrs, 1), 0)
    }

    /// A single-output layout-sensitive ONNX op in NHWC.
    pub fn op_nhwc(
        &mut self,
        op: OnnxOp,
        inputs: &[Option<ValueRef>],
        attrs: Vec<(&str, Attr)>,
    ) -> ValueRef {
        let v = self.op(op, inputs, attrs);
        self.g.node_mut(v.node).layout = Some(Layout::Nhwc);
        v
    }

    pub fn constant(&mut self, base: &str, t: Tensor) -> ValueRef {
        let base = format!("{}/{base}", self.node_name);
        self.build().constant(&base, t)
    }

    pub fn const_i64(&mut self, vals: &[i64], dims: &[u64]) -> ValueRef {
        let t = Tensor::from_i64(dims.to_vec(), vals).expect("length matches dims");
        self.constant("c", t)
    }

    pub fn const_1d(&mut self, vals: &[i64]) -> ValueRef {
        self.const_i64(vals, &[vals.len() as u64])
    }

    pub fn const_f32(&mut self, vals: &[f32], dims: &[u64]) -> ValueRef {
        let t = Tensor::from_f32(dims.to_vec(), vals).expect("length matches dims");
        self.constant("c", t)
    }

    // ----------------------------------------------------------------- tensors

    /// The float value tensor `t` stands for (constants are made on first use).
    pub fn view(&mut self, t: usize) -> Result<ValueRef, TfliteError> {
        if let Some(v) = self.views[t] {
            return Ok(v);
        }
        let info = &self.tensors[t];
        let Some(data) = info.data.clone() else {
            return Err(TfliteError::invalid(
                format!("tensor {t} `{}`", info.name),
                if info.is_variable {
                    "is a variable tensor without a static size, read before any operator writes it"
                } else {
                    "is read before any operator writes it (and is not a variable tensor)"
                },
            ));
        };
        let dims: Vec<u64> = info.shape.iter().map(|&d| d.max(0) as u64).collect();
        let tensor = if info.dtype == DType::Str {
            decode_strings(&data, &dims)
                .map_err(|e| TfliteError::invalid(format!("tensor {t} `{}`", info.name), e))?
        } else {
            Tensor::from_raw(info.dtype, dims, data).map_err(|e| {
                TfliteError::invalid(format!("tensor {t} `{}`", info.name), e.to_string())
            })?
        };
        let tensor = if tensor.dtype == DType::I64 && info.quant.is_some() {
            narrow_i64(&tensor).unwrap_or(tensor)
        } else {
            tensor
        };
        let qdtype = tensor.dtype;
        let base = if info.name.is_empty() {
            "t"
        } else {
            &info.name
        };
        let base = base.to_string();
        let raw = self.build().constant(&base, tensor);
        let view = match self.tensors[t].quant.clone() {
            Some(q) => {
                self.raws[t] = Some(raw);
                let dq = self.dequantize(raw, &q, qdtype);
                self.name_value(dq, &format!("{}/dq", self.tensors[t].name));
                dq
            }
            None => raw,
        };
        self.views[t] = Some(view);
        Ok(view)
    }

    /// Makes output tensor `out` the constant input tensor `input` is (DENSIFY: the sparse
    /// constant was made dense when the file was read). `false` when `input` is computed.
    pub fn alias_constant(&mut self, out: usize, input: usize) -> Result<bool, TfliteError> {
        let Some(data) = self.tensors[input].data.clone() else {
            return Ok(false);
        };
        if self.views[out].is_some() || self.tensors[out].data.is_some() {
            return Err(TfliteError::invalid(
                format!("tensor {out} `{}`", self.tensors[out].name),
                "is written twice (or is a constant)",
            ));
        }
        let (src, dst) = (&self.tensors[input], &self.tensors[out]);
        if src.dtype != dst.dtype || src.shape != dst.shape {
            return Err(TfliteError::invalid(
                format!("tensor {out} `{}`", dst.name),
                format!(
                    "is {}{:?}, its source {}{:?}",
                    dst.dtype, dst.shape, src.dtype, src.shape
                ),
            ));
        }
        let quant = src.quant.clone();
        let dst = &mut self.tensors[out];
        dst.data = Some(data);
        if dst.quant.is_none() {
            dst.quant = quant;
        }
        Ok(true)
    }

    /// Float value of input `i` of `op`, `None` when omitted.
    pub fn input(&mut self, op: &OpIn, i: usize) -> Result<Option<ValueRef>, TfliteError> {
        match op.inputs.get(i).copied().flatten() {
            Some(t) => self.view(t).map(Some),
            None => Ok(None),
        }
    }

    /// Float value of a required input of `op`.
    pub fn req(&mut self, op: &OpIn, i: usize) -> Result<ValueRef, TfliteError> {
        self.input(op, i)?
            .ok_or_else(|| TfliteError::invalid(op.label(), format!("input {i} is missing")))
    }

    /// Tensor index of input `i`, required.
    pub fn in_tensor(&self, op: &OpIn, i: usize) -> Result<usize, TfliteError> {
        op.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| TfliteError::invalid(op.label(), format!("input {i} is missing")))
    }

    pub fn out_tensor(&self, op: &OpIn, i: usize) -> Result<usize, TfliteError> {
        op.outputs
            .get(i)
            .copied()
            .ok_or_else(|| TfliteError::invalid(op.label(), format!("output {i} is missing")))
    }

    /// The integer contents of constant input `i` (int32 or int64), `None` when the input
    /// is not a constant.
    pub fn const_ints(&self, op: &OpIn, i: usize) -> Result<Option<Vec<i64>>, TfliteError> {
        let Some(t) = op.inputs.get(i).copied().flatten() else {
            return Ok(None);
        };
        let info = &self.tensors[t];
        let Some(data) = &info.data else {
            return Ok(None);
        };
        Ok(Some(match info.dtype {
            DType::I32 => data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
            DType::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            other => {
                return Err(TfliteError::invalid(
                    op.label(),
                    format!("input {i} is {other}, expected int32 or int64"),
                ))
            }
        }))
    }

    /// Input `i` as an int64 value (shape-like operands: ONNX wants int64 where TFLite has
    /// int32). Constants are converted at import; others get a Cast.
    pub fn input_i64(&mut self, op: &OpIn, i: usize) -> Result<ValueRef, TfliteError> {
        if let Some(vals) = self.const_ints(op, i)? {
            let t = self.in_tensor(op, i)?;
            let dims: Vec<u64> = self.tensors[t]
                .shape
                .iter()
                .map(|&d| d.max(0) as u64)
                .collect();
            return Ok(self.const_i64(&vals, &dims));
        }
        let v = self.req(op, i)?;
        let t = self.in_tensor(op, i)?;
        if self.tensors[t].dtype == DType::I64 {
            return Ok(v);
        }
        Ok(self.op(
            OnnxOp::Cast,
            &[Some(v)],
            vec![("to", Attr::Int(DType::I64.onnx_code() as i64))],
        ))
    }

    /// Static rank of tensor `t`, when known.
    pub fn rank(&self, t: usize) -> Option<usize> {
        self.tensors[t]
            .has_shape
            .then_some(self.tensors[t].shape.len())
    }

    fn name_value(&mut self, v: ValueRef, name: &str) {
        self.build().rename(v, name);
    }

    /// `DequantizeLinear(raw)` with the tensor's scale and zero point.
    pub fn dequantize(&mut self, raw: ValueRef, q: &Quant, dtype: DType) -> ValueRef {
        self.qdq(OnnxOp::DequantizeLinear, raw, q, dtype)
    }

    /// `QuantizeLinear(v)` to `dtype` with the tensor's scale and zero point.
    pub fn quantize(&mut self, v: ValueRef, q: &Quant, dtype: DType) -> ValueRef {
        self.qdq(OnnxOp::QuantizeLinear, v, q, dtype)
    }

    /// `v` quantized to `dtype` with the tensor's parameters, its integers widened to int64
    /// (for arithmetic TFLite's integer kernels do exactly: table indices, fixed-point sums).
    pub fn quantize_to_i64(&mut self, v: ValueRef, q: &Quant, dtype: DType) -> ValueRef {
        let q = self.quantize(v, q, dtype);
        self.op(
            OnnxOp::Cast,
            &[Some(q)],
            vec![("to", Attr::Int(DType::I64.onnx_code() as i64))],
        )
    }

    /// `op` (QuantizeLinear or DequantizeLinear) of `v` with the tensor's parameters; per
    /// channel along `q.axis` when it has more than one scale.
    fn qdq(&mut self, op: OnnxOp, v: ValueRef, q: &Quant, dtype: DType) -> ValueRef {
        let (scale, zp) = self.qparams(q, dtype);
        let attrs = if q.scale.len() > 1 {
            vec![("axis", Attr::Int(q.axis as i64))]
        } else {
            vec![]
        };
        self.op(op, &[Some(v), Some(scale), Some(zp)], attrs)
    }

    fn qparams(&mut self, q: &Quant, dtype: DType) -> (ValueRef, ValueRef) {
        let dims: Vec<u64> = if q.scale.len() > 1 {
            vec![q.scale.len() as u64]
        } else {
            vec![]
        };
        let scale = self.const_f32(&q.scale, &dims);
        let mut zps: Vec<i64> = q.zero_point.clone();
        zps.resize(q.scale.len(), 0);
        let zp_bytes: Vec<u8> = match dtype {
            DType::I8 => zps.iter().map(|&z| z as i8 as u8).collect(),
            DType::U8 => zps.iter().map(|&z| z as u8).collect(),
            DType::I16 => zps.iter().flat_map(|&z| (z as i16).to_le_bytes()).collect(),
            DType::U16 => zps.iter().flat_map(|&z| (z as u16).to_le_bytes()).collect(),
            DType::I64 => zps.iter().flat_map(|&z| z.to_le_bytes()).collect(),
            DType::I4 => {
                // Two 4-bit values per byte, first in the low bits.
                let mut b = vec![0u8; zps.len().div_ceil(2)];
                for (i, &z) in zps.iter().enumerate() {
                    b[i / 2] |= ((z as u8) & 0xf) << ((i % 2) * 4);
                }
                b
            }
            _ => zps.iter().flat_map(|&z| (z as i32).to_le_bytes()).collect(),
        };
        let zp = Tensor::from_raw(dtype, dims, Bytes::from(zp_bytes)).expect("zero point size");
        let zp = self.constant("zero_point", zp);
        (scale, zp)
    }

    /// Records that op output tensor `t` is the float value `v`: names it, and for a
    /// quantized tensor inserts QuantizeLinear (the quantized tensor) + DequantizeLinear.
    pub fn define(&mut self, t: usize, v: ValueRef) -> Result<(), TfliteError> {
        // A variable tensor may be written after it was read (its new state): later
        // readers see the value written, as in the interpreter.
        if self.tensors[t].is_variable {
            // Written: from here on it holds this value, not its initial zeros.
            self.tensors[t].data = None;
        } else if self.views[t].is_some() || self.tensors[t].data.is_some() {
            return Err(TfliteError::invalid(
                format!("tensor {t} `{}`", self.tensors[t].name),
                "is written twice (or is a constant)",
            ));
        }
        let name = self.tensors[t].name.clone();
        let dtype = self.tensors[t].dtype;
        match self.tensors[t].quant.clone() {
            Some(q) if is_quantized_type(dtype) => {
                self.name_value(v, &format!("{name}/float"));
                let raw = if matches!(dtype, DType::I32 | DType::I64) {
                    // QuantizeLinear has no int32/int64 output type.
                    super::quant::quantize_wide(self, v, &q, dtype)
                        .map_err(|why| TfliteError::invalid(format!("tensor {t} `{name}`"), why))?
                } else {
                    self.quantize(v, &q, dtype)
                };
                self.name_value(raw, &name);
                self.set_type(raw, t, dtype);
                let dq = self.dequantize(raw, &q, dtype);
                self.name_value(dq, &format!("{name}/dq"));
                self.raws[t] = Some(raw);
                self.views[t] = Some(dq);
            }
            _ => {
                self.name_value(v, &name);
                self.set_type(v, t, dtype);
                self.views[t] = Some(v);
            }
        }
        Ok(())
    }

    fn set_type(&mut self, v: ValueRef, t: usize, dtype: DType) {
        let ty = self.tensor_type(t, dtype);
        if let Some(val) = self.g.value_mut(v) {
            val.ty = ty.map(std::sync::Arc::new);
        }
    }

    pub fn add_graph_input(
        &mut self,
        t: usize,
        sig_name: Option<String>,
    ) -> Result<(), TfliteError> {
        let base = sig_name.unwrap_or_else(|| self.tensors[t].name.clone());
        let name = self.unique(&base);
        let dtype = self.tensors[t].dtype;
        let ty = self.tensor_type(t, dtype);
        let id = self.g.add_input(Value {
            name,
            ty: ty.map(std::sync::Arc::new),
            ..Value::default()
        });
        let raw = ValueRef::new(id, 0);
        match self.tensors[t].quant.clone() {
            Some(q) if is_quantized_type(dtype) => {
                self.raws[t] = Some(raw);
                self.node_name = self.tensors[t].name.clone();
                self.nodes_for_op = 1;
                let dq = self.dequantize(raw, &q, dtype);
                self.name_value(dq, &format!("{}/dq", self.tensors[t].name));
                self.views[t] = Some(dq);
            }
            _ => self.views[t] = Some(raw),
        }
        Ok(())
    }

    /// The value graph output `t` is: the quantized tensor for quantized outputs (so the
    /// model keeps its I/O types), renamed to the signature name when there is one.
    pub fn graph_output(
        &mut self,
        t: usize,
        sig_name: Option<String>,
    ) -> Result<ValueRef, TfliteError> {
        let v = match self.raws[t] {
            Some(r) => r,
            None => self.view(t)?,
        };
        if let Some(s) = sig_name {
            let current = self.g.value(v).map(|x| x.name.clone()).unwrap_or_default();
            if current != s && self.build().reserve(&s) {
                if let Some(val) = self.g.value_mut(v) {
                    val.name = s;
                }
            }
        }
        Ok(v)
    }

    /// Applies a fused activation to `v`.
    pub fn activation(
        &mut self,
        v: ValueRef,
        act: ActivationFunctionType,
        op: &OpIn,
    ) -> Result<ValueRef, TfliteError> {
        Ok(match act {
            ActivationFunctionType::NONE => v,
            ActivationFunctionType::RELU => self.op(OnnxOp::Relu, &[Some(v)], vec![]),
            ActivationFunctionType::RELU6 => self.clip(v, 0.0, 6.0),
            ActivationFunctionType::RELU_N1_TO_1 => self.clip(v, -1.0, 1.0),
            ActivationFunctionType::TANH => self.op(OnnxOp::Tanh, &[Some(v)], vec![]),
            ActivationFunctionType::SIGN_BIT => self.op(OnnxOp::Sign, &[Some(v)], vec![]),
            other => {
                return Err(TfliteError::invalid(
                    op.label(),
                    format!("unknown fused activation {}", other.0),
                ))
            }
        })
    }

    pub fn clip(&mut self, v: ValueRef, lo: f32, hi: f32) -> ValueRef {
        let lo = self.const_f32(&[lo], &[]);
        let hi = self.const_f32(&[hi], &[]);
        self.op(OnnxOp::Clip, &[Some(v), Some(lo), Some(hi)], vec![])
    }
}

/// The zero-filled storage of a variable tensor, `None` without a static size; `budget`
/// (bytes left for all variable tensors) bounds what a hostile file can make us allocate.
fn variable_zeros(
    dtype: DType,
    shape: &[i64],
    has_shape: bool,
    budget: &mut usize,
) -> Result<Option<Bytes>, String> {
    if !has_shape || shape.iter().any(|&d| d < 0) || dtype == DType::Str {
        return Ok(None);
    }
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let n = modelc_ir::element_count(&dims)
        .and_then(|n| dtype.storage_bytes(n))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= *budget)
        .ok_or_else(|| format!("variable {dtype}{shape:?} is larger than this file can hold"))?;
    *budget -= n;
    // TFLite fills the raw storage with zeros (for a quantized tensor: the integer 0).
    Ok(Some(Bytes::from(vec![0u8; n])))
}

/// An int64 tensor as int32 when every value fits (int16x8 biases: ONNX's
/// DequantizeLinear has no int64 input).
fn narrow_i64(t: &Tensor) -> Option<Tensor> {
    let raw = t.raw()?;
    let mut out = Vec::with_capacity(raw.len() / 2);
    for c in raw.chunks_exact(8) {
        let v = i64::from_le_bytes(c.try_into().ok()?);
        out.extend_from_slice(&i32::try_from(v).ok()?.to_le_bytes());
    }
    Tensor::from_raw(DType::I32, t.dims.clone(), Bytes::from(out)).ok()
}

fn is_quantized_type(d: DType) -> bool {
    matches!(
        d,
        DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32 | DType::I64 | DType::I4
    )
}

fn quant_of(t: &fb::Tensor<'_>, shape: &[i64]) -> Result<Option<Quant>, String> {
    let Some(q) = t.quantization() else {
        return Ok(None);
    };
    if q.details_type() != fb::QuantizationDetails::NONE {
        return Err("custom quantization is not supported".into());
    }
    let Some(scale) = q.scale() else {
        return Ok(None);
    };
    if scale.is_empty() {
        return Ok(None);
    }
    let scale: Vec<f32> = scale.iter().collect();
    let zero_point: Vec<i64> = q
        .zero_point()
        .map(|z| z.iter().collect())
        .unwrap_or_default();
    if !zero_point.is_empty() && zero_point.len() != scale.len() {
        return Err(format!(
            "{} scales but {} zero points",
            scale.len(),
            zero_point.len()
        ));
    }
    let axis = q.quantized_dimension();
    if scale.len() > 1 {
        let ok = usize::try_from(axis)
            .ok()
            .and_then(|a| shape.get(a))
            .is_some_and(|&d| d == scale.len() as i64);
        if !ok {
            return Err(format!(
                "{} scales along dimension {axis} of shape {shape:?}",
                scale.len()
            ));
        }
    }
    Ok(Some(Quant {
        scale,
        zero_point,
        axis: axis.max(0) as usize,
    }))
}

/// TFLite string tensors: int32 count, count+1 int32 offsets from the buffer start, bytes.
fn decode_strings(data: &[u8], dims: &[u64]) -> Result<Tensor, String> {
    let rd = |at: usize| -> Result<usize, String> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| "string buffer is truncated".to_string())
    };
    let n = rd(0)?;
    if n > data.len() / 4 {
        return Err(format!("string count {n} exceeds the buffer"));
    }
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (rd(4 + 4 * i)?, rd(8 + 4 * i)?);
        let s = data
            .get(a..b)
            .ok_or_else(|| format!("string {i} lies outside the buffer"))?;
        items.push(Bytes::copy_from_slice(s));
    }
    let t = Tensor {
        dtype: DType::Str,
        dims: dims.to_vec(),
        data: modelc_ir::TensorData::Strings(items),
    };
    t.check().map_err(|e| e.to_string())?;
    Ok(t)
}
