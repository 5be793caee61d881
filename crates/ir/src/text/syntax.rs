//! Lexical pieces shared by the printer and the parser: identifiers, quoting, float literals.
//!
//! The printer checks nothing it cannot also read back: float formatting and parsing live
//! side by side here so that the round trip is exact by construction.

use std::fmt::Write;

use half::{bf16, f16};

/// `[A-Za-z_][A-Za-z0-9_.]*`: value names, attribute names, graph names, symbolic dims.
pub(super) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_ident_start(c)) && chars.all(is_ident_char)
}

/// `[A-Za-z_][A-Za-z0-9_]*`: one dot-separated segment of an op or function name.
pub(super) fn is_segment(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_ident_start(c)) && chars.all(is_segment_char)
}

pub(super) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(super) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

pub(super) fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A dotted domain such as `com.example` or `ai.onnx.ml`, printable without quotes.
pub(super) fn is_dotted(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_segment)
}

/// Appends `bytes` as a quoted string: `"` and `\` escaped, `\n` `\r` `\t`, other control
/// characters and bytes that are not UTF-8 as `\xNN`.
pub(super) fn quote(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
}

/// Appends a name: bare when it is an identifier, quoted otherwise.
pub(super) fn name(out: &mut String, s: &str) {
    if is_ident(s) {
        out.push_str(s);
    } else {
        quote(out, s.as_bytes());
    }
}

/// Appends `x"0a1b..."`: bytes in hex.
pub(super) fn hex_bytes(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2 + 3);
    out.push_str("x\"");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('"');
}

/// Appends an op, function or custom-op reference `domain.Name`; the domain is written bare
/// when it is dotted identifiers and quoted otherwise, the name bare when it is a segment.
pub(super) fn qualified(out: &mut String, domain: &str, name: &str) {
    if is_dotted(domain) {
        out.push_str(domain);
    } else {
        quote(out, domain.as_bytes());
    }
    out.push('.');
    segment(out, name);
}

pub(super) fn segment(out: &mut String, s: &str) {
    if is_segment(s) {
        out.push_str(s);
    } else {
        quote(out, s.as_bytes());
    }
}

/// The floating-point element types that print as decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FloatKind {
    F16,
    BF16,
    F32,
    F64,
}

impl FloatKind {
    pub(super) fn bits(self) -> u32 {
        match self {
            FloatKind::F16 | FloatKind::BF16 => 16,
            FloatKind::F32 => 32,
            FloatKind::F64 => 64,
        }
    }

    fn canonical_nan(self) -> u64 {
        match self {
            FloatKind::F16 => f16::NAN.to_bits() as u64,
            FloatKind::BF16 => bf16::NAN.to_bits() as u64,
            FloatKind::F32 => f32::NAN.to_bits() as u64,
            FloatKind::F64 => f64::NAN.to_bits(),
        }
    }

    pub(super) fn is_nan(self, bits: u64) -> bool {
        match self {
            FloatKind::F16 => f16::from_bits(bits as u16).is_nan(),
            FloatKind::BF16 => bf16::from_bits(bits as u16).is_nan(),
            FloatKind::F32 => f32::from_bits(bits as u32).is_nan(),
            FloatKind::F64 => f64::from_bits(bits).is_nan(),
        }
    }

    /// Appends the element with bit pattern `bits`: the shortest decimal that reads back to
    /// the same bits (always with a `.` or an exponent), `inf`, `-inf`, `nan` for the
    /// canonical quiet NaN, and `nan(0x...)` with the full bit pattern for any other NaN.
    pub(super) fn format(self, out: &mut String, bits: u64) {
        if self.is_nan(bits) {
            if bits == self.canonical_nan() {
                out.push_str("nan");
            } else {
                let width = (self.bits() / 4) as usize;
                let _ = write!(out, "nan(0x{bits:0width$x})");
            }
            return;
        }
        // Debug formatting is the shortest representation that parses back to the same value,
        // and always shows a `.` or an exponent; f16 and bf16 widen to f32 exactly.
        let _ = match self {
            FloatKind::F16 => write!(out, "{:?}", f16::from_bits(bits as u16).to_f32()),
            FloatKind::BF16 => write!(out, "{:?}", bf16::from_bits(bits as u16).to_f32()),
            FloatKind::F32 => write!(out, "{:?}", f32::from_bits(bits as u32)),
            FloatKind::F64 => write!(out, "{:?}", f64::from_bits(bits)),
        };
    }

    /// The bits of a decimal literal (as lexed by the parser: `-?digits[.digits][e[+-]digits]`
    /// or `-?inf`), rounded to this type.
    pub(super) fn parse_decimal(self, s: &str) -> Option<u64> {
        Some(match self {
            FloatKind::F16 => f16::from_f32(s.parse::<f32>().ok()?).to_bits() as u64,
            FloatKind::BF16 => bf16::from_f32(s.parse::<f32>().ok()?).to_bits() as u64,
            FloatKind::F32 => s.parse::<f32>().ok()?.to_bits() as u64,
            FloatKind::F64 => s.parse::<f64>().ok()?.to_bits(),
        })
    }

    pub(super) fn canonical_nan_bits(self) -> u64 {
        self.canonical_nan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(kind: FloatKind, bits: u64) -> bool {
        let mut s = String::new();
        kind.format(&mut s, bits);
        let back = if s == "nan" {
            Some(kind.canonical_nan_bits())
        } else if let Some(hex) = s.strip_prefix("nan(0x").and_then(|r| r.strip_suffix(')')) {
            u64::from_str_radix(hex, 16).ok()
        } else {
            kind.parse_decimal(&s)
        };
        back == Some(bits)
    }

    #[test]
    fn every_half_and_bfloat16_pattern_round_trips() {
        for bits in 0..=u16::MAX as u64 {
            assert!(round_trip(FloatKind::F16, bits), "f16 {bits:#x}");
            assert!(round_trip(FloatKind::BF16, bits), "bf16 {bits:#x}");
        }
    }

    #[test]
    fn float_and_double_patterns_round_trip() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for special in [
            0u64,
            1,
            0x8000_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_0000,
            0x7fc0_0001,
            0xffc0_0000,
        ] {
            assert!(round_trip(FloatKind::F32, special));
        }
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert!(round_trip(FloatKind::F32, x & 0xffff_ffff), "f32 {x:#x}");
            assert!(round_trip(FloatKind::F64, x), "f64 {x:#x}");
        }
    }

    #[test]
    fn quoting_escapes_what_it_must() {
        let mut s = String::new();
        quote(&mut s, b"a\"b\\c\nd\x01\xff\xc3\xa9\xc2\x85");
        assert_eq!(s, r#""a\"b\\c\nd\x01\xffé\xc2\x85""#);
    }
}
