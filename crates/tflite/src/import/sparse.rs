//! Sparse constant tensors (`SparsityParameters`: TFLite's block-CSR form, read at run time
//! through `DENSIFY`) made dense at import, so every later reader sees an ordinary constant.
//!
//! The layout is TFLite's `FormatConverter`: the tensor's `rank` dimensions plus one per
//! entry of `block_map` (the block dimension of original dimension `block_map[j]`) are
//! stored in `traversal_order`, the original dimensions first. Each stored level is dense
//! (`dense_size` positions) or sparse (CSR: `array_segments[p]..array_segments[p+1]` of
//! `array_indices` under parent position `p`); the values follow in traversal order.

use crate::fb;

/// Limit on a densified tensor relative to the file (plus a floor): sparse weights in real
/// models compress a few times, not by this much, and a hostile file must not make a
/// small buffer stand for gigabytes.
const MAX_EXPANSION: usize = 64;
const MIN_LIMIT: usize = 64 << 20;

/// One stored level: its size, and for a sparse level its CSR arrays.
struct Level {
    size: usize,
    csr: Option<(Vec<usize>, Vec<usize>)>,
}

/// The dense bytes of a sparse tensor of `shape` with `elem` bytes per element, whose
/// buffer `values` holds the stored elements in traversal order.
pub(crate) fn densify(
    sp: &fb::SparsityParameters<'_>,
    shape: &[i64],
    elem: usize,
    values: &[u8],
    file_len: usize,
) -> Result<Vec<u8>, String> {
    let rank = shape.len();
    let dims: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("sparse tensor of shape {shape:?}")))
        .collect::<Result<_, _>>()?;
    let order: Vec<usize> = ints(sp.traversal_order().map(|v| v.iter().collect()))?;
    let block_map: Vec<usize> = ints(sp.block_map().map(|v| v.iter().collect()))?;
    let levels_n = rank + block_map.len();
    let mut seen = vec![false; levels_n];
    for (l, &d) in order.iter().enumerate() {
        if d >= levels_n || seen[d] || (l < rank) != (d < rank) {
            return Err(format!(
                "traversal order {order:?} is not the {rank} dimensions then the blocks"
            ));
        }
        seen[d] = true;
    }
    if order.len() != levels_n || block_map.iter().any(|&d| d >= rank) {
        return Err(format!(
            "traversal order {order:?} and block map {block_map:?} do not fit rank {rank}"
        ));
    }
    let meta: Vec<fb::DimensionMetadata> = sp.dim_metadata().into_iter().flatten().collect();
    if meta.len() != levels_n {
        return Err(format!(
            "{} dimension metadata for {levels_n} levels",
            meta.len()
        ));
    }
    // Block sizes, from the block levels' dense_size.
    let mut block = vec![1usize; block_map.len()];
    for (l, &d) in order.iter().enumerate().skip(rank) {
        block[d - rank] = usize::try_from(meta[l].dense_size())
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("block size {}", meta[l].dense_size()))?;
    }
    let mut levels = Vec::with_capacity(levels_n);
    for (l, &d) in order.iter().enumerate() {
        let size = if d < rank {
            let b = block_map
                .iter()
                .position(|&m| m == d)
                .map_or(1, |j| block[j]);
            if !dims[d].is_multiple_of(b) {
                return Err(format!(
                    "dimension {d} of size {} is not a multiple of its block {b}",
                    dims[d]
                ));
            }
            dims[d] / b
        } else {
            block[d - rank]
        };
        let m = &meta[l];
        let csr = if m.format() == fb::DimensionType::SPARSE_CSR {
            let seg = index_vector(m, true)?;
            let idx = index_vector(m, false)?;
            if let Some(&i) = idx.iter().find(|&&i| i >= size) {
                return Err(format!("index {i} in a level of size {size}"));
            }
            Some((seg, idx))
        } else {
            if m.dense_size() as i64 != size as i64 {
                return Err(format!(
                    "dense level of size {} where the shape gives {size}",
                    m.dense_size()
                ));
            }
            None
        };
        levels.push(Level { size, csr });
    }
    let count = modelc_ir::element_count(&dims.iter().map(|&d| d as u64).collect::<Vec<_>>())
        .ok_or("shape overflows")?;
    let bytes = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(elem))
        .ok_or("shape overflows")?;
    let limit = file_len.saturating_mul(MAX_EXPANSION).max(MIN_LIMIT);
    if bytes > limit {
        return Err(format!(
            "dense form of {bytes} bytes exceeds the limit of {limit} for this file"
        ));
    }
    let mut w = Walk {
        order: &order,
        block_map: &block_map,
        block: &block,
        dims: &dims,
        levels: &levels,
        elem,
        values,
        next: 0,
        index: vec![0; levels_n],
        out: vec![0u8; bytes],
    };
    w.level(0, 0)?;
    Ok(w.out)
}

