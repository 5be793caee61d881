//! `cargo xtask draw-check`: `modelc draw`'s HTML page opened in a real headless browser
//! (Chromium from Debian's packages, installed with apt-get when missing): the page must lay
//! out one box per node of the model, and a screenshot is written for review.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn draw_check(&self, modelc: Option<PathBuf>, model: Option<PathBuf>) -> Result<()> {
        let modelc = match modelc {
            Some(m) => m,
            None => self.build_modelc()?,
        };
        let model = match model {
            Some(m) => m,
            None => self.torchvision_model("vit_b_16")?,
        };
        let chromium = ensure_chromium()?;
        let out = self.target.join("draw-check");
        std::fs::create_dir_all(&out)?;
        let html = out.join("graph.html");
        run(Command::new(&modelc)
            .arg("draw")
            .arg(&model)
            .arg("-o")
            .arg(&html))?;
        check_page(&chromium, &modelc, &model, &html, 0)?;
        // The overlays, on the model quantized to int8: the per-layer errors of `verify
        // --layers --json` against the original, and what quantizing changed.
        let optimized = out.join("int8.onnx");
        run(Command::new(&modelc)
            .arg("quantize")
            .arg(&model)
            .arg(&optimized)
            .args(["--calibration-random", "1"]))?;
        let o = Command::new(&modelc)
            .arg("verify")
            .arg(&model)
            .arg(&optimized)
            .args(["--layers", "--json"])
            .output()?;
        let errors = out.join("errors.json");
        std::fs::write(&errors, &o.stdout)?;
        let with_errors = out.join("errors.html");
        run(Command::new(&modelc)
            .arg("draw")
            .arg(&optimized)
            .arg("-o")
            .arg(&with_errors)
            .arg("--errors")
            .arg(&errors))?;
        check_page(&chromium, &modelc, &optimized, &with_errors, 1)?;
        let with_diff = out.join("diff.html");
        run(Command::new(&modelc)
            .arg("draw")
            .arg(&optimized)
            .arg("-o")
            .arg(&with_diff)
            .arg("--diff")
            .arg(&model))?;
        check_page(&chromium, &modelc, &optimized, &with_diff, 1)?;
        Ok(())
    }

    /// A torchvision model made by `testdata/make_torchvision.py` under
    /// target/testdata/torchvision (exported when missing).
    pub(crate) fn torchvision_model(&self, name: &str) -> Result<PathBuf> {
        let dir = self.testdata_dir().join("torchvision");
        let path = dir.join(format!("{name}.onnx"));
        if !path.exists() {
            self.pyenv()?;
            run(self
                .py()
                .arg(self.root.join("testdata/make_torchvision.py"))
                .arg("--out")
                .arg(&dir)
                .args(["--only", name]))?;
        }
        Ok(path)
    }
}

/// Loads `html` (`modelc draw` of `model`) in headless Chromium: it must lay out one box
/// per node of the model (operations, without ONNX Constant nodes, which are drawn as
/// weights, and graph inputs, from `modelc inspect --json`) and at least `marked` of them
/// with an overlay's note; a screenshot is written beside it (`.png`).
fn check_page(
    chromium: &Path,
    modelc: &Path,
    model: &Path,
    html: &Path,
    marked: usize,
) -> Result<()> {
    let o = Command::new(modelc)
        .args(["inspect", "--json"])
        .arg(model)
        .output()?;
    if !o.status.success() {
        return Err(format!(
            "modelc inspect failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )
        .into());
    }
    let j: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let expected = j["nodes"].as_u64().unwrap_or(0) - j["ops"]["Constant"].as_u64().unwrap_or(0)
        + j["inputs"].as_array().map_or(0, |a| a.len() as u64);
    let url = format!("file://{}", html.canonicalize()?.display());
    let headless = |extra: &[&str]| {
        let mut c = Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--window-size=1400,900",
        ])
        .args(extra)
        .arg(&url);
        c
    };
    let o = headless(&["--dump-dom"]).output()?;
    let dom = String::from_utf8_lossy(&o.stdout);
    let rendered = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            format!(
                "the page did not run its script in {} ({})",
                chromium.display(),
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )
        })?;
    let notes = dom.matches("data-note=").count();
    let shot = html.with_extension("png");
    let screenshot = format!("--screenshot={}", shot.display());
    run(&mut headless(&[&screenshot]))?;
    println!(
        "draw-check: {} laid out {rendered} of {expected} nodes ({notes} with an overlay note) in headless Chromium; screenshot {}",
        html.display(),
        shot.display()
    );
    if rendered != expected {
        return Err(format!(
            "{}: the page shows {rendered} nodes, the model has {expected}",
            html.display()
        )
        .into());
    }
    if notes < marked {
        return Err(format!("{}: no node carries the overlay", html.display()).into());
    }
    if !shot.exists() {
        return Err(format!("no screenshot at {}", shot.display()).into());
    }
    Ok(())
}

/// The `chromium` program, installed from Debian's packages when it is not on PATH.
fn ensure_chromium() -> Result<PathBuf> {
    let found = |p: &Path| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let chromium = PathBuf::from("chromium");
    if found(&chromium) {
        return Ok(chromium);
    }
    println!("draw-check: installing Debian's chromium package");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "chromium"]))?;
    if found(&chromium) {
        Ok(chromium)
    } else {
        Err("chromium is still not runnable after apt-get install".into())
    }
}
