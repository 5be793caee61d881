//! The `.pt2` writer: what it writes reads back (names, symbolic dims, weights), what it
//! cannot write is refused by node with nothing written, and (with the pinned Python) torch
//! loads the archive and `.module()` computes what torch computes on the same weights.

use std::process::Command;

use modelc_ir::{Graph, Model};

fn model(text: &str) -> Model {
    Model::new(Graph::parse(text).expect("test graph parses"), 17)
}

const ADD_MUL: &str = "graph main(%x: f32[batch,3], %y: f32[batch,3]) -> (%out) {
  %w = const f32[3] [0.5, -2.0, 3.0]
  %s = Add(%x, %y)
  %out = Mul(%s, %w)
}";

#[test]
fn an_add_and_a_weight_read_back_with_names_and_the_symbolic_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt2");
    modelc_pt2::write(&model(ADD_MUL), &path).unwrap();
    assert!(modelc_pt2::is_pt2(&path));
    let back = modelc_pt2::read(&path).unwrap();
    let g = &back.graph;
    let names: Vec<String> = g
        .inputs()
        .iter()
        .map(|&id| {
            g.value(modelc_ir::ValueRef::new(id, 0))
                .unwrap()
                .name
                .clone()
        })
        .collect();
    assert_eq!(names, ["x", "y"]);
    let out = g.value(g.outputs()[0]).unwrap();
    assert_eq!(out.name, "out");
    let shape = out
        .ty
        .as_ref()
        .unwrap()
        .ty
        .as_tensor()
        .unwrap()
        .shape
        .clone()
        .unwrap();
    assert_eq!(shape.0[0], modelc_ir::Dim::Sym("batch".into()));
    assert!(back
        .meta
        .iter()
        .any(|(k, v)| k == "pt2.range.batch" && v == "1.."));
    // The weight is an uncompressed entry (the reader maps it in place).
    let f = std::fs::File::open(&path).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    let w = z.by_name("m/data/weights/weight_0").unwrap();
    assert_eq!(w.compression(), zip::CompressionMethod::Stored);
    assert_eq!(w.size(), 12);
}

#[test]
fn unsupported_nodes_are_refused_by_name_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pt2");
    let m = model(
        "graph main(%x: f32[2,3]) -> (%a, %b) {
  %a = custom Frobnicate(%x)
  %b = Relu(%x)
}",
    );
    let err = modelc_pt2::write(&m, &path).unwrap_err().to_string();
    assert!(err.contains("Frobnicate"), "{err}");
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary left"
    );
}

#[test]
fn a_graph_without_outputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pt2");
    let err = modelc_pt2::write(&model("graph main(%x: f32[2]) -> () {\n}"), &path).unwrap_err();
    assert!(err.to_string().contains("no outputs"), "{err}");
    assert!(!path.exists());
}

const RUN: &str = r#"
import sys, torch
ep = torch.export.load(sys.argv[1])
torch.manual_seed(0)
x, y = torch.randn(5, 3), torch.randn(5, 3)
w = torch.tensor([0.5, -2.0, 3.0])
with torch.no_grad():
    got = ep.module()(x, y)
want = (x + y) * w
assert got.shape == want.shape, (got.shape, want.shape)
assert torch.allclose(got, want, atol=1e-6), (got - want).abs().max()
assert str(ep.range_constraints) == "{batch: VR[1, int_oo]}", ep.range_constraints
print("ok")
"#;

#[test]
fn torch_loads_the_archive_and_runs_it_at_another_batch() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt2");
    modelc_pt2::write(&model(ADD_MUL), &path).unwrap();
    let out = Command::new(python)
        .arg("-c")
        .arg(RUN)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "torch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A reshape to sizes computed from the batch (`Shape` → `Gather` → `Mul`, as
/// `torch.onnx.export` writes attention heads) and a transpose after it: shape inference
/// cannot name `2*batch`, the reshape's size arguments can, and the transpose follows.
const RESHAPE_TRANSPOSE: &str = "graph main(%x: f32[batch,6]) -> (%out) {
  %s = Shape(%x)
  %i0 = const i64[] [0]
  %b = Gather(%s, %i0) {axis=0}
  %two = const i64[] [2]
  %b2 = Mul(%b, %two)
  %ax = const i64[1] [0]
  %b2u = Unsqueeze(%b2, %ax)
  %three = const i64[1] [3]
  %shape = Concat(%b2u, %three) {axis=0}
  %r = Reshape(%x, %shape)
  %out = Transpose(%r) {perm=[1,0]}
}";

const RUN_RESHAPE: &str = r#"
import sys, torch
ep = torch.export.load(sys.argv[1])
for n in (1, 5):
    x = torch.randn(n, 6)
    with torch.no_grad():
        got = ep.module()(x)
    want = x.reshape(2 * n, 3).T
    assert got.shape == want.shape, (got.shape, want.shape)
    assert torch.equal(got, want)
print("ok")
"#;

#[test]
fn a_reshape_to_computed_sizes_and_the_ops_after_it_keep_the_symbolic_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pt2");
    modelc_pt2::write(&model(RESHAPE_TRANSPOSE), &path).unwrap();
    let back = modelc_pt2::read(&path).unwrap();
    assert_eq!(back.graph.outputs().len(), 1);
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let out = Command::new(python)
        .arg("-c")
        .arg(RUN_RESHAPE)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "torch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
