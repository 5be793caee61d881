//! Where a run's time goes: wall time per op type, summed over the runs that fill one
//! [`Profile`]. A fused activation's time is counted with its producer, under the name of
//! both (`Conv+Relu`), since it is computed in the producer's step.

use std::collections::HashMap;
use std::time::Duration;

/// Time spent per op type.
#[derive(Debug, Default, Clone)]
pub struct Profile {
    by_op: HashMap<String, OpTime>,
}

/// One op type's kernel calls and their total wall time.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct OpTime {
    pub calls: usize,
    pub time: Duration,
}

/// The profile name of a Conv node with weight shape `w`: `Conv 1x1`, `Conv dw3x3`
/// (depthwise: one input channel per group) or `Conv 3x3`, with `/2` for stride 2, so the
/// kinds of convolution a mobile network mixes are timed apart.
pub(crate) fn conv_kind(node: &modelc_ir::Node, w: &[usize]) -> String {
    let group = node.attrs.int("group", 1).unwrap_or(1);
    let strides = node.attrs.ints("strides", vec![]).unwrap_or_default();
    let k: Vec<String> = w.iter().skip(2).map(|v| v.to_string()).collect();
    let dw = if group > 1 && w.get(1) == Some(&1) {
        "dw"
    } else {
        ""
    };
    let mut name = format!("Conv {dw}{}", k.join("x"));
    if let Some(s) = strides.iter().find(|&&s| s != 1) {
        name += &format!("/{s}");
    }
    name
}

/// The profile name of a MatMul of operands shaped `a` and `b`: `MatMul 128x256·256x1024`
/// (the trailing two dimensions, with a leading `4×` for 4 products), so the products of
/// a transformer (projections, attention, feed-forward) are timed apart.
pub(crate) fn matmul_kind(a: &[usize], b: &[usize]) -> String {
    let two = |s: &[usize]| match s {
        [] => String::new(),
        [k] => k.to_string(),
        [.., r, c] => format!("{r}x{c}"),
    };
    let batch = |s: &[usize]| s.iter().rev().skip(2).product::<usize>();
    let n = batch(a).max(batch(b));
    let lead = if n > 1 {
        format!("{n}×")
    } else {
        String::new()
    };
    format!("MatMul {lead}{}·{}", two(a), two(b))
}

impl Profile {
    pub(crate) fn add(&mut self, op: &str, time: Duration) {
        let t = match self.by_op.get_mut(op) {
            Some(t) => t,
            None => self.by_op.entry(op.to_string()).or_default(),
        };
        t.calls += 1;
        t.time += time;
    }

    /// The op types, most time first (ties by name).
    pub fn rows(&self) -> Vec<(&str, OpTime)> {
        let mut rows: Vec<(&str, OpTime)> =
            self.by_op.iter().map(|(k, &v)| (k.as_str(), v)).collect();
        rows.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(b.0)));
        rows
    }

    /// The time of every op together.
    pub fn total(&self) -> Duration {
        self.by_op.values().map(|t| t.time).sum()
    }

    /// A table: op type, calls, total milliseconds, share of the total.
    pub fn render(&self) -> String {
        let total = self.total().as_secs_f64();
        let mut out = format!("{:<28} {:>7} {:>11} {:>7}\n", "op", "calls", "ms", "share");
        for (op, t) in self.rows() {
            let ms = t.time.as_secs_f64() * 1e3;
            let share = if total > 0.0 {
                100.0 * t.time.as_secs_f64() / total
            } else {
                0.0
            };
            out += &format!("{op:<28} {:>7} {ms:>11.3} {share:>6.1}%\n", t.calls);
        }
        out += &format!("{:<28} {:>7} {:>11.3}\n", "total", "", total * 1e3);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_op_and_sorts_by_time() {
        let mut p = Profile::default();
        p.add("Relu", Duration::from_millis(1));
        p.add("Conv", Duration::from_millis(3));
        p.add("Relu", Duration::from_millis(1));
        let rows = p.rows();
        assert_eq!(rows[0].0, "Conv");
        assert_eq!(
            rows[1],
            (
                "Relu",
                OpTime {
                    calls: 2,
                    time: Duration::from_millis(2)
                }
            )
        );
        assert_eq!(p.total(), Duration::from_millis(5));
        let table = p.render();
        assert!(table.contains("Conv") && table.contains("60.0%"), "{table}");
    }
}
