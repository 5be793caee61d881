//! Hostile or broken `.pt` files fail with one-line typed errors: no panic, nothing
//! executed, bounded memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

fn good() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/torchscript/cnn_bn_traced/model.pt")
}

/// The entries of the committed traced CNN, as (name, bytes).
fn entries() -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(good()).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (e.name().unwrap().to_string(), b)
        })
        .collect()
}

fn write_zip(dir: &Path, entries: &[(String, Vec<u8>, CompressionMethod)]) -> PathBuf {
    let path = dir.join("bad.pt");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, data, method) in entries {
        z.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(*method),
        )
        .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
    path
}

/// The CNN with entry `name` replaced by `data` (or removed when `None`), plus `extra`.
fn patched(
    name: &str,
    data: Option<Vec<u8>>,
    extra: &[(&str, Vec<u8>)],
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut es: Vec<(String, Vec<u8>, CompressionMethod)> = Vec::new();
    for (n, b) in entries() {
        if n == name {
            if let Some(d) = &data {
                es.push((n, d.clone(), CompressionMethod::Stored));
            }
        } else {
            es.push((n, b, CompressionMethod::Stored));
        }
    }
    for (n, b) in extra {
        es.push((n.to_string(), b.clone(), CompressionMethod::Stored));
    }
    let p = write_zip(dir.path(), &es);
    (dir, p)
}

fn err(path: &Path) -> String {
    let e = modelc_torchscript::read(path)
        .expect_err("must fail")
        .to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

#[test]
fn the_unpatched_archive_reads() {
    let (_d, p) = patched("none", None, &[]);
    modelc_torchscript::read(&p).unwrap();
}

#[test]
fn zip_bomb_is_refused_before_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 20 << 20];
    let p = write_zip(
        dir.path(),
        &[("m/data.pkl".into(), zeros, CompressionMethod::Deflated)],
    );
    assert!(std::fs::metadata(&p).unwrap().len() < 200_000);
    let e = err(&p);
    assert!(e.contains("zip bomb"), "{e}");
}

#[test]
fn path_traversal_is_refused() {
    let (_d, p) = patched("none", None, &[("../../etc/evil.py", b"x".to_vec())]);
    let e = err(&p);
    assert!(e.contains("leaves the archive"), "{e}");
    let (_d, p) = patched("none", None, &[("/etc/evil.py", b"x".to_vec())]);
    assert!(err(&p).contains("absolute"));
}

#[test]
fn unknown_opcode_is_named() {
    let (_d, p) = patched("model/data.pkl", Some(b"\x80\x02\xfe.".to_vec()), &[]);
    let e = err(&p);
    assert!(e.contains("data.pkl") && e.contains("opcode 0xfe"), "{e}");
}

#[test]
fn os_system_is_refused_and_not_run() {
    let marker = std::env::temp_dir().join(format!("modelc_pwned_{}", std::process::id()));
    let cmd = format!("touch {}", marker.display());
    let mut pkl = b"\x80\x02cos\nsystem\n(X".to_vec();
    pkl.extend((cmd.len() as u32).to_le_bytes());
    pkl.extend(cmd.as_bytes());
    pkl.extend(b"tR.");
    let (_d, p) = patched("model/data.pkl", Some(pkl), &[]);
    let e = err(&p);
    assert!(e.contains("global os.system is not allowed"), "{e}");
    assert!(!marker.exists(), "the pickle was executed");
}

#[test]
fn truncated_storage_is_refused() {
    // data/0 is the first conv's weight: 8·3·3·3 floats = 864 bytes.
    let (_d, p) = patched("model/data/0", Some(vec![0u8; 100]), &[]);
    let e = err(&p);
    assert!(
        e.contains("storage data/0 holds 100 bytes, needs 864"),
        "{e}"
    );
}

#[test]
fn missing_storage_is_refused() {
    let (_d, p) = patched("model/data/3", None, &[]);
    let e = err(&p);
    assert!(e.contains("missing entry") && e.contains("data/3"), "{e}");
}

#[test]
fn pickle_recursion_bomb_is_refused() {
    let mut pkl = b"\x80\x02".to_vec();
    pkl.extend(std::iter::repeat_n(b']', 1));
    for _ in 0..100_000 {
        pkl.extend(b"(");
    }
    for _ in 0..100_000 {
        pkl.extend(b"l");
    }
    pkl.push(b'.');
    let (_d, p) = patched("model/data.pkl", Some(pkl), &[]);
    let e = err(&p);
    assert!(e.contains("nest deeper"), "{e}");
}

#[test]
fn code_recursion_bomb_is_refused_with_its_line() {
    let mut src = String::from("class CnnBn(Module):\n  training : bool\n  def forward(self: __torch__.CnnBn,\n    x: Tensor) -> Tensor:\n");
    src.push_str(&format!(
        "    return {}x{}\n",
        "(".repeat(50_000),
        ")".repeat(50_000)
    ));
    let (_d, p) = patched("model/code/__torch__.py", Some(src.into_bytes()), &[]);
    let e = err(&p);
    assert!(
        e.contains("code/__torch__.py:5") && e.contains("nests deeper"),
        "{e}"
    );
}

#[test]
fn every_untranslatable_op_is_listed_with_its_line() {
    let src = "class CnnBn(Module):\n  training : bool\n  def forward(self: __torch__.CnnBn,\n    x: Tensor) -> Tensor:\n    y = torch.frobnicate(x)\n    z = torch.relu(y)\n    return torch.defenestrate(z, 3)\n";
    let (_d, p) = patched(
        "model/code/__torch__.py",
        Some(src.as_bytes().to_vec()),
        &[],
    );
    let e = err(&p);
    assert!(
        e.contains("code/__torch__.py:5: aten::frobnicate: is not supported"),
        "{e}"
    );
    assert!(
        e.contains("code/__torch__.py:7: aten::defenestrate: is not supported"),
        "{e}"
    );
}

#[test]
fn not_a_zip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pt");
    std::fs::write(&p, b"this is not a zip archive at all").unwrap();
    assert!(err(&p).contains("not a zip archive"));
}

#[test]
fn malformed_input_type_records_are_named() {
    for (text, why) in [
        ("f33 1,3,8,8\n", "unknown element type `f33`"),
        ("f32\n", "expected `TYPE DIMS`"),
        ("f32 1,x-,99999999999999999999999\n", "bad size"),
    ] {
        let (_d, p) = patched(
            "none",
            None,
            &[(
                "model/extra/modelc_input_types.txt",
                text.as_bytes().to_vec(),
            )],
        );
        let e = err(&p);
        assert!(
            e.contains("modelc_input_types.txt:1") && e.contains(why),
            "{e}"
        );
    }
    // A well-formed record is taken: the input gets the recorded shape.
    let (_d, p) = patched(
        "none",
        None,
        &[(
            "model/extra/modelc_input_types.txt",
            b"f32 2,3,8,8\n".to_vec(),
        )],
    );
    let m = modelc_torchscript::read(&p).unwrap();
    let input = m.graph.inputs()[0];
    let tt = m.graph.node(input).outputs[0].ty.as_ref().unwrap();
    let shape = tt.ty.as_tensor().unwrap().shape.clone().unwrap();
    assert_eq!(shape.as_known(), Some(vec![2, 3, 8, 8]));
}
