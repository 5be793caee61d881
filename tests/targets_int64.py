"""int64 -> int32 for targets without int64 kernels, judged by TensorFlow Lite Micro.

Two small ONNX models with int64 tensors: a classifier ending in ArgMax (ONNX fixes its output
to int64) and an embedding bag reading int64 token ids through Gather. TFLite Micro's ARG_MAX
writes int32 only and its GATHER takes int32 positions only (tflite-micro kernels
arg_min_max.cc, gather.cc), so the plain conversion (int64 kept) fails in TFLite Micro and
`modelc check --target tflm` must say so; `modelc convert --target tflm` runs `int64-to-int32`
and the file must load and run in TFLite Micro, `modelc check` agreeing, with the outputs of
onnxruntime on the ONNX model (ids: exact; scores: within float rounding). Each run of TFLite
Micro is a subprocess (its interpreter aborts on what it cannot run).

Run: PYTHONPATH=target/targets-site target/pyenv/bin/python tests/targets_int64.py \
        --modelc target/release/modelc [--out DIR]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
ARENA = 1 << 20

TFLM_RUN = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2]))
it.set_input(np.load(sys.argv[3]), 0)
it.invoke()
np.save(sys.argv[4], it.get_output(0))
"""


def argmax_model(path):
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.standard_normal((10, 8)).astype(np.float32), "fc")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["s"], transB=1),
        helper.make_node("ArgMax", ["s"], ["label"], axis=1, keepdims=0),
    ]
    g = helper.make_graph(nodes, "argmax", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("label", TensorProto.INT64, [1])], [w, fc])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return {"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}


def embed_model(path):
    rng = np.random.default_rng(8)
    table = numpy_helper.from_array(rng.standard_normal((100, 16)).astype(np.float32), "table")
    fc = numpy_helper.from_array(rng.standard_normal((4, 16)).astype(np.float32), "fc")
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["e"], axis=0),
        helper.make_node("ReduceMean", ["e"], ["m"], axes=[1], keepdims=0),
        helper.make_node("Gemm", ["m", "fc"], ["scores"], transB=1),
    ]
    g = helper.make_graph(nodes, "embed", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
                          [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4])], [table, fc])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return {"ids": rng.integers(0, 100, (1, 8)).astype(np.int64)}


def tflm(path, x, out):
    np.save(out / "in.npy", x)
    proc = subprocess.run([sys.executable, "-c", TFLM_RUN, str(path), str(ARENA), str(out / "in.npy"),
                           str(out / "out.npy")], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return None, f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-160:]}"
    return np.load(out / "out.npy"), None


def check(modelc, path):
    proc = subprocess.run([modelc, "check", str(path), "--target", "tflm", "--json"], capture_output=True, text=True,
                          timeout=600)
    v = json.loads(proc.stdout)
    return v["accelerated"] == v["total"], [n.get("reason") for n in v["nodes"] if not n["accelerator"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=str(ROOT / "target/targets-int64"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import onnxruntime as ort
    failures, rows = [], []
    for name, make in (("argmax", argmax_model), ("embed", embed_model)):
        src = out / f"{name}.onnx"
        feed = make(src)
        (x,) = feed.values()
        ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        row = {"model": name}
        for kind, extra in (("plain", []), ("target", ["--target", "tflm"])):
            dst = out / f"{name}.{kind}.tflite"
            proc = subprocess.run([args.modelc, "convert", str(src), str(dst), *extra], capture_output=True, text=True,
                                  timeout=600)
            if proc.returncode != 0:
                failures.append(f"{name} {kind}: modelc convert failed: {proc.stderr.strip()[-300:]}")
                continue
            whole, reasons = check(args.modelc, dst)
            xin = x.astype(np.int32) if kind == "target" and x.dtype == np.int64 else x
            if xin.ndim == 4:
                xin = np.ascontiguousarray(xin.transpose(0, 2, 3, 1))  # the writer's NHWC input
            y, err = tflm(dst, xin, out)
            row[kind] = {"tflm": err or "runs", "check": "all" if whole else reasons}
            if whole != (err is None):
                failures.append(f"{name} {kind}: modelc check says {'all' if whole else reasons}, TFLite Micro: "
                                f"{err or 'runs'}")
            if kind == "plain" and err is None:
                failures.append(f"{name} plain: TFLite Micro runs the int64 model (the case no longer tests anything)")
            if kind == "target":
                if err:
                    failures.append(f"{name} --target tflm: TFLite Micro: {err}")
                elif ref.dtype == np.int64:
                    row["target"]["output"] = f"{y.dtype} {y.tolist()} vs onnxruntime {ref.tolist()}"
                    if y.dtype != np.int32 or not np.array_equal(y.astype(np.int64), ref):
                        failures.append(f"{name}: TFLite Micro gives {y.tolist()} ({y.dtype}), onnxruntime {ref}")
                else:
                    diff = float(np.max(np.abs(y - ref)))
                    row["target"]["max_abs_diff"] = diff
                    if diff > 1e-4 * max(1.0, float(np.max(np.abs(ref)))):
                        failures.append(f"{name}: TFLite Micro differs from onnxruntime by {diff}")
        rows.append(row)
        print(json.dumps(row), flush=True)
    for f in failures:
        print("FAIL:", f)
    (out / "report.json").write_text(json.dumps({"rows": rows, "failures": failures}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
