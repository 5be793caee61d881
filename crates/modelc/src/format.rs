//! Model formats and how a path names one.

use std::fmt;
use std::path::Path;

/// A model file format modelc knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    Onnx,
    Tflite,
    TorchScript,
}

impl Format {
    /// The format a file extension names: `.onnx`, `.tflite`, `.pt`/`.pth`/`.torchscript`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "onnx" => Some(Format::Onnx),
            "tflite" => Some(Format::Tflite),
            "pt" | "pth" | "torchscript" => Some(Format::TorchScript),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Onnx => "ONNX",
            Format::Tflite => "TFLite",
            Format::TorchScript => "TorchScript",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
