//! Restricted unpickler for the pickles in TorchScript archives.
//!
//! Reads the opcodes of protocols 2–4 that torch's pickler emits (PROTO, FRAME, GLOBAL /
//! STACK_GLOBAL, the memo, MARK-based containers, REDUCE / BUILD / NEWOBJ, ints, floats,
//! strings, bytes, BINPERSID, STOP). A global is never looked up or called: it is a name
//! matched against [`allowed_global`], and the few calls torch uses (`_rebuild_tensor_v2`,
//! `_rebuild_parameter`, `OrderedDict()`, `torch.jit._pickle.*`, `torch.device`) are
//! interpreted here into [`PickleValue`]s. Any other global is an error naming it.
//!
//! Bounds: stack length, memo size, value nesting depth, and the number of values copied out
//! of the memo are limited, and every length read from the input is checked against the
//! bytes left, so a hostile pickle fails with a one-line error instead of exhausting memory
//! or the Rust stack.

use std::collections::HashMap;

use bytes::Bytes;

use super::{storage_dtype, PickleValue, Storage, TensorValue};

/// Deepest nesting of containers accepted (a ResNet's module tree is about 15 deep).
pub const MAX_DEPTH: u32 = 200;
/// Longest value stack accepted.
pub const MAX_STACK: usize = 1 << 20;
/// Most memo entries accepted.
pub const MAX_MEMO: usize = 1 << 20;

/// Where storages come from: `key` → the bytes of `data/<key>`.
pub type StorageSource<'a> = dyn FnMut(&str) -> Result<Bytes, String> + 'a;

/// Why a pickle was refused. One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    /// Byte offset of the opcode that failed.
    pub offset: usize,
    pub msg: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.msg)
    }
}

/// Whether `module.name` is one of the globals this reader interprets.
pub fn allowed_global(module: &str, name: &str) -> bool {
    match module {
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor_v2" | "_rebuild_tensor" | "_rebuild_parameter"
        ),
        "collections" => name == "OrderedDict",
        "torch.jit._pickle" => matches!(
            name,
            "build_intlist"
                | "build_doublelist"
                | "build_boollist"
                | "build_tensorlist"
                | "build_list"
                | "restore_type_tag"
        ),
        "torch" => name == "device" || storage_dtype(name).is_some(),
        m => m == "__torch__" || m.starts_with("__torch__."),
    }
}

/// Reads one pickle. `storages` resolves the persistent ids of tensor storages.
pub fn unpickle(data: &[u8], storages: &mut StorageSource<'_>) -> Result<PickleValue, PickleError> {
    unpickle_with(data, storages, true)
}

/// Like [`unpickle`]; with `need_data` false a storage whose bytes are missing is accepted
/// with empty data (torch writes `traced_inputs.pkl` with empty storages: only the shapes
/// are meant to be read).
pub fn unpickle_with(
    data: &[u8],
    storages: &mut StorageSource<'_>,
    need_data: bool,
) -> Result<PickleValue, PickleError> {
    let mut r = Reader {
        need_data,
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
        copy_budget: data.len().saturating_mul(4) + 4096,
        storages,
    };
    r.run()
}

/// A stack slot: the value and its nesting depth (kept alongside so that depth checks never
/// recurse through a value).
type Slot = (PickleValue, u32);

struct Reader<'a, 'b> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Slot>,
    marks: Vec<usize>,
    memo: HashMap<u32, Slot>,
    copied: usize,
    copy_budget: usize,
    storages: &'a mut StorageSource<'b>,
    need_data: bool,
}

type R<T> = Result<T, String>;

