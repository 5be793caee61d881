//! Sparse FULLY_CONNECTED weights (`WriteOptions::sparse_weights`): a float32 weight `[O, I]`
//! with enough zeros is stored in TFLite's own `SparsityParameters` form and made dense by a
//! DENSIFY op in front of the FULLY_CONNECTED — the form TensorFlow's converter writes for
//! sparse float weights. LiteRT densifies it once (XNNPACK at delegation, the builtin DENSIFY
//! kernel on its first run), so the file is smaller and the run time that of the dense model.
//! Two layouts, whichever is smaller:
//!
//! - block-sparse 1×4 (`I` a multiple of 4) — traversal order `[0, 1, 2]`, block map `[1]`,
//!   levels DENSE(O), SPARSE_CSR (the nonzero blocks of each row), DENSE(4);
//! - unstructured — traversal order `[0, 1]`, levels DENSE(O), SPARSE_CSR.
//!
//! Not the sparse weight fed to FULLY_CONNECTED directly, although LiteRT's builtin kernel
//! runs that (`FullyConnectedSparseWeight*`): with LiteRT's default XNNPACK delegate (2.3)
//! such a file computes wrong outputs or crashes at `allocate_tensors` (measured on
//! `[300, 1024]`, `[1024, 1024]` and `[1024, 2048]` weights), so it is never written.
//!
//! The values follow in traversal order; segment and index arrays use the narrowest of
//! uint8 / uint16 / int32 that holds them. A weight is stored sparse only when that saves more
//! than the tables it adds ([`TABLES`]). The importer's `densify` (`import/sparse.rs`) reads
//! the form back.

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use modelc_ir::{DType, ValueRef};

use super::lower::Lower;
use crate::{fb, TfliteError};

/// One stored level of a sparse tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Level {
    Dense(usize),
    /// CSR: `segments[p]..segments[p + 1]` of `indices` under parent position `p`.
    Csr {
        segments: Vec<usize>,
        indices: Vec<usize>,
    },
}

/// A tensor's `SparsityParameters`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub traversal_order: Vec<i32>,
    pub block_map: Vec<i32>,
    pub levels: Vec<Level>,
}

/// Bytes a sparse weight adds besides its arrays (the DENSIFY operator, the dense tensor
/// it writes, the SparsityParameters tables), rounded up: below this saving it stays dense.
const TABLES: usize = 1024;

/// The block width of block-sparse weights (the 1×4 blocks TensorFlow's converter uses).
const BLOCK: usize = 4;

/// The smaller sparse form of row-major f32 `values` of shape `[rows, cols]`: (stored
/// values, layout), block 1×4 when `cols` allows and that is smaller, else unstructured.
pub(crate) fn encode(values: &[f32], rows: usize, cols: usize) -> (Vec<f32>, Layout) {
    let csr = encode_blocks(values, rows, cols, 1);
    if !cols.is_multiple_of(BLOCK) {
        return csr;
    }
    let blocks = encode_blocks(values, rows, cols, BLOCK);
    if stored_bytes(&blocks.0, &blocks.1) <= stored_bytes(&csr.0, &csr.1) {
        blocks
    } else {
        csr
    }
}

/// The sparse form of `values` with 1×`block` blocks (1: unstructured).
fn encode_blocks(values: &[f32], rows: usize, cols: usize, block: usize) -> (Vec<f32>, Layout) {
    let blocks_per_row = cols / block;
    let mut stored = Vec::new();
    let mut segments = Vec::with_capacity(rows + 1);
    let mut indices = Vec::new();
    segments.push(0);
    for r in 0..rows {
        for b in 0..blocks_per_row {
            let vals = &values[r * cols + b * block..r * cols + (b + 1) * block];
            if vals.iter().any(|&v| v != 0.0) {
                indices.push(b);
                stored.extend_from_slice(vals);
            }
        }
        segments.push(indices.len());
    }
    let csr = Level::Csr { segments, indices };
    let layout = if block == 1 {
        Layout {
            traversal_order: vec![0, 1],
            block_map: Vec::new(),
            levels: vec![Level::Dense(rows), csr],
        }
    } else {
        Layout {
            traversal_order: vec![0, 1, 2],
            block_map: vec![1],
            levels: vec![Level::Dense(rows), csr, Level::Dense(block)],
        }
    };
    (stored, layout)
}

/// Bytes of the narrowest index vector that holds `v`.
fn index_bytes(v: &[usize]) -> usize {
    v.len() * index_width(v)
}

fn index_width(v: &[usize]) -> usize {
    match v.iter().copied().max().unwrap_or(0) {
        m if m <= u8::MAX as usize => 1,
        m if m <= u16::MAX as usize => 2,
        _ => 4,
    }
}

/// Bytes the values and index arrays of a sparse tensor take in the file.
pub(crate) fn stored_bytes(stored: &[f32], layout: &Layout) -> usize {
    let index: usize = layout
        .levels
        .iter()
        .map(|l| match l {
            Level::Dense(_) => 0,
            Level::Csr { segments, indices } => index_bytes(segments) + index_bytes(indices),
        })
        .sum();
    stored.len() * 4 + index
}

