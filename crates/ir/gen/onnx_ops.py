"""Generates crates/ir/src/op/onnx_ops.rs from the operator schemas of the pinned `onnx`
package: the op vocabulary of the IR (one enum variant per ONNX operator) and, per operator,
the arity and attribute kinds that validation checks, merged over every opset version, and each
attribute's schema default as a step function of the opset version (a default that changed
between versions, e.g. Softmax's `axis`, lists each value from the version that set it).

Run by `cargo xtask codegen`; a test regenerates it and fails when the committed file is stale.
Usage: python onnx_ops.py > crates/ir/src/op/onnx_ops.rs
"""

import collections

import numpy as np
import onnx
import onnx.defs
from onnx import helper

DOMAINS = {
    "": ("ai.onnx", ""),
    "ai.onnx.ml": ("ai.onnx.ml", "Ml"),
    "ai.onnx.preview.training": ("ai.onnx.preview.training", "Training"),
    "ai.onnx.preview": ("ai.onnx.preview", "Preview"),
}

KIND = {
    onnx.AttributeProto.FLOAT: "Float",
    onnx.AttributeProto.INT: "Int",
    onnx.AttributeProto.STRING: "String",
    onnx.AttributeProto.TENSOR: "Tensor",
    onnx.AttributeProto.GRAPH: "Graph",
    onnx.AttributeProto.SPARSE_TENSOR: "SparseTensor",
    onnx.AttributeProto.TYPE_PROTO: "Type",
    onnx.AttributeProto.FLOATS: "Floats",
    onnx.AttributeProto.INTS: "Ints",
    onnx.AttributeProto.STRINGS: "Strings",
    onnx.AttributeProto.TENSORS: "Tensors",
    onnx.AttributeProto.GRAPHS: "Graphs",
    onnx.AttributeProto.SPARSE_TENSORS: "SparseTensors",
    onnx.AttributeProto.TYPE_PROTOS: "Types",
}

UNBOUNDED = 2**31 - 1


def rust_f32(v):
    """The shortest Rust literal that reads back as the f32 `v` (the schema stores f32)."""
    f = np.float32(v)
    if f == np.finfo(np.float32).max:
        return "f32::MAX"
    if f == np.finfo(np.float32).min:
        return "f32::MIN"
    if np.isinf(f):
        return "f32::INFINITY" if f > 0 else "f32::NEG_INFINITY"
    text = str(f)
    return text if ("." in text or "e" in text) else text + ".0"


def rust_str(b):
    return '"' + b.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'


def rust_default(a):
    """The Rust `AttrDefault` of a schema attribute, or None when it has no default."""
    d = a.default_value
    if not d.type:
        return None
    v = helper.get_attribute_value(d)
    t = int(d.type)
    if t == onnx.AttributeProto.FLOAT:
        return f"AttrDefault::Float({rust_f32(v)})"
    if t == onnx.AttributeProto.INT:
        return f"AttrDefault::Int({v})"
    if t == onnx.AttributeProto.STRING:
        return f"AttrDefault::String({rust_str(v)})"
    if t == onnx.AttributeProto.FLOATS:
        return "AttrDefault::Floats(&[" + ", ".join(rust_f32(x) for x in v) + "])"
    if t == onnx.AttributeProto.INTS:
        return "AttrDefault::Ints(&[" + ", ".join(str(x) for x in v) + "])"
    if t == onnx.AttributeProto.STRINGS:
        return "AttrDefault::Strings(&[" + ", ".join(rust_str(x) for x in v) + "])"
    raise ValueError(f"no Rust form for a default of attribute type {t}")


def defaults_over_versions(versions, aname, kind):
    """The default of attribute `aname` of `kind` as (since_version, default or None) at each
    version where it changes; None before the first entry. Versions where the attribute is
    absent or of another kind have no default."""
    steps = []
    for s in versions:
        a = s.attributes.get(aname)
        d = rust_default(a) if a is not None and KIND[int(a.type)] == kind else None
        if (steps[-1][1] if steps else None) != d:
            steps.append((s.since_version, d))
    return steps


