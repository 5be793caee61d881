//! Issue 15, seeing what a conversion did: `inspect`'s compute and memory figures, `diff`,
//! and `verify --layers`, on real torchvision models exported by `testdata/make_torchvision.py`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

fn modelc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .output()
        .expect("modelc runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A torchvision model exported by `testdata/make_torchvision.py` (seeded random weights,
/// opset 17), made once into cargo's per-target temporary directory and reused; `None`
/// (the test skips) without the pinned Python environment.
fn torchvision(name: &str) -> Option<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let python = modelc_testkit::python()?;
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("torchvision");
    let path = dir.join(format!("{name}.onnx"));
    if !path.exists() {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/make_torchvision.py");
        let o = Command::new(python)
            .arg(script)
            .arg("--out")
            .arg(&dir)
            .arg("--only")
            .arg(name)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "make_torchvision.py failed: {}",
            text(&o)
        );
    }
    Some(path)
}

fn inspect_json(model: &Path) -> serde_json::Value {
    let o = modelc(&["inspect", model.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The MACs torchvision publishes for its models (the "GFLOPS" column of its model table,
/// which counts multiply-accumulates): ResNet-50 4.09 G, MobileNetV2 0.30 G. modelc's count
/// must be within 5%.
#[test]
fn inspect_macs_match_published_figures() {
    for (name, published) in [("resnet50", 4.09e9), ("mobilenet_v2", 0.30e9)] {
        let Some(model) = torchvision(name) else {
            return;
        };
        let j = inspect_json(&model);
        let cost = &j["cost"];
        let macs = cost["macs"].as_u64().unwrap() as f64;
        assert!(
            (macs / published - 1.0).abs() < 0.05,
            "{name}: {macs} MACs, published {published}"
        );
        assert!(cost["flops"].as_u64().unwrap() as f64 >= 2.0 * macs);
        assert_eq!(cost["uncounted"].as_array().unwrap().len(), 0, "{cost}");
        assert_eq!(cost["unknown_size_values"], 0);
        // Every weight is float32, and the bytes by type add up to the parameter bytes.
        assert_eq!(cost["weight_bytes"]["f32"], j["parameter_bytes"]);
        // The largest activation of both is a [1, 64 or 96, 112, 112]-sized float tensor or
        // a residual sum of [1, 256, 56, 56]: the peak holds at least two such values.
        let peak = cost["peak_activation_bytes"].as_u64().unwrap();
        assert!(
            peak > 2 * 256 * 56 * 56 * 4 && peak < 32 << 20,
            "{name}: peak {peak}"
        );
    }
}

/// `fuse-conv-bn` then `dce`: the BatchNormalization goes, the Conv that takes over its
/// output name gets new weights (numeric distance shown) and a bias; the Relu is unchanged.
#[test]
fn diff_shows_a_fusion() {
    use modelc_passes::testing::{pos_vals, vals};
    let before = format!(
        "graph main(%x: f32[1,2,4,4]) -> (%y) {{
  %w = const f32[3,2,1,1] {w}
  %c = Conv(%x, %w) layout=NCHW
  %s = const f32[3] {s}
  %b = const f32[3] {b}
  %m = const f32[3] {m}
  %v = const f32[3] {v}
  %bn = BatchNormalization(%c, %s, %b, %m, %v) layout=NCHW
  %y = Relu(%bn)
}}",
        w = vals(6, 1),
        s = pos_vals(3, 2),
        b = vals(3, 3),
        m = vals(3, 4),
        v = pos_vals(3, 5)
    );
    let done = modelc_passes::testing::run("fuse-conv-bn,dce", &before);
    let d = modelc::diff::diff(&done.before, &done.after);
    insta::assert_snapshot!("diff_fuse_conv_bn", d.render());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["removed"].as_array().unwrap().len(), 1);
    assert_eq!(json["removed"][0]["op"], "Conv");
}

/// The same computation with every value renamed, one attribute changed and one input
/// retyped: nodes match by structure, and only the real changes are listed.
#[test]
fn diff_matches_renamed_nodes_by_structure() {
    let a = modelc::ir::Graph::parse(
        "graph main(%x: f32[1,4], %k: f32[4,4]) -> (%y) {
  %w = const f32[4,4] [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
  %h = MatMul(%x, %w)
  %r = LeakyRelu(%h) {alpha=0.1}
  %t = Add(%r, %x)
  %y = Softmax(%t) {axis=1}
}",
    )
    .unwrap();
    let b = modelc::ir::Graph::parse(
        "graph main(%x: f32[N,4], %z: f32[4]) -> (%out) {
  %w = const f32[4,4] [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.5]
  %v0 = MatMul(%x, %w)
  %v1 = LeakyRelu(%v0) {alpha=0.2}
  %v2 = Add(%v1, %x)
  %out = Softmax(%v2) {axis=1}
}",
    )
    .unwrap();
    let d = modelc::diff::diff(&a, &b);
    insta::assert_snapshot!("diff_renamed", d.render());
    assert_eq!(d.matched_by_structure, 4);
    assert!(d.added.is_empty() && d.removed.is_empty());
}

