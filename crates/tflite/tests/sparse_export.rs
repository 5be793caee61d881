//! Sparse FULLY_CONNECTED weights (`WriteOptions::sparse_weights`): a weight with enough zeros
//! is written in `SparsityParameters` form behind a DENSIFY — block-sparse 1×4 when its zeros
//! fill blocks, unstructured CSR when that is smaller or the input size is not a multiple of
//! 4 — the file gets smaller, and reading it back (the importer's densify) gives exactly the
//! dense weights. A weight with too few zeros stays dense. (LiteRT running these files against the dense ones: tests/compress_sparse.py.)

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
    // MatMul [64, 32]: rows 4k..4k+3 of input column j kept only for every third (k, j): the
    // transposed [32, 64] has whole 1×4 blocks zero: blocks. Gemm transB [24, 50] (I = 50:
    // not a multiple of 4), one in four kept: CSR. Gemm [16, 64] 2:4 (no zero block; CSR
    // with one-byte indices is 512·5 bytes + 17 segments < 4096): CSR. Gemm [2, 16] with
    // half its weights zero: a saving below the tables' bytes, dense.
    let text = format!(
        r#"graph main(%x: f32[2,64], %z: f32[1,50], %u: f32[1,64]) -> (%y, %v, %t) {{
  %w = const f32[64,32] {w}
  %y = MatMul(%x, %w)
  %w2 = const f32[24,50] {w2}
  %v = Gemm(%z, %w2) {{transB=1}}
  %w3 = const f32[16,64] {w3}
  %t3 = Gemm(%u, %w3) {{transB=1}}
  %w4 = const f32[2,16] {w4}
  %t = Gemm(%t3, %w4) {{transB=1}}
}}"#,
        w = sparse_vals(64 * 32, |i| ((i / 32) / 4 + i % 32).is_multiple_of(3)),
        w2 = sparse_vals(24 * 50, |i| i % 4 == 1),
        w3 = sparse_vals(16 * 64, |i| i % 4 < 2),
        w4 = sparse_vals(32, |i| i % 2 == 0),
    );
    Model::new(Graph::parse(&text).unwrap_or_else(|e| panic!("{e}")), 17)
}

/// (shape, traversal order, block map, level formats).
type SparseTensor = (Vec<i32>, Vec<i32>, Vec<i32>, Vec<fb::DimensionType>);

/// The sparsity of each constant tensor of the written file: (shape, traversal order,
/// block map, level formats).
fn sparse_tensors(bytes: &[u8]) -> Vec<SparseTensor> {
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
                vec![32, 64],
                vec![0, 1, 2],
                vec![1],
                vec![DENSE, SPARSE_CSR, DENSE]
            ),
            (vec![24, 50], vec![0, 1], vec![], vec![DENSE, SPARSE_CSR]),
            (vec![16, 64], vec![0, 1], vec![], vec![DENSE, SPARSE_CSR]),
        ]
    );
    assert!(sparse_tensors(&db).is_empty());
    let (a, b) = (
        modelc_tflite::read(&dense).unwrap(),
        modelc_tflite::read(&sparse).unwrap(),
    );
    assert_eq!(consts(&a), consts(&b));
}
