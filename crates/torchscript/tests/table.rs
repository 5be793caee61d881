//! The aten ↔ op table (`modelc_torchscript::aten`), both ways:
//! - every row round-trips: a one-node graph of the row's op → write → the code calls
//!   `torch.<aten>` → read back → the same op;
//! - every name the reader takes (the row's and its aliases) is one row's, and every op one
//!   row's;
//! - the writer refuses an op without a TorchScript form by the node's name;
//! - every row's archive, loaded by torch.jit.load, computes what onnxruntime computes for
//!   the ONNX op: the archives and a manifest go to `tests/torchscript_export.py --table`.

use std::io::Read;
use std::path::Path;

use modelc_ir::{DType, Graph, Model, Node, OnnxOp, Op};
use modelc_torchscript::aten::{self, Row};
use modelc_torchscript::{read, write, WriteOptions};

/// Element types of the inputs a row's op takes in these tests.
fn input_type(op: OnnxOp) -> DType {
    match op {
        OnnxOp::And | OnnxOp::Or | OnnxOp::Xor | OnnxOp::Not => DType::Bool,
        _ => DType::F32,
    }
}

/// The value the one-node graphs give every parameter (no op's default).
const PARAM: f32 = 0.3;

fn one_node(row: &Row) -> Model {
    let t = input_type(row.op);
    let n = row.kind.arity();
    let params: Vec<String> = (0..n).map(|i| format!("%x{i}: {t}[2,3,4]")).collect();
    let args: Vec<String> = (0..n).map(|i| format!("%x{i}")).collect();
    let attrs: Vec<String> = row
        .params
        .iter()
        .map(|p| format!("{}={PARAM}", p.attr))
        .collect();
    let attrs = if attrs.is_empty() {
        String::new()
    } else {
        format!(" {{{}}}", attrs.join(", "))
    };
    let text = format!(
        "graph main({}) -> (%y) {{\n  %y = {}({}){attrs}\n}}\n",
        params.join(", "),
        row.op.name(),
        args.join(", ")
    );
    let g = Graph::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    Model::new(g, 21)
}

fn op_node(g: &Graph) -> &Node {
    let ids: Vec<_> = g
        .node_ids()
        .filter(|&id| !matches!(g.node(id).op, Op::Input { .. } | Op::Const(_)))
        .collect();
    match ids.as_slice() {
        [id] => g.node(*id),
        more => panic!("expected one op node, got {}", more.len()),
    }
}

/// The one node of `op`, the others being comparisons of the inputs with 0.
fn bool_op_node(g: &Graph, op: OnnxOp) -> &Node {
    let mut found = None;
    for id in g.node_ids() {
        let node = g.node(id);
        match &node.op {
            Op::Input { .. } | Op::Const(_) => {}
            Op::Onnx(o) if *o == op && found.is_none() => found = Some(node),
            Op::Onnx(OnnxOp::Equal | OnnxOp::Not) => {}
            other => panic!("unexpected {other:?} beside {}", op.name()),
        }
    }
    found.unwrap_or_else(|| panic!("no {} node", op.name()))
}

fn code(path: &Path) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut f = z.by_name("archive/code/__torch__.py").unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn rows_are_one_to_one_both_ways() {
    let rows: Vec<&Row> = aten::rows().collect();
    let names = |r: &Row| {
        std::iter::once(r.aten)
            .chain(r.aliases.iter().copied())
            .collect::<Vec<_>>()
    };
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            assert!(a.op != b.op, "{} has two rows", a.op.name());
            for n in names(a) {
                assert!(!names(b).contains(&n), "aten::{n} has two rows");
            }
        }
    }
}

#[test]
fn every_row_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for row in aten::rows() {
        let path = dir.path().join(format!("{}.pt", row.aten));
        write(&one_node(row), &path, &WriteOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", row.aten));
        let src = code(&path);
        assert!(src.contains(&format!("torch.{}(x0", row.aten)), "{src}");
        let back = read(&path).unwrap_or_else(|e| panic!("{}: {e}", row.aten));
        let node = if input_type(row.op) == DType::Bool {
            // The reader types traced inputs float (their element types are not read
            // yet), and a logical op of floats compares them with 0 first: the row's op
            // is one node among those comparisons.
            bool_op_node(&back.graph, row.op)
        } else {
            op_node(&back.graph)
        };
        assert_eq!(node.op, Op::Onnx(row.op), "{}", row.aten);
        for p in row.params {
            assert_eq!(
                node.float(p.attr).map_err(|e| e.to_string()),
                Ok(PARAM),
                "{}",
                row.aten
            );
        }
    }
}

#[test]
fn writer_refuses_an_op_without_a_form_by_name() {
    let mut g = Graph::parse("graph main(%x: f32[3,3]) -> (%y) {\n  %y = Det(%x)\n}\n").unwrap();
    let id = g
        .node_ids()
        .find(|&id| g.node(id).op == Op::Onnx(OnnxOp::Det))
        .unwrap();
    g.node_mut(id).name = "the_determinant".into();
    let dir = tempfile::tempdir().unwrap();
    let e = write(
        &Model::new(g, 21),
        &dir.path().join("det.pt"),
        &WriteOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Det \"the_determinant\""), "{e}");
}

#[test]
fn rows_match_onnxruntime_in_torch() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for row in aten::rows() {
        let path = dir.path().join(format!("{}.pt", row.aten));
        let mut m = one_node(row);
        write(&m, &path, &WriteOptions::default()).unwrap();
        modelc_ir::infer::infer_graph(&mut m.graph, &m.opset_imports);
        let y = m.graph.outputs()[0];
        let numpy = |d: DType| if d == DType::Bool { "bool" } else { "float32" };
        let input = numpy(input_type(row.op));
        let inputs = vec![format!("\"{input}\""); row.kind.arity()];
        let attrs: Vec<String> = row
            .params
            .iter()
            .map(|p| format!("\"{}\": {PARAM:?}", p.attr))
            .collect();
        entries.push(format!(
            "{{\"name\": \"{}\", \"op\": \"{}\", \"attrs\": {{{}}}, \"inputs\": [{}], \"output\": \"{}\", \"shape\": [2, 3, 4], \"file\": \"{}\"}}",
            row.aten,
            row.op.name(),
            attrs.join(", "),
            inputs.join(", "),
            numpy(m.graph.dtype_of(y).expect("inferred")),
            path.display()
        ));
    }
    let n = entries.len();
    let summary = format!("aten table: {n} of {n} rows exact");
    let Some(out) =
        modelc_testkit::check_table_cases("torchscript_export.py", dir.path(), &entries, &summary)
    else {
        return;
    };
    println!("{out}");
}
