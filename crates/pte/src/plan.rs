//! The memory plan: every planned tensor gets an offset in one arena (memory id 1; id 0 is
//! reserved by the runtime), so that tensors live at the same time never overlap. Lifetimes
//! are the IR's liveness plan's node positions ([`modelc_ir::cost::Liveness`]); placement is
//! greedy, largest first, each at the lowest aligned offset that fits between the tensors
//! already placed whose lifetimes overlap its own.

use crate::program::{EValue, Program, Storage};

/// Offsets in the arena are multiples of this (what exir's memory planning uses).
pub(crate) const ALIGNMENT: u64 = 16;

/// Offsets by EValue index (planned tensors only) and the arena's size.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    pub offsets: Vec<Option<u64>>,
    pub size: u64,
}

pub(crate) fn plan(p: &Program) -> Arena {
    struct Item {
        value: usize,
        first: usize,
        last: usize,
        bytes: u64,
    }
    let mut items: Vec<Item> = p
        .values
        .iter()
        .enumerate()
        .filter_map(|(value, v)| match v {
            EValue::Tensor(t) => match t.storage {
                Storage::Planned { first, last } => Some(Item {
                    value,
                    first,
                    last,
                    bytes: t.dtype.storage_bytes(modelc_ir::element_count(&t.sizes)?)?,
                }),
                Storage::Const(_) => None,
            },
            _ => None,
        })
        .collect();
    items.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.value.cmp(&b.value)));
    let mut arena = Arena {
        offsets: vec![None; p.values.len()],
        size: 0,
    };
    // (first, last, offset, end) of the tensors placed so far.
    let mut placed: Vec<(usize, usize, u64, u64)> = Vec::new();
    for it in items {
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .filter(|&&(f, l, _, _)| f <= it.last && it.first <= l)
            .map(|&(_, _, o, e)| (o, e))
            .collect();
        busy.sort_unstable();
        let mut offset = 0u64;
        for (o, e) in busy {
            if offset.saturating_add(it.bytes) <= o {
                break;
            }
            offset = offset.max(e.next_multiple_of(ALIGNMENT));
        }
        let end = offset.saturating_add(it.bytes);
        placed.push((it.first, it.last, offset, end));
        arena.offsets[it.value] = Some(offset);
        arena.size = arena.size.max(end.next_multiple_of(ALIGNMENT));
    }
    arena
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelc_ir::DType;

    #[test]
    fn overlapping_lifetimes_never_share_bytes_and_disjoint_ones_do() {
        let mut p = Program::default();
        let a = p.planned(DType::F32, vec![10], 0, 1); // 40 B
        let b = p.planned(DType::F32, vec![4], 1, 2); // 16 B, overlaps a
        let c = p.planned(DType::F32, vec![10], 2, 3); // 40 B, overlaps b only
        let arena = plan(&p);
        let off = |v: usize| arena.offsets[v].unwrap();
        assert_eq!(off(a), 0);
        assert_eq!(off(c), 0, "c starts after a is dead: same bytes");
        assert!(
            off(b) >= 48,
            "b lives with a and c: after them ({})",
            off(b)
        );
        assert_eq!(arena.size, 64);
    }
}