#[test]
fn diff_of_a_model_with_itself_is_empty_and_cli_prints_json() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models/tiny_cnn.onnx");
    let m = model.to_str().unwrap();
    let o = modelc(&["diff", m, m]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "nodes: 6 in A, 6 in B: 6 unchanged, 0 changed, 0 removed, 0 added\n"
    );
    // optimize --diff prints the diff of the input against what it wrote.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.tflite");
    let o = modelc(&[
        "convert",
        m,
        out.to_str().unwrap(),
        "--dim",
        "N=1",
        "--diff",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        printed.contains("~ input image: f32[1,3,8,8] -> f32[1,8,8,3]"),
        "{printed}"
    );
    let o = modelc(&["diff", m, out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["changed"].as_array().unwrap().iter().any(|c| c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|ch| ch["kind"] == "layout" && ch["b"] == "NHWC")));
}

/// `modelc verify A B --layers --json`: the node blamed (its label), and how many values
/// were compared.
fn blamed(a: &Path, b: &Path) -> (Option<String>, usize) {
    let o = modelc(&[
        "verify",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--layers",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --layers printed no JSON ({e}): {}", text(&o)));
    let layers = &j["layers"];
    let node = layers["blamed"].as_u64().map(|i| {
        layers["layers"][i as usize]["node"]
            .as_str()
            .unwrap()
            .to_string()
    });
    (node, layers["layers"].as_array().unwrap().len())
}

fn node_named(g: &modelc::ir::Graph, name: &str) -> modelc::ir::NodeId {
    g.node_ids()
        .find(|&id| g.node(id).name == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

/// The constant a value holds (through the Identity nodes exporters put on shared weights).
fn const_of(g: &modelc::ir::Graph, v: modelc::ir::ValueRef) -> modelc::ir::Tensor {
    match &g.node(v.node).op {
        modelc::ir::Op::Const(t) => (**t).clone(),
        modelc::ir::Op::Onnx(modelc::ir::OnnxOp::Identity) => {
            const_of(g, g.input(v.node, 0).unwrap())
        }
        other => panic!("not a constant: {other:?}"),
    }
}

/// `t` with every float32 element multiplied by `k`.
fn scaled(t: &modelc::ir::Tensor, k: f32) -> modelc::ir::Tensor {
    let v: Vec<f32> = t
        .raw()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()) * k)
        .collect();
    modelc::ir::Tensor::from_f32(t.dims.clone(), &v).unwrap()
}

/// Writes `model` changed by `edit` to `dir/name`.
fn broken(
    model: &Path,
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut modelc::ir::Graph),
) -> PathBuf {
    let mut m = modelc::load(model).unwrap();
    edit(&mut m.graph);
    let out = dir.join(name);
    modelc::save(&m, &out, &modelc::SaveOptions::default()).unwrap();
    out
}

