"""The torchvision models (testdata/make_torchvision.py's exports) converted to TFLite by
`modelc convert` and run in LiteRT against onnxruntime on the original ONNX model.

For each model: the conversion must succeed, LiteRT's output on a seeded input (NHWC for
image models: the exporter moves images to NHWC) must be within --rtol of onnxruntime's
(max abs error relative to the largest reference magnitude), the reference must not be all
zeros, and image CNNs must have no TRANSPOSE left inside the graph. Prints one line per
model with op counts and conversion time; exits 1 if any model fails.

usage: tflite_zoo.py --modelc PATH --models DIR --out DIR [--only a,b]
"""

import argparse
import collections
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter, OpResolverType

# Models whose attention reshapes heads with the model's own Transpose ops.
TRANSFORMERS = {"vit_b_16", "transformer_encoder"}
RTOL = 1e-4


def check(modelc: str, src: str, out: str, name: str) -> tuple[bool, str]:
    dst = os.path.join(out, f"{name}.tflite")
    started = time.perf_counter()
    proc = subprocess.run([modelc, "convert", src, dst], capture_output=True, text=True)
    secs = time.perf_counter() - started
    if proc.returncode != 0:
        return False, f"convert failed: {proc.stderr.strip()[-600:]}"
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    want = sess.run(None, {inp.name: x})[0]
    if not np.abs(want).max() > 0:
        return False, "onnxruntime's output is all zeros: the comparison would prove nothing"
    it = Interpreter(dst)
    it.allocate_tensors()
    detail = it.get_input_details()[0]
    it.set_tensor(detail["index"], x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    if got.shape != want.shape:
        return False, f"output shape {got.shape}, onnxruntime's {want.shape}"
    err = float(np.abs(got - want).max() / np.abs(want).max())
    # Counted in the file's own graph (the default interpreter shows XNNPACK's DELEGATE nodes).
    plain = Interpreter(
        dst, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    ops = collections.Counter(op["op_name"] for op in plain._get_ops_details())
    transposes = ops.get("TRANSPOSE", 0)
    top = ", ".join(f"{k} {v}" for k, v in ops.most_common(5))
    line = f"rel err {err:.2e}, {sum(ops.values())} ops ({top}), convert {secs:.2f} s"
    if err > RTOL:
        return False, line + f" (> {RTOL})"
    if transposes and name not in TRANSFORMERS:
        return False, line + f" ({transposes} TRANSPOSE left in a CNN)"
    return True, line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--models", required=True, help="directory of NAME.onnx")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="comma-separated model names")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    names = sorted(f[:-5] for f in os.listdir(a.models) if f.endswith(".onnx"))
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    if not names:
        print(f"tflite zoo: no models in {a.models}", file=sys.stderr)
        return 1
    failed = 0
    for name in names:
        ok, line = check(a.modelc, os.path.join(a.models, f"{name}.onnx"), a.out, name)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:<20} {line}", flush=True)
    print(f"tflite zoo: {len(names) - failed} of {len(names)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
