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
