//! `cargo xtask demo`: modelc on the bundled example model.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn demo(&self) -> Result<()> {
        let modelc = self.build_modelc()?;
        let example = Path::new("testdata/models/tiny_cnn.onnx");
        let demo_dir = self.target.join("demo");
        fs::create_dir_all(&demo_dir)?;
        // Relative to the workspace root (the commands' working directory) when it can be.
        let out = |name: &str| {
            let p = demo_dir.join(name);
            p.strip_prefix(&self.root)
                .map(Path::to_path_buf)
                .unwrap_or(p)
        };
        let (tflite, torchscript, optimized) = (
            out("tiny_cnn.tflite"),
            out("tiny_cnn.pt"),
            out("tiny_cnn.opt.onnx"),
        );
        let show = |args: &[&OsStr]| -> Result<()> {
            println!();
            run(Command::new(&modelc).args(args).current_dir(&self.root))
        };
        show(&["inspect".as_ref(), example.as_os_str()])?;
        // The main job: the same model in the other formats, each checked to compute the
        // same as the original (both run in modelc's interpreter; the TFLite one is NHWC and
        // verify transposes its inputs and outputs).
        for converted in [&tflite, &torchscript] {
            show(&[
                "convert".as_ref(),
                example.as_os_str(),
                converted.as_os_str(),
            ])?;
            show(&[
                "verify".as_ref(),
                example.as_os_str(),
                converted.as_os_str(),
                "--dim".as_ref(),
                "N=4".as_ref(),
            ])?;
        }
        show(&["dump".as_ref(), tflite.as_os_str()])?;
        show(&[
            "optimize".as_ref(),
            example.as_os_str(),
            optimized.as_os_str(),
            "-O2".as_ref(),
        ])?;
        println!(
            "\ndemo: converted {} to {} and {} and optimized it to {} (conversions verified)",
            example.display(),
            tflite.display(),
            torchscript.display(),
            optimized.display()
        );
        Ok(())
    }
}
