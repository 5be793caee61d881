//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` (its own workspace, built with
//! the nightly toolchain and libFuzzer's instrumentation, never by the normal build) for a
//! fixed time each, seeded from the committed test files, and fails on any finding: a
//! crash, a hang (`-timeout`), an allocation past `-rss_limit_mb`, or a slow unit.
//!
//! cargo-fuzz itself is installed at a pinned version into target/cargo-fuzz (once). Seeds
//! go to target/fuzz-seeds/TARGET (remade each run); what libFuzzer finds worth keeping
//! grows in fuzz/corpus/TARGET, its findings in fuzz/artifacts/TARGET (both ignored by git).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{list_files, read, slug};
use crate::workspace::{run, show_command, Xtask};
use crate::Result;

/// The cargo-fuzz release `cargo xtask fuzz` installs.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Seeds larger than this are left out: libFuzzer's input length follows the largest seed,
/// and a fuzz step on a megabyte model is thousands of times slower than on a small one.
const MAX_SEED_BYTES: u64 = 64 * 1024;

/// Seeds taken from one generated suite at most (the node suite has ~1,500 models).
const MAX_SUITE_SEEDS: usize = 600;

/// The libFuzzer options every run gets: a hang is an input taking 10 s, an OOM is 2 GiB.
const LIBFUZZER_LIMITS: [&str; 3] = ["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1"];

impl Xtask {
    pub(crate) fn fuzz(&self, only: &[String], seconds: u64) -> Result<()> {
        let cargo_fuzz = self.cargo_fuzz()?;
        let fuzz_dir = self.root.join("fuzz");
        let all = self.fuzz_targets(&cargo_fuzz)?;
        for t in only {
            if !all.contains(t) {
                return Err(format!("no fuzz target {t} (targets: {})", all.join(", ")).into());
            }
        }
        let targets: Vec<&String> = all
            .iter()
            .filter(|t| only.is_empty() || only.contains(t))
            .collect();
        // One build of every target first, with its output shown (a build error is not a
        // finding).
        let mut build = self.fuzz_cmd(&cargo_fuzz);
        build.args(["build", "--fuzz-dir"]).arg(&fuzz_dir);
        if let [one] = targets.as_slice() {
            build.arg(one);
        }
        run(&mut build)?;

        let mut summary = Vec::new();
        let mut findings = Vec::new();
        for t in targets {
            let seeds = self.fuzz_seeds(t)?;
            let corpus = fuzz_dir.join("corpus").join(t);
            let artifacts = fuzz_dir.join("artifacts").join(t);
            fs::create_dir_all(&corpus)?;
            fs::create_dir_all(&artifacts)?;
            let before: BTreeSet<PathBuf> = list_files(&artifacts)?.into_iter().collect();
            let log = self.target.join("fuzz-logs").join(format!("{t}.log"));
            fs::create_dir_all(log.parent().unwrap_or(Path::new(".")))?;
            let mut cmd = self.fuzz_cmd(&cargo_fuzz);
            cmd.args(["run", "--fuzz-dir"])
                .arg(&fuzz_dir)
                .arg(t)
                .arg(&corpus)
                .arg(&seeds.0)
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                .args(LIBFUZZER_LIMITS);
            println!(
                "fuzz: {t}: {} seeds, {seconds} s (log: {})\n$ {}",
                seeds.1,
                self.rel(&log),
                show_command(&cmd)
            );
            let start = Instant::now();
            // One file handle for both streams, so that they share its offset.
            let out = fs::File::create(&log)?;
            let status = cmd
                .stdout(out.try_clone()?)
                .stderr(out)
                .status()
                .map_err(|e| format!("cannot run {}: {e}", cargo_fuzz.display()))?;
            let text = String::from_utf8_lossy(&read(&log)?).into_owned();
            let stat = |name: &str| -> String {
                text.lines()
                    .rev()
                    .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_else(|| "?".to_string())
            };
            let new: Vec<PathBuf> = list_files(&artifacts)?
                .into_iter()
                .filter(|p| !before.contains(p))
                .map(|p| artifacts.join(p))
                .collect();
            let line = format!(
                "{t}: {} execs in {:.0} s ({} exec/s), corpus {} files, peak RSS {} MB",
                stat("number_of_executed_units"),
                start.elapsed().as_secs_f64(),
                stat("average_exec_per_sec"),
                list_files(&corpus)?.len(),
                stat("peak_rss_mb"),
            );
            println!("fuzz: {line}");
            summary.push(line);
            if !status.success() || !new.is_empty() {
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                for l in tail.iter().rev() {
                    eprintln!("  | {l}");
                }
                let paths: Vec<String> = new.iter().map(|p| self.rel(p).into_owned()).collect();
                findings.push(format!(
                    "{t}: {} ({status}; log {})",
                    if paths.is_empty() {
                        "failed without an artifact".to_string()
                    } else {
                        paths.join(", ")
                    },
                    self.rel(&log)
                ));
            }
        }
        println!("fuzz summary:");
        for l in &summary {
            println!("  {l}");
        }
        if !findings.is_empty() {
            return Err(format!(
                "fuzzing found {} problem(s): {} (reproduce: cargo +nightly fuzz run --fuzz-dir fuzz TARGET FILE)",
                findings.len(),
                findings.join("; ")
            )
            .into());
        }
        Ok(())
    }

