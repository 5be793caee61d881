//! `modelc::convert`, the library entry point pipelines call (the CLI's `convert` and
//! `optimize` are a thin layer over it): passes, input shapes, hooks, stages and refusals.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use modelc::{ConvertOptions, Passes, Stage};

const CHAIN: &str = r#"graph chain(%x: f32[N,3]) -> (%y) {
  %i = Identity(%x)
  %d, %m = Dropout(%i)
  %y = Relu(%d)
}"#;

fn ops(m: &modelc::Model) -> Vec<String> {
    let g = &m.graph;
    g.node_ids()
        .map(|id| g.node(id).op.display_name())
        .filter(|n| n != "input")
        .collect()
}

#[test]
fn convert_runs_the_passes_and_writes_the_destination_format() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("chain.onnx");
    let model = modelc::Model::new(modelc::ir::Graph::parse(CHAIN).unwrap(), 17);
    modelc::save(&model, &src, &modelc::SaveOptions::default()).unwrap();

    // Default options copy the model as it is.
    let copy = dir.path().join("copy.onnx");
    let done = modelc::convert(&src, &copy, &ConvertOptions::default()).unwrap();
    assert!(done.report.steps.is_empty() && done.report.converged);
    assert!(modelc::load(&copy).unwrap() == modelc::load(&src).unwrap());

    let out = dir.path().join("chain.tflite");
    let printed = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&printed);
    let opts = ConvertOptions {
        input_shapes: modelc::InputShapes::parse(&[], &["N=2".to_string()]).unwrap(),
        passes: Passes::Level(1),
        print_after: Some((
            "dce".to_string(),
            Arc::new(move |_: &modelc::ir::Graph| {
                count.fetch_add(1, Ordering::Relaxed);
            }),
        )),
        ..ConvertOptions::default()
    };
    let mut stages = Vec::new();
    let done = modelc::convert_with(&src, &out, &opts, &mut |s| {
        stages.push(match s {
            Stage::Reading(p) => format!("reading {}", p.file_name().unwrap().to_string_lossy()),
            Stage::Transforming => "transforming".to_string(),
            Stage::Writing(p) => format!("writing {}", p.file_name().unwrap().to_string_lossy()),
        })
    })
    .unwrap();
    assert_eq!(
        stages,
        ["reading chain.onnx", "transforming", "writing chain.tflite"]
    );
    assert_eq!(done.before.format, modelc::Format::Onnx);
    assert_eq!(done.after.format, modelc::Format::Tflite);
    assert_eq!(done.before.ops.get("Identity"), Some(&1));
    assert_eq!(done.before.ops.get("Dropout"), Some(&1));
    assert_eq!(done.after.ops.get("Identity"), None);
    assert_eq!(done.after.ops.get("Dropout"), None);
    assert!(done.report.converged);
    let changed: Vec<&str> = done
        .report
        .steps
        .iter()
        .filter(|s| s.changed)
        .map(|s| s.pass)
        .collect();
    assert_eq!(changed, ["identity"]);
    let dce_steps = done.report.steps.iter().filter(|s| s.pass == "dce").count();
    assert_eq!(printed.load(Ordering::Relaxed), dce_steps);
    let written = modelc::load(&out).unwrap();
    assert_eq!(ops(&written), ["Relu"]);
    let g = &written.graph;
    assert_eq!(g.known_dims(g.outputs()[0]), Some(vec![2, 3]));
}

#[test]
fn convert_refuses_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("chain.onnx");
    let model = modelc::Model::new(modelc::ir::Graph::parse(CHAIN).unwrap(), 17);
    modelc::save(&model, &src, &modelc::SaveOptions::default()).unwrap();
    let out = dir.path().join("out.onnx");
    let err = |dst: &Path, opts: &ConvertOptions| {
        modelc::convert(&src, dst, opts).unwrap_err().to_string()
    };
    let opts = ConvertOptions::default();
    assert!(err(&src, &opts).ends_with("refusing to overwrite the input model"));
    assert!(err(&dir.path().join("out.txt"), &opts).contains("cannot tell the format"));
    let unknown = ConvertOptions {
        passes: Passes::List("dce,nope".to_string()),
        ..ConvertOptions::default()
    };
    assert_eq!(
        err(&out, &unknown),
        "unknown pass `nope` (`modelc passes` lists them)"
    );
    let no_input = ConvertOptions {
        input_shapes: modelc::InputShapes::parse(&["z:1,3".to_string()], &[]).unwrap(),
        ..ConvertOptions::default()
    };
    assert_eq!(
        err(&out, &no_input),
        "the model has no input `z` (inputs: x)"
    );
    assert!(!out.exists());
}