def type_bits(type_str):
    """The bit of one type-constraint entry: tensor(T) is bit code(T) (0-31), seq(tensor(T))
    bit 32 + code(T), any optional(...) bit 63; other types (maps, sparse tensors) none."""
    from onnx import TensorProto

    def code(t):
        names = {
            "float": "FLOAT", "float16": "FLOAT16", "double": "DOUBLE", "bfloat16": "BFLOAT16",
            "string": "STRING", "bool": "BOOL", "complex64": "COMPLEX64", "complex128": "COMPLEX128",
        }
        n = names.get(t, t.upper())
        return getattr(TensorProto, n, None)

    if type_str.startswith("optional("):
        return 63
    if type_str.startswith("seq(tensor(") and type_str.endswith("))"):
        c = code(type_str[len("seq(tensor("):-2])
        return None if c is None or c > 31 else 32 + c
    if type_str.startswith("tensor(") and type_str.endswith(")"):
        c = code(type_str[len("tensor("):-1])
        return None if c is None or c > 31 else c
    return None


def input_masks(s):
    """Per formal input of schema version `s`, the mask of the types it accepts (0: none
    expressible, not checked)."""
    constraints = {c.type_param_str: c.allowed_type_strs for c in s.type_constraints}
    masks = []
    for f in s.inputs:
        allowed = constraints.get(f.type_str, [f.type_str])
        m = 0
        for t in allowed:
            b = type_bits(t)
            if b is not None:
                m |= 1 << b
        masks.append(m)
    return masks


def main():
    by_op = collections.defaultdict(list)
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain in DOMAINS:
            by_op[(s.domain, s.name)].append(s)
    rows = []
    for (domain, name), versions in sorted(by_op.items(), key=lambda kv: (list(DOMAINS).index(kv[0][0]), kv[0][1])):
        versions.sort(key=lambda s: s.since_version)
        variant = DOMAINS[domain][1] + name
        attrs = {}
        required = {}
        for s in versions:
            for aname, a in s.attributes.items():
                kinds = attrs.setdefault(aname, [])
                k = KIND[int(a.type)]
                if k not in kinds:
                    kinds.append(k)
                required[aname] = required.get(aname, True) and bool(a.required)
        # An attribute added in a later version is not required by earlier ones.
        for aname in attrs:
            if any(aname not in s.attributes for s in versions):
                required[aname] = False
        rows.append(dict(
            variant=variant,
            name=name,
            domain=DOMAINS[domain][0],
            since=[s.since_version for s in versions],
            min_in=min(s.min_input for s in versions),
            max_in=max(s.max_input for s in versions),
            min_out=min(s.min_output for s in versions),
            max_out=max(s.max_output for s in versions),
            attrs=[
                (a, k, required[a], defaults_over_versions(versions, a, k)) for a in sorted(attrs) for k in attrs[a]
            ],
            input_types=[(s.since_version, input_masks(s)) for s in versions],
        ))
    out = []
    w = out.append
    w(f"//! @generated by crates/ir/gen/onnx_ops.py from onnx {onnx.__version__} (`cargo xtask codegen`).")
    w("//! Do not edit: a test fails when this file differs from the generator's output.")
    w("")
    w("use super::{AttrDefault, AttrSchema, OpSchema};")
    w("use crate::AttrKind;")
    w("")
    w("/// Every operator of the ONNX standard domains (`ai.onnx`, `ai.onnx.ml`, the preview domains).")
    w("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]")
    w("pub enum OnnxOp {")
    for r in rows:
        w(f"    {r['variant']},")
    w("}")
    w("")
    w("/// Schema of each operator, indexed by `OnnxOp as usize`.")
    w(f"pub(super) static SCHEMAS: [OpSchema; {len(rows)}] = [")
    for r in rows:
        def bound(n):
            return "usize::MAX" if n >= UNBOUNDED else str(n)
        def steps(defaults):
            return ", ".join(f"({since}, {'None' if d is None else f'Some({d})'})" for since, d in defaults)

        attrs = ", ".join(
            f"AttrSchema {{ name: \"{a}\", kind: AttrKind::{k}, required: {str(req).lower()}, defaults: &[{steps(ds)}] }}"
            for a, k, req, ds in r["attrs"]
        )
        w("    OpSchema {")
        w(f"        op: OnnxOp::{r['variant']},")
        w(f"        name: \"{r['name']}\",")
        w(f"        domain: \"{r['domain']}\",")
        w(f"        since_versions: &{r['since']},")
        w(f"        inputs: ({r['min_in']}, {bound(r['max_in'])}),")
        w(f"        outputs: ({r['min_out']}, {bound(r['max_out'])}),")
        w(f"        attrs: &[{attrs}],")
        types = ", ".join(
            f"({since}, &[" + ", ".join(f"0x{m:x}" for m in masks) + "])" for since, masks in r["input_types"]
        )
        w(f"        input_types: &[{types}],")
        w("    },")
    w("];")
    print("\n".join(out))


if __name__ == "__main__":
    main()
