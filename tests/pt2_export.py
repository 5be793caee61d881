"""ONNX -> `.pt2` counts: modelc converts ONNX files to `.pt2`, `torch.export.load` loads each
and `.module()(*inputs)` runs; the result is compared with onnxruntime on the ONNX file
(1e-4 of the output range, tests/aten_suite.compare).

Inputs: (a) the ONNX backend node suite's models (their own test_data_set_0 inputs),
(b) models: torchvision ResNet-18 and MobileNetV2, a transformer encoder and an LSTM
(tests/pt2_models.py's builders) exported with `torch.onnx.export` (dynamic batch), run at
two other batch sizes than exported so the symbolic dim is exercised.

    python tests/pt2_export.py --modelc target/debug/modelc [--node-suite DIR] [--limit N]
        [--models resnet18,...] [--static] [--out DIR]

The peer, when onnx2torch is importable (`cargo xtask pt2-suite --from-onnx` installs
xtask/requirements-a19.txt into target/a19-site): onnx2torch's module through
`torch.export.export` / `save` / `load` on the same files and inputs, compared the same way.

Prints one line per failing input and the counts `ONNX->pt2 node suite: N of M`,
`ONNX->pt2 models: N of M`, each with the peer's `onnx2torch + torch.export: N of M`. Exits 1 when modelc crashes or writes a `.pt2` torch refuses to
load or whose results differ from onnxruntime (a refusal by node is not a failure).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aten_suite as A  # noqa: E402


F16_TOL = 2e-3


def check(modelc, onnx_path, feeds, out_dir, tag):
    """'ok', 'refused' or 'fail' and a message."""
    import onnxruntime as ort
    import torch

    dst = os.path.join(out_dir, tag + ".pt2")
    bad = A.run_modelc(modelc, onnx_path, dst)
    if bad is not None:
        status, msg = bad
        # The writer's refusal is one line saying it cannot write the .pt2 (naming nodes).
        if status == "crash" and msg.startswith("unclear refusal") and msg.count("|") == 0 \
                and "cannot write .pt2" in msg:
            status = "refused"
        return ("fail" if status == "crash" else "refused"), msg
    return written(dst, onnx_path, feeds)


def reference(onnx_path, feeds):
    """onnxruntime's outputs, or a reason there is nothing to compare with."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        want = sess.run(None, dict(zip(names, feeds)))
        again = sess.run(None, dict(zip(names, feeds)))
    except Exception as e:  # noqa: BLE001
        return None, f"onnxruntime cannot run the source: {str(e).splitlines()[0][:120]}"
    if any(not isinstance(w, np.ndarray) for w in want):
        return None, "an output is a sequence or optional, which a .pt2 module does not return"
    if any(not np.array_equal(a, b, equal_nan=a.dtype.kind == "f") for a, b in zip(want, again)):
        return None, "the source's results are random (training-mode Dropout): nothing to compare"
    return [np.asarray(w) for w in want], ""


def written(dst, onnx_path, feeds):
    import torch

    try:
        ep = torch.export.load(dst)
    except Exception as e:  # noqa: BLE001
        return "fail", f"torch.export.load refuses it: {str(e).splitlines()[0][:200]}"
    want, why = reference(onnx_path, feeds)
    if want is None:
        return "refused", why
    try:
        with torch.no_grad():
            got = ep.module()(*[torch.from_numpy(np.array(f, copy=True)) for f in feeds])
    except Exception as e:  # noqa: BLE001
        return "fail", f".module() fails: {str(e).splitlines()[0][:200]}"
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    # Half-precision results: torch and onnxruntime round intermediates differently; the
    # tolerance is a few f16 ulps of the range instead of the f32 one.
    tol = A.TOL
    if any(w.dtype == np.float16 for w in want):
        A.TOL = F16_TOL
    try:
        diff = A.compare([g.detach().numpy() for g in got], want)
    finally:
        A.TOL = tol
    return ("fail", diff) if diff else ("ok", "")


