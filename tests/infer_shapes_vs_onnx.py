"""Compare modelc's shape inference with onnx's reference (onnx.shape_inference).

For every model (the ONNX backend node suite, and torchvision / torch models exported here
with the classic exporter), the declared types of intermediate values and graph outputs are
removed, then both tools infer them again from the inputs:

  onnx:   onnx.shape_inference.infer_shapes(model, strict_mode=False)
  modelc: modelc optimize stripped.onnx out.onnx -p infer-shapes   (types land in value_info)

Every main-graph value onnx infers fully (element type and every dim a number or a named
symbol, not onnx's own `unk__` placeholders) is compared with modelc's type for it:
agree / disagree / missing (modelc left it untyped or less precise). Values modelc types
fully and onnx does not are compared with onnx's `data_prop=True` inference where that
types them. Disagreements are
printed with the model and value; the exit code is 1 when there is any disagreement not in
EXPECTED_DISAGREEMENTS, or when agreement falls below --min-agree.

With --fold-check, every node-suite model that has a Shape or Size node also goes through
`modelc optimize -p infer-shapes,fold,dce` (which turns shapes it knows into constants and
folds what follows), and onnxruntime runs the original and the result on the case's inputs:
their outputs must agree.

Usage: python tests/infer_shapes_vs_onnx.py --modelc target/debug/modelc
         [--node-suite target/onnx-node-suite/node] [--torch] [--fold-check] [--json out.json]
         [--model extra.onnx ...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import onnx
from onnx import shape_inference

# Cases where onnx's reference is not what the ONNX specification says, each with why.
EXPECTED_DISAGREEMENTS = {}


def strip(model):
    """The model with no declared types on intermediate values or graph outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for o in m.graph.output:
        o.ClearField("type")
    return m


def dims_of(tt):
    if not tt.HasField("shape"):
        return None
    out = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def tensor_types(graph):
    """name -> (elem_type, dims or None) for tensor-typed value infos and outputs."""
    out = {}
    for vi in list(graph.value_info) + list(graph.output):
        if vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            out[vi.name] = (tt.elem_type, dims_of(tt))
    return out


def fully_known(t):
    elem, dims = t
    if elem == 0 or dims is None:
        return False
    return all(d is not None and not (isinstance(d, str) and d.startswith("unk__")) for d in dims)


def compare(path, modelc, tmp):
    model = onnx.load(path)
    stripped = strip(model)
    src = os.path.join(tmp, "stripped.onnx")
    onnx.save(stripped, src)
    try:
        ref = shape_inference.infer_shapes(stripped, strict_mode=False)
    except Exception as e:  # onnx itself cannot infer this model
        return {"skipped": f"onnx: {e}".splitlines()[0]}
    expected = {k: v for k, v in tensor_types(ref.graph).items() if fully_known(v)}
    out = os.path.join(tmp, "inferred.onnx")
    r = subprocess.run([modelc, "optimize", src, out, "-p", "infer-shapes"], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "modelc failed",
                "expected": len(expected)}
    ours = tensor_types(onnx.load(out).graph)
    # Values modelc types fully where onnx does not (it tracks shape values symbolically):
    # those onnx's data propagation types too are compared with that.
    extra = {k: v for k, v in ours.items() if fully_known(v) and k not in expected}
    try:
        ref_dp = shape_inference.infer_shapes(stripped, strict_mode=False, data_prop=True)
        dp = {k: v for k, v in tensor_types(ref_dp.graph).items() if fully_known(v)}
    except Exception:
        dp = {}
    res = {"agree": 0, "disagree": [], "missing": [], "expected": len(expected),
           "extra": len(extra), "extra_checked": 0}
    res["unchecked"] = [(k, list(v)) for k, v in sorted(extra.items()) if k not in dp][:5]
    for name, got in sorted(extra.items()):
        if name in dp:
            res["extra_checked"] += 1
            if dp[name] != got:
                res["disagree"].append((name + " (data_prop)", list(dp[name]), list(got)))
    for name, (elem, dims) in sorted(expected.items()):
        got = ours.get(name)
        if got is None or not fully_known(got):
            res["missing"].append((name, [elem, dims], got and [got[0], got[1]]))
        elif got == (elem, dims):
            res["agree"] += 1
        else:
            res["disagree"].append((name, [elem, dims], [got[0], got[1]]))
    return res


