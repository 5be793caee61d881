"""Generate the ONNX backend node test suite from the installed `onnx` package.

Usage: python gen_node_suite.py OUT_DIR

Writes OUT_DIR/node/<case>/model.onnx and
OUT_DIR/node/<case>/test_data_set_<i>/{input,output}_<j>.pb, the same layout
that onnx's own `onnx/backend/test/data/node` has, plus OUT_DIR/manifest.json.

Why not `python -m onnx.backend.test.cmd_tools generate-data`: since onnx 1.16
or so that command only writes the *model* cases (`real/`, `simple/`); the
node cases are collected by `onnx.backend.test.case.node.collect_testcases()`
and this script serialises them exactly the way cmd_tools serialises model
cases (tensor, sequence, optional and map values by the graph input's type).

The suite is built in OUT_DIR.tmp and renamed to OUT_DIR at the end, so an
interrupted run never leaves a half-written suite behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings


def serialize_value(value, type_proto, name: str) -> bytes:
    from onnx import TensorProto, numpy_helper

    if type_proto.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if type_proto.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if type_proto.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if not type_proto.HasField("tensor_type"):
        raise ValueError(f"value {name!r} has an unsupported type: {type_proto}")
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = os.path.abspath(sys.argv[1])
    tmp_dir = out_dir + ".tmp"

    # The generators compute their expected outputs with numpy and some of them
    # overflow or divide by zero on purpose; those warnings are noise here.
    warnings.simplefilter("ignore")

    import onnx
    import onnx.backend.test.case.node as node_test

    started = time.monotonic()
    cases = node_test.collect_testcases()

    if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)
    node_root = os.path.join(tmp_dir, "node")
    os.makedirs(node_root)

    names = set()
    data_sets = 0
    for case in cases:
        if case.kind != "node" or case.model is None or not case.data_sets:
            raise SystemExit(f"unexpected test case {case.name!r} of kind {case.kind!r}")
        if case.name in names:
            raise SystemExit(f"duplicate test case name {case.name!r}")
        names.add(case.name)
        case_dir = os.path.join(node_root, case.name)
        os.makedirs(case_dir)
        graph = case.model.graph
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds_dir = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(ds_dir)
            data_sets += 1
            for j, value in enumerate(inputs):
                vi = graph.input[j]
                with open(os.path.join(ds_dir, f"input_{j}.pb"), "wb") as f:
                    f.write(serialize_value(value, vi.type, vi.name))
            for j, value in enumerate(outputs):
                vi = graph.output[j]
                with open(os.path.join(ds_dir, f"output_{j}.pb"), "wb") as f:
                    f.write(serialize_value(value, vi.type, vi.name))

    manifest = {
        "onnx_version": onnx.__version__,
        "cases": len(names),
        "data_sets": data_sets,
        "seconds": round(time.monotonic() - started, 2),
    }
    with open(os.path.join(tmp_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")

    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.rename(tmp_dir, out_dir)
    print(
        f"node-suite: wrote {len(names)} cases ({data_sets} data sets) from onnx "
        f"{onnx.__version__} to {out_dir}/node in {manifest['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
