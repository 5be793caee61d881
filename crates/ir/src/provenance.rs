//! Provenance recorded in files: which source value each value of a converted model computes.
//!
//! In memory it is [`Value::origin`]; writers record the values whose source is not their own
//! name as one JSON object `{"value": "source value", ...}` under the model metadata key
//! [`KEY`] (ONNX `metadata_props`, a TFLite metadata buffer, a TorchScript extra file), and
//! readers put it back on the values. Only renamed values have an entry, so the map stays
//! small. Names are looked up in the main graph and its sub-graphs. Formats that keep
//! QuantizeLinear / DequantizeLinear nodes (ONNX) leave out the entries those nodes' results
//! have by construction (`x_Q`, `x_DQ` → `x`); readers of the map derive them (`verify
//! --layers` matches a DequantizeLinear result through its QuantizeLinear's input, and
//! [`collect`] records them for formats that absorb the nodes).
//! In a QDQ model they were nearly the whole map (70 KB of a 5.7 MB int8 EfficientNet-B0).

use std::collections::BTreeMap;

use crate::{Graph, Metadata, Model, NodeId, OnnxOp, ValueRef};

/// The metadata key the map is recorded under.
pub const KEY: &str = "modelc.provenance";

/// Every value (main graph and sub-graphs) whose source value has another name: name →
/// source name.
/// A QuantizeLinear / DequantizeLinear result without a recorded source gets the one it has
/// by construction (a file that kept the nodes left it out, see [`collect_without_qdq`]).
pub fn collect(g: &Graph) -> BTreeMap<String, String> {
    let mut map = collect_where(g, &|_, _| true);
    visit(g, &mut |g: &Graph, id: NodeId| {
        let Some(v) = g.node(id).outputs.first() else {
            return;
        };
        if v.origin.is_none() && !v.name.is_empty() {
            if let Some(src) = qdq_source(g, id).filter(|s| *s != v.name) {
                map.insert(v.name.clone(), src);
            }
        }
    });
    map
}

/// [`collect`] without the entries QuantizeLinear / DequantizeLinear results have by
/// construction: what a format that keeps those nodes records.
pub fn collect_without_qdq(g: &Graph) -> BTreeMap<String, String> {
    collect_where(g, &|g, id| {
        let Some(derived) = qdq_source(g, id) else {
            return true;
        };
        let recorded = g.node(id).outputs.first().and_then(|v| v.origin.as_deref());
        recorded != Some(derived.as_str())
    })
}

fn collect_where(g: &Graph, keep: &dyn Fn(&Graph, NodeId) -> bool) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    visit(g, &mut |g: &Graph, id: NodeId| {
        if !keep(g, id) {
            return;
        }
        for v in &g.node(id).outputs {
            if let Some(o) = &v.origin {
                if **o != *v.name && !v.name.is_empty() {
                    map.insert(v.name.clone(), o.to_string());
                }
            }
        }
    });
    map
}

fn visit(g: &Graph, f: &mut dyn FnMut(&Graph, NodeId)) {
    for id in g.node_ids() {
        f(g, id);
        for sub in g.node(id).subgraphs() {
            visit(sub, f);
        }
    }
}

/// The source value a QuantizeLinear result (of `x`) or a DequantizeLinear result of one
/// (`DQ(Q(x))`) computes: `x`'s source. `None` for other nodes.
fn qdq_source(g: &Graph, id: NodeId) -> Option<String> {
    let source_of = |v: ValueRef| g.value(v).map(|v| v.source().to_string());
    match g.node(id).op.onnx()? {
        OnnxOp::QuantizeLinear => source_of(g.input(id, 0)?),
        OnnxOp::DequantizeLinear => {
            let q = g.input(id, 0)?;
            (g.node(q.node).op.onnx()? == OnnxOp::QuantizeLinear)
                .then(|| source_of(g.input(q.node, 0)?))
                .flatten()
        }
        _ => None,
    }
}

/// The map of `g` as the JSON text writers record; `None` when no value was renamed.
pub fn encode(g: &Graph) -> Option<String> {
    encode_map(&collect(g))
}

/// A map as the JSON text writers record; `None` when it is empty.
pub fn encode_map(map: &BTreeMap<String, String>) -> Option<String> {
    if map.is_empty() {
        return None;
    }
    serde_json::to_string(map).ok()
}

