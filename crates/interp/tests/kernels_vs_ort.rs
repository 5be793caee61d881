//! The fast kernels (direct depthwise, 1×1 and im2col convolutions, threaded matrix
//! products, activations applied in place) against onnxruntime on random inputs over the
//! shapes, strides, pads, groups and dilations they special-case (`kernel_cases.py` makes
//! the models and onnxruntime's outputs), each run on one and on two threads: the two runs
//! must be bit-identical, and bit-identical to a run with an observer (which computes fused
//! activations as separate nodes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::ValueType;

/// The cases' directory, made when missing or when the script changed; `None` (the test
/// skips) when it needs making and the Python environment is missing.
fn cases_dir() -> Option<PathBuf> {
    static MAKING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = here.join("../../target/interp-kernel-cases");
    let script = here.join("tests/kernel_cases.py");
    let source = std::fs::read(&script).expect("read kernel_cases.py");
    let stamp = dir.join("kernel_cases.py");
    let fresh = std::fs::read(&stamp).is_ok_and(|s| s == source) && dir.join("cases.txt").exists();
    if !fresh {
        let python = modelc_testkit::python()?;
        let status = Command::new(python)
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("run kernel_cases.py");
        assert!(status.success(), "kernel_cases.py failed: {status}");
        std::fs::write(&stamp, &source).expect("write the stamp");
    }
    Some(dir)
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn run_on(
    threads: usize,
    interp: &Interpreter<'_>,
    inputs: &[(String, Data)],
    observed: bool,
) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    let out = pool
        .install(|| {
            if observed {
                interp.run_observed(inputs.to_vec(), &mut |_, _| {})
            } else {
                interp.run(inputs.to_vec())
            }
        })
        .expect("the interpreter runs the case");
    match &out[0].1 {
        Data::Tensor(Array::F32(a)) => a.iter().copied().collect(),
        other => panic!("unexpected output {other:?}"),
    }
}

#[test]
fn fast_kernels_match_onnxruntime_and_each_thread_count() {
    let Some(dir) = cases_dir() else {
        return;
    };
    let names = std::fs::read_to_string(dir.join("cases.txt")).expect("cases.txt");
    let mut checked = 0;
    for name in names.lines().filter(|l| !l.is_empty()) {
        let model = modelc_onnx::read(&dir.join(format!("{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let interp = Interpreter::new(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs: Vec<(String, Data)> = model
            .graph
            .inputs()
            .iter()
            .enumerate()
            .map(|(k, &id)| {
                let value = &model.graph.node(id).outputs[0];
                let Some(ValueType::Tensor(tt)) = value.ty.as_ref().map(|t| &t.ty) else {
                    panic!("{name}: input {k} has no tensor type");
                };
                let shape: Vec<usize> = tt
                    .shape
                    .as_ref()
                    .expect("declared shape")
                    .0
                    .iter()
                    .map(|d| d.known().expect("a fixed size") as usize)
                    .collect();
                let v = read_f32(&dir.join(format!("{name}.in{k}.bin")));
                let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v).unwrap();
                (value.name.clone(), Data::Tensor(Array::F32(a)))
            })
            .collect();
        let want = read_f32(&dir.join(format!("{name}.out.bin")));
        let one = run_on(1, &interp, &inputs, false);
        let two = run_on(2, &interp, &inputs, false);
        let unfused = run_on(1, &interp, &inputs, true);
        assert_eq!(one.len(), want.len(), "{name}: output size");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
        let worst = one
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5 * scale * 16.0,
            "{name}: max abs error {worst} against onnxruntime (output scale {scale})"
        );
        let same = one
            .iter()
            .zip(&two)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: one and two threads differ");
        let same = one
            .iter()
            .zip(&unfused)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: fused and unfused activations differ");
        checked += 1;
    }
    assert!(checked >= 23, "only {checked} cases");
}
