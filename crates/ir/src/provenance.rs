//! Provenance recorded in files: which source value each value of a converted model computes.
//!
//! In memory it is [`Value::origin`]; writers record the values whose source is not their own
//! name as one JSON object `{"value": "source value", ...}` under the model metadata key
//! [`KEY`] (ONNX `metadata_props`, a TFLite metadata buffer, a TorchScript extra file), and
//! readers put it back on the values. Only renamed values have an entry, so the map stays
//! small. Names are looked up in the main graph and its sub-graphs.

use std::collections::BTreeMap;

use crate::{Graph, Metadata, Model, Value};

/// The metadata key the map is recorded under.
pub const KEY: &str = "modelc.provenance";

/// Every value (main graph and sub-graphs) whose source value has another name: name →
/// source name.
pub fn collect(g: &Graph) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    visit(g, &mut |v: &Value| {
        if let Some(o) = &v.origin {
            if *o != v.name && !v.name.is_empty() {
                map.insert(v.name.clone(), o.clone());
            }
        }
    });
    map
}

fn visit(g: &Graph, f: &mut dyn FnMut(&Value)) {
    for id in g.node_ids() {
        let node = g.node(id);
        node.outputs.iter().for_each(&mut *f);
        for sub in node.subgraphs() {
            visit(sub, f);
        }
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
/// dropped when nothing is renamed): what a writer records.
pub fn model_meta(meta: &Metadata, g: &Graph) -> Metadata {
    let mut out: Metadata = meta.iter().filter(|(k, _)| k != KEY).cloned().collect();
    if let Some(json) = encode(g) {
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
                v.origin = Some(src.clone());
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
    use crate::{Builder, DType, OnnxOp, ValueRef, ValueType};

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
        m.meta = model_meta(&m.meta, &m.graph);
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
        bad.meta = vec![(KEY.to_string(), "[1, 2]".to_string())];
        restore(&mut bad);
        assert_eq!(bad.meta.len(), 1);
    }
}
