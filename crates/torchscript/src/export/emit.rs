//! The code generator's state: the straight-line body of `forward` being written, the
//! TorchScript name of every IR value, constants turned into module buffers, and what is known
//! about each value's rank and element type (op translations need them for ONNX attributes
//! whose meaning depends on the rank, and for integer division and casts).

use std::collections::{HashMap, HashSet};

use modelc_ir::{Attr, DType, Graph, Node, NodeId, OnnxOp, Op, Tensor, TensorData, ValueRef};

/// Names a generated identifier may not take: Python keywords, the names TorchScript's
/// serialized-code parser resolves specially, and builtins the generated code calls.
const RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "self",
    "torch",
    "ops",
    "math",
    "CONSTANTS",
    "annotate",
    "uninitialized",
    "fork",
    "int",
    "float",
    "bool",
    "str",
    "list",
    "tuple",
    "dict",
    "range",
    "len",
    "print",
    "min",
    "max",
    "abs",
    "round",
    "getattr",
    "hasattr",
    "isinstance",
    "inf",
    "nan",
    "infj",
    "nanj",
    "Tensor",
    "List",
    "Dict",
    "Tuple",
    "Optional",
    "Any",
    "Future",
    "NoneType",
    "Module",
    "training",
    "forward",
    "builtins",
    "__torch__",
];

/// Turns any name into a Python identifier: other characters become `_`, a leading digit
/// gets a `v` in front, reserved names get a trailing `_`.
pub(crate) fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'v');
    }
    // Double-underscore names are mangled or special in Python classes.
    if s.starts_with("__") {
        s.insert(0, 'v');
    }
    if RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// A float literal that TorchScript reads back as the same value (always with a `.` or an
/// exponent so it is not taken for an int).
pub(crate) fn float_lit(v: f64) -> String {
    if v.is_nan() {
        "float(\"nan\")".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "float(\"inf\")"
        } else {
            "float(\"-inf\")"
        }
        .into()
    } else {
        let s = format!("{v:?}");
        if s.contains(['.', 'e', 'E']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}

/// `[a, b, c]` of ints.
pub(crate) fn int_list(v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// A shape-like integer value as TorchScript int expressions (see `symbolic`): a list, or a
/// scalar (`scalar`, one item).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sym {
    pub items: Vec<String>,
    pub scalar: bool,
}

/// What is known about a value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Info {
    pub rank: Option<usize>,
    pub dtype: Option<DType>,
}

pub(crate) struct Emitter<'g> {
    pub g: &'g Graph,
    /// The model's default-domain opset (some ops changed meaning between versions).
    pub opset: i64,
    pub lines: Vec<String>,
    names: HashMap<ValueRef, String>,
    info: HashMap<ValueRef, Info>,
    sym: HashMap<ValueRef, Sym>,
    used: HashSet<String>,
    /// Constants stored as module buffers: attribute name and tensor.
    pub buffers: Vec<(String, Tensor)>,
    buffer_names: HashSet<String>,
    buffer_of: HashMap<NodeId, String>,
    /// In a branch: the enclosing graph's constants its `Outer` nodes stand for (shapes,
    /// axes and weights a branch reads from the main graph's initializers).
    outer_consts: HashMap<NodeId, Tensor>,
}

