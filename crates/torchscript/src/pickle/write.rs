//! The project's own pickler: [`PickleValue`] → pickle protocol 2, the way `torch.jit.save`
//! writes `data.pkl` and `constants.pkl`.
//!
//! Tensors become `torch._utils._rebuild_tensor_v2(<persistent id>, offset, size, stride,
//! requires_grad, collections.OrderedDict())`, where the persistent id is the tuple
//! `('storage', torch.<Type>Storage, key, location, numel)` that names the archive entry
//! `data/<key>`; TorchScript objects become `GLOBAL __torch__.<Class>`, `NEWOBJ` on an empty
//! tuple, then `BUILD` with their attribute dict. No memo is written: torch's unpickler does
//! not need one, and every value written here is a tree.

use super::{storage_class, PickleValue, Storage, TensorValue};
use crate::TorchScriptError;

// Opcodes (Python's `pickle` module names), protocol 2 and below.
const PROTO: u8 = 0x80;
const STOP: u8 = b'.';
const MARK: u8 = b'(';
const NONE: u8 = b'N';
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const LONG1: u8 = 0x8a;
const BINFLOAT: u8 = b'G';
const BINUNICODE: u8 = b'X';
const EMPTY_TUPLE: u8 = b')';
const TUPLE: u8 = b't';
const TUPLE1: u8 = 0x85;
const TUPLE2: u8 = 0x86;
const TUPLE3: u8 = 0x87;
const EMPTY_LIST: u8 = b']';
const APPENDS: u8 = b'e';
const EMPTY_DICT: u8 = b'}';
const SETITEMS: u8 = b'u';
const GLOBAL: u8 = b'c';
const REDUCE: u8 = b'R';
const NEWOBJ: u8 = 0x81;
const BUILD: u8 = b'b';
const BINPERSID: u8 = b'Q';

/// A pickled value and the storages it refers to (each once, in first-use order), which the
/// archive writer stores as `data/<key>`.
#[derive(Debug)]
pub struct Pickled {
    pub bytes: Vec<u8>,
    pub storages: Vec<Storage>,
}

/// Pickles `value` with protocol 2.
pub fn to_pickle(value: &PickleValue) -> Result<Pickled, TorchScriptError> {
    let mut w = Writer {
        out: vec![PROTO, 2],
        storages: Vec::new(),
    };
    w.value(value)?;
    w.out.push(STOP);
    Ok(Pickled {
        bytes: w.out,
        storages: w.storages,
    })
}

struct Writer {
    out: Vec<u8>,
    storages: Vec<Storage>,
}