    /// target/cargo-fuzz/bin/cargo-fuzz, installed from crates.io at the pinned version when
    /// missing or another version.
    fn cargo_fuzz(&self) -> Result<PathBuf> {
        let root = self.target.join("cargo-fuzz");
        let bin = root.join("bin/cargo-fuzz");
        let current = Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ_VERSION));
        if !current {
            run(self
                .cargo()
                .args([
                    "install",
                    "--locked",
                    "--version",
                    CARGO_FUZZ_VERSION,
                    "--root",
                ])
                .arg(&root)
                .arg("cargo-fuzz"))?;
        }
        Ok(bin)
    }

    /// cargo-fuzz run as `cargo fuzz` under the nightly toolchain: it calls `cargo` from
    /// PATH (the rustup proxy), so the toolchain comes from RUSTUP_TOOLCHAIN, and the
    /// stable toolchain's CARGO/RUSTC that `cargo xtask` set must not leak in.
    fn fuzz_cmd(&self, cargo_fuzz: &Path) -> Command {
        let mut c = Command::new(cargo_fuzz);
        c.current_dir(&self.root)
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTDOC")
            .env_remove("CARGO_TARGET_DIR")
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .arg("fuzz");
        c
    }

    fn fuzz_targets(&self, cargo_fuzz: &Path) -> Result<Vec<String>> {
        let mut cmd = self.fuzz_cmd(cargo_fuzz);
        cmd.args(["list", "--fuzz-dir"])
            .arg(self.root.join("fuzz"))
            .stderr(Stdio::inherit());
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", show_command(&cmd)))?;
        if !out.status.success() {
            return Err(format!("`{}` failed ({})", show_command(&cmd), out.status).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// target/fuzz-seeds/TARGET, remade from the committed test files (and the generated
    /// suites when they are there); returns the directory and the seed count.
    fn fuzz_seeds(&self, target: &str) -> Result<(PathBuf, usize)> {
        let dir = self.target.join("fuzz-seeds").join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let td = self.root.join("testdata");
        let files = |sub: &Path, ext: &str| -> Result<Vec<PathBuf>> {
            Ok(list_files(sub)?
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .map(|p| sub.join(p))
                .collect())
        };
        let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
        let mut add_files = |paths: Vec<PathBuf>, limit: usize| -> Result<()> {
            let mut n = 0;
            for p in paths {
                if n == limit || fs::metadata(&p)?.len() > MAX_SEED_BYTES {
                    continue;
                }
                n += 1;
                seeds.push((slug(&self.rel(&p)), read(&p)?));
            }
            Ok(())
        };
        let torchscript = files(&td.join("torchscript"), "pt")?;
        match target {
            "onnx_reader" | "onnx_to_tflite" => {
                add_files(files(&td.join("models"), "onnx")?, usize::MAX)?;
                add_files(files(&td.join("bad"), "onnx")?, usize::MAX)?;
                add_files(files(&self.node_suite_dir(), "onnx")?, MAX_SUITE_SEEDS)?;
            }
            "tflite_reader" => add_files(files(&td.join("tflite"), "tflite")?, usize::MAX)?,
            "torchscript_reader" => add_files(torchscript, usize::MAX)?,
            "pt2_reader" => {
                add_files(files(&td.join("pt2"), "pt2")?, usize::MAX)?;
                add_files(
                    files(&self.target.join("pt2-suite"), "pt2")?,
                    MAX_SUITE_SEEDS,
                )?;
            }
            "unpickler" | "ts_code_parser" => {
                let ext = if target == "unpickler" { ".pkl" } else { ".py" };
                for p in torchscript {
                    for (name, data) in zip_entries(&p)? {
                        if name.ends_with(ext) && data.len() as u64 <= MAX_SEED_BYTES {
                            seeds.push((slug(&format!("{}-{name}", self.rel(&p))), data));
                        }
                    }
                }
            }
            _ => {}
        }
        if seeds.is_empty() {
            return Err(format!(
                "no seeds for fuzz target {target}: add its kind of file to xtask/src/fuzz.rs"
            )
            .into());
        }
        let n = seeds.len();
        for (name, data) in seeds {
            fs::write(dir.join(name), data)?;
        }
        Ok((dir, n))
    }
}

/// The entries of a zip archive (a `torch.jit.save` file): names and contents. These are
/// our own test files; a malformed one is an error.
fn zip_entries(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let err = |e: zip::result::ZipError| format!("{}: {e}", path.display());
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(read(path)?)).map_err(err)?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(err)?;
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data)?;
        let name = f.name().map_err(err)?.into_owned();
        out.push((name, data));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_entries_of_a_torchscript_archive() {
        let x = Xtask::new();
        let pt = x
            .root
            .join("testdata/torchscript/mlp_dropout_traced/model.pt");
        let entries = zip_entries(&pt).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert!(names.iter().any(|n| n.ends_with("/data.pkl")), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with(".py")), "{names:?}");
        let pkl = entries.iter().find(|e| e.0.ends_with("/data.pkl")).unwrap();
        // A pickle starts with PROTO (0x80) and ends with STOP ('.').
        assert_eq!(pkl.1.first(), Some(&0x80));
        assert_eq!(pkl.1.last(), Some(&b'.'));
        assert!(zip_entries(&x.root.join("testdata/bad/garbage.onnx")).is_err());
    }
}