impl<'g> Emitter<'g> {
    pub fn new(g: &'g Graph, opset: i64) -> Emitter<'g> {
        Emitter {
            g,
            opset,
            lines: Vec::new(),
            names: HashMap::new(),
            info: HashMap::new(),
            sym: HashMap::new(),
            used: HashSet::new(),
            buffers: Vec::new(),
            buffer_names: HashSet::new(),
            buffer_of: HashMap::new(),
            outer_consts: HashMap::new(),
        }
    }

    /// The variables bound to values with the source value each computes, where the two
    /// names differ (expressions inlined in place of a variable have none).
    pub fn provenance(&self) -> std::collections::BTreeMap<String, String> {
        self.names
            .iter()
            .filter(|(_, var)| var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .filter_map(|(&v, var)| {
                let src = self.g.value(v)?.source();
                (src != var.as_str() && !src.is_empty()).then(|| (var.clone(), src.to_string()))
            })
            .collect()
    }

    /// An emitter for a branch `sub` of a node of this graph: it shares the names taken and
    /// the buffers (give it back with [`Emitter::absorb`]).
    pub fn child(&self, sub: &'g Graph) -> Emitter<'g> {
        let mut c = Emitter::new(sub, self.opset);
        c.used = self.used.clone();
        c.buffer_names = self.buffer_names.clone();
        c
    }

    /// Binds an `Outer` node of this (branch) emitter's graph to the enclosing graph's value
    /// `v` of `parent`: its name there, what is known about it, and its constant or tracked
    /// shape arithmetic, so that a branch reads them as the main graph would.
    pub fn bind_outer(
        &mut self,
        inner: NodeId,
        parent: &mut Emitter<'_>,
        v: ValueRef,
    ) -> Result<(), String> {
        let iv = ValueRef::new(inner, 0);
        match parent.constant(v) {
            Some(t) => {
                self.outer_consts.insert(inner, t);
            }
            None => {
                if let Some(s) = parent.sym.get(&v) {
                    self.sym.insert(iv, s.clone());
                }
            }
        }
        self.bind(iv, parent.value(v)?);
        self.set_info(iv, parent.info(v));
        Ok(())
    }

    /// The constant `v` is (an initializer, a `Constant` node, or in a branch an enclosing
    /// graph's constant).
    pub fn constant(&self, v: ValueRef) -> Option<Tensor> {
        constant_of(self.g.node(v.node)).or_else(|| self.outer_consts.get(&v.node).cloned())
    }

    /// Takes back what a child emitter added: names taken and buffers.
    pub fn absorb(&mut self, child: Emitter<'g>) {
        self.used.extend(child.used);
        self.buffer_names.extend(child.buffer_names);
        self.buffers.extend(child.buffers);
    }

    /// A fresh local name derived from `hint`.
    pub fn fresh(&mut self, hint: &str) -> String {
        let base = sanitize(hint);
        let mut name = base.clone();
        let mut i = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// Binds `v` to an existing TorchScript expression (an argument name or an alias).
    pub fn bind(&mut self, v: ValueRef, expr: String) {
        self.names.insert(v, expr);
    }

    /// The node's present input at `slot`.
    pub fn input(&self, node: NodeId, slot: usize) -> Option<ValueRef> {
        self.g.input(node, slot)
    }

    /// The constant feeding `slot` of `node`, if that input is a constant (an initializer or
    /// a `Constant` node). Cheap: the bytes are shared.
    pub fn const_input(&self, node: NodeId, slot: usize) -> Option<Tensor> {
        let v = self.g.input(node, slot)?;
        self.constant(v)
    }

    /// A constant integer input as a list (any integer element type).
    pub fn ints_input(&self, node: NodeId, slot: usize) -> Option<Vec<i64>> {
        tensor_ints(&self.const_input(node, slot)?)
    }

    /// The TorchScript name bound to `v`, if it has been computed.
    pub fn name_of(&self, v: ValueRef) -> Option<String> {
        self.names.get(&v).cloned()
    }

    pub fn set_sym(&mut self, v: ValueRef, s: Sym) {
        self.sym.insert(v, s);
    }

    /// Input `slot` as int expressions: a constant's values as literals, or a tracked
    /// shape computation.
    pub fn sym_input(&self, node: NodeId, slot: usize) -> Option<Sym> {
        if let Some(t) = self.const_input(node, slot) {
            if !(t.dtype.is_int()) || t.dims.len() > 1 {
                return None;
            }
            let items = tensor_ints(&t)?.iter().map(|v| v.to_string()).collect();
            return Some(Sym {
                items,
                scalar: t.dims.is_empty(),
            });
        }
        self.sym.get(&self.g.input(node, slot)?).cloned()
    }

    /// A 1-D shape-like input as int expressions (constant or tracked).
    pub fn int_exprs_input(&self, node: NodeId, slot: usize) -> Option<Vec<String>> {
        let s = self.sym_input(node, slot)?;
        (!s.scalar).then_some(s.items)
    }

    /// A constant input as a list of floats (float or integer element types).
    pub fn floats_input(&self, node: NodeId, slot: usize) -> Option<Vec<f64>> {
        tensor_floats(&self.const_input(node, slot)?)
    }

    /// The TorchScript expression for the tensor at input `slot`; a constant becomes a module
    /// buffer (`self.<name>`) on first use.
    pub fn tensor(&mut self, node: NodeId, slot: usize) -> Result<String, String> {
        let v = self
            .g
            .input(node, slot)
            .ok_or_else(|| format!("input {slot} is missing"))?;
        self.value(v)
    }

    /// The expression of an optional input: `None` when absent.
    pub fn opt_tensor(&mut self, node: NodeId, slot: usize) -> Result<String, String> {
        match self.g.input(node, slot) {
            None => Ok("None".into()),
            Some(v) => self.value(v),
        }
    }

    pub fn value(&mut self, v: ValueRef) -> Result<String, String> {
        if let Some(n) = self.names.get(&v) {
            return Ok(n.clone());
        }
        let node = self.g.node(v.node);
        if let Some(name) = self.buffer_of.get(&v.node) {
            return Ok(format!("self.{name}"));
        }
        match constant_of(node) {
            Some(t) => {
                if matches!(t.data, TensorData::Strings(_)) {
                    return Err("string constants cannot be TorchScript tensors".into());
                }
                let hint = node.outputs.first().map_or("const", |o| o.name.as_str());
                let expr = self.buffer(hint, t)?;
                let name = expr.trim_start_matches("self.").to_string();
                self.buffer_of.insert(v.node, name);
                Ok(expr)
            }
            None => Err(format!(
                "value `{}` is used before it is computed",
                self.g.value(v).map_or("?", |x| x.name.as_str())
            )),
        }
    }

    /// Stores `t` as a new module buffer named after `hint`; returns `self.<name>`.
    pub fn buffer(&mut self, hint: &str, t: Tensor) -> Result<String, String> {
        if crate::pickle::storage_class(t.dtype).is_none() {
            return Err(format!(
                "constant `{hint}` is {}, an element type torch has no tensors of",
                t.dtype
            ));
        }
        let base = sanitize(if hint.is_empty() { "const" } else { hint });
        let mut name = base.clone();
        let mut i = 1;
        while self.buffer_names.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.buffer_names.insert(name.clone());
        self.buffers.push((name.clone(), t));
        Ok(format!("self.{name}"))
    }

    /// Everything known about `v`: what the emitter recorded, else its declared type.
    pub fn info(&self, v: ValueRef) -> Info {
        let mut info = self.info.get(&v).copied().unwrap_or_default();
        if let Some(t) = self.constant(v) {
            return Info {
                rank: Some(t.dims.len()),
                dtype: Some(t.dtype),
            };
        }
        if let Some(tt) = self
            .g
            .value(v)
            .and_then(|x| x.ty.as_ref())
            .and_then(|t| t.ty.as_tensor())
        {
            info.rank = info.rank.or(tt.shape.as_ref().map(|s| s.rank()));
            info.dtype = info.dtype.or(tt.dtype);
        }
        info
    }

    pub fn input_info(&self, node: NodeId, slot: usize) -> Info {
        self.g
            .input(node, slot)
            .map(|v| self.info(v))
            .unwrap_or_default()
    }

    /// The static shape of input `slot`, when declared (or a constant).
    pub fn input_shape(&self, node: NodeId, slot: usize) -> Option<Vec<u64>> {
        let v = self.g.input(node, slot)?;
        if let Some(t) = self.constant(v) {
            return Some(t.dims.clone());
        }
        self.g
            .value(v)?
            .ty
            .as_ref()?
            .ty
            .as_tensor()?
            .shape
            .as_ref()?
            .as_known()
    }

    /// The sizes of input `slot` that are known (`None` for symbolic or unknown ones), when
    /// its rank is declared.
    pub fn input_dims(&self, node: NodeId, slot: usize) -> Option<Vec<Option<u64>>> {
        if let Some(s) = self.input_shape(node, slot) {
            return Some(s.into_iter().map(Some).collect());
        }
        let v = self.g.input(node, slot)?;
        let shape = self
            .g
            .value(v)?
            .ty
            .as_ref()?
            .ty
            .as_tensor()?
            .shape
            .as_ref()?;
        Some(
            shape
                .0
                .iter()
                .map(|d| match d {
                    modelc_ir::Dim::Known(n) => Some(*n),
                    _ => None,
                })
                .collect(),
        )
    }

    /// The rank of input `slot`, or an error saying it is needed.
    pub fn input_rank(&self, node: NodeId, slot: usize) -> Result<usize, String> {
        self.input_info(node, slot)
            .rank
            .ok_or_else(|| format!("the rank of input {slot} is unknown"))
    }

    pub fn set_info(&mut self, v: ValueRef, info: Info) {
        self.info.insert(v, info);
    }

    /// Emits `<out> = <expr>` for the node's single output, recording its rank and type.
    pub fn assign(&mut self, id: NodeId, expr: String, info: Info) {
        let node: &Node = self.g.node(id);
        let hint = node.outputs.first().map_or("", |o| o.name.as_str());
        let hint = if hint.is_empty() { "t" } else { hint };
        let name = self.fresh(hint);
        self.lines.push(format!("{name} = {expr}"));
        let v = ValueRef::new(id, 0);
        self.names.insert(v, name);
        self.info.insert(v, info);
    }

    /// Emits `a, b, c = <expr>` for a node with several outputs (a tuple or list).
    pub fn assign_many(&mut self, id: NodeId, expr: String, infos: &[Info]) {
        let node: &Node = self.g.node(id);
        let hints: Vec<String> = node
            .outputs
            .iter()
            .map(|o| {
                if o.name.is_empty() {
                    "t".into()
                } else {
                    o.name.clone()
                }
            })
            .collect();
        let names: Vec<String> = hints.iter().map(|h| self.fresh(h)).collect();
        self.lines.push(format!("{} = {expr}", names.join(", ")));
        for (slot, name) in names.into_iter().enumerate() {
            let v = ValueRef::new(id, slot);
            self.names.insert(v, name);
            self.info
                .insert(v, infos.get(slot).copied().unwrap_or_default());
        }
    }
}

/// The value of a constant node: an initializer, or a `Constant` op's `value*` attribute.
pub(crate) fn constant_of(node: &Node) -> Option<Tensor> {
    match &node.op {
        Op::Const(t) => Some((**t).clone()),
        Op::Onnx(OnnxOp::Constant) => match &node.attrs.iter().next()?.value {
            Attr::Tensor(t) => Some(t.clone()),
            Attr::Float(v) => Tensor::from_f32(vec![], &[*v]).ok(),
            Attr::Floats(v) => Tensor::from_f32(vec![v.len() as u64], v).ok(),
            Attr::Int(v) => Tensor::from_i64(vec![], &[*v]).ok(),
            Attr::Ints(v) => Tensor::from_i64(vec![v.len() as u64], v).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The elements of an integer tensor as i64.
pub(crate) fn tensor_ints(t: &Tensor) -> Option<Vec<i64>> {
    let raw = t.raw()?;
    let v = match t.dtype {
        DType::I64 => raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        DType::I32 => raw
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as i64)
            .collect(),
        DType::I16 => raw
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes(c.try_into().unwrap_or([0; 2])) as i64)
            .collect(),
        DType::I8 => raw.iter().map(|&b| b as i8 as i64).collect(),
        DType::U8 | DType::Bool => raw.iter().map(|&b| b as i64).collect(),
        _ => return None,
    };
    Some(v)
}

/// The elements of a float or integer tensor as f64.
pub(crate) fn tensor_floats(t: &Tensor) -> Option<Vec<f64>> {
    let raw = t.raw()?;
    match t.dtype {
        DType::F32 => Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64)
                .collect(),
        ),
        DType::F64 => Some(
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        DType::F16 => Some(
            raw.chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
        ),
        _ => tensor_ints(t).map(|v| v.into_iter().map(|x| x as f64).collect()),
    }
}

/// torch's `ScalarType` code of an element type (what `dtype=` arguments take in TorchScript).
pub(crate) fn scalar_type(dt: DType) -> Option<i64> {
    Some(match dt {
        DType::U8 => 0,
        DType::I8 => 1,
        DType::I16 => 2,
        DType::I32 => 3,
        DType::I64 => 4,
        DType::F16 => 5,
        DType::F32 => 6,
        DType::F64 => 7,
        DType::C64 => 9,
        DType::C128 => 10,
        DType::Bool => 11,
        DType::BF16 => 15,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_identifiers() {
        assert_eq!(sanitize("input.1"), "input_1");
        assert_eq!(sanitize("0"), "v0");
        assert_eq!(
            sanitize("/layer1/conv/Conv_output_0"),
            "_layer1_conv_Conv_output_0"
        );
        assert_eq!(sanitize("self"), "self_");
        assert_eq!(sanitize("__x"), "v__x");
        assert_eq!(sanitize(""), "v");
    }

    #[test]
    fn float_literals_read_back_as_floats() {
        assert_eq!(float_lit(1.0), "1.0");
        assert_eq!(float_lit(1e-5), "1e-5");
        assert_eq!(float_lit(f32::MAX as f64), "3.4028234663852886e38");
        assert_eq!(float_lit(f64::NEG_INFINITY), "float(\"-inf\")");
    }
}