impl Reader<'_, '_> {
    fn take(&mut self, n: usize) -> R<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("needs {n} bytes, {} left", self.data.len() - self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> R<String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("unterminated line")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "line is not UTF-8")?;
        self.pos += n + 1;
        Ok(s.to_string())
    }

    fn push(&mut self, v: PickleValue, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest deeper than {MAX_DEPTH}"));
        }
        if self.stack.len() >= MAX_STACK {
            return Err(format!("stack longer than {MAX_STACK}"));
        }
        self.stack.push((v, depth));
        Ok(())
    }

    fn pop(&mut self) -> R<Slot> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("pops past a MARK".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn pop_mark(&mut self) -> R<Vec<Slot>> {
        let m = self.marks.pop().ok_or("no MARK")?;
        if m > self.stack.len() {
            return Err("MARK past the stack".into());
        }
        Ok(self.stack.split_off(m))
    }

    fn top(&mut self) -> R<&mut Slot> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("stack empty above MARK".into());
        }
        self.stack
            .last_mut()
            .ok_or_else(|| "stack underflow".into())
    }

    fn memo_put(&mut self, idx: u32) -> R<()> {
        // Storing is a copy too (values are owned), so it counts against the same budget.
        let cap = self.copy_budget.saturating_sub(self.copied) + 1;
        self.copied += weight(&self.top()?.0, cap);
        if self.copied > self.copy_budget {
            return Err("memo stores copy too much data".into());
        }
        let v = self.top()?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&idx) {
            return Err(format!("memo larger than {MAX_MEMO}"));
        }
        self.memo.insert(idx, v);
        Ok(())
    }

    fn memo_get(&mut self, idx: u32) -> R<()> {
        let (v, d) = self
            .memo
            .get(&idx)
            .ok_or_else(|| format!("memo entry {idx} is not set"))?;
        // Copies out of the memo are counted, so a pickle that references a large value
        // many times cannot blow up memory.
        self.copied += weight(v, self.copy_budget.saturating_sub(self.copied) + 1);
        if self.copied > self.copy_budget {
            return Err("memo references copy too much data".into());
        }
        let (v, d) = (v.clone(), *d);
        self.push(v, d)
    }

    fn run(&mut self) -> Result<PickleValue, PickleError> {
        loop {
            let at = self.pos;
            match self.step() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(msg) => return Err(PickleError { offset: at, msg }),
            }
        }
    }

    /// One opcode; `Some` at STOP.
    fn step(&mut self) -> R<Option<PickleValue>> {
        let op = self.u8().map_err(|_| "ends without STOP".to_string())?;
        match op {
            0x80 => {
                let p = self.u8()?;
                if p > 5 {
                    return Err(format!("pickle protocol {p} is not supported"));
                }
            }
            0x95 => {
                // FRAME: a length hint only; the opcodes follow inline.
                self.u64()?;
            }
            b'.' => {
                let (v, _) = self.pop()?;
                return Ok(Some(v));
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.global(module, name)?;
            }
            0x93 => {
                let (name, _) = self.pop()?;
                let (module, _) = self.pop()?;
                match (module, name) {
                    (PickleValue::Str(m), PickleValue::Str(n)) => self.global(m, n)?,
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            b'q' => {
                let i = self.u8()? as u32;
                self.memo_put(i)?;
            }
            b'r' => {
                let i = self.u32()?;
                self.memo_put(i)?;
            }
            0x94 => {
                let i = self.memo.len() as u32;
                self.memo_put(i)?;
            }
            b'h' => {
                let i = self.u8()? as u32;
                self.memo_get(i)?;
            }
            b'j' => {
                let i = self.u32()?;
                self.memo_get(i)?;
            }
            b'(' => {
                if self.marks.len() >= MAX_STACK {
                    return Err("too many MARKs".into());
                }
                self.marks.push(self.stack.len());
            }
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.push(v.0, v.1)?;
            }
            b')' => self.push(PickleValue::Tuple(Vec::new()), 1)?,
            b']' => self.push(PickleValue::List(Vec::new()), 1)?,
            b'}' => self.push(PickleValue::Dict(Vec::new()), 1)?,
            b't' => {
                let items = self.pop_mark()?;
                self.push_seq(items, PickleValue::Tuple)?;
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push_seq(items, PickleValue::List)?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push_seq(items, PickleValue::Tuple)?;
            }
            b'd' => {
                let items = self.pop_mark()?;
                let (pairs, d) = pairs(items)?;
                self.push(PickleValue::Dict(pairs), d)?;
            }
            b'a' => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.extend_dict(vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.extend_dict(items)?;
            }
            b'N' => self.push(PickleValue::None, 0)?,
            0x88 => self.push(PickleValue::Bool(true), 0)?,
            0x89 => self.push(PickleValue::Bool(false), 0)?,
            b'K' => {
                let v = self.u8()? as i64;
                self.push(PickleValue::Int(v), 0)?;
            }
            b'M' => {
                let b = self.take(2)?;
                let v = u16::from_le_bytes([b[0], b[1]]) as i64;
                self.push(PickleValue::Int(v), 0)?;
            }
            b'J' => {
                let v = self.u32()? as i32 as i64;
                self.push(PickleValue::Int(v), 0)?;
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    self.u8()? as usize
                } else {
                    self.u32()? as usize
                };
                let b = self.take(n)?;
                let v = long_le(b)?;
                self.push(PickleValue::Int(v), 0)?;
            }
            b'G' => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                self.push(PickleValue::Float(f64::from_be_bytes(a)), 0)?;
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.u32()? as u64,
                    0x8c => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let n = usize::try_from(n).map_err(|_| "string length overflows")?;
                let b = self.take(n)?;
                let s = std::str::from_utf8(b).map_err(|_| "string is not UTF-8")?;
                let s = s.to_string();
                self.push(PickleValue::Str(s), 0)?;
            }
            b'B' | b'C' | 0x8e => {
                let n = match op {
                    b'B' => self.u32()? as u64,
                    b'C' => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let n = usize::try_from(n).map_err(|_| "bytes length overflows")?;
                let b = Bytes::copy_from_slice(self.take(n)?);
                self.push(PickleValue::Bytes(b), 0)?;
            }
            b'Q' => {
                let (pid, _) = self.pop()?;
                let s = self.persistent(pid)?;
                self.push(PickleValue::Storage(s), 0)?;
            }
            b'R' => {
                let (args, _) = self.pop()?;
                let (func, _) = self.pop()?;
                let (v, d) = self.reduce(func, args)?;
                self.push(v, d)?;
            }
            0x81 => {
                let (args, _) = self.pop()?;
                let (cls, _) = self.pop()?;
                match cls {
                    PickleValue::Global { module, name } if module.starts_with("__torch__") => {
                        if args.as_seq().is_none_or(|a| !a.is_empty()) {
                            return Err(format!("NEWOBJ {module}.{name} with arguments"));
                        }
                        let obj = PickleValue::Object {
                            module,
                            name,
                            state: Box::new(PickleValue::None),
                        };
                        self.push(obj, 1)?;
                    }
                    PickleValue::Global { module, name } => {
                        return Err(format!("NEWOBJ of {module}.{name} is not allowed"))
                    }
                    _ => return Err("NEWOBJ of a non-class".into()),
                }
            }
            b'b' => {
                let (state, sd) = self.pop()?;
                let top = self.top()?;
                match &mut top.0 {
                    PickleValue::Object { state: s, .. } => {
                        **s = state;
                        top.1 = top.1.max(sd + 1);
                        if top.1 > MAX_DEPTH {
                            return Err(format!("values nest deeper than {MAX_DEPTH}"));
                        }
                    }
                    PickleValue::Tensor(_) => {
                        // torch BUILDs tensors with their Python attribute dict (usually
                        // empty); the attributes do not change the data.
                    }
                    PickleValue::Dict(_) => {
                        // OrderedDict state (backward hooks): nothing to keep.
                    }
                    other => return Err(format!("BUILD on {}", kind(other))),
                }
            }
            other => {
                return Err(format!("unsupported pickle opcode 0x{other:02x}"));
            }
        }
        Ok(None)
    }

    fn push_seq(&mut self, items: Vec<Slot>, make: fn(Vec<PickleValue>) -> PickleValue) -> R<()> {
        let d = items.iter().map(|s| s.1).max().unwrap_or(0) + 1;
        self.push(make(items.into_iter().map(|s| s.0).collect()), d)
    }

    fn extend_list(&mut self, items: Vec<Slot>) -> R<()> {
        let d = items.iter().map(|s| s.1).max().unwrap_or(0) + 1;
        let top = self.top()?;
        match &mut top.0 {
            PickleValue::List(l) => l.extend(items.into_iter().map(|s| s.0)),
            other => return Err(format!("APPENDS to {}", kind(other))),
        }
        top.1 = top.1.max(d);
        if top.1 > MAX_DEPTH {
            return Err(format!("values nest deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn extend_dict(&mut self, items: Vec<Slot>) -> R<()> {
        let (new, d) = pairs(items)?;
        let top = self.top()?;
        match &mut top.0 {
            PickleValue::Dict(pairs) => {
                for (k, v) in new {
                    match pairs.iter_mut().find(|(k2, _)| *k2 == k) {
                        Some(slot) => slot.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
            }
            other => return Err(format!("SETITEMS on {}", kind(other))),
        }
        top.1 = top.1.max(d);
        if top.1 > MAX_DEPTH {
            return Err(format!("values nest deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn global(&mut self, module: String, name: String) -> R<()> {
        if !allowed_global(&module, &name) {
            return Err(format!("global {module}.{name} is not allowed"));
        }
        self.push(PickleValue::Global { module, name }, 0)
    }

    /// `('storage', torch.<T>Storage, key, location, numel)` → the storage's bytes.
    fn persistent(&mut self, pid: PickleValue) -> R<Storage> {
        let items = match &pid {
            PickleValue::Tuple(t) => t.as_slice(),
            _ => return Err("persistent id is not a tuple".into()),
        };
        let [PickleValue::Str(tag), PickleValue::Global { module, name }, PickleValue::Str(key), PickleValue::Str(location), PickleValue::Int(numel)] =
            items
        else {
            return Err("persistent id is not ('storage', type, key, location, numel)".into());
        };
        if tag != "storage" || module != "torch" {
            return Err(format!("persistent id of kind {tag:?} is not supported"));
        }
        let dtype = storage_dtype(name).ok_or_else(|| format!("unknown storage torch.{name}"))?;
        let numel =
            u64::try_from(*numel).map_err(|_| format!("storage {key} has {numel} elements"))?;
        let need = dtype
            .storage_bytes(numel)
            .filter(|&n| n <= usize::MAX as u64)
            .ok_or_else(|| format!("storage {key} size overflows"))?;
        let bytes = (self.storages)(key)?;
        if !self.need_data && (bytes.len() as u64) < need {
            return Ok(Storage {
                key: key.clone(),
                dtype,
                location: location.clone(),
                numel,
                data: Bytes::new(),
            });
        }
        if (bytes.len() as u64) < need {
            return Err(format!(
                "storage data/{key} holds {} bytes, needs {need} ({numel} x {})",
                bytes.len(),
                dtype.name()
            ));
        }
        Ok(Storage {
            key: key.clone(),
            dtype,
            location: location.clone(),
            numel,
            data: bytes.slice(..need as usize),
        })
    }

    /// The calls torch's pickles make, interpreted (never executed).
    fn reduce(&mut self, func: PickleValue, args: PickleValue) -> R<Slot> {
        let PickleValue::Global { module, name } = func else {
            return Err(format!("REDUCE of {}", kind(&func)));
        };
        let PickleValue::Tuple(mut args) = args else {
            return Err(format!("{module}.{name} called without an argument tuple"));
        };
        match (module.as_str(), name.as_str()) {
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                if args.len() < 4 {
                    return Err(format!("{name} needs 4 arguments, has {}", args.len()));
                }
                let requires_grad = matches!(args.get(4), Some(PickleValue::Bool(true)));
                let stride = dims(&args[3], "stride")?;
                let size = dims(&args[2], "size")?;
                let offset = args[1]
                    .as_int()
                    .and_then(|o| u64::try_from(o).ok())
                    .ok_or("tensor storage offset is not a non-negative int")?;
                let PickleValue::Storage(storage) =
                    std::mem::replace(&mut args[0], PickleValue::None)
                else {
                    return Err("tensor built from something that is not a storage".into());
                };
                check_view(&storage, offset, &size, &stride)?;
                Ok((
                    PickleValue::Tensor(TensorValue {
                        storage,
                        offset,
                        size,
                        stride,
                        requires_grad,
                    }),
                    0,
                ))
            }
            ("torch._utils", "_rebuild_parameter") => {
                let requires_grad = matches!(args.get(1), Some(PickleValue::Bool(true)));
                match args.into_iter().next() {
                    Some(PickleValue::Tensor(mut t)) => {
                        t.requires_grad = requires_grad;
                        Ok((PickleValue::Tensor(t), 0))
                    }
                    _ => Err("_rebuild_parameter of something that is not a tensor".into()),
                }
            }
            ("collections", "OrderedDict") => Ok((PickleValue::Dict(Vec::new()), 1)),
            ("torch", "device") => match args.into_iter().next() {
                Some(PickleValue::Str(s)) => Ok((PickleValue::Str(s), 0)),
                _ => Err("torch.device of something that is not a string".into()),
            },
            ("torch.jit._pickle", "restore_type_tag") => {
                let v = args
                    .into_iter()
                    .next()
                    .ok_or("restore_type_tag without a value")?;
                let d = depth_shallow(&v);
                Ok((v, d))
            }
            ("torch.jit._pickle", _) => match args.into_iter().next() {
                Some(PickleValue::List(l)) => {
                    let d = 1 + l.iter().map(depth_shallow).max().unwrap_or(0);
                    Ok((PickleValue::List(l), d))
                }
                _ => Err(format!("{module}.{name} of something that is not a list")),
            },
            _ => Err(format!("call of {module}.{name} is not allowed")),
        }
    }
}

/// A value's depth where its items are known to be leaves or already-checked containers;
/// only used on values that came off the stack, whose depth was already bounded.
fn depth_shallow(v: &PickleValue) -> u32 {
    match v {
        PickleValue::Tuple(x) | PickleValue::List(x) => 1 + x.len().min(1) as u32,
        PickleValue::Dict(_) | PickleValue::Object { .. } => 2,
        _ => 0,
    }
}

fn pairs(items: Vec<Slot>) -> R<(Vec<(PickleValue, PickleValue)>, u32)> {
    if !items.len().is_multiple_of(2) {
        return Err("dict items are not key/value pairs".into());
    }
    let d = items.iter().map(|s| s.1).max().unwrap_or(0) + 1;
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k.0, v.0));
    }
    Ok((out, d))
}

/// Little-endian two's complement (LONG1/LONG4) that must fit in i64.
fn long_le(b: &[u8]) -> R<i64> {
    if b.is_empty() {
        return Ok(0);
    }
    if b.len() > 8 {
        let sign = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
        if b[8..].iter().any(|&x| x != sign) {
            return Err("integer does not fit in 64 bits".into());
        }
    }
    let n = b.len().min(8);
    let fill = if b[n - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut a = [fill; 8];
    a[..n].copy_from_slice(&b[..n]);
    Ok(i64::from_le_bytes(a))
}

fn dims(v: &PickleValue, what: &str) -> R<Vec<u64>> {
    let s = v
        .as_seq()
        .ok_or_else(|| format!("tensor {what} is not a tuple"))?;
    s.iter()
        .map(|x| {
            x.as_int()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| format!("tensor {what} holds a non-dimension"))
        })
        .collect()
}

/// The view (offset, size, stride) must stay inside the storage.
fn check_view(s: &Storage, offset: u64, size: &[u64], stride: &[u64]) -> R<()> {
    if size.len() != stride.len() {
        return Err(format!(
            "tensor has {} sizes and {} strides",
            size.len(),
            stride.len()
        ));
    }
    if size.contains(&0) {
        return Ok(());
    }
    let mut last = offset;
    for (&n, &st) in size.iter().zip(stride) {
        last = (n - 1)
            .checked_mul(st)
            .and_then(|x| x.checked_add(last))
            .ok_or("tensor extent overflows")?;
    }
    if last >= s.numel {
        return Err(format!(
            "tensor of size {size:?} at offset {offset} reaches past storage {} of {} elements",
            s.key, s.numel
        ));
    }
    Ok(())
}

/// Number of value nodes in `v`, counting at most `cap`.
fn weight(v: &PickleValue, cap: usize) -> usize {
    let mut n = 0usize;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        n += 1;
        if n >= cap {
            return n;
        }
        match v {
            PickleValue::Tuple(x) | PickleValue::List(x) => todo.extend(x),
            PickleValue::Dict(p) => {
                for (k, v) in p {
                    todo.push(k);
                    todo.push(v);
                }
            }
            PickleValue::Object { state, .. } => todo.push(state),
            PickleValue::Str(s) => n += s.len() / 64,
            PickleValue::Bytes(b) => n += b.len() / 64,
            _ => {}
        }
    }
    n
}

fn kind(v: &PickleValue) -> &'static str {
    match v {
        PickleValue::None => "None",
        PickleValue::Bool(_) => "a bool",
        PickleValue::Int(_) => "an int",
        PickleValue::Float(_) => "a float",
        PickleValue::Str(_) => "a string",
        PickleValue::Bytes(_) => "bytes",
        PickleValue::Tuple(_) => "a tuple",
        PickleValue::List(_) => "a list",
        PickleValue::Dict(_) => "a dict",
        PickleValue::Global { .. } => "a global",
        PickleValue::Storage(_) => "a storage",
        PickleValue::Tensor(_) => "a tensor",
        PickleValue::Object { .. } => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_storage(_: &str) -> Result<Bytes, String> {
        Err("no storages".into())
    }

    fn run(data: &[u8]) -> Result<PickleValue, PickleError> {
        unpickle(data, &mut no_storage)
    }

    #[test]
    fn reads_containers_and_scalars() {
        // Python: pickle.dumps({'a': [1, -2, 3.5], 'b': (True, None, 'x')}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00bq\x03\x88NX\x01\x00\x00\x00xq\x04\x87q\x05u.";
        let v = run(data).unwrap();
        assert_eq!(
            v.get("a").unwrap(),
            &PickleValue::List(vec![
                PickleValue::Int(1),
                PickleValue::Int(-2),
                PickleValue::Float(3.5)
            ])
        );
        assert_eq!(
            v.get("b").unwrap(),
            &PickleValue::Tuple(vec![
                PickleValue::Bool(true),
                PickleValue::None,
                PickleValue::Str("x".into())
            ])
        );
    }

    #[test]
    fn os_system_is_refused_by_name() {
        let data = b"cos\nsystem\n(X\x02\x00\x00\x00idtR.";
        let e = run(data).unwrap_err();
        assert_eq!(e.to_string(), "at byte 0: global os.system is not allowed");
    }

    #[test]
    fn unknown_opcode_and_truncation() {
        assert!(run(b"\x80\x02\xff.")
            .unwrap_err()
            .msg
            .contains("opcode 0xff"));
        assert!(run(b"\x80\x02X\xff\xff\xff\x7fab")
            .unwrap_err()
            .msg
            .contains("bytes"));
        assert!(run(b"\x80\x02K\x01").unwrap_err().msg.contains("STOP"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut data = b"\x80\x02)".to_vec();
        data.extend(std::iter::repeat_n(0x85u8, 10_000));
        data.push(b'.');
        assert!(run(&data).unwrap_err().msg.contains("nest deeper"));
    }

    #[test]
    fn memo_copy_bomb_is_refused() {
        // A list memoized, then put into a list 2x, memoized, and so on: 2^n copies.
        let mut data = b"\x80\x02]q\x00".to_vec();
        for i in 0..60u8 {
            data.extend([b'(', b'h', i, b'h', i, b'l', b'q', i + 1]);
        }
        data.push(b'.');
        let e = run(&data).unwrap_err();
        assert!(
            e.msg.contains("copy too much") || e.msg.contains("nest"),
            "{e}"
        );
    }

    #[test]
    fn memo_store_bomb_is_refused() {
        // A 2,000-item list stored under 2,000 memo keys would be 4M values.
        let mut data = b"\x80\x02](".to_vec();
        data.extend(std::iter::repeat_n(b'N', 2000));
        data.push(b'e');
        for i in 0..2000u32 {
            data.push(b'r');
            data.extend(i.to_le_bytes());
        }
        data.push(b'.');
        assert!(run(&data).unwrap_err().msg.contains("too much"));
    }

    #[test]
    fn long1_sign() {
        assert_eq!(long_le(&[0xff]).unwrap(), -1);
        assert_eq!(long_le(&[0x00, 0x80, 0x00]).unwrap(), 0x8000);
        assert!(long_le(&[0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }
}
