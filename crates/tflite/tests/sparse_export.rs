//! Sparse FULLY_CONNECTED weights (`WriteOptions::sparse_weights`): a weight with enough zeros
//! is written in `SparsityParameters` form — block-sparse 1×4 when its input size is a
//! multiple of 4, unstructured CSR otherwise — the file gets smaller, and reading it back
//! (the importer's densify) gives exactly the dense weights. A weight with too few zeros
//! stays dense. (LiteRT running these files against the dense ones: tests/compress_sparse.py.)

use modelc_ir::{Graph, Model, Op, TensorData};
use modelc_tflite::{fb, WriteOptions};

/// `n` text-form values, three of every four (by `keep`) zero.
fn sparse_vals(n: usize, keep: impl Fn(usize) -> bool) -> String {
    let v: Vec<String> = (0..n)
        .map(|i| {
            if keep(i) {
                format!("{:.3}", ((i * 37 % 101) as f32 / 101.0) - 0.45)
            } else {
                "0.0".into()
            }
        })
        .collect();
    format!("[{}]", v.join(", "))
}

fn model() -> Model {
    // MatMul [16, 8]: rows 4k..4k+3 of input column j kept only for every third (k, j): the
    // transposed [8, 16] has whole 1×4 blocks zero. Gemm transB [6, 10] (I = 10: not a
    // multiple of 4): unstructured, one in four kept. Gemm [4, 12] dense: stays dense.
    let text = format!(
        r#"graph main(%x: f32[2,16], %z: f32[1,10], %u: f32[1,12]) -> (%y, %v, %t) {{
  %w = const f32[16,8] {w}
  %y = MatMul(%x, %w)
  %w2 = const f32[6,10] {w2}
  %b2 = const f32[6] [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
  %v = Gemm(%z, %w2, %b2) {{transB=1}}
  %w3 = const f32[4,12] {w3}
  %t = Gemm(%u, %w3) {{transB=1}}
}}"#,
        w = sparse_vals(128, |i| ((i / 8) / 4 + i % 8).is_multiple_of(3)),
        w2 = sparse_vals(60, |i| i % 4 == 1),
        w3 = sparse_vals(48, |_| true),
    );
    Model::new(Graph::parse(&text).unwrap_or_else(|e| panic!("{e}")), 17)
}

/// The sparsity of each constant tensor of the written file: (shape, traversal order,
/// block map, level formats).
fn sparse_tensors(bytes: &[u8]) -> Vec<(Vec<i32>, Vec<i32>, Vec<i32>, Vec<fb::DimensionType>)> {
    let m = fb::root_as_model(bytes).unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    sg.tensors()
        .unwrap()
        .iter()
        .filter_map(|t| {
            let sp = t.sparsity()?;
            Some((
                t.shape().unwrap().iter().collect(),
                sp.traversal_order().unwrap().iter().collect(),
                sp.block_map()
                    .map(|b| b.iter().collect())
                    .unwrap_or_default(),
                sp.dim_metadata()
                    .unwrap()
                    .iter()
                    .map(|d| d.format())
                    .collect(),
            ))
        })
        .collect()
}

fn consts(model: &Model) -> Vec<(Vec<u64>, bytes::Bytes)> {
    let g = &model.graph;
    let mut w: Vec<_> = g
        .node_ids()
        .filter_map(|id| match &g.node(id).op {
            Op::Const(t) => match &t.data {
                TensorData::Raw(b) => Some((t.dims.clone(), b.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    w.sort();
    w
}

#[test]
fn sparse_weights_are_smaller_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (dense, sparse) = (dir.path().join("d.tflite"), dir.path().join("s.tflite"));
    let m = model();
    modelc_tflite::write(&m, &dense, &WriteOptions::default()).unwrap();
    let opts = WriteOptions {
        sparse_weights: true,
        ..Default::default()
    };
    modelc_tflite::write(&m, &sparse, &opts).unwrap();
    let (db, sb) = (
        std::fs::read(&dense).unwrap(),
        std::fs::read(&sparse).unwrap(),
    );
    assert!(
        sb.len() < db.len(),
        "sparse {} vs dense {}",
        sb.len(),
        db.len()
    );
    const DENSE: fb::DimensionType = fb::DimensionType::DENSE;
    const SPARSE_CSR: fb::DimensionType = fb::DimensionType::SPARSE_CSR;
    assert_eq!(
        sparse_tensors(&sb),
        vec![
            (
                vec![8, 16],
                vec![0, 1, 2],
                vec![1],
                vec![DENSE, SPARSE_CSR, DENSE]
            ),
            (vec![6, 10], vec![0, 1], vec![], vec![DENSE, SPARSE_CSR]),
        ]
    );
    assert!(sparse_tensors(&db).is_empty());
    let (a, b) = (
        modelc_tflite::read(&dense).unwrap(),
        modelc_tflite::read(&sparse).unwrap(),
    );
    assert_eq!(consts(&a), consts(&b));
}