/// The cases on a 4-layer `nn.TransformerEncoder` (346 operation nodes): a corrupted
/// weight, a Transpose with its permutation swapped, and one layer's weight dequantized with
/// the wrong scale in modelc's own int8 quantization each blame the broken node first;
/// correct float conversions (to TFLite, that read back to ONNX, to TorchScript, and -O2)
/// blame nothing.
#[test]
fn verify_layers_blames_the_broken_node() {
    let Some(model) = torchvision("transformer_encoder") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let m = model.to_str().unwrap();
    let nodes = modelc::load(&model).unwrap().graph.node_ids().count();
    assert!(nodes > 200, "{nodes} nodes");

    // One weight corrupted (30% larger): the MatMul that reads it.
    let weight = broken(&model, dir.path(), "weight.onnx", |g| {
        let mm = node_named(g, "/layers.1/linear1/MatMul");
        let w = g.input(mm, 1).unwrap();
        let bad = g.add_const("corrupted", scaled(&const_of(g, w), 1.3));
        g.connect(modelc::ir::ValueRef::new(bad, 0), mm, 1);
    });
    assert_eq!(
        blamed(&model, &weight).0.as_deref(),
        Some("MatMul \"/layers.1/linear1/MatMul\"")
    );

    // A Transpose permutation with its last two axes swapped ([1,0,2] -> [1,2,0]: the same
    // [4,64,64] shape, the elements elsewhere).
    let transpose = broken(&model, dir.path(), "transpose.onnx", |g| {
        let t = node_named(g, "/layers.2/self_attn/Transpose_2");
        g.node_mut(t)
            .attrs
            .set("perm", modelc::ir::Attr::Ints(vec![1, 2, 0]));
    });
    assert_eq!(
        blamed(&model, &transpose).0.as_deref(),
        Some("Transpose \"/layers.2/self_attn/Transpose_2\"")
    );

    // Static int8 by modelc, then one layer's weight dequantized at 3x its scale (its own
    // DequantizeLinear: the quantized weights are shared by the four layers).
    let int8 = dir.path().join("int8.onnx");
    let o = modelc(&[
        "quantize",
        m,
        int8.to_str().unwrap(),
        "--calibration-random",
        "4",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let wrong_scale = broken(&int8, dir.path(), "scale.onnx", |g| {
        let mm = node_named(g, "/layers.1/linear2/MatMul");
        let dq = g.input(mm, 1).unwrap().node;
        assert_eq!(g.node(dq).op.display_name(), "DequantizeLinear");
        let ins = g.inputs_of(dq);
        let scale = const_of(g, ins[1].unwrap());
        let bad_scale = g.add_const("wrong_scale", scaled(&scale, 3.0));
        let mut node = g.node(dq).clone();
        node.outputs[0].name = "wrongly_scaled_weight".into();
        let bad_dq = g.add_node(node);
        g.connect(ins[0].unwrap(), bad_dq, 0);
        g.connect(modelc::ir::ValueRef::new(bad_scale, 0), bad_dq, 1);
        if let Some(zp) = ins.get(2).copied().flatten() {
            g.connect(zp, bad_dq, 2);
        }
        g.connect(modelc::ir::ValueRef::new(bad_dq, 0), mm, 1);
    });
    assert_eq!(
        blamed(&model, &wrong_scale).0.as_deref(),
        Some("MatMul \"/layers.1/linear2/MatMul\"")
    );
    // The correct int8 model blames nothing (each layer's error is within what rounding to
    // its step explains), and its renamed QDQ values match through provenance.
    let (who, compared) = blamed(&model, &int8);
    assert_eq!(who, None, "int8.onnx");
    assert!(compared > 250, "int8.onnx: {compared} values compared");

    // The same as an int8 TFLite file (integer kernels; tensors `x_Q`, read back as QDQ):
    // the provenance recorded in its metadata matches them to the float model's values
    // (by name alone: 8 of 400), a correct one blames nothing, and the wrong scale converted
    // along is blamed on its layer.
    let int8_tflite = dir.path().join("int8.tflite");
    let o = modelc(&[
        "quantize",
        m,
        int8_tflite.to_str().unwrap(),
        "--calibration-random",
        "4",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (who, compared) = blamed(&model, &int8_tflite);
    assert_eq!(who, None, "int8.tflite");
    assert!(compared > 140, "int8.tflite: {compared} values compared");
    let scale_tflite = dir.path().join("scale.tflite");
    let o = modelc(&[
        "convert",
        wrong_scale.to_str().unwrap(),
        scale_tflite.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let who = blamed(&model, &scale_tflite).0.unwrap_or_default();
    assert!(
        who.contains("/layers.1/linear2/MatMul"),
        "scale.tflite blames {who}"
    );

    // Correct float conversions: nothing blamed, and values were compared.
    for (name, args) in [
        ("o2.onnx", vec!["optimize", "-O2"]),
        ("t.tflite", vec!["convert"]),
        // TorchScript code names its variables anew (`_layers_0_Add_output_0`) and reads
        // back with op names: only the provenance in `extra/` matches them (by name: 1).
        ("t.pt", vec!["convert"]),
    ] {
        let out = dir.path().join(name);
        let mut cmd = vec![args[0], m, out.to_str().unwrap()];
        cmd.extend(&args[1..]);
        let o = modelc(&cmd);
        assert!(o.status.success(), "{}", text(&o));
        let (who, compared) = blamed(&model, &out);
        assert_eq!(who, None, "{name}");
        assert!(compared > 100, "{name}: {compared} values compared");
        if name.ends_with(".tflite") {
            // TFLite back to ONNX: the round trip compares too.
            let back = dir.path().join("back.onnx");
            let o = modelc(&["convert", out.to_str().unwrap(), back.to_str().unwrap()]);
            assert!(o.status.success(), "{}", text(&o));
            let (who, compared) = blamed(&model, &back);
            assert_eq!(who, None, "back.onnx");
            assert!(compared > 50, "back.onnx: {compared} values compared");
        }
    }
}

/// `modelc draw` of the bundled example: the SVG as laid out (one box per operation and
/// input, edges from the bottom of a producer to the top of its consumer).
#[test]
fn draw_lays_out_the_example() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models/tiny_cnn.onnx");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("g.svg");
    let o = modelc(&["draw", model.to_str().unwrap(), "-o", svg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    insta::assert_snapshot!("draw_tiny_cnn_svg", std::fs::read_to_string(&svg).unwrap());
    let o = modelc(&[
        "draw",
        model.to_str().unwrap(),
        "-o",
        dir.path().join("g.png").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("written as .html or .svg"),
        "{}",
        text(&o)
    );
}

/// The HTML page of a real model with branches (MobileNetV2's residual Adds) has one box per
/// operation node and input, says so in `data-nodes`, and the barycenter ordering leaves no
/// crossing where a residual block has none to make.
#[test]
fn draw_html_has_every_node() {
    let Some(model) = torchvision("mobilenet_v2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("g.html");
    let o = modelc(&[
        "draw",
        model.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    let j = inspect_json(&model);
    let constants = j["ops"]["Constant"].as_u64().unwrap_or(0);
    let expected =
        j["nodes"].as_u64().unwrap() - constants + j["inputs"].as_array().unwrap().len() as u64;
    assert_eq!(page.matches("<g class=\"node\"").count() as u64, expected);
    assert!(page.contains(&format!("data-nodes=\"{expected}\"")));
    assert!(
        !page.contains("http://") || page.matches("http://").count() == 1,
        "only the SVG namespace may be a URL: the page works offline"
    );
    let m = modelc::load(&model).unwrap();
    let l = modelc::draw::layout(&m.graph);
    assert_eq!(modelc::draw::crossings(&l), 0);
}

/// A residual block: the skip edge from the input passes through one dummy point per layer
/// it spans, beside the chain, and nothing crosses.
#[test]
fn draw_routes_long_edges_through_dummies() {
    let g = modelc::ir::Graph::parse(
        "graph main(%x: f32[1,8]) -> (%y) {
  %a = Relu(%x)
  %b = Sigmoid(%a)
  %c = Tanh(%b)
  %y = Add(%c, %x)
}",
    )
    .unwrap();
    let l = modelc::draw::layout(&g);
    assert_eq!(modelc::draw::crossings(&l), 0);
    insta::assert_snapshot!("draw_residual_svg", modelc::draw::svg(&l));
}

/// The overlays of `modelc draw` on a small graph: `--errors` colours each node `verify
/// --layers --json` compared by its error (green within the tolerance, yellow within ten
/// times it, red beyond), outlines the blamed one and puts the figures in its tooltip;
/// `--diff` colours what another model added and changed. A report of another model's
/// values is refused.
#[test]
fn draw_overlays_errors_and_changes() {
    let g = modelc::ir::Graph::parse(
        "graph main(%x: f32[1,8]) -> (%y) {
  %a = Relu(%x)
  %b = Sigmoid(%a)
  %c = Tanh(%b)
  %y = Add(%c, %x)
}",
    )
    .unwrap();
    let report = serde_json::json!({"outputs": [], "layers": {
        "layers": [
            {"value": "a", "error": 1e-7, "jump": 1e-7},
            {"value": "b", "error": 0.5, "jump": 0.5},
            {"value": "c", "error": 0.004, "jump": 0.0},
            {"value": "y", "error": 0.3, "jump": 0.0}
        ],
        "blamed": 1, "tolerance": 1e-3, "unmatched": 0}});
    let mut l = modelc::draw::layout(&g);
    l.apply(&modelc::overlay::errors(&g, &report).unwrap());
    insta::assert_snapshot!("draw_errors_svg", modelc::draw::svg(&l));

    let before = modelc::ir::Graph::parse(
        "graph main(%x: f32[1,8]) -> (%y) {
  %a = Relu(%x)
  %b = Sigmoid(%a)
  %y = Add(%b, %x)
}",
    )
    .unwrap();
    let d = modelc::diff::diff(&before, &g);
    let mut l = modelc::draw::layout(&g);
    l.apply(&modelc::overlay::diff(&g, &d));
    insta::assert_snapshot!("draw_diff_svg", modelc::draw::svg(&l));
    assert!(modelc::draw::html(&l, "g").contains("green added (1), yellow changed (1)"));

    let other = serde_json::json!({"layers": [{"value": "elsewhere", "error": 0.1}]});
    let e = modelc::overlay::errors(&g, &other).unwrap_err();
    assert!(e.contains("draw model B"), "{e}");
}

/// `modelc draw --errors` on a real conversion: the TFLite file of the transformer encoder
/// with one weight corrupted, drawn with the errors of `verify --layers --json` against the
/// ONNX source: every node still drawn, the blamed one outlined, its error in its tooltip.
#[test]
fn draw_errors_overlay_marks_the_blamed_node() {
    let Some(model) = torchvision("transformer_encoder") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let weight = broken(&model, dir.path(), "weight.onnx", |g| {
        let mm = node_named(g, "/layers.1/linear1/MatMul");
        let w = g.input(mm, 1).unwrap();
        let bad = g.add_const("corrupted", scaled(&const_of(g, w), 1.3));
        g.connect(modelc::ir::ValueRef::new(bad, 0), mm, 1);
    });
    let tfl = dir.path().join("weight.tflite");
    let o = modelc(&["convert", weight.to_str().unwrap(), tfl.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = modelc(&[
        "verify",
        model.to_str().unwrap(),
        tfl.to_str().unwrap(),
        "--layers",
        "--json",
    ]);
    let json = dir.path().join("errors.json");
    std::fs::write(&json, &o.stdout).unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let blamed = j["layers"]["blamed"].as_u64().expect("a node is blamed") as usize;
    let blamed_value = j["layers"]["layers"][blamed]["value"].as_str().unwrap();
    let html = dir.path().join("errors.html");
    let o = modelc(&[
        "draw",
        tfl.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--errors",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    let drawn = modelc::draw::layout(&modelc::load(&tfl).unwrap().graph)
        .nodes
        .len();
    assert_eq!(page.matches("<g class=\"node\"").count(), drawn);
    let outlined: Vec<&str> = page
        .lines()
        .filter(|l| l.contains("stroke=\"#c00\""))
        .collect();
    assert_eq!(outlined.len(), 1, "one node outlined");
    assert!(outlined[0].contains("data-note=\"blamed: error"));
    assert!(
        outlined[0].contains(&format!(" {blamed_value} ")) || outlined[0].contains(blamed_value),
        "{}",
        outlined[0]
    );
}

/// Sub-graphs are drawn inside their node: an If grows to hold its two branches side by
/// side, each a dashed cluster named after its attribute with its own boxes (`subnode`, so
/// `.node` still counts the main graph), and the layers below move down to make room.
#[test]
fn draw_nests_subgraphs_in_their_node() {
    let g = modelc::ir::Graph::parse(
        "graph main(%x: f32[4], %cond: bool[]) -> (%y) {
  %a = Relu(%x)
  %z = If(%cond) {then_branch=graph then() outer(%a) -> (%s) {
    %t = Sigmoid(%a)
    %s = Neg(%t)
  }, else_branch=graph else() outer(%a) -> (%u) {
    %u = Tanh(%a)
  }} captures(%a)
  %y = Add(%z, %a)
}",
    )
    .unwrap();
    let l = modelc::draw::layout(&g);
    let svg = modelc::draw::svg(&l);
    assert_eq!(svg.matches("<g class=\"node\"").count(), 5);
    assert_eq!(svg.matches("<g class=\"subnode\"").count(), 3);
    assert_eq!(svg.matches("<g class=\"subgraph\"").count(), 2);
    insta::assert_snapshot!("draw_if_branches_svg", svg);
}

/// `modelc draw --target`: the bundled example coloured by `modelc check`'s placement —
/// every operator on the host CPU; on the Ethos-U55 the float operators fall back, each
/// with the rule it breaks in its note.
#[test]
fn draw_target_overlay_colours_placement() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models/tiny_cnn.onnx");
    let dir = tempfile::tempdir().unwrap();
    let page = |target: &str| {
        let html = dir.path().join(format!("{target}.html"));
        let o = modelc(&[
            "draw",
            model.to_str().unwrap(),
            "-o",
            html.to_str().unwrap(),
            "--target",
            target,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(&html).unwrap()
    };
    let cpu = page("cpu");
    assert_eq!(cpu.matches("data-note=\"").count(), 6, "the six operators");
    assert_eq!(cpu.matches(" on cpu\" transform=").count(), 6);
    let npu = page("ethos-u55-128");
    assert!(npu.contains("id=\"legend\""));
    // TFLite operators are named by their first output: the CONV_2D with its fused ReLU
    // by `relu1_out`, drawn on the Relu.
    assert_eq!(
        npu.matches("data-note=\"").count(),
        4,
        "the four TFLite operators"
    );
    assert!(npu.contains("data-note=\"CONV_2D falls back: CONV_2D: f32 tensor `image`"));
}
