//! TorchScript export, checked structurally: the zip layout torch.jit.load reads (entries,
//! STORED, 64-byte aligned storages, version 10), data.pkl read back by the project's
//! restricted unpickler with the constants' bytes intact, the generated code, and errors
//! that list every node that cannot be exported. (That torch loads and runs the archives
//! and matches onnxruntime is tests/torchscript_export.py, a `cargo xtask ci` step.)

use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use modelc_ir::{Graph, Model, Op};
use modelc_torchscript::pickle::read::unpickle;
use modelc_torchscript::pickle::PickleValue;
use modelc_torchscript::{write, WriteOptions};

const CNN: &str = r#"
graph main(%"input.1": f32[N,3,8,8]) -> (%probs) {
  %w = const f32[4,3,3,3] [1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0, 1.0, -2.0, 3.0, 0.5, 0.25, -1.0, 2.0, 1.5, 0.0]
  %b = const f32[4] [0.1, 0.2, 0.3, 0.4]
  %shape = const i64[2] [0, -1]
  %c = Conv(%"input.1", %w, %b) {pads=[1,1,1,1]}
  %r = Relu(%c)
  %p = MaxPool(%r) {kernel_shape=[2,2], strides=[2,2]}
  %f = Reshape(%p, %shape)
  %probs = Softmax(%f) {axis=1}
}
"#;

fn model(text: &str) -> Model {
    Model::new(Graph::parse(text).expect("test graph parses"), 17)
}

fn entries(path: &Path) -> Vec<(String, Vec<u8>, zip::CompressionMethod, u64)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (
                f.name().unwrap().to_string(),
                data,
                f.compression(),
                f.data_start().unwrap(),
            )
        })
        .collect()
}

fn entry<'a>(all: &'a [(String, Vec<u8>, zip::CompressionMethod, u64)], name: &str) -> &'a [u8] {
    &all.iter()
        .find(|e| e.0 == name)
        .unwrap_or_else(|| panic!("no entry {name}"))
        .1
}

#[test]
fn archive_has_torch_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.pt");
    write(&model(CNN), &path, &WriteOptions::default()).unwrap();
    let all = entries(&path);
    let mut names: Vec<&str> = all.iter().map(|e| e.0.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "archive/.data/serialization_id",
            "archive/byteorder",
            "archive/code/__torch__.py",
            "archive/constants.pkl",
            "archive/data.pkl",
            "archive/data/0",
            "archive/data/1",
            "archive/extra/modelc_input_types.txt",
            // The code's variables named apart from the values they compute (`x.1` is
            // `x_1` in the code): recorded for verify --layers.
            "archive/extra/modelc_provenance.json",
            "archive/version",
        ]
    );
    for (name, _, method, start) in &all {
        assert_eq!(*method, zip::CompressionMethod::Stored, "{name}");
        if name.starts_with("archive/data/") {
            assert_eq!(start % 64, 0, "{name} starts at {start}");
        }
    }
    assert_eq!(entry(&all, "archive/version"), b"10\n");
    assert_eq!(entry(&all, "archive/byteorder"), b"little");
    // forward's argument types, which the code does not declare, for modelc's reader.
    assert_eq!(
        entry(&all, "archive/extra/modelc_input_types.txt"),
        b"f32 N,3,8,8\n"
    );
    let back = modelc_torchscript::read(&path).unwrap();
    let input = back.graph.inputs()[0];
    let ty = back.graph.node(input).outputs[0].ty.as_ref().unwrap();
    let tt = ty.ty.as_tensor().unwrap();
    assert_eq!(tt.dtype, Some(modelc_ir::DType::F32));
    let dims = &tt.shape.as_ref().unwrap().0;
    assert_eq!(dims[0], modelc_ir::Dim::Sym("N".into()));
    assert_eq!(dims[1..], [3, 8, 8].map(modelc_ir::Dim::Known));
    // Only the tensors the code reads as tensors are stored; the Reshape shape is inline.
    assert_eq!(entry(&all, "archive/data/1").len(), 16);
    let id = std::str::from_utf8(entry(&all, "archive/.data/serialization_id")).unwrap();
    assert!(
        id.len() == 40 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    // No directory or temporary file left beside the output.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn generated_code_keeps_input_names_and_reads_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.pt");
    write(&model(CNN), &path, &WriteOptions::default()).unwrap();
    let all = entries(&path);
    let code = std::str::from_utf8(entry(&all, "archive/code/__torch__.py")).unwrap();
    let expected = r#"class Model(Module):
  __parameters__ = []
  __buffers__ = ["w", "b", ]
  w : Tensor
  b : Tensor
  training : bool
  def forward(self: __torch__.Model,
    input_1: Tensor) -> Tensor:
    c = torch.conv2d(input_1, self.w, self.b, [1, 1], [1, 1], [1, 1], 1)
    r = torch.relu(c)
    p = torch.max_pool2d(r, [2, 2], [2, 2], [0, 0], [1, 1], False)
    f = torch.reshape(p, [torch.size(p, 0), -1])
    probs = torch.softmax(f, 1)
    return probs
"#;
    assert_eq!(code, expected);
}