def peer(onnx_path, feeds, want, out_dir, tag, dynamic):
    """The peer on the same file: onnx2torch's module, `torch.export.export` (batch dim
    `Dim.AUTO` when the model has a dynamic one), `torch.export.save`/`load`, run; 'ok' when
    it matches onnxruntime. None when onnx2torch is not installed."""
    try:
        import onnx2torch
    except ImportError:
        return None
    import torch

    try:
        xs = tuple(torch.from_numpy(np.array(f, copy=True)) for f in feeds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = onnx2torch.convert(onnx_path).eval()
            dyn = tuple({0: torch.export.Dim.AUTO} if x.dim() else {} for x in xs) if dynamic else None
            ep = torch.export.export(m, xs, dynamic_shapes=dyn)
            path = os.path.join(out_dir, tag + ".peer.pt2")
            torch.export.save(ep, path)
            with torch.no_grad():
                got = torch.export.load(path).module()(*xs)
    except Exception:  # noqa: BLE001
        return "fail"
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    try:
        diff = A.compare([np.asarray(g.detach().numpy()) for g in got], want)
    except Exception:  # noqa: BLE001
        return "fail"
    return "fail" if diff else "ok"


def node_suite(modelc, root, limit, out_dir):
    import onnx
    from onnx import numpy_helper

    dirs = sorted(d for d in glob.glob(os.path.join(root, "test_*")) if os.path.isdir(d))
    if limit:
        dirs = dirs[:limit]
    counts = {"ok": 0, "refused": 0, "fail": 0}
    for d in dirs:
        model = os.path.join(d, "model.onnx")
        data = os.path.join(d, "test_data_set_0")
        if not os.path.exists(model) or not os.path.isdir(data):
            continue
        ins = sorted(glob.glob(os.path.join(data, "input_*.pb")), key=lambda p: int(p.split("_")[-1][:-3]))
        try:
            feeds = []
            for p in ins:
                t = onnx.TensorProto()
                with open(p, "rb") as f:
                    t.ParseFromString(f.read())
                feeds.append(numpy_helper.to_array(t))
        except Exception:  # noqa: BLE001 (sequence/optional inputs: not tensors)
            continue
        status, msg = check(modelc, model, feeds, out_dir, os.path.basename(d))
        counts[status] += 1
        if status == "fail":
            print(f"FAIL {os.path.basename(d)}: {msg}", flush=True)
        count_peer(counts, model, feeds, out_dir, os.path.basename(d), False)
    return counts


def count_peer(counts, onnx_path, feeds, out_dir, tag, dynamic):
    want, _ = reference(onnx_path, feeds)
    if want is None:
        return None
    p = peer(onnx_path, feeds, want, out_dir, tag, dynamic)
    if p is not None:
        counts["peer_ran"] = counts.get("peer_ran", 0) + 1
        counts["peer_ok"] = counts.get("peer_ok", 0) + (p == "ok")
    return p


def models(modelc, only, out_dir, static=False):
    import torch

    import pt2_models

    counts = {"ok": 0, "refused": 0, "fail": 0}
    for name, (m, xs, run_xs, dyn) in pt2_models.models().items():
        if only and name not in only:
            continue
        if static:
            name, dyn, run_xs = name + "_static", None, xs
        path = os.path.join(out_dir, name + ".onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = [f"x{i}" if i else "x" for i in range(len(xs))]
            axes = {n: {0: "batch"} for n in names} if dyn else None
            torch.onnx.export(m, xs, path, input_names=names, dynamic_axes=axes, dynamo=False,
                              opset_version=17)
        feeds = [x.numpy() for x in run_xs]
        status, msg = check(modelc, path, feeds, out_dir, name)
        if status == "ok" and dyn:
            # The same archive at a second batch size. (The transformer's sequence length is
            # traced into its Reshape sizes by torch.onnx.export: onnxruntime refuses another.)
            other = [x.numpy()[:1] for x in run_xs]
            status, msg = written(os.path.join(out_dir, name + ".pt2"), path, other)
            msg = f"(at {[list(o.shape) for o in other]}) {msg}" if msg else msg
        counts[status] += 1
        p = count_peer(counts, path, feeds, out_dir, name, bool(dyn))
        print(f"{name}: {status} {msg}" + (f" (onnx2torch: {p})" if p else ""), flush=True)
    return counts


def peer_text(c, n):
    if "peer_ran" not in c:
        return ""
    return f"; onnx2torch + torch.export: {c['peer_ok']} of {n}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--node-suite", default=None)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--models", default=None, help="comma-separated; 'none' skips the models")
    ap.add_argument("--out", default=None)
    ap.add_argument("--static", action="store_true",
                    help="also each model exported with a fixed batch (run at that batch)")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="pt2-export-")
    os.makedirs(out, exist_ok=True)
    failed = False
    if a.node_suite:
        c = node_suite(a.modelc, a.node_suite, a.limit, out)
        n = c["ok"] + c["refused"] + c["fail"]
        print(f"ONNX->pt2 node suite: {c['ok']} of {n} (refused {c['refused']}, failed {c['fail']})"
              + peer_text(c, n))
        failed |= c["fail"] > 0
    if a.models != "none":
        only = set(a.models.split(",")) if a.models else None
        for static in [False, True] if a.static else [False]:
            c = models(a.modelc, only, out, static)
            n = c["ok"] + c["refused"] + c["fail"]
            kind = "fixed batch" if static else "dynamic batch"
            print(f"ONNX->pt2 models ({kind}): {c['ok']} of {n} (refused {c['refused']}, failed {c['fail']})"
                  + peer_text(c, n))
            failed |= c["fail"] > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
