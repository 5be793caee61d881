//! Element types: every ONNX `TensorProto.DataType`, with its wire code, size and text name.

use std::fmt;
use std::str::FromStr;

/// Element type of a tensor. The set and the numbering are ONNX's (the IR's vocabulary);
/// the other formats map onto it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    U8,
    I8,
    U16,
    I16,
    I32,
    I64,
    Str,
    Bool,
    F16,
    F64,
    U32,
    U64,
    C64,
    C128,
    BF16,
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    U4,
    I4,
    F4E2M1,
    F8E8M0,
    U2,
    I2,
}

/// (dtype, ONNX code, text name, bits per element; 0 for strings)
const TABLE: &[(DType, i32, &str, u32)] = &[
    (DType::F32, 1, "f32", 32),
    (DType::U8, 2, "u8", 8),
    (DType::I8, 3, "i8", 8),
    (DType::U16, 4, "u16", 16),
    (DType::I16, 5, "i16", 16),
    (DType::I32, 6, "i32", 32),
    (DType::I64, 7, "i64", 64),
    (DType::Str, 8, "str", 0),
    (DType::Bool, 9, "bool", 8),
    (DType::F16, 10, "f16", 16),
    (DType::F64, 11, "f64", 64),
    (DType::U32, 12, "u32", 32),
    (DType::U64, 13, "u64", 64),
    (DType::C64, 14, "c64", 64),
    (DType::C128, 15, "c128", 128),
    (DType::BF16, 16, "bf16", 16),
    (DType::F8E4M3FN, 17, "f8e4m3fn", 8),
    (DType::F8E4M3FNUZ, 18, "f8e4m3fnuz", 8),
    (DType::F8E5M2, 19, "f8e5m2", 8),
    (DType::F8E5M2FNUZ, 20, "f8e5m2fnuz", 8),
    (DType::U4, 21, "u4", 4),
    (DType::I4, 22, "i4", 4),
    (DType::F4E2M1, 23, "f4e2m1", 4),
    (DType::F8E8M0, 24, "f8e8m0", 8),
    (DType::U2, 25, "u2", 2),
    (DType::I2, 26, "i2", 2),
];

impl DType {
    /// Every element type, in ONNX code order.
    pub fn all() -> impl Iterator<Item = DType> {
        TABLE.iter().map(|row| row.0)
    }

    fn row(self) -> &'static (DType, i32, &'static str, u32) {
        // TABLE is ordered like the enum, so the discriminant is the row index.
        &TABLE[self as usize]
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        self.row().1
    }

    /// The element type for an ONNX `TensorProto.DataType` code (0, UNDEFINED, is `None`).
    pub fn from_onnx_code(code: i32) -> Option<DType> {
        TABLE.iter().find(|row| row.1 == code).map(|row| row.0)
    }

    /// Short name used by the text form (`f32`, `i64`, `bf16`, ...).
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Bits per element; 0 for strings, whose elements have no fixed size.
    pub fn bits(self) -> u32 {
        self.row().3
    }

    /// Bytes needed to store `count` elements packed (sub-byte types round up);
    /// `None` for strings or on overflow.
    pub fn storage_bytes(self, count: u64) -> Option<u64> {
        match self.bits() {
            0 => None,
            bits => count.checked_mul(bits as u64).map(|b| b.div_ceil(8)),
        }
    }

    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F32
                | DType::F16
                | DType::F64
                | DType::BF16
                | DType::F8E4M3FN
                | DType::F8E4M3FNUZ
                | DType::F8E5M2
                | DType::F8E5M2FNUZ
                | DType::F4E2M1
                | DType::F8E8M0
        )
    }

    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::U8
                | DType::I8
                | DType::U16
                | DType::I16
                | DType::I32
                | DType::I64
                | DType::U32
                | DType::U64
                | DType::U4
                | DType::I4
                | DType::U2
                | DType::I2
        )
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TABLE
            .iter()
            .find(|row| row.2 == s)
            .map(|row| row.0)
            .ok_or_else(|| format!("unknown element type `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_codes_round_trip() {
        for (i, dt) in DType::all().enumerate() {
            assert_eq!(dt as usize, i);
            assert_eq!(DType::from_onnx_code(dt.onnx_code()), Some(dt));
            assert_eq!(dt.name().parse::<DType>(), Ok(dt));
        }
        assert_eq!(DType::from_onnx_code(0), None);
        assert_eq!(DType::I4.storage_bytes(3), Some(2));
        assert_eq!(DType::Str.storage_bytes(3), None);
    }
}