#[test]
fn data_pkl_reads_back_with_the_constants_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.pt");
    let m = model(CNN);
    write(&m, &path, &WriteOptions::default()).unwrap();
    let all = entries(&path);
    let mut storages = |key: &str| -> Result<Bytes, String> {
        Ok(Bytes::copy_from_slice(entry(
            &all,
            &format!("archive/data/{key}"),
        )))
    };
    let root = unpickle(entry(&all, "archive/data.pkl"), &mut storages).unwrap();
    let PickleValue::Object {
        module,
        name,
        state,
    } = root
    else {
        panic!("root is not an object: {root:?}")
    };
    assert_eq!((module.as_str(), name.as_str()), ("__torch__", "Model"));
    assert_eq!(state.get("training"), Some(&PickleValue::Bool(false)));
    let consts: Vec<_> = m
        .graph
        .node_ids()
        .filter_map(|id| match &m.graph.node(id).op {
            Op::Const(t) => Some((m.graph.node(id).outputs[0].name.clone(), t.clone())),
            _ => None,
        })
        .collect();
    for (name, want) in consts.iter().filter(|c| c.0 != "shape") {
        let Some(PickleValue::Tensor(t)) = state.get(name) else {
            panic!("buffer {name} missing: {state:?}")
        };
        assert_eq!(t.size, want.dims);
        assert_eq!(t.storage.dtype, want.dtype);
        assert!(!t.requires_grad);
        assert_eq!(&t.storage.data, want.raw().unwrap(), "{name}");
    }
    let constants = unpickle(entry(&all, "archive/constants.pkl"), &mut storages).unwrap();
    assert_eq!(constants, PickleValue::Tuple(Vec::new()));
}