impl Writer {
    fn value(&mut self, v: &PickleValue) -> Result<(), TorchScriptError> {
        match v {
            PickleValue::None => self.out.push(NONE),
            PickleValue::Bool(b) => self.out.push(if *b { NEWTRUE } else { NEWFALSE }),
            PickleValue::Int(i) => self.int(*i),
            PickleValue::Float(f) => {
                self.out.push(BINFLOAT);
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            PickleValue::Str(s) => self.str(s),
            PickleValue::Bytes(_) => {
                // Protocol 2 has no bytes opcode and torch never pickles raw bytes in an
                // archive's data.pkl: a bytes value here is a caller's mistake.
                return Err(TorchScriptError::Unsupported(
                    "a bytes value cannot be pickled with protocol 2".into(),
                ));
            }
            PickleValue::Tuple(items) => self.tuple(items)?,
            PickleValue::List(items) => {
                self.out.push(EMPTY_LIST);
                if !items.is_empty() {
                    self.out.push(MARK);
                    for item in items {
                        self.value(item)?;
                    }
                    self.out.push(APPENDS);
                }
            }
            PickleValue::Dict(items) => self.dict(items)?,
            PickleValue::Global { module, name } => self.global(module, name),
            PickleValue::Storage(s) => self.storage(s)?,
            PickleValue::Tensor(t) => self.tensor(t)?,
            PickleValue::Object {
                module,
                name,
                state,
            } => {
                self.global(module, name);
                self.out.push(EMPTY_TUPLE);
                self.out.push(NEWOBJ);
                self.value(state)?;
                self.out.push(BUILD);
            }
        }
        Ok(())
    }

    fn int(&mut self, i: i64) {
        if (0..=0xff).contains(&i) {
            self.out.extend_from_slice(&[BININT1, i as u8]);
        } else if (0..=0xffff).contains(&i) {
            self.out.push(BININT2);
            self.out.extend_from_slice(&(i as u16).to_le_bytes());
        } else if let Ok(i) = i32::try_from(i) {
            self.out.push(BININT);
            self.out.extend_from_slice(&i.to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, 8 bytes always suffice for an i64.
            self.out.extend_from_slice(&[LONG1, 8]);
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        self.out.push(BINUNICODE);
        // Strings written here are names and keys, far below 4 GiB.
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn global(&mut self, module: &str, name: &str) {
        self.out.push(GLOBAL);
        self.out.extend_from_slice(module.as_bytes());
        self.out.push(b'\n');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'\n');
    }

    fn tuple(&mut self, items: &[PickleValue]) -> Result<(), TorchScriptError> {
        let short = match items.len() {
            0 => Some(EMPTY_TUPLE),
            1 => Some(TUPLE1),
            2 => Some(TUPLE2),
            3 => Some(TUPLE3),
            _ => None,
        };
        if short.is_none() {
            self.out.push(MARK);
        }
        for item in items {
            self.value(item)?;
        }
        self.out.push(short.unwrap_or(TUPLE));
        Ok(())
    }

    fn dict(&mut self, items: &[(PickleValue, PickleValue)]) -> Result<(), TorchScriptError> {
        self.out.push(EMPTY_DICT);
        if !items.is_empty() {
            self.out.push(MARK);
            for (k, v) in items {
                self.value(k)?;
                self.value(v)?;
            }
            self.out.push(SETITEMS);
        }
        Ok(())
    }

    /// The persistent id of a storage; the storage is remembered for the archive.
    fn storage(&mut self, s: &Storage) -> Result<(), TorchScriptError> {
        let class = storage_class(s.dtype).ok_or_else(|| {
            TorchScriptError::Unsupported(format!(
                "torch has no storage type for {} tensors",
                s.dtype
            ))
        })?;
        self.out.push(MARK);
        self.str("storage");
        self.global("torch", class);
        self.str(&s.key);
        self.str(&s.location);
        self.int(s.numel as i64);
        self.out.push(TUPLE);
        self.out.push(BINPERSID);
        if !self.storages.iter().any(|k| k.key == s.key) {
            self.storages.push(s.clone());
        }
        Ok(())
    }

    fn tensor(&mut self, t: &TensorValue) -> Result<(), TorchScriptError> {
        let ints =
            |v: &[u64]| PickleValue::Tuple(v.iter().map(|&d| PickleValue::Int(d as i64)).collect());
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.push(MARK);
        self.storage(&t.storage)?;
        self.int(t.offset as i64);
        self.value(&ints(&t.size))?;
        self.value(&ints(&t.stride))?;
        self.value(&PickleValue::Bool(t.requires_grad))?;
        // Backward hooks: always an empty OrderedDict.
        self.global("collections", "OrderedDict");
        self.out.push(EMPTY_TUPLE);
        self.out.push(REDUCE);
        self.out.push(TUPLE);
        self.out.push(REDUCE);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use modelc_ir::DType;

    use super::*;

    #[test]
    fn ints_use_the_smallest_opcode() {
        let p = to_pickle(&PickleValue::List(vec![
            PickleValue::Int(7),
            PickleValue::Int(300),
            PickleValue::Int(-1),
            PickleValue::Int(1 << 40),
        ]))
        .unwrap();
        assert_eq!(
            p.bytes,
            [
                &[PROTO, 2, EMPTY_LIST, MARK, BININT1, 7, BININT2, 44, 1, BININT][..],
                &(-1i32).to_le_bytes(),
                &[LONG1, 8],
                &(1i64 << 40).to_le_bytes(),
                &[APPENDS, STOP],
            ]
            .concat()
        );
    }

    #[test]
    fn shared_storage_is_listed_once() {
        let storage = Storage {
            key: "0".into(),
            dtype: DType::F32,
            location: "cpu".into(),
            numel: 2,
            data: Bytes::from(vec![0u8; 8]),
        };
        let t = |offset| {
            PickleValue::Tensor(TensorValue {
                storage: storage.clone(),
                offset,
                size: vec![1],
                stride: vec![1],
                requires_grad: false,
            })
        };
        let p = to_pickle(&PickleValue::Tuple(vec![t(0), t(1)])).unwrap();
        assert_eq!(p.storages.len(), 1);
        let text = String::from_utf8_lossy(&p.bytes);
        assert_eq!(
            text.matches("ctorch._utils\n_rebuild_tensor_v2\n").count(),
            2
        );
        assert!(text.contains("ctorch\nFloatStorage\n"));
    }

    #[test]
    fn unsigned_wide_types_have_no_storage() {
        let s = Storage {
            key: "0".into(),
            dtype: DType::U32,
            location: "cpu".into(),
            numel: 0,
            data: Bytes::new(),
        };
        let err = to_pickle(&PickleValue::Storage(s)).unwrap_err();
        assert!(err.to_string().contains("no storage type for u32"), "{err}");
    }
}
