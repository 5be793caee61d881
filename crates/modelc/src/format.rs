//! Model formats and how a path names one.

use std::fmt;
use std::path::Path;

/// A model file format modelc knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    Onnx,
    Tflite,
    TorchScript,
    /// A `torch.export` archive (`torch.export.save`).
    Pt2,
    /// An ExecuTorch program (written only).
    Pte,
}

impl Format {
    /// The format a file extension names: `.onnx`, `.tflite`, `.pt`/`.pth`/`.torchscript`,
    /// `.pt2`, `.pte`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "onnx" => Some(Format::Onnx),
            "tflite" => Some(Format::Tflite),
            "pt" | "pth" | "torchscript" => Some(Format::TorchScript),
            "pt2" => Some(Format::Pt2),
            "pte" => Some(Format::Pte),
            _ => None,
        }
    }

    /// The format the first bytes of a file show, where they show one: a zip archive
    /// (`PK\x03\x04`) is a TorchScript archive (or a `.pt2`: a zip's directory tells them
    /// apart, see [`crate::input_format`]), the file identifier `TFL3` at byte 4 a TFLite
    /// flatbuffer, `ET` and two letters or digits (`ET12`) an ExecuTorch program. ONNX
    /// protobufs carry no signature (see [`Format::looks_like_onnx`]).
    pub fn from_content(head: &[u8]) -> Option<Format> {
        if head.starts_with(b"PK\x03\x04") {
            Some(Format::TorchScript)
        } else if head.get(4..8) == Some(b"TFL3") {
            Some(Format::Tflite)
        } else if modelc_pte::is_pte(head) {
            Some(Format::Pte)
        } else {
            None
        }
    }

    /// Whether the first bytes could begin an ONNX `ModelProto` as exporters write it: field 1
    /// (`ir_version`, a varint) first.
    pub fn looks_like_onnx(head: &[u8]) -> bool {
        head.first() == Some(&0x08)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "ONNX",
            Format::Tflite => "TFLite",
            Format::TorchScript => "TorchScript",
            Format::Pt2 => "torch.export (.pt2)",
            Format::Pte => "ExecuTorch (.pte)",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