#[test]
fn every_unexportable_node_is_named_in_one_error() {
    let text = r#"
graph main(%x: f32[2,6], %s: i64[2]) -> (%y, %z) {
  %r = Reshape(%x, %s) name="dyn"
  %y = com.example.Fancy(%r) name="fancy"
  %z = Relu(%y)
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pt");
    let err = write(&model(text), &path, &WriteOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 node(s) cannot be exported"), "{err}");
    assert!(
        err.contains("\"dyn\": the target shape is computed in a way not followed"),
        "{err}"
    );
    assert!(
        err.contains("\"fancy\": custom op, no TorchScript translation"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn same_model_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pt"), dir.path().join("b.pt"));
    write(&model(CNN), &a, &WriteOptions::default()).unwrap();
    write(&model(CNN), &b, &WriteOptions::default()).unwrap();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn shape_computations_become_int_expressions() {
    let text = r#"
graph main(%x: f32[N,3,4,4]) -> (%y) {
  %s = Shape(%x)
  %i0 = const i64[] [0]
  %ax = const i64[1] [0]
  %m1 = const i64[1] [-1]
  %g = Gather(%s, %i0)
  %u = Unsqueeze(%g, %ax)
  %c = Concat(%u, %m1) {axis=0}
  %y = Reshape(%x, %c)
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt");
    write(&model(text), &path, &WriteOptions::default()).unwrap();
    let all = entries(&path);
    let code = std::str::from_utf8(entry(&all, "archive/code/__torch__.py")).unwrap();
    assert!(
        code.contains("y = torch.reshape(x, [torch.size(x, 0), -1])"),
        "{code}"
    );
    // The tensor form of the shape computation is dead and dropped, with its constants.
    assert!(!code.contains("_shape_as_tensor"), "{code}");
    assert!(code.contains("__buffers__ = []"), "{code}");
}

#[test]
fn control_flow_becomes_if_and_while() {
    let text = r#"
graph main(%flag: bool[], %x: f32[3]) -> (%z, %last, %all) {
  %w = const f32[3] [1.0, 2.0, 3.0]
  %n = const i64[] [4]
  %go = const bool[] [true]
  %z = If(%flag) {then_branch=graph then() outer(%x, %w) -> (%s) {
    %s = Mul(%x, %w)
  }, else_branch=graph else() outer(%x) -> (%x) {
  }} captures(%x, %w)
  %last, %all = Loop(%n, %go, %z) {body=graph body(%i: i64[], %c: bool[], %v: f32[3]) outer(%w) -> (%c, %next, %next) {
    %next = Add(%v, %w)
  }} captures(%w)
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt");
    write(&model(text), &path, &WriteOptions::default()).unwrap();
    let all = entries(&path);
    let code = std::str::from_utf8(entry(&all, "archive/code/__torch__.py")).unwrap();
    let body = code
        .split_once("-> Tuple[Tensor, Tensor, Tensor]:\n")
        .unwrap()
        .1;
    let expected = r#"    if bool(flag):
      s = torch.mul(x, self.w)
      z = s
    else:
      z = x
    i = 0
    cond = bool(self.go)
    last = z
    all_items = annotate(List[Tensor], [])
    while cond and i < int(self.n):
      next = torch.add(last, self.w)
      last_next = next
      last = last_next
      all_items.append(next)
      i = i + 1
    all = torch.stack(all_items)
    return (z, last, all)
"#;
    assert_eq!(body, expected);

    // modelc reads it back (the `if` on the run-time flag as a select, the loop of
    // constant trip count unrolled) and computes what the source graph computes.
    let back = modelc_torchscript::read(&path).unwrap();
    let source = model(text);
    for flag in [true, false] {
        let inputs = || {
            vec![
                (
                    "flag".to_string(),
                    modelc_interp::Data::Tensor(
                        modelc_interp::Array::from_tensor(
                            &modelc_ir::Tensor::from_raw(
                                modelc_ir::DType::Bool,
                                vec![],
                                vec![flag as u8].into(),
                            )
                            .unwrap(),
                        )
                        .unwrap(),
                    ),
                ),
                (
                    "x".to_string(),
                    modelc_interp::Data::Tensor(
                        modelc_interp::Array::from_tensor(
                            &modelc_ir::Tensor::from_f32(vec![3], &[0.5, -1.0, 2.0]).unwrap(),
                        )
                        .unwrap(),
                    ),
                ),
            ]
        };
        let want = modelc_interp::Interpreter::new(&source)
            .unwrap()
            .run(inputs())
            .unwrap();
        let got = modelc_interp::Interpreter::new(&back)
            .unwrap()
            .run(inputs())
            .unwrap();
        let values = |o: &[(String, modelc_interp::Data)]| -> Vec<modelc_ir::Tensor> {
            o.iter()
                .map(|(_, d)| match d {
                    modelc_interp::Data::Tensor(a) => a.to_tensor(),
                    _ => panic!("not a tensor"),
                })
                .collect()
        };
        assert_eq!(values(&got), values(&want), "flag {flag}");
    }
}

/// silero-vad's decoder (scripted LSTMCell handling of unbatched input): an If that squeezes
/// a last axis of size 1 or passes the tensor on, so its output's rank depends on the
/// branch taken. What follows uses no rank: Unsqueeze at -1 stays -1, Size is the product
/// of the run-time shape, and Gather(Shape(·), 0) is `torch.size(·, 0)`.
#[test]
fn if_branches_of_different_ranks() {
    let text = r#"
graph main(%x: f32[N,4,L], %c: bool[]) -> (%u, %n, %z) {
  %m1 = const i64[1] [-1]
  %h = If(%c) {then_branch=graph then() outer(%x, %m1) -> (%sq) {
    %sq = Squeeze(%x, %m1)
  }, else_branch=graph else() outer(%x) -> (%id) {
    %id = Identity(%x)
  }} captures(%x, %m1)
  %u = Unsqueeze(%h, %m1)
  %n = Size(%h)
  %s = Shape(%h)
  %i0 = const i64[] [0]
  %g = Gather(%s, %i0)
  %ax = const i64[1] [0]
  %g1 = Unsqueeze(%g, %ax)
  %four = const i64[1] [4]
  %zs = Concat(%g1, %four) {axis=0}
  %z = ConstantOfShape(%zs) {value=f32[1] [0.0]}
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt");
    write(&model(text), &path, &WriteOptions::default()).unwrap();
    let all = entries(&path);
    let code = std::str::from_utf8(entry(&all, "archive/code/__torch__.py")).unwrap();
    assert!(code.contains("u = torch.unsqueeze(h, -1)"), "{code}");
    assert!(
        code.contains("n = torch.prod(torch._shape_as_tensor(h))"),
        "{code}"
    );
    assert!(code.contains("[torch.size(h, 0), 4]"), "{code}");
}

/// silero-vad's STFT padding inside an If branch: the reflect pads are computed in the
/// branch from its own constants (ConstantOfShape, Concat, Reshape, Slice backwards,
/// Transpose), which the export folds there as in the main graph, so torch gets them as
/// literals.
#[test]
fn pads_computed_from_constants_inside_a_branch_are_folded() {
    let text = r#"
graph main(%x: f32[1,16], %c: bool[]) -> (%y) {
  %y = If(%c) {then_branch=graph then() outer(%x) -> (%p) {
    %two = const i64[1] [2]
    %head = const i64[2] [0, 4]
    %zeros = ConstantOfShape(%two) {value=i64[1] [0]}
    %cat = Concat(%head, %zeros) {axis=0}
    %pairs_shape = const i64[2] [-1, 2]
    %pairs = Reshape(%cat, %pairs_shape)
    %start = const i64[1] [-1]
    %end = const i64[1] [-9223372036854775807]
    %axis = const i64[1] [0]
    %step = const i64[1] [-1]
    %rev = Slice(%pairs, %start, %end, %axis, %step)
    %t = Transpose(%rev) {perm=[1,0]}
    %flat_shape = const i64[1] [-1]
    %pads = Reshape(%t, %flat_shape)
    %p = Pad(%x, %pads) {mode="reflect"}
  }, else_branch=graph else() outer(%x) -> (%x) {
  }} captures(%x)
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pt");
    write(&model(text), &path, &WriteOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let all = entries(&path);
    let code = std::str::from_utf8(entry(&all, "archive/code/__torch__.py")).unwrap();
    // ONNX pads [0, 0, 0, 4] (the last axis padded by 4 at its end) as torch's
    // last-axis-first list.
    assert!(
        code.contains(r#"p = torch.pad(x, [0, 4], "reflect")"#),
        "{code}"
    );
}
