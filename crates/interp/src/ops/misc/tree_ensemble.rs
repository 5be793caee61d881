//! `ai.onnx.ml.TreeEnsemble` (ml opset 5): evaluates every tree (roots `tree_roots`) on
//! each row of a `[N, F]` float input and aggregates the reached leaves' `leaf_weights`
//! into `n_targets` columns (`leaf_targetids`) with `aggregate_function` (0 AVERAGE,
//! 1 SUM — the default —, 2 MIN, 3 MAX), then applies `post_transform` (0 NONE,
//! 1 SOFTMAX, 2 LOGISTIC, 3 SOFTMAX_ZERO; 4 PROBIT is not supported). Interior node `i`
//! compares feature `nodes_featureids[i]` with `nodes_splits[i]` per `nodes_modes[i]`
//! (0 `<=`, 1 `<`, 2 `>=`, 3 `>`, 4 `==`, 5 `!=`, 6 set membership, with the sets listed
//! in `membership_values` in node order, each ended by NaN); a NaN feature goes to the
//! true branch when `nodes_missing_value_tracks_true[i]`. The true/false successors are
//! `nodes_{true,false}nodeids[i]`, leaves when `nodes_{true,false}leafs[i]`. A root whose
//! two successors are the same leaf is a one-leaf tree. Output `[N, n_targets]`, the
//! input's type.

use modelc_ir::DType;

use crate::ops::util::one;
use crate::{bail, Data, KernelError, OpCtx};

use super::common::{float_array, float_values, tensor_attr};

fn float_tensor(ctx: &OpCtx<'_>, name: &str) -> Result<Option<Vec<f64>>, KernelError> {
    tensor_attr(ctx.attrs(), name)?
        .map(|t| float_values(&t))
        .transpose()
}

fn req<T>(v: Option<T>, name: &str) -> Result<T, KernelError> {
    v.ok_or_else(|| KernelError::new(format!("attribute `{name}` is required")))
}

struct Tree {
    splits: Vec<f64>,
    features: Vec<usize>,
    modes: Vec<i64>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    true_leaf: Vec<bool>,
    false_leaf: Vec<bool>,
    missing_true: Vec<bool>,
    /// Per node: the membership set (for mode 6).
    sets: Vec<Vec<f64>>,
}

impl Tree {
    /// The leaf reached from interior node `root` for `row`.
    fn leaf(&self, root: usize, row: &[f64]) -> Result<usize, KernelError> {
        let n = self.modes.len();
        let mut node = root;
        // A well-formed tree reaches a leaf within `n` steps.
        for _ in 0..=n {
            let Some(&x) = row.get(self.features[node]) else {
                bail!("feature {} is out of range", self.features[node]);
            };
            let s = self.splits[node];
            let go_true = (self.missing_true[node] && x.is_nan())
                || match self.modes[node] {
                    0 => x <= s,
                    1 => x < s,
                    2 => x >= s,
                    3 => x > s,
                    4 => x == s,
                    5 => x != s,
                    6 => self.sets[node].contains(&x),
                    m => bail!("unknown node mode {m}"),
                };
            let (next, leaf) = if go_true {
                (self.true_ids[node], self.true_leaf[node])
            } else {
                (self.false_ids[node], self.false_leaf[node])
            };
            let Ok(next) = usize::try_from(next) else {
                bail!("negative node id {next}");
            };
            if leaf {
                return Ok(next);
            }
            if next >= n {
                bail!("node id {next} is out of range");
            }
            node = next;
        }
        bail!("the tree has a cycle")
    }
}