/// FULLY_CONNECTED weights `[O, I]` densified from a sparse constant for the constant `bv` (`[O, I]` when
/// `transposed`, else `[I, O]`), when the writer was asked for sparse weights, the weight is
/// a plain float32 constant and the sparse form is smaller; `None` otherwise (dense then).
pub(crate) fn fc_weights(
    lowering: &mut Lower,
    bv: ValueRef,
    transposed: bool,
) -> Result<Option<usize>, TfliteError> {
    if !lowering.model.sparse_weights || lowering.dq_source(bv).is_some() {
        return Ok(None);
    }
    let Some(c) = lowering.model.const_of(bv) else {
        return Ok(None);
    };
    if c.dtype != DType::F32 || c.dims.len() != 2 {
        return Ok(None);
    }
    let Some(raw) = c.raw() else {
        return Ok(None);
    };
    let dims = (c.dims[0] as usize, c.dims[1] as usize);
    let flat: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (rows, cols, values) = if transposed {
        (dims.0, dims.1, flat)
    } else {
        let (i, o) = dims;
        let mut t = vec![0.0f32; o * i];
        for r in 0..i {
            for k in 0..o {
                t[k * i + r] = flat[r * o + k];
            }
        }
        (o, i, t)
    };
    let (stored, layout) = encode(&values, rows, cols);
    if stored.is_empty() || stored_bytes(&stored, &layout) + TABLES >= values.len() * 4 {
        return Ok(None);
    }
    let bytes: Vec<u8> = stored.iter().flat_map(|v| v.to_le_bytes()).collect();
    let name = format!("{}/sparse", lowering.model.value_name(bv));
    let shape = vec![rows as i64, cols as i64];
    let t = lowering.model.add_tensor(
        name.clone(),
        DType::F32,
        shape.clone(),
        Some(&Bytes::from(bytes)),
        None,
    )?;
    lowering.model.tensors[t].sparsity = Some(Box::new(layout));
    let dense =
        lowering
            .model
            .add_tensor(format!("{name}/dense"), DType::F32, shape, None, None)?;
    lowering
        .model
        .emit(fb::BuiltinOperator::DENSIFY, 1, &[Some(t)], &[dense], None);
    Ok(Some(dense))
}

/// The `SparsityParameters` table of `layout`.
pub(crate) fn write<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    layout: &Layout,
) -> WIPOffset<fb::SparsityParameters<'f>> {
    let mut dims = Vec::with_capacity(layout.levels.len());
    for level in &layout.levels {
        let args = match level {
            Level::Dense(n) => fb::DimensionMetadataArgs {
                format: fb::DimensionType::DENSE,
                dense_size: *n as i32,
                ..Default::default()
            },
            Level::Csr { segments, indices } => {
                let (segments_type, segments) = index_vector(fbb, segments);
                let (indices_type, indices) = index_vector(fbb, indices);
                fb::DimensionMetadataArgs {
                    format: fb::DimensionType::SPARSE_CSR,
                    array_segments_type: segments_type,
                    array_segments: Some(segments),
                    array_indices_type: indices_type,
                    array_indices: Some(indices),
                    ..Default::default()
                }
            }
        };
        dims.push(fb::DimensionMetadata::create(fbb, &args));
    }
    let order = fbb.create_vector(&layout.traversal_order);
    let block_map = fbb.create_vector(&layout.block_map);
    let dim_metadata = fbb.create_vector(&dims);
    fb::SparsityParameters::create(
        fbb,
        &fb::SparsityParametersArgs {
            traversal_order: Some(order),
            block_map: Some(block_map),
            dim_metadata: Some(dim_metadata),
        },
    )
}

/// `v` as the narrowest `SparseIndexVector` that holds it.
fn index_vector(
    fbb: &mut FlatBufferBuilder<'_>,
    v: &[usize],
) -> (
    fb::SparseIndexVector,
    WIPOffset<flatbuffers::UnionWIPOffset>,
) {
    match index_width(v) {
        1 => {
            let b: Vec<u8> = v.iter().map(|&x| x as u8).collect();
            let values = Some(fbb.create_vector(&b));
            (
                fb::SparseIndexVector::Uint8Vector,
                fb::Uint8Vector::create(fbb, &fb::Uint8VectorArgs { values }).as_union_value(),
            )
        }
        2 => {
            let b: Vec<u16> = v.iter().map(|&x| x as u16).collect();
            let values = Some(fbb.create_vector(&b));
            (
                fb::SparseIndexVector::Uint16Vector,
                fb::Uint16Vector::create(fbb, &fb::Uint16VectorArgs { values }).as_union_value(),
            )
        }
        _ => {
            let b: Vec<i32> = v.iter().map(|&x| x as i32).collect();
            let values = Some(fbb.create_vector(&b));
            (
                fb::SparseIndexVector::Int32Vector,
                fb::Int32Vector::create(fbb, &fb::Int32VectorArgs { values }).as_union_value(),
            )
        }
    }
}
