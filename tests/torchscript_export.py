"""ONNX -> TorchScript interop: does `modelc convert model.onnx model.pt` give an archive
that torch.jit.load accepts and that computes what onnxruntime computes on the ONNX model?

    python tests/torchscript_export.py --modelc target/debug/modelc \
        --out target/torchscript-export [--testdata target/testdata] [--only NAMES]

Models:
  tiny_cnn       testdata/models/tiny_cnn.onnx
  resnet18       torchvision ResNet-18 (weights=None, seeded), exported here by
                 torch.onnx.export (classic exporter, dynamo=False, opset 17)
  mobilenet_v2   torchvision MobileNetV2, the same way
  transformer    TESTDATA/transformer.onnx (`cargo xtask testdata` makes it)

For each: run `modelc convert`, load the .pt with torch.jit.load (no Python code of ours
is involved in loading), run it on seeded random inputs (symbolic dimensions: batch 2,
seq 16) and compare every output with onnxruntime's on the ONNX model: the relative error
max|torch - ort| / max|ort| must be at most 1e-4. Prints one line per model and a summary
line; exits 1 if any model fails or nothing was compared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np

TOLERANCE = 1e-4
SYMBOLIC = {"batch": 2, "N": 2, "seq": 16}


def export_torchvision(name: str, path: str) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            path,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )


def inputs_for(model_path: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    import onnx

    m = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    feeds = {}
    for inp in m.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        dims = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(d.dim_value)
            else:
                dims.append(SYMBOLIC.get(d.dim_param, 1))
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        feeds[inp.name] = rng.standard_normal(dims).astype(dtype)
    return feeds


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    if got.shape != want.shape:
        return float("inf")
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
    return diff / scale if scale > 0 else diff


def check(name: str, onnx_path: str, modelc: str, out_dir: str) -> tuple[bool, str]:
    import onnxruntime as ort
    import torch

    pt = os.path.join(out_dir, name + ".pt")
    if os.path.exists(pt):
        os.remove(pt)
    t0 = time.perf_counter()
    r = subprocess.run([modelc, "convert", onnx_path, pt], capture_output=True, text=True)
    convert_s = time.perf_counter() - t0
    if r.returncode != 0:
        return False, f"modelc convert failed: {r.stderr.strip()}"
    feeds = inputs_for(onnx_path, np.random.default_rng(0))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(pt)
    with torch.no_grad():
        got = module(*[torch.from_numpy(v) for v in feeds.values()])
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    if len(got) != len(want):
        return False, f"{len(got)} outputs from torch, {len(want)} from onnxruntime"
    errs = [rel_err(g.numpy(), w) for g, w in zip(got, want)]
    worst = max(errs)
    detail = f"rel err {worst:.2e}, convert {convert_s:.2f} s, {os.path.getsize(pt)} bytes"
    return worst <= TOLERANCE, detail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--testdata", default="target/testdata")
    ap.add_argument("--only", default=None, help="comma-separated model names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    models = {
        "tiny_cnn": os.path.join(root, "testdata/models/tiny_cnn.onnx"),
        "resnet18": os.path.join(args.out, "resnet18.onnx"),
        "mobilenet_v2": os.path.join(args.out, "mobilenet_v2.onnx"),
        "transformer": os.path.join(args.testdata, "transformer.onnx"),
    }
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in models]
        if unknown:
            print(f"unknown model(s): {', '.join(unknown)}", file=sys.stderr)
            return 1
        models = {k: v for k, v in models.items() if k in wanted}
    failed = 0
    for name, path in models.items():
        if name in ("resnet18", "mobilenet_v2") and not os.path.exists(path):
            export_torchvision(name, path)
        if not os.path.exists(path):
            print(f"FAIL {name}: {path} is missing (`cargo xtask testdata` makes it)")
            failed += 1
            continue
        try:
            ok, detail = check(name, path, args.modelc, args.out)
        except Exception as e:  # a load or run failure in torch is a failed model
            ok, detail = False, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        failed += not ok
    n = len(models)
    print(f"torchscript export: {n - failed} of {n} models load in torch.jit.load and match onnxruntime")
    return 1 if failed or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
