//! Call arguments of an aten/prim op, read by position or keyword like torch's schemas.

use modelc_ir::DType;

use super::value::{PyValue, TensorRef};

pub struct Args {
    pub pos: Vec<PyValue>,
    pub kw: Vec<(String, PyValue)>,
}

impl Args {
    pub fn get(&self, i: usize, name: &str) -> Option<&PyValue> {
        self.pos
            .get(i)
            .or_else(|| self.kw.iter().find(|(k, _)| k == name).map(|(_, v)| v))
    }

    /// Present and not `None`.
    pub fn some(&self, i: usize, name: &str) -> Option<&PyValue> {
        self.get(i, name).filter(|v| !matches!(v, PyValue::None))
    }

    pub fn t(&self, i: usize, name: &str) -> Result<TensorRef, String> {
        match self.get(i, name) {
            Some(PyValue::Tensor(t)) => Ok(*t),
            Some(v) => Err(format!("argument `{name}` is a {}, not a Tensor", v.kind())),
            None => Err(format!("argument `{name}` is missing")),
        }
    }

    pub fn opt_t(&self, i: usize, name: &str) -> Result<Option<TensorRef>, String> {
        match self.some(i, name) {
            None => Ok(None),
            Some(PyValue::Tensor(t)) => Ok(Some(*t)),
            Some(v) => Err(format!("argument `{name}` is a {}, not a Tensor", v.kind())),
        }
    }

    pub fn int(&self, i: usize, name: &str, default: Option<i64>) -> Result<i64, String> {
        match self.some(i, name) {
            Some(v) => v.as_int().ok_or_else(|| {
                format!("argument `{name}` must be a constant int, is {}", v.kind())
            }),
            None => default.ok_or_else(|| format!("argument `{name}` is missing")),
        }
    }

    pub fn f64(&self, i: usize, name: &str, default: Option<f64>) -> Result<f64, String> {
        match self.some(i, name) {
            Some(v) => v.as_f64().ok_or_else(|| {
                format!(
                    "argument `{name}` must be a constant number, is {}",
                    v.kind()
                )
            }),
            None => default.ok_or_else(|| format!("argument `{name}` is missing")),
        }
    }

    pub fn bool(&self, i: usize, name: &str, default: bool) -> Result<bool, String> {
        match self.some(i, name) {
            Some(PyValue::Bool(b)) => Ok(*b),
            Some(PyValue::Int(i)) => Ok(*i != 0),
            Some(v) => Err(format!(
                "argument `{name}` must be a constant bool, is {}",
                v.kind()
            )),
            None => Ok(default),
        }
    }

    pub fn ints(&self, i: usize, name: &str, default: Option<&[i64]>) -> Result<Vec<i64>, String> {
        match self.some(i, name) {
            Some(v) => v.as_ints().ok_or_else(|| {
                format!(
                    "argument `{name}` must be a constant int list, is {}",
                    v.kind()
                )
            }),
            None => default
                .map(|d| d.to_vec())
                .ok_or_else(|| format!("argument `{name}` is missing")),
        }
    }

    pub fn str(&self, i: usize, name: &str, default: &str) -> Result<String, String> {
        match self.some(i, name) {
            Some(PyValue::Str(s)) => Ok(s.clone()),
            Some(v) => Err(format!(
                "argument `{name}` must be a string, is {}",
                v.kind()
            )),
            None => Ok(default.to_string()),
        }
    }
}

/// torch's ScalarType codes → element types.
pub fn scalar_type(code: i64) -> Option<DType> {
    Some(match code {
        0 => DType::U8,
        1 => DType::I8,
        2 => DType::I16,
        3 => DType::I32,
        4 => DType::I64,
        5 => DType::F16,
        6 => DType::F32,
        7 => DType::F64,
        11 => DType::Bool,
        15 => DType::BF16,
        _ => return None,
    })
}

/// Element types → torch's ScalarType codes.
pub fn scalar_code(d: DType) -> i64 {
    match d {
        DType::U8 => 0,
        DType::I8 => 1,
        DType::I16 => 2,
        DType::I32 => 3,
        DType::I64 => 4,
        DType::F16 => 5,
        DType::F64 => 7,
        DType::Bool => 11,
        DType::BF16 => 15,
        _ => 6,
    }
}
