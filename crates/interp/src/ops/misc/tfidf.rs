//! TfIdfVectorizer (opset 9): counts the n-grams of `pool_int64s` / `pool_strings`
//! (grouped by length through `ngram_counts`, mapped to output columns by
//! `ngram_indexes`) in each row of a `[C]` or `[B, C]` input of int32/int64/strings,
//! for gram lengths `min_gram_length..=max_gram_length` and skips up to
//! `max_skip_count` (unigrams counted once); `mode` TF / IDF / TFIDF with optional
//! `weights`. Output float32 `[output_size]` or `[B, output_size]`, where
//! `output_size = max(ngram_indexes) + 1`.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::strings;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Str(String),
}

#[derive(Default)]
struct TrieNode {
    /// 1-based n-gram id; 0 = no n-gram ends here.
    id: usize,
    children: HashMap<Key, usize>,
}

struct Trie {
    nodes: Vec<TrieNode>,
}

impl Trie {
    fn child_or_insert(&mut self, at: usize, key: &Key) -> usize {
        if let Some(&c) = self.nodes[at].children.get(key) {
            return c;
        }
        let c = self.nodes.len();
        self.nodes.push(TrieNode::default());
        self.nodes[at].children.insert(key.clone(), c);
        c
    }
}

pub fn tfidf_vectorizer(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let at = ctx.attrs();
    let min_gram = at.int("min_gram_length", 0)?;
    let max_gram = at.int("max_gram_length", 0)?;
    let max_skip = at.int("max_skip_count", 0)?;
    if min_gram < 1 || max_gram < min_gram || max_skip < 0 {
        bail!("invalid gram lengths {min_gram}..{max_gram} or skip count {max_skip}");
    }
    let (min_gram, max_gram, max_skip) = (min_gram as usize, max_gram as usize, max_skip as usize);
    let mode = at.string("mode", "TF")?;
    let ngram_counts = at.ints("ngram_counts", vec![])?;
    let ngram_indexes = at.ints("ngram_indexes", vec![])?;
    let weights = at.floats("weights", vec![])?;
    let pool: Vec<Key> = match strings(at, "pool_strings")? {
        Some(s) => s.into_iter().map(Key::Str).collect(),
        None => at
            .ints("pool_int64s", vec![])?
            .into_iter()
            .map(Key::Int)
            .collect(),
    };
    if ngram_indexes.iter().any(|&i| !(0..1 << 31).contains(&i)) {
        bail!("ngram_indexes out of range");
    }
    let output_size = ngram_indexes.iter().max().map_or(0, |&m| m as usize + 1);

    // Build the trie of the pool's n-grams of the requested lengths.
    let mut trie = Trie {
        nodes: vec![TrieNode::default()],
    };
    let mut ngram_id = 1usize;
    for (i, &start) in ngram_counts.iter().enumerate() {
        let size = i + 1;
        let end = ngram_counts
            .get(i + 1)
            .copied()
            .unwrap_or(pool.len() as i64);
        if start < 0 || end < start || end as usize > pool.len() {
            bail!(
                "ngram_counts {ngram_counts:?} do not fit a pool of {}",
                pool.len()
            );
        }
        let (start, end) = (start as usize, end as usize);
        let count = (end - start) / size;
        if size >= min_gram && size <= max_gram {
            for g in 0..count {
                let mut node = 0;
                for k in 0..size {
                    node = trie.child_or_insert(node, &pool[start + g * size + k]);
                }
                trie.nodes[node].id = ngram_id;
                ngram_id += 1;
            }
        } else {
            ngram_id += count;
        }
    }

    let x = ctx.input(0)?;
    let items: Vec<Key> = match x {
        Array::Str(a) => a.iter().cloned().map(Key::Str).collect(),
        Array::I32(_) | Array::I64(_) => x.to_i64_vec()?.into_iter().map(Key::Int).collect(),
        other => bail!(
            "input must be int32, int64 or string, got {}",
            other.dtype()
        ),
    };
    let (rows, cols, out_shape) = match x.shape() {
        [] => (1, 1, vec![output_size]),
        [c] => (1, *c, vec![output_size]),
        [b, c] => (*b, *c, vec![*b, output_size]),
        s => bail!("input must be [C] or [B, C], got {s:?}"),
    };
    if rows.checked_mul(output_size).is_none_or(|t| t > 1 << 31) {
        bail!("output too large");
    }
    let mut freq = vec![0u64; rows * output_size];
    // Skips longer than a row find no n-gram of length >= 2.
    let max_skip = max_skip.min(cols);
    for r in 0..rows {
        let row = &items[r * cols..(r + 1) * cols];
        let mut start_size = min_gram;
        for skip in 1..=max_skip + 1 {
            for s in 0..cols {
                if s.saturating_add(skip.saturating_mul(start_size - 1)) >= cols {
                    break;
                }
                let mut node = 0;
                let mut size = 1;
                let mut item = s;
                while !trie.nodes[node].children.is_empty() && size <= max_gram && item < cols {
                    let Some(&next) = trie.nodes[node].children.get(&row[item]) else {
                        break;
                    };
                    let id = trie.nodes[next].id;
                    if size >= start_size && id != 0 {
                        let Some(&col) = ngram_indexes.get(id - 1) else {
                            bail!("ngram_indexes has no entry for n-gram {id}");
                        };
                        freq[r * output_size + col as usize] += 1;
                    }
                    node = next;
                    size += 1;
                    item += skip;
                }
            }
            if start_size == 1 {
                start_size += 1;
                if start_size > max_gram {
                    break;
                }
            }
        }
    }
    if matches!(mode.as_str(), "IDF" | "TFIDF")
        && !weights.is_empty()
        && weights.len() < output_size
    {
        bail!(
            "weights has {} elements, expected {output_size}",
            weights.len()
        );
    }
    let out: Vec<f32> = freq
        .iter()
        .enumerate()
        .map(|(p, &f)| {
            let col = p % output_size.max(1);
            Ok(match mode.as_str() {
                "TF" => f as f32,
                "IDF" if weights.is_empty() => (f > 0) as u8 as f32,
                "IDF" => {
                    if f > 0 {
                        weights[col]
                    } else {
                        0.0
                    }
                }
                "TFIDF" if weights.is_empty() => f as f32,
                "TFIDF" => weights[col] * f as f32,
                other => bail!("unknown mode `{other}`"),
            })
        })
        .collect::<Result<_, KernelError>>()?;
    one(Array::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?))
}