def fold_check(case_dir, modelc, tmp):
    """None when the model has no Shape/Size; else (ok, message) from running the original
    and `-p infer-shapes,fold,dce`'s result in onnxruntime on the case's inputs."""
    import numpy as np
    import onnxruntime as ort
    from onnx import numpy_helper

    path = os.path.join(case_dir, "model.onnx")
    model = onnx.load(path)
    if not any(n.op_type in ("Shape", "Size") for n in model.graph.node):
        return None
    data = os.path.join(case_dir, "test_data_set_0")
    feeds = {}
    for i, vi in enumerate(model.graph.input):
        f = os.path.join(data, f"input_{i}.pb")
        if not os.path.exists(f):
            break
        t = onnx.TensorProto()
        with open(f, "rb") as fh:
            t.ParseFromString(fh.read())
        feeds[vi.name] = numpy_helper.to_array(t)
    out = os.path.join(tmp, "folded.onnx")
    r = subprocess.run([modelc, "optimize", path, out, "-p", "infer-shapes,fold,dce"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return (False, "modelc: " + r.stderr.strip())
    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.log_severity_level = 3
        a = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    except Exception:
        return None  # onnxruntime cannot run the original; nothing to compare with
    try:
        b = ort.InferenceSession(out, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    except Exception as e:
        return (False, f"onnxruntime rejects the folded model: {str(e).splitlines()[0]}")
    for k, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return (False, f"output {k}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}")
        if x.dtype.kind in "fc":
            # fold computes constants with modelc's kernels: the last bit of a float16
            # result may differ from onnxruntime's.
            rtol, atol = (1e-2, 1e-3) if x.dtype == np.float16 else (1e-5, 1e-6)
            if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
                return (False, f"output {k} values differ")
        elif not np.array_equal(x, y):
            return (False, f"output {k} values differ")
    n_before, n_after = len(model.graph.node), len(onnx.load(out).graph.node)
    return (True, f"{n_before} -> {n_after} nodes")


def export_torch(outdir):
    """torchvision ResNet-18 and MobileNetV2, and a small nn.TransformerEncoder with dynamic
    batch and sequence axes, exported with the classic exporter; returns their paths."""
    import torch
    import torchvision

    torch.manual_seed(0)
    paths = []
    x = torch.randn(1, 3, 224, 224)
    for name in ["resnet18", "mobilenet_v2"]:
        m = getattr(torchvision.models, name)(weights=None).eval()
        p = os.path.join(outdir, f"{name}.onnx")
        torch.onnx.export(m, (x,), p, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
        paths.append(p)
    for name, dyn in [("resnet18_dynbatch", True)]:
        m = torchvision.models.resnet18(weights=None).eval()
        p = os.path.join(outdir, f"{name}.onnx")
        torch.onnx.export(m, (x,), p, dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        paths.append(p)
    layer = torch.nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128,
                                             batch_first=True, dropout=0.0)
    enc = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    src = torch.randn(2, 10, 64)
    for name, dyn in [("transformer_encoder", None),
                      ("transformer_encoder_dyn", {"src": {0: "batch", 1: "seq"}})]:
        p = os.path.join(outdir, f"{name}.onnx")
        kw = {"dynamic_axes": dyn} if dyn else {}
        torch.onnx.export(enc, (src,), p, dynamo=False, opset_version=17,
                          input_names=["src"], output_names=["out"], **kw)
        paths.append(p)
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--node-suite", default=None)
    ap.add_argument("--torch", action="store_true", help="also export and compare torch models")
    ap.add_argument("--model", action="append", default=[], help="also compare this .onnx file")
    ap.add_argument("--json", default=None)
    ap.add_argument("--min-agree", type=int, default=0)
    ap.add_argument("--min-fold-checked", type=int, default=0)
    ap.add_argument("--fold-check", action="store_true",
                    help="run node-suite models with Shape/Size through infer-shapes,fold,dce "
                         "and compare onnxruntime outputs")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    models = []
    fold = {"checked": 0, "ok": 0, "failed": []}
    models += [(os.path.basename(p)[:-5], p) for p in a.model]
    if a.node_suite:
        for case in sorted(os.listdir(a.node_suite)):
            p = os.path.join(a.node_suite, case, "model.onnx")
            if os.path.exists(p):
                models.append((case, p))
    totals = {"models": 0, "agree": 0, "disagree": 0, "missing": 0, "expected": 0,
              "skipped": 0, "errors": 0, "modelc_only": 0, "modelc_only_checked": 0}
    report = {}
    unexpected = []
    with tempfile.TemporaryDirectory() as tmp:
        if a.torch:
            tdir = os.path.join(tmp, "torch")
            os.makedirs(tdir)
            models += [(os.path.basename(p)[:-5], p) for p in export_torch(tdir)]
        for name, path in models:
            if a.fold_check and name.startswith("test_"):
                fc = fold_check(os.path.dirname(path), a.modelc, tmp)
                if fc is not None:
                    fold["checked"] += 1
                    if fc[0]:
                        fold["ok"] += 1
                    else:
                        fold["failed"].append((name, fc[1]))
                        print(f"{name}: FOLD MISMATCH {fc[1]}")
            r = compare(path, a.modelc, tmp)
            report[name] = r
            totals["models"] += 1
            if "skipped" in r:
                totals["skipped"] += 1
                continue
            totals["expected"] += r["expected"]
            if "error" in r:
                totals["errors"] += 1
                print(f"{name}: modelc error: {r['error']}")
                continue
            totals["agree"] += r["agree"]
            totals["disagree"] += len(r["disagree"])
            totals["missing"] += len(r["missing"])
            totals["modelc_only"] += r["extra"]
            totals["modelc_only_checked"] += r["extra_checked"]
            for d in r["disagree"]:
                print(f"{name}: DISAGREE {d[0]}: onnx {d[1]}, modelc {d[2]}")
                if name not in EXPECTED_DISAGREEMENTS:
                    unexpected.append((name, d))
            if a.verbose:
                for m in r["missing"]:
                    print(f"{name}: missing {m[0]}: onnx {m[1]}, modelc {m[2]}")
    print("infer-shapes vs onnx.shape_inference: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    for name in [n for n, _ in models if not n.startswith("test_")]:
        r = report[name]
        print(f"  {name}: agree {r.get('agree', 0)} of {r.get('expected', 0)}, "
              f"disagree {len(r.get('disagree', []))}, missing {len(r.get('missing', []))}, "
              f"typed only by modelc {r.get('extra', 0)}")
    if a.fold_check:
        print(f"fold after infer-shapes vs onnxruntime: {fold['checked']} models with Shape/Size, "
              f"{fold['ok']} agree, {len(fold['failed'])} differ")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"totals": totals, "fold": fold, "models": report}, f, indent=1)
    if unexpected or totals["agree"] < a.min_agree or fold["failed"] \
            or fold["ok"] < a.min_fold_checked:
        print(f"FAIL: {len(unexpected)} unexpected disagreements, agree {totals['agree']} "
              f"(need {a.min_agree}), folded models agreeing {fold['ok']} "
              f"(need {a.min_fold_checked})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