pub fn tree_ensemble(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let at = ctx.attrs();
    let x = ctx.input(0)?;
    let xv = float_values(x)?;
    let (rows, cols) = match x.shape() {
        [n, f] => (*n, *f),
        [f] => (1, *f),
        s => bail!("input must be [N, F], got {s:?}"),
    };
    let splits = req(float_tensor(ctx, "nodes_splits")?, "nodes_splits")?;
    let modes = match tensor_attr(at, "nodes_modes")? {
        Some(t) => t.to_i64_vec()?,
        None => vec![0; splits.len()],
    };
    let n = splits.len();
    let ints = |name: &str| -> Result<Vec<i64>, KernelError> {
        let v = at.ints(name, vec![])?;
        if v.len() != n {
            bail!("attribute `{name}` has {} entries, expected {n}", v.len());
        }
        Ok(v)
    };
    let features = ints("nodes_featureids")?
        .into_iter()
        .map(|f| usize::try_from(f).map_err(|_| KernelError::new("negative feature id")))
        .collect::<Result<Vec<_>, _>>()?;
    let true_ids = ints("nodes_truenodeids")?;
    let false_ids = ints("nodes_falsenodeids")?;
    let true_leaf: Vec<bool> = ints("nodes_trueleafs")?.iter().map(|&v| v != 0).collect();
    let false_leaf: Vec<bool> = ints("nodes_falseleafs")?.iter().map(|&v| v != 0).collect();
    if modes.len() != n {
        bail!("nodes_modes has {} entries, expected {n}", modes.len());
    }
    let missing_true: Vec<bool> = if at.contains("nodes_missing_value_tracks_true") {
        ints("nodes_missing_value_tracks_true")?
            .iter()
            .map(|&v| v != 0)
            .collect()
    } else {
        vec![false; n]
    };
    let mut sets = vec![Vec::new(); n];
    if modes.contains(&6) {
        let members = req(float_tensor(ctx, "membership_values")?, "membership_values")?;
        let mut groups = members.split(|v| v.is_nan());
        for (i, _) in modes.iter().enumerate().filter(|(_, &m)| m == 6) {
            let Some(g) = groups.next() else {
                bail!("membership_values has too few sets");
            };
            sets[i] = g.to_vec();
        }
    }
    let weights = req(float_tensor(ctx, "leaf_weights")?, "leaf_weights")?;
    let targets = at.ints("leaf_targetids", vec![])?;
    if targets.len() != weights.len() {
        bail!("leaf_targetids and leaf_weights differ in length");
    }
    let n_targets = at.int("n_targets", 0)?;
    if !(1..=1 << 24).contains(&n_targets) {
        bail!("n_targets {n_targets} is out of range");
    }
    let n_targets = n_targets as usize;
    if targets
        .iter()
        .any(|&t| t < 0 || t as u64 >= n_targets as u64)
    {
        bail!("a leaf target id is out of range for {n_targets} targets");
    }
    let roots = at.ints("tree_roots", vec![])?;
    if roots.iter().any(|&r| r < 0 || r as u64 >= n as u64) {
        bail!("a tree root is out of range");
    }
    let agg = at.int("aggregate_function", 1)?;
    let post = at.int("post_transform", 0)?;
    let tree = Tree {
        splits,
        features,
        modes,
        true_ids,
        false_ids,
        true_leaf,
        false_leaf,
        missing_true,
        sets,
    };
    if rows.checked_mul(n_targets).is_none_or(|t| t > 1 << 31) {
        bail!("output too large");
    }
    let (lo, hi) = if x.dtype() == DType::F64 {
        (f64::MIN, f64::MAX)
    } else {
        (f32::MIN as f64, f32::MAX as f64)
    };
    let init = match agg {
        0 | 1 => 0.0,
        2 => hi,
        3 => lo,
        a => bail!("unknown aggregate_function {a}"),
    };
    let mut out = vec![init; rows * n_targets];
    let ntrees = roots.len() as f64;
    for r in 0..rows {
        let row = &xv[r * cols..(r + 1) * cols];
        let acc = &mut out[r * n_targets..(r + 1) * n_targets];
        for &root in &roots {
            let root = root as usize;
            let leaf = if tree.true_leaf[root]
                && tree.false_leaf[root]
                && tree.true_ids[root] == tree.false_ids[root]
            {
                usize::try_from(tree.true_ids[root]).unwrap_or(usize::MAX)
            } else {
                tree.leaf(root, row)?
            };
            let (Some(&w), Some(&t)) = (weights.get(leaf), targets.get(leaf)) else {
                bail!("leaf {leaf} is out of range");
            };
            let a = &mut acc[t as usize];
            match agg {
                0 => *a += w / ntrees,
                1 => *a += w,
                2 => *a = a.min(w),
                _ => *a = a.max(w),
            }
        }
        match post {
            0 => {}
            1 | 3 => {
                let zero = post == 3;
                let m = acc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut s = 0.0;
                for v in acc.iter_mut() {
                    *v = if zero && *v == 0.0 {
                        0.0
                    } else {
                        (*v - m).exp()
                    };
                    s += *v;
                }
                for v in acc.iter_mut() {
                    *v /= s;
                }
            }
            2 => acc.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
            p => bail!("post_transform {p} is not supported"),
        }
    }
    one(float_array(x.dtype(), &[rows, n_targets], out)?)
}
