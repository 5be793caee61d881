//! `to-nhwc` on real CNNs: torchvision ResNet-18, MobileNetV2 and EfficientNet-B0 (its
//! squeeze-and-excitation scales broadcast `[N, C, 1, 1]` over the feature map), exported by
//! torch's classic ONNX exporter (`layout_cnn_models.py`, run here with the project's Python
//! environment, which also records onnxruntime's outputs on the original model). After the pass the
//! graph has no Transpose (with `keep_io_layout`, exactly one: the input's), and the
//! interpreter's outputs on the NHWC graph match onnxruntime's within 1e-4 relative.

use std::path::{Path, PathBuf};

use std::process::Command;
use std::sync::Mutex;

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::{Layout, OnnxOp, Op};
use modelc_passes::passes::layout::{to_nhwc, LayoutOptions};
use modelc_passes::testing::count_ops;

const MODELS: [&str; 3] = ["resnet18", "mobilenet_v2", "efficientnet_b0"];

/// The directory with the exported models, made when missing or stale (one test at a time);
/// `None` (the test skips) when they need making and the Python environment is missing.
fn models() -> Option<PathBuf> {
    static MAKING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/layout-cnn");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layout_cnn_models.py");
    let source = std::fs::read(&script).expect("read the export script");
    // The models are regenerated when the script that made them changed.
    let stamp = dir.join("layout_cnn_models.py");
    let fresh = std::fs::read(&stamp).is_ok_and(|s| s == source);
    let have = fresh
        && MODELS.iter().all(|m| {
            ["onnx", "input.bin", "output.bin"]
                .iter()
                .all(|ext| dir.join(format!("{m}.{ext}")).exists())
        });
    if !have {
        let python = modelc_testkit::python()?;
        let status = Command::new(python)
            .arg(&script)
            .arg(&dir)
            .args(MODELS)
            .status()
            .expect("run the model export script");
        assert!(status.success(), "layout_cnn_models.py failed: {status}");
        std::fs::write(&stamp, &source).expect("write the stamp");
    }
    Some(dir)
}

fn read_f32(path: &Path, shape: &[usize]) -> Array {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Array::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).unwrap())
}

/// Converts `name` and checks transposes, layouts and outputs against onnxruntime.
fn check(name: &str, keep_io_layout: bool) {
    let Some(dir) = models() else {
        return;
    };
    let mut model = modelc_onnx::read(&dir.join(format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let convs = count_ops(&model.graph, "Conv");
    assert!(convs > 10, "{name} has {convs} convolutions");
    let opset = model
        .opset_imports
        .iter()
        .find(|o| o.domain.is_empty())
        .map(|o| o.version);
    let opts = LayoutOptions {
        keep_io_layout,
        opset,
    };
    let start = std::time::Instant::now();
    to_nhwc(&mut model.graph, &opts).unwrap();
    eprintln!("{name}: to-nhwc took {:?}", start.elapsed());
    modelc_ir::validate::validate_graph(&model.graph, false).unwrap_or_else(|e| panic!("{e}"));

    let g = &model.graph;
    let transposes: Vec<_> = g
        .node_ids()
        .filter(|&id| g.node(id).op == Op::Onnx(OnnxOp::Transpose))
        .collect();
    if keep_io_layout {
        // Only the boundary transpose right after the graph input.
        assert_eq!(transposes.len(), 1, "{name}: transposes inside the graph");
        let src = g.input(transposes[0], 0).unwrap();
        assert!(
            g.inputs().contains(&src.node),
            "{name}: the transpose is not at the input"
        );
    } else {
        assert!(
            transposes.is_empty(),
            "{name}: {} transposes",
            transposes.len()
        );
    }
    let sensitive: Vec<Option<Layout>> = g
        .node_ids()
        .filter(|&id| {
            g.node(id)
                .op
                .onnx()
                .is_some_and(|o| o.is_layout_sensitive())
        })
        .map(|id| g.node(id).layout)
        .collect();
    assert!(sensitive.len() > convs);
    assert!(
        sensitive.iter().all(|&l| l == Some(Layout::Nhwc)),
        "{name}: NCHW nodes left"
    );

    let x = read_f32(&dir.join(format!("{name}.input.bin")), &[1, 3, 224, 224]);
    let x = if keep_io_layout {
        x
    } else {
        let Array::F32(a) = x else { unreachable!() };
        Array::F32(
            a.permuted_axes(ndarray::IxDyn(&[0, 2, 3, 1]))
                .as_standard_layout()
                .into_owned(),
        )
    };
    let want = read_f32(&dir.join(format!("{name}.output.bin")), &[1, 1000]);
    let out = Interpreter::new(&model)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(vec![("input".into(), Data::Tensor(x))])
        .unwrap_or_else(|e| panic!("{e}"));
    let Data::Tensor(got) = &out[0].1 else {
        panic!("not a tensor")
    };
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
    let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = g
        .iter()
        .zip(&w)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    eprintln!(
        "{name} keep_io_layout={keep_io_layout}: max |error| {err:.3e}, max |output| {scale:.3e}"
    );
    assert!(
        err <= 1e-4 * scale,
        "{name}: max error {err} exceeds 1e-4 of the output scale {scale}"
    );
}

#[test]
fn resnet18_nhwc_io() {
    check("resnet18", false);
}

#[test]
fn resnet18_keep_io_layout() {
    check("resnet18", true);
}

#[test]
fn mobilenet_v2_nhwc_io() {
    check("mobilenet_v2", false);
}

#[test]
fn mobilenet_v2_keep_io_layout() {
    check("mobilenet_v2", true);
}

#[test]
fn efficientnet_b0_nhwc_io() {
    check("efficientnet_b0", false);
}
