//! What `modelc quantize` did: sizes, per-output error on evaluation inputs, and for every
//! quantizable layer whether it was quantized or kept in float and why.

use modelc_ir::OnnxOp;
use serde::Serialize;

use super::metrics::OutputError;

/// One quantizable node and what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    pub op: String,
    pub name: String,
    pub quantized: bool,
    /// Why it stays float, or a note on how it was quantized.
    pub note: String,
}

impl Layer {
    pub fn quantized(op: OnnxOp, name: &str, note: &str) -> Layer {
        Layer {
            op: op.to_string(),
            name: name.to_string(),
            quantized: true,
            note: note.to_string(),
        }
    }

    pub fn float(op: OnnxOp, name: &str, reason: &str) -> Layer {
        Layer {
            op: op.to_string(),
            name: name.to_string(),
            quantized: false,
            note: reason.to_string(),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuantReport {
    pub mode: String,
    /// Bytes of constants before and after (the bulk of the file size).
    pub weight_bytes_before: u64,
    pub weight_bytes_after: u64,
    pub calibration_inputs: usize,
    pub calibration_seconds: f64,
    /// Where the errors were measured: `held-out` or `calibration` inputs.
    pub evaluated_on: String,
    pub evaluation_inputs: usize,
    pub outputs: Vec<OutputError>,
    pub layers: Vec<Layer>,
    /// Accuracy-budget search, when asked for.
    pub budget: Option<BudgetReport>,
    /// The opset the model was moved to because the mode's ops need it.
    pub opset: Option<OpsetChange>,
}

/// A move of the model to a newer opset.
#[derive(Debug, Clone, Serialize)]
pub struct OpsetChange {
    pub from: i64,
    pub to: i64,
    pub why: String,
}

/// What the `--max-error` search did.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    pub metric: super::metrics::Metric,
    pub max_error: f64,
    /// Error of the fully quantized model, and of the returned one.
    pub error_all_quantized: f64,
    pub error_final: f64,
    /// Layers kept in float, most sensitive first, with their sensitivity (the error when
    /// only that layer is quantized).
    pub kept_float: Vec<(String, f64)>,
    /// Every candidate layer's sensitivity, most sensitive first (empty when everything
    /// quantized was within the bound and none was measured).
    pub sensitivity: Vec<(String, f64)>,
    pub evaluations: usize,
}

impl QuantReport {
    /// A human-readable summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        s.push_str(&format!(
            "mode {}: weights {:.2} MiB -> {:.2} MiB ({:.1}%)\n",
            self.mode,
            self.weight_bytes_before as f64 / 1048576.0,
            self.weight_bytes_after as f64 / 1048576.0,
            pct(self.weight_bytes_after, self.weight_bytes_before)
        ));
        if let Some(o) = &self.opset {
            s.push_str(&format!("opset: {} -> {} ({})\n", o.from, o.to, o.why));
        }
        if self.calibration_inputs > 0 {
            s.push_str(&format!(
                "calibration: {} inputs in {:.2} s\n",
                self.calibration_inputs, self.calibration_seconds
            ));
        }
        let q = self.layers.iter().filter(|l| l.quantized).count();
        s.push_str(&format!(
            "layers: {q} quantized, {} kept in float\n",
            self.layers.len() - q
        ));
        for l in self.layers.iter().filter(|l| !l.quantized) {
            s.push_str(&format!("  float: {} {} ({})\n", l.op, l.name, l.note));
        }
        if !self.outputs.is_empty() {
            s.push_str(&format!(
                "error vs float on {} {} inputs:\n",
                self.evaluation_inputs, self.evaluated_on
            ));
            for o in &self.outputs {
                s.push_str(&format!(
                    "  {:<20} cosine {:.6}  max-rel {:.3e}{}\n",
                    o.name,
                    o.cosine,
                    o.max_rel,
                    o.top1
                        .map(|t| format!("  top-1 agreement {:.1}%", 100.0 * t))
                        .unwrap_or_default()
                ));
            }
        }
        if let Some(b) = &self.budget {
            s.push_str(&format!(
                "budget: {:?} error <= {}: all quantized {:.4e}, result {:.4e} after {} evaluations; {} layers kept in float\n",
                b.metric, b.max_error, b.error_all_quantized, b.error_final, b.evaluations, b.kept_float.len()
            ));
            for (name, sens) in &b.kept_float {
                s.push_str(&format!("  kept float: {name} (sensitivity {sens:.4e})\n"));
            }
            for (name, sens) in b.sensitivity.iter().skip(b.kept_float.len()) {
                s.push_str(&format!("  int8: {name} (sensitivity {sens:.4e})\n"));
            }
        }
        s
    }
}
