//! Hostile and malformed archives give one-line errors naming the problem, never a panic
//! and never an unbounded allocation; a well-formed archive written here by hand reads.

use std::io::Write;

use bytes::Bytes;
use modelc_pt2::{read_bytes, Pt2Error};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// A program computing `relu(x @ w.T)` for `x: f32[s0, 2]` (s0 in 1..=8), `w` a parameter
/// read from `data/weights/weight_0`, in the JSON form torch 2.15 writes.
fn program(schema: (i64, i64)) -> String {
    let meta = |sizes: &str| {
        format!(
            r#"{{"dtype": 7, "sizes": [{sizes}], "requires_grad": false, "device": {{"type": "cpu", "index": null}}, "strides": [{{"as_int": 2}}, {{"as_int": 1}}], "storage_offset": {{"as_int": 0}}, "layout": 7}}"#
        )
    };
    let sym = r#"{"as_expr": {"expr_str": "Symbol('s0', positive=True, integer=True)", "hint": {"as_int": 2}}}"#;
    format!(
        r#"{{"graph_module": {{"graph": {{
  "inputs": [{{"as_tensor": {{"name": "p_w"}}}}, {{"as_tensor": {{"name": "x"}}}}],
  "outputs": [{{"as_tensor": {{"name": "relu"}}}}],
  "nodes": [
    {{"target": "torch.ops.aten.linear.default", "name": "linear", "metadata": {{}},
      "inputs": [{{"name": "input", "arg": {{"as_tensor": {{"name": "x"}}}}, "kind": 1}},
                 {{"name": "weight", "arg": {{"as_tensor": {{"name": "p_w"}}}}, "kind": 1}}],
      "outputs": [{{"as_tensor": {{"name": "linear"}}}}]}},
    {{"target": "torch.ops.aten.relu.default", "name": "relu", "metadata": {{}},
      "inputs": [{{"name": "self", "arg": {{"as_tensor": {{"name": "linear"}}}}, "kind": 1}}],
      "outputs": [{{"as_tensor": {{"name": "relu"}}}}]}}],
  "tensor_values": {{"p_w": {w}, "x": {x}}},
  "sym_int_values": {{}}, "sym_bool_values": {{}}, "is_single_tensor_return": false}},
 "signature": {{"input_specs": [
    {{"parameter": {{"arg": {{"name": "p_w"}}, "parameter_name": "w"}}}},
    {{"user_input": {{"arg": {{"as_tensor": {{"name": "x"}}}}}}}}],
  "output_specs": [{{"user_output": {{"arg": {{"as_tensor": {{"name": "relu"}}}}}}}}]}},
 "module_call_graph": []}},
 "opset_version": {{"aten": 10}},
 "range_constraints": {{"s0": {{"min_val": 1, "max_val": 8}}}},
 "schema_version": {{"major": {}, "minor": {}}},
 "verifiers": ["TRAINING"], "torch_version": "2.15.0", "guards_code": []}}"#,
        schema.0,
        schema.1,
        w = meta(r#"{"as_int": 2}, {"as_int": 2}"#),
        x = meta(&format!(r#"{sym}, {{"as_int": 2}}"#)),
    )
}

fn weights_config(use_pickle: bool, rows: u64) -> String {
    format!(
        r#"{{"config": {{"w": {{"path_name": "weight_0", "is_param": true, "use_pickle": {use_pickle}, "tensor_meta": {{"dtype": 7, "sizes": [{{"as_int": {rows}}}, {{"as_int": 2}}], "requires_grad": true, "device": {{"type": "cpu", "index": null}}, "strides": [{{"as_int": 2}}, {{"as_int": 1}}], "storage_offset": {{"as_int": 0}}, "layout": 7}}}}}}}}"#
    )
}

/// The entries of a good archive, under the directory `m/`.
fn entries() -> Vec<(String, Vec<u8>)> {
    let w: Vec<u8> = [1.0f32, 0.0, 0.0, -1.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    vec![
        ("m/data/weights/weight_0".into(), w),
        (
            "m/data/weights/model_weights_config.json".into(),
            weights_config(false, 2).into_bytes(),
        ),
        ("m/models/model.json".into(), program((8, 20)).into_bytes()),
        ("m/archive_format".into(), b"pt2".to_vec()),
        ("m/archive_version".into(), b"0".to_vec()),
        ("m/byteorder".into(), b"little".to_vec()),
    ]
}

fn zip(entries: &[(String, Vec<u8>)], method: CompressionMethod) -> Bytes {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    Bytes::from(w.finish().unwrap().into_inner())
}

fn with(name: &str, data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut e = entries();
    e.retain(|(n, _)| n != name);
    e.push((name.into(), data.to_vec()));
    e
}

/// The error reading `entries`, as one line (checked to be one).
fn error(entries: &[(String, Vec<u8>)]) -> String {
    let e = read_bytes(zip(entries, CompressionMethod::Stored)).expect_err("must be refused");
    let line = e.to_string();
    assert!(!line.contains('\n'), "not one line: {line}");
    line
}

#[test]
fn a_hand_written_archive_reads_with_its_symbolic_batch() {
    let m = read_bytes(zip(&entries(), CompressionMethod::Stored)).unwrap();
    let text = m.graph.to_string();
    assert!(text.contains("%x: f32[s0,2]"), "{text}");
    assert!(text.contains("Relu"), "{text}");
    assert!(
        m.meta
            .iter()
            .any(|(k, v)| k == "pt2.range.s0" && v == "1..8"),
        "{:?}",
        m.meta
    );
}

#[test]
fn path_traversal_is_refused() {
    let mut e = entries();
    e.push(("m/../../etc/evil".into(), b"x".to_vec()));
    let msg = error(&e);
    assert!(msg.contains("leaves the archive"), "{msg}");
}

#[test]
fn zip_bombs_are_refused_before_inflating() {
    let e = with("m/models/model.json", &vec![b' '; 20 << 20]);
    let r = read_bytes(zip(&e, CompressionMethod::Deflated));
    let msg = r.expect_err("a bomb").to_string();
    assert!(msg.contains("zip bomb"), "{msg}");
}

/// `bytes` with every header of entry `name` (local and central) declaring `size` bytes
/// uncompressed.
fn declare_size(bytes: &[u8], name: &str, size: u32) -> Bytes {
    let mut b = bytes.to_vec();
    let n = name.as_bytes();
    let mut patched = 0;
    for at in 0..b.len().saturating_sub(46) {
        // (signature, offset of the name, offset of the uncompressed size)
        let header = match b[at..at + 4] {
            [0x50, 0x4b, 0x03, 0x04] => Some((30, 22)),
            [0x50, 0x4b, 0x01, 0x02] => Some((46, 24)),
            _ => None,
        };
        if let Some((name_at, size_at)) = header {
            if b[at + name_at..].starts_with(n) {
                b[at + size_at..at + size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2, "both headers of {name}");
    Bytes::from(b)
}

#[test]
fn entries_larger_than_their_declared_size_are_refused() {
    // A compressed entry whose headers say it inflates to 100 bytes, inflating to more: read
    // at most its declared size (+1), then refused.
    let e = entries();
    let zipped = zip(&e, CompressionMethod::Deflated);
    let lying = declare_size(&zipped, "m/models/model.json", 100);
    let msg = read_bytes(lying).expect_err("a lying header").to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains("models/model.json"), "{msg}");
}

#[test]
fn unknown_versions_are_refused_by_name() {
    let msg = error(&with("m/models/model.json", program((9, 0)).as_bytes()));
    assert!(
        msg.contains("unsupported .pt2 version: schema 9.0"),
        "{msg}"
    );
    let msg = error(&with("m/models/model.json", program((8, 21)).as_bytes()));
    assert!(msg.contains("schema 8.21"), "{msg}");
    let msg = error(&with("m/archive_version", b"1"));
    assert!(msg.contains("archive_version \"1\""), "{msg}");
    let msg = error(&with("m/archive_format", b"aoti"));
    assert!(msg.contains("archive_format is \"aoti\""), "{msg}");
    let msg = error(&with("m/byteorder", b"big"));
    assert!(msg.contains("little-endian"), "{msg}");
}

#[test]
fn malformed_json_names_the_entry() {
    let msg = error(&with("m/models/model.json", b"{\"schema_version\": "));
    assert!(msg.starts_with("bad .pt2 JSON models/model.json"), "{msg}");
    let msg = error(&with("m/models/model.json", &vec![b'['; 100_000]));
    assert!(msg.starts_with("bad .pt2 JSON models/model.json"), "{msg}");
    let msg = error(&with(
        "m/data/weights/model_weights_config.json",
        b"{\"config\": 3}",
    ));
    assert!(msg.contains("model_weights_config.json"), "{msg}");
}

#[test]
fn pickled_weights_are_refused_without_unpickling() {
    // A pickle calling os.system: never read, refused by the weight's name.
    let e = with(
        "m/data/weights/model_weights_config.json",
        weights_config(true, 2).as_bytes(),
    );
    let mut e: Vec<_> = e
        .into_iter()
        .filter(|(n, _)| !n.ends_with("weight_0"))
        .collect();
    e.push((
        "m/data/weights/weight_0".into(),
        b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.".to_vec(),
    ));
    let msg = error(&e);
    assert!(
        msg.contains("bad .pt2 weight w: is a pickled tensor subclass"),
        "{msg}"
    );
}

#[test]
fn weight_views_past_their_storage_are_refused() {
    let msg = error(&with(
        "m/data/weights/model_weights_config.json",
        weights_config(false, 1000).as_bytes(),
    ));
    assert!(
        msg.contains("bad .pt2 weight w: view reaches element"),
        "{msg}"
    );
}

#[test]
fn unknown_ops_are_listed_by_node() {
    let p = program((8, 20)).replace(
        "torch.ops.aten.relu.default",
        "torch.ops.mylib.evil.default",
    );
    let msg = error(&with("m/models/model.json", p.as_bytes()));
    assert!(
        msg.contains("node relu (torch.ops.mylib.evil.default): torch.ops.mylib.evil.default is not an aten op"),
        "{msg}"
    );
    let p = program((8, 20)).replace(
        "torch.ops.aten.relu.default",
        "torch.ops.aten.no_such_op.default",
    );
    let msg = error(&with("m/models/model.json", p.as_bytes()));
    assert!(
        msg.contains("node relu (torch.ops.aten.no_such_op.default): aten::no_such_op"),
        "{msg}"
    );
}

#[test]
fn not_a_pt2_is_said_so() {
    let e: Vec<_> = entries()
        .into_iter()
        .filter(|(n, _)| !n.ends_with("archive_format"))
        .collect();
    let msg = error(&e);
    assert!(
        msg.contains("no archive_format: not a torch.export (.pt2) archive"),
        "{msg}"
    );
    let r = read_bytes(Bytes::from_static(b"PK\x03\x04garbage"));
    assert!(matches!(r, Err(Pt2Error::Archive(_))), "{r:?}");
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let good = zip(&entries(), CompressionMethod::Stored);
    for cut in (0..good.len()).step_by(7) {
        let _ = read_bytes(good.slice(..cut));
    }
    for i in (0..good.len()).step_by(3) {
        let mut b = good.to_vec();
        b[i] ^= 0x5a;
        let _ = read_bytes(Bytes::from(b));
    }
}

#[test]
fn non_finite_float_arguments_read_as_torch_writes_them() {
    // torch's serializer writes ±inf and NaN as strings (JSON has no such numbers).
    let clamp =
        |lo: &str| {
            program((8, 20))
            .replace("torch.ops.aten.relu.default", "torch.ops.aten.clamp.default")
            .replace(
                r#"{"name": "self", "arg": {"as_tensor": {"name": "linear"}}, "kind": 1}"#,
                &format!(
                    r#"{{"name": "self", "arg": {{"as_tensor": {{"name": "linear"}}}}, "kind": 1}},
                       {{"name": "min", "arg": {{"as_float": {lo}}}, "kind": 1}},
                       {{"name": "max", "arg": {{"as_float": "Infinity"}}, "kind": 1}}"#
                ),
            )
        };
    let p = clamp(r#""-Infinity""#);
    let m = read_bytes(zip(
        &with("m/models/model.json", p.as_bytes()),
        CompressionMethod::Stored,
    ))
    .unwrap();
    let text = m.graph.to_string();
    assert!(text.contains("inf"), "{text}");
    let msg = error(&with(
        "m/models/model.json",
        clamp(r#""Infinite""#).as_bytes(),
    ));
    assert!(
        msg.contains("node relu (torch.ops.aten.clamp.default): argument `min`: is a float"),
        "{msg}"
    );
}