fn ints(v: Option<Vec<i32>>) -> Result<Vec<usize>, String> {
    v.unwrap_or_default()
        .into_iter()
        .map(|x| usize::try_from(x).map_err(|_| format!("negative dimension number {x}")))
        .collect()
}

/// A `SparseIndexVector` union's values: the level's segments or its indices.
fn index_vector(m: &fb::DimensionMetadata<'_>, segments: bool) -> Result<Vec<usize>, String> {
    let (i32s, u16s, u8s) = if segments {
        (
            m.array_segments_as_int_32_vector().map(|v| v.values()),
            m.array_segments_as_uint_16_vector().map(|v| v.values()),
            m.array_segments_as_uint_8_vector().map(|v| v.values()),
        )
    } else {
        (
            m.array_indices_as_int_32_vector().map(|v| v.values()),
            m.array_indices_as_uint_16_vector().map(|v| v.values()),
            m.array_indices_as_uint_8_vector().map(|v| v.values()),
        )
    };
    if let Some(v) = i32s {
        return v
            .into_iter()
            .flatten()
            .map(|x| usize::try_from(x).map_err(|_| format!("negative index {x}")))
            .collect();
    }
    if let Some(v) = u16s {
        return Ok(v.into_iter().flatten().map(usize::from).collect());
    }
    if let Some(v) = u8s {
        return Ok(v
            .map(|v| v.bytes().iter().map(|&b| b as usize).collect())
            .unwrap_or_default());
    }
    Err("sparse level without its index arrays".into())
}

/// The recursive walk of `FormatConverter::Populate`.
struct Walk<'a> {
    order: &'a [usize],
    block_map: &'a [usize],
    block: &'a [usize],
    dims: &'a [usize],
    levels: &'a [Level],
    elem: usize,
    values: &'a [u8],
    /// The next stored value.
    next: usize,
    index: Vec<usize>,
    out: Vec<u8>,
}

impl Walk<'_> {
    fn level(&mut self, l: usize, parent: usize) -> Result<(), String> {
        if l == self.levels.len() {
            return self.store();
        }
        let size = self.levels[l].size;
        match &self.levels[l].csr {
            None => {
                for i in 0..size {
                    self.index[l] = i;
                    self.level(l + 1, parent * size + i)?;
                }
            }
            Some((seg, idx)) => {
                let (Some(&a), Some(&b)) = (seg.get(parent), seg.get(parent + 1)) else {
                    return Err(format!(
                        "array_segments has {} entries, position {parent} needs more",
                        seg.len()
                    ));
                };
                if a > b || b > idx.len() {
                    return Err(format!(
                        "segment {a}..{b} outside the {} indices",
                        idx.len()
                    ));
                }
                for (i, &at) in idx.iter().enumerate().take(b).skip(a) {
                    self.index[l] = at;
                    self.level(l + 1, i)?;
                }
            }
        }
        Ok(())
    }

    fn store(&mut self) -> Result<(), String> {
        let rank = self.dims.len();
        let mut orig = vec![0usize; rank];
        for (l, &d) in self.order.iter().enumerate() {
            if l < rank {
                orig[d] = self.index[l];
            } else {
                let j = d - rank;
                let od = self.block_map[j];
                orig[od] = orig[od] * self.block[j] + self.index[l];
            }
        }
        let mut flat = 0usize;
        for (&i, &n) in orig.iter().zip(self.dims) {
            flat = flat * n + i;
        }
        let src = self
            .values
            .get(self.next * self.elem..(self.next + 1) * self.elem)
            .ok_or_else(|| {
                format!(
                    "the buffer holds {} values, the indices address more",
                    self.values.len() / self.elem.max(1)
                )
            })?;
        self.out[flat * self.elem..(flat + 1) * self.elem].copy_from_slice(src);
        self.next += 1;
        Ok(())
    }
}
