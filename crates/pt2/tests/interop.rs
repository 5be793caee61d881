//! Archives the pinned torch writes (`torch.export.save`): a small CNN with a dynamic batch
//! (conv, batch norm, max pooling with indices, linear), and a two-layer LSTM, read by modelc
//! and run by its interpreter at a batch size other than the exported one, against torch's
//! eager output (1e-4 of the output's scale).

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::{DType, Dim, Tensor};

const MAKE: &str = r#"
import json, sys, torch
out = sys.argv[1]
torch.manual_seed(0)
class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)
    def forward(self, x):
        y = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.c(x))), 2)
        return self.fc(y.flatten(1)).softmax(-1)
class Lstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(6, 12, num_layers=2, batch_first=True)
    def forward(self, x):
        return self.lstm(x)[0]
batch = torch.export.Dim("batch", min=1, max=32)
for name, m, shape in [("cnn", Cnn(), (3, 8, 8)), ("lstm", Lstm(), (5, 6))]:
    m = m.eval()
    with torch.no_grad():
        for p in m.buffers():
            if p.dtype == torch.float32:
                p.uniform_(0.5, 1.5)
        ep = torch.export.export(m, (torch.randn(2, *shape),), dynamic_shapes={"x": {0: batch}})
        torch.export.save(ep, f"{out}/{name}.pt2")
        x = torch.randn(3, *shape)
        y = m(x)
    x.numpy().tofile(f"{out}/{name}.x")
    y.numpy().tofile(f"{out}/{name}.y")
    json.dump({"x": list(x.shape), "y": list(y.shape)}, open(f"{out}/{name}.json", "w"))
"#;

fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn torch_export_archives_match_torch_at_another_batch() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(python)
        .arg("-c")
        .arg(MAKE)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success(), "torch failed to make the archives");
    for name in ["cnn", "lstm"] {
        let p = |ext: &str| dir.path().join(format!("{name}.{ext}"));
        let model = modelc_pt2::read(&p("pt2")).unwrap_or_else(|e| panic!("{name}: {e}"));
        modelc_ir::validate::validate_model(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The batch stays symbolic.
        let first = modelc_ir::ValueRef::new(model.graph.inputs()[0], 0);
        let input = model.graph.value(first).unwrap();
        let dims = input
            .ty
            .as_ref()
            .unwrap()
            .ty
            .as_tensor()
            .unwrap()
            .shape
            .clone()
            .unwrap();
        assert!(matches!(dims.0[0], Dim::Sym(_)), "{name}: {dims:?}");
        let shapes: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p("json")).unwrap()).unwrap();
        let dims = |k: &str| -> Vec<u64> {
            shapes[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        };
        let x = Tensor::from_raw(
            DType::F32,
            dims("x"),
            Bytes::from(std::fs::read(p("x")).unwrap()),
        )
        .unwrap();
        let interp = Interpreter::new(&model).unwrap();
        let names = interp.input_names();
        let outs = interp
            .run(vec![(
                names[0].clone(),
                Data::Tensor(Array::from_tensor(&x).unwrap()),
            )])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let Data::Tensor(got) = &outs[0].1 else {
            panic!("{name}: not a tensor")
        };
        let got = got.to_tensor();
        assert_eq!(got.dims, dims("y"), "{name}");
        let g = floats_of(&got);
        let want = floats(&p("y"));
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let err = g
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err / scale <= 1e-4,
            "{name}: max error {err} of scale {scale}"
        );
    }
}

const ELU: &str = r#"
import json, sys, torch
out = sys.argv[1]
torch.manual_seed(0)
class Elus(torch.nn.Module):
    def forward(self, x):
        # Core ATen's selu is aten.elu(x, alpha, scale); input_scale of either sign.
        return (torch.nn.functional.selu(x), torch.ops.aten.elu(x, 0.7, 1.3, 0.5),
                torch.ops.aten.elu(x, 1.5, 2.0, -0.25))
x = torch.randn(4, 5) * 3
ep = torch.export.export(Elus(), (x,)).run_decompositions()
torch.export.save(ep, f"{out}/elus.pt2")
x.numpy().tofile(f"{out}/elus.x")
torch.cat([y.flatten() for y in Elus()(x)]).numpy().tofile(f"{out}/elus.y")
"#;

#[test]
fn elu_with_a_scale_and_an_input_scale_matches_torch() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(python)
        .arg("-c")
        .arg(ELU)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success(), "torch failed to make the archive");
    let model = modelc_pt2::read(&dir.path().join("elus.pt2")).unwrap();
    let x = Tensor::from_raw(
        DType::F32,
        vec![4, 5],
        Bytes::from(std::fs::read(dir.path().join("elus.x")).unwrap()),
    )
    .unwrap();
    let interp = Interpreter::new(&model).unwrap();
    let name = interp.input_names()[0].clone();
    let outs = interp
        .run(vec![(name, Data::Tensor(Array::from_tensor(&x).unwrap()))])
        .unwrap();
    let mut got = Vec::new();
    for (_, d) in &outs {
        let Data::Tensor(t) = d else {
            panic!("not a tensor")
        };
        got.extend(floats_of(&t.to_tensor()));
    }
    let want = floats(&dir.path().join("elus.y"));
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "element {k}: {g} vs torch {w}"
        );
    }
}

fn floats_of(t: &Tensor) -> Vec<f32> {
    t.raw()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
