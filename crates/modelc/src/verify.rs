//! Comparing two models on the same inputs: what `modelc verify` prints and
//! `modelc.verify` returns in Python.

use modelc_ir::{Model, Tensor};

use crate::run::{self, Difference, OutputLayout, RunError};
use crate::Format;

/// Why two models could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("A has {a} outputs, B has {b}")]
    OutputCount { a: usize, b: usize },
    #[error("{0}")]
    Compare(String),
}

/// The comparison of B's outputs against A's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// What was done to A's inputs for B (a layout transpose), or empty.
    pub inputs: String,
    pub rtol: f64,
    pub atol: f64,
    /// One per output, in A's output order.
    pub outputs: Vec<Difference>,
    /// Whether every element of every output is within |b - a| <= atol + rtol * |a|.
    pub ok: bool,
    /// The inputs B ran on (A's, renamed and transposed for B), for comparing more of B.
    #[serde(skip)]
    pub inputs_for_b: Vec<(String, Tensor)>,
}

/// Runs A on `given` and B on the same inputs (renamed to B's by position, and transposed
/// channels first to last where B takes them so), and compares every output. `b_format` is
/// the format B was read from: only a .tflite's own record says which of its inputs and
/// outputs are channels last (one carried into another format by a conversion describes the
/// file it came from).
pub fn verify(
    a: &Model,
    b: &Model,
    b_format: Format,
    given: &[(String, Tensor)],
    rtol: f64,
    atol: f64,
) -> Result<Verified, VerifyError> {
    let recorded = match b_format {
        Format::Tflite => modelc_tflite::channels_last_io(b),
        _ => None,
    };
    let (for_b, note, channels_last) = adapt_inputs(b, given, recorded.as_deref());
    let out_a = run::run(a, given)?;
    let out_b = run::run(b, &for_b)?;
    if out_a.len() != out_b.len() {
        return Err(VerifyError::OutputCount {
            a: out_a.len(),
            b: out_b.len(),
        });
    }
    let mut outputs = Vec::new();
    for ((name, ta), (b_name, tb)) in out_a.iter().zip(&out_b) {
        let layout = match &recorded {
            Some(names) => OutputLayout::Recorded(names.contains(b_name)),
            None => OutputLayout::Guess(channels_last),
        };
        outputs.push(run::compare(name, tb, ta, rtol, atol, layout).map_err(VerifyError::Compare)?);
    }
    let ok = outputs.iter().all(|d| d.within);
    Ok(Verified {
        inputs: note,
        rtol,
        atol,
        outputs,
        ok,
        inputs_for_b: for_b,
    })
}

/// Renames A's inputs to B's by position and transposes channels-first inputs to channels
/// last where B takes them so. `recorded`: the inputs and outputs B's file lists as made
/// channels last (a .tflite modelc wrote); they are transposed, and nothing else. Without
/// it, shapes decide: a 4-D input that fits B only transposed is transposed, and then B
/// "takes channels last", so a 4-D input whose dims fit either way (C = H = W) is transposed
/// too (and so are such outputs, see `run::OutputLayout::Guess`). Returns B's inputs, a note
/// of what was done, and whether B takes channels last.
fn adapt_inputs(
    b: &crate::Model,
    given: &[(String, crate::ir::Tensor)],
    recorded: Option<&[String]>,
) -> (Vec<(String, crate::ir::Tensor)>, String, bool) {
    let declared = crate::run::declared_inputs(b);
    // B's declared dims per input, `None` where symbolic or unknown.
    let wants: Vec<Option<Vec<Option<u64>>>> = declared
        .iter()
        .map(|(_, ty)| {
            ty.as_ref()
                .and_then(|ty| ty.as_tensor())
                .and_then(|tt| tt.shape.as_ref())
                .map(|s| s.0.iter().map(|d| d.known()).collect())
        })
        .collect();
    let fits = |w: &[Option<u64>], dims: &[u64]| {
        w.len() == dims.len() && w.iter().zip(dims).all(|(w, d)| w.is_none_or(|w| w == *d))
    };
    let nhwc = |d: &[u64]| [d[0], d[2], d[3], d[1]];
    let fits_nhwc = |t: &crate::ir::Tensor, w: &Option<Vec<Option<u64>>>| {
        t.raw().is_some()
            && t.dims.len() == 4
            && w.as_ref().is_some_and(|w| fits(w, &nhwc(&t.dims)))
    };
    let channels_last = match recorded {
        Some(names) => declared.iter().any(|(n, _)| names.contains(n)),
        None => given
            .iter()
            .zip(&wants)
            .any(|((_, t), w)| fits_nhwc(t, w) && w.as_ref().is_some_and(|w| !fits(w, &t.dims))),
    };
    let mut notes = Vec::new();
    let out = given
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            let Some((b_name, _)) = declared.get(i) else {
                return (name.clone(), t.clone());
            };
            let transpose = match recorded {
                Some(names) => names.contains(b_name) && t.dims.len() >= 3 && t.raw().is_some(),
                None => {
                    let w = &wants[i];
                    let only_nhwc = w.as_ref().is_some_and(|w| !fits(w, &t.dims));
                    fits_nhwc(t, w) && (only_nhwc || channels_last)
                }
            };
            if transpose {
                notes.push(format!("`{name}` transposed channels first to last for B"));
                (b_name.clone(), crate::run::channels_to_last(t))
            } else {
                (b_name.clone(), t.clone())
            }
        })
        .collect();
    (out, notes.join("; "), channels_last)
}
