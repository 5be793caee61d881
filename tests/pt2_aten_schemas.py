"""Writes crates/pt2/src/export/aten_schemas.json: the pinned torch's schemas of the
functional aten overloads (no `.out`, no in-place, no mutable arguments), which the `.pt2`
writer resolves TorchScript-style calls against (overload, argument names, keyword-only
arguments, number of results). Regenerate after a torch upgrade:

    target/pyenv/bin/python tests/pt2_aten_schemas.py
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "pt2", "src", "export", "aten_schemas.json")


def type_name(t, n=None):
    """A schema type as the schema language writes it: `Tensor?`, `int[2]`, `Scalar`."""
    s = str(t)
    if s.startswith("Optional[") and s.endswith("]"):
        return type_name(s[len("Optional["):-1], n) + "?"
    if s.startswith("List[") and s.endswith("]"):
        return type_name(s[len("List["):-1]) + (f"[{n}]" if n else "[]")
    return {"number": "Scalar"}.get(s, s)


def main():
    table = {}
    for s in torch._C._jit_get_all_schemas():
        if not s.name.startswith("aten::") or s.overload_name.startswith("out") or s.overload_name.endswith("_out"):
            continue
        if s.is_mutable or any(a.is_out for a in s.arguments) or s.overload_name.startswith("prim_"):
            continue
        name = s.name[len("aten::"):]
        if name.endswith("_") and not name.endswith("__"):
            continue
        args = [[a.name, type_name(a.real_type, a.N), bool(a.kwarg_only), a.has_default_value()]
                for a in s.arguments]
        table.setdefault(name, []).append([s.overload_name or "default", args, len(s.returns)])
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__.split("+")[0], "ops": table}, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print(f"{len(table)} ops -> {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
