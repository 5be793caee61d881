//! `cargo xtask node-suite` and `cargo xtask testdata`: the ONNX node suite and the test
//! models generated under `target/`.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use crate::util::{fnv1a64, list_files, mib, read};
use crate::workspace::{run, Xtask};
use crate::Result;

pub(crate) fn count_cases(node: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(node)? {
        if entry?.path().join("model.onnx").is_file() {
            n += 1;
        }
    }
    Ok(n)
}

impl Xtask {
    /// Returns the number of cases.
    pub(crate) fn node_suite(&self) -> Result<usize> {
        self.pyenv()?;
        let out = self.node_suite_dir();
        let node = out.join("node");
        let script = self.root.join("xtask/py/gen_node_suite.py");
        let stamp_path = out.join(".xtask-stamp");
        let stamp = format!(
            "requirements.txt + gen_node_suite.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&script)?])
        );
        if node.is_dir() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            let n = count_cases(&node)?;
            println!("node-suite: {} is up to date ({n} cases)", self.rel(&node));
            return Ok(n);
        }
        println!("node-suite: generating into {}", self.rel(&out));
        let started = Instant::now();
        run(self.py().arg(&script).arg(&out))?;
        fs::write(&stamp_path, stamp)?;
        let n = count_cases(&node)?;
        println!(
            "node-suite: {n} cases in {} ({:.1} s)",
            self.rel(&node),
            started.elapsed().as_secs_f64()
        );
        Ok(n)
    }

    pub(crate) fn testdata(&self) -> Result<()> {
        self.pyenv()?;
        let out = self.testdata_dir();
        fs::create_dir_all(&out)?;

        // ResNet-50: about 100 MB, so made once per requirements/script.
        let script = self.root.join("testdata/make_resnet50.py");
        let model = out.join("resnet50.onnx");
        let stamp_path = out.join(".resnet50-stamp");
        let stamp = format!(
            "requirements.txt + make_resnet50.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&script)?])
        );
        if model.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            println!(
                "testdata: {} is up to date ({:.1} MiB)",
                self.rel(&model),
                mib(fs::metadata(&model)?.len())
            );
        } else {
            println!("testdata: making {}", self.rel(&model));
            let _ = fs::remove_file(&stamp_path);
            run(self.py().arg(&script).arg("--out").arg(&out))?;
            fs::write(&stamp_path, stamp)?;
        }

        // The transformer encoder for interpreter benchmarks: small, so made when missing.
        let transformer = out.join("transformer.onnx");
        let t_script = self.root.join("testdata/make_transformer.py");
        let t_stamp_path = out.join(".transformer-stamp");
        let t_stamp = format!(
            "requirements.txt + make_transformer.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&t_script)?])
        );
        if !(transformer.exists()
            && fs::read_to_string(&t_stamp_path).ok().as_deref() == Some(&t_stamp))
        {
            println!("testdata: making {}", self.rel(&transformer));
            run(self.py().arg(&t_script).arg("--out").arg(&out))?;
            fs::write(&t_stamp_path, t_stamp)?;
        }

        // The committed examples must be exactly what their script makes.
        let examples = out.join("examples");
        if examples.exists() {
            fs::remove_dir_all(&examples)?;
        }
        println!(
            "testdata: checking testdata/models and testdata/bad against testdata/make_examples.py"
        );
        run(self
            .py()
            .arg("testdata/make_examples.py")
            .arg("--out")
            .arg(&examples)
            .stdout(Stdio::null()))?;
        let mut problems = Vec::new();
        for sub in ["models", "bad"] {
            let made = list_files(&examples.join(sub))?;
            for f in &made {
                let ours = self.root.join("testdata").join(sub).join(f);
                if !ours.exists() {
                    problems.push(format!("testdata/{sub}/{} is missing", f.display()));
                } else if read(&ours)? != read(&examples.join(sub).join(f))? {
                    problems.push(format!(
                        "testdata/{sub}/{} differs from what the script makes",
                        f.display()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "the committed examples are stale:\n  {}\nrun `target/pyenv/bin/python testdata/make_examples.py` and commit the result",
                problems.join("\n  ")
            )
            .into());
        }
        println!("testdata: committed examples match testdata/make_examples.py");
        Ok(())
    }
}