/// A recorded map read back; an error when it is not a JSON object of strings.
pub fn decode_map(json: &str) -> Result<BTreeMap<String, String>, serde_json::Error> {
    serde_json::from_str(json)
}

/// `meta` with [`KEY`] set to `g`'s map (a stale entry from the file read is replaced, and
/// dropped when nothing is renamed): what a writer records. `keeps_qdq`: the format keeps
/// QuantizeLinear / DequantizeLinear nodes (their entries are left out, see
/// [`collect_without_qdq`]).
pub fn model_meta(meta: &Metadata, g: &Graph, keeps_qdq: bool) -> Metadata {
    let mut out: Metadata = meta.iter().filter(|(k, _)| k != KEY).cloned().collect();
    let map = if keeps_qdq {
        collect_without_qdq(g)
    } else {
        collect(g)
    };
    if let Some(json) = encode_map(&map) {
        out.push((KEY.to_string(), json));
    }
    out
}

/// Sets [`Value::origin`] from a recorded map; returns how many values it named. A map that
/// is not a JSON object of strings is an error (the caller keeps the entry as metadata).
pub fn apply(g: &mut Graph, json: &str) -> Result<usize, serde_json::Error> {
    Ok(apply_map(g, &decode_map(json)?))
}

fn apply_map(g: &mut Graph, map: &BTreeMap<String, String>) -> usize {
    let mut n = 0;
    let ids: Vec<_> = g.node_ids().collect();
    for id in ids {
        let node = g.node_mut(id);
        for v in &mut node.outputs {
            if let Some(src) = map.get(&v.name) {
                v.origin = Some(src.as_str().into());
                n += 1;
            }
        }
        for sub in node.subgraphs_mut() {
            n += apply_map(sub, map);
        }
    }
    n
}

/// A reader's last step: moves the map recorded under [`KEY`] in the model's metadata onto
/// its values. An unreadable map stays in the metadata untouched (provenance is advice: the
/// model itself is fine).
pub fn restore(m: &mut Model) {
    let Some(i) = m.meta.iter().position(|(k, _)| k == KEY) else {
        return;
    };
    if apply(&mut m.graph, &m.meta[i].1).is_ok() {
        m.meta.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Builder, DType, OnnxOp, Value, ValueRef, ValueType};

    /// A pass renames `x`'s consumer result and adds a copy standing for it; the map holds
    /// exactly those two, survives a write/read as metadata, and a value a rewrite takes over
    /// keeps the source of what it replaces.
    #[test]
    fn renames_and_copies_are_recorded_and_restored() {
        let mut g = Graph::new("main");
        let ty = ValueType::tensor(DType::F32, &[4]).into();
        let x = ValueRef::new(g.add_input(Value::typed("x", ty)), 0);
        let mut b = Builder::new(&mut g);
        let y = b.op(OnnxOp::Relu, &[x]).out("y").value();
        b.rename(y, "y_renamed");
        let q = b
            .op(OnnxOp::Identity, &[y])
            .out("y_Q")
            .stands_for(y)
            .value();
        let z = b.op(OnnxOp::Neg, &[q]).out("z").value();
        let z2 = b.op(OnnxOp::Neg, &[q]).value();
        b.take_over(z, z2);
        g.set_outputs(vec![z2]);
        let map = collect(&g);
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [
                ("y_Q".to_string(), "y".to_string()),
                ("y_renamed".to_string(), "y".to_string())
            ]
        );
        assert_eq!(g.value(z2).unwrap().source(), "z");

        let mut m = Model::new(g, 17);
        m.meta = model_meta(&m.meta, &m.graph, false);
        let mut read = m.clone();
        for id in read.graph.node_ids().collect::<Vec<_>>() {
            for v in &mut read.graph.node_mut(id).outputs {
                v.origin = None;
            }
        }
        restore(&mut read);
        assert!(read.meta.is_empty(), "the entry goes back onto the values");
        assert_eq!(collect(&read.graph), collect(&m.graph));

        // A map that is not one stays as metadata, and the values keep their names.
        let mut bad = read.clone();
        bad.meta = vec![(KEY.to_string(), "[1, 2]".to_string())].into();
        restore(&mut bad);
        assert_eq!(bad.meta.len(), 1);
    }
}
