//! TorchScript models made by torch (testdata/make_torchscript.py: traced and scripted)
//! import into one IR graph whose outputs, run by modelc's interpreter, match torch's
//! outputs stored next to each model.
//!
//! The small models are committed under testdata/torchscript; the torchvision ones
//! (ResNet-18, MobileNetV2, TransformerEncoder) are made at test time under
//! target/testdata/torchscript by the same script when MODELC_PYTHON is set (CI sets it).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::{DType, Tensor};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads a little-endian float32 `.npy` (what the generator writes).
fn read_npy(path: &Path) -> Tensor {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "{}", path.display());
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_s = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let dims: Vec<u64> = shape_s
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    Tensor::from_raw(DType::F32, dims, Bytes::copy_from_slice(&b[10 + hlen..])).unwrap()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.raw()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Imports DIR/model.pt, runs it on DIR/input_*.npy, compares with DIR/output_*.npy.
fn check(dir: &Path) {
    check_with(dir, &modelc_torchscript::ReadOptions::default());
}

/// [`check`] with read options.
fn check_with(dir: &Path, opts: &modelc_torchscript::ReadOptions) {
    let model = modelc_torchscript::read_with(&dir.join("model.pt"), opts)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    modelc_ir::validate::validate_model(&model)
        .unwrap_or_else(|e| panic!("{}: invalid IR: {e}", dir.display()));
    let interp = Interpreter::new(&model).unwrap();
    let names = interp.input_names();
    let inputs: Vec<(String, Data)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let t = read_npy(&dir.join(format!("input_{i}.npy")));
            (n.clone(), Data::Tensor(Array::from_tensor(&t).unwrap()))
        })
        .collect();
    let outs = interp
        .run(inputs)
        .unwrap_or_else(|e| panic!("{}: run: {e}", dir.display()));
    for (i, (name, got)) in outs.iter().enumerate() {
        let want = read_npy(&dir.join(format!("output_{i}.npy")));
        let Data::Tensor(got) = got else {
            panic!("{name} is not a tensor")
        };
        let got = got.to_tensor();
        assert_eq!(
            got.dims,
            want.dims,
            "{}: output {name} shape",
            dir.display()
        );
        let (g, w) = (f32s(&got), f32s(&want));
        let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let err = g
            .iter()
            .zip(&w)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err / scale <= 1e-4,
            "{}: output {name} max error {err} (relative {})",
            dir.display(),
            err / scale
        );
    }
}

macro_rules! small {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            check(&root().join("testdata/torchscript").join(stringify!($name)));
        }
    )*};
}

small!(
    cnn_bn_traced,
    cnn_bn_scripted,
    resblock_traced,
    resblock_scripted,
    mlp_dropout_traced,
    mlp_dropout_scripted,
    lstm_traced,
    lstm_scripted,
    lstm_cell_traced,
    lstm_cell_scripted,
    encoder_layer_traced,
    encoder_layer_scripted,
    gated_pos_scripted,
    gated_neg_scripted,
);

/// Makes (once) and checks the torchvision / large models under target/testdata/torchscript.
fn large(name: &str, variants: &[&str]) {
    let out = root().join("target/testdata/torchscript");
    let missing = variants
        .iter()
        .any(|v| !out.join(format!("{name}_{v}/output_0.npy")).exists());
    if missing {
        let Some(python) = modelc_testkit::python() else {
            return;
        };
        let st = std::process::Command::new(python)
            .arg(root().join("testdata/make_torchscript.py"))
            .args(["--large-only", "--only", name, "--out"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "make_torchscript.py --only {name} failed");
    }
    for v in variants {
        check(&out.join(format!("{name}_{v}")));
    }
}

#[test]
fn resnet18() {
    large("resnet18", &["traced", "scripted"]);
}

#[test]
fn mobilenet_v2() {
    large("mobilenet_v2", &["traced", "scripted"]);
}

#[test]
fn transformer_encoder() {
    large("transformer_encoder", &["traced", "scripted"]);
}

#[test]
fn weights_point_into_the_archive_without_copying() {
    let path = root().join("testdata/torchscript/cnn_bn_traced/model.pt");
    let mut archive = modelc_torchscript::archive::Archive::open(&path).unwrap();
    let model = modelc_torchscript::import::import(&mut archive).unwrap();
    // data/0 is conv1.weight, stored uncompressed: the constant must be the same bytes.
    let stored = archive.read("data/0").unwrap();
    let g = &model.graph;
    let w = g
        .find_value("conv1.weight")
        .expect("conv1.weight is a constant");
    let modelc_ir::Op::Const(t) = &g.node(w.node).op else {
        panic!("conv1.weight is not a constant")
    };
    assert_eq!(t.dims, [8, 3, 3, 3]);
    assert_eq!(
        t.raw().unwrap().as_ptr(),
        stored.as_ptr(),
        "weight was copied"
    );
}

/// The element type of graph input `name`.
fn input_dtype(model: &modelc_ir::Model, name: &str) -> Option<DType> {
    let g = &model.graph;
    g.inputs()
        .iter()
        .filter_map(|&id| g.node(id).outputs.first())
        .find(|v| v.name == name)
        .and_then(|v| match v.ty.as_ref().map(|t| &t.ty) {
            Some(modelc_ir::ValueType::Tensor(t)) => t.dtype,
            _ => None,
        })
}

/// Input types: the traced inputs' (float32 here) by default; the ones the options name
/// otherwise (an archive records none of its own).
#[test]
fn input_types_come_from_the_traced_inputs_or_the_options() {
    let path = root().join("testdata/torchscript/mlp_dropout_scripted/model.pt");
    let model = modelc_torchscript::read(&path).unwrap();
    let g = &model.graph;
    let name = g.node(g.inputs()[0]).outputs[0].name.clone();
    assert_eq!(input_dtype(&model, &name), Some(DType::F32));
    let opts = modelc_torchscript::ReadOptions {
        input_types: vec![(name.clone(), DType::F64)],
        ..Default::default()
    };
    let model = modelc_torchscript::read_with(&path, &opts).unwrap();
    assert_eq!(input_dtype(&model, &name), Some(DType::F64));
}

/// An `if` on a size whose branches give tensors of different ranks (silero-vad's decoder
/// squeezes a last size of 1): with the input's shape given, the condition is known at import
/// and the branch taken matches torch; without it the import refuses by line and name (a
/// `Where` of the two branches broadcast [1,3] against [1,3,1] to [1,3,3] and tripled the
/// output).
#[test]
fn an_if_whose_branches_differ_in_rank_folds_or_is_refused() {
    let dir = root().join("testdata/torchscript/squeeze_if_one_scripted");
    let opts = modelc_torchscript::ReadOptions {
        input_shapes: vec![("x".into(), vec![1, 3, 1])],
        ..Default::default()
    };
    check_with(&dir, &opts);
    let e = modelc_torchscript::read(&dir.join("model.pt"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("code/__torch__.py:8: `if` on a run-time value makes `h`")
            && e.contains("would broadcast"),
        "{e}"
    );
}

/// torchvision's SwinTransformerBlock, scripted: the shifted-window attention copies its
/// shift sizes (a list) and zeroes one when the window covers the input, builds its mask
/// with `torch.tensor` values written through slices, and rolls by them; with the input's
/// shape given every such branch is known at import.
#[test]
fn swin_block_scripted() {
    let dir = root().join("testdata/torchscript/swin_block_scripted");
    let opts = modelc_torchscript::ReadOptions {
        input_shapes: vec![("x".into(), vec![1, 8, 8, 16])],
        ..Default::default()
    };
    check_with(&dir, &opts);
}
