"""ONNX -> ExecuTorch `.pte`: models (the torchvision CNNs, transformer encoder and LSTM of
tests/pt2_models.py) exported to ONNX with `torch.onnx.export(dynamo=False)`, converted by
`modelc convert x.onnx x.pte`, loaded and run by ExecuTorch's Python runtime (the pinned
`executorch` package's pybindings, portable + optimized kernels) and compared with
onnxruntime on the source ONNX (1e-4 of the output range, tests/aten_suite.compare). The
anchor on the same modules: `torch.export.export` -> exir `to_edge` -> `to_executorch`, run
in the same runtime and compared with torch's eager output. With --aten DIR, also every
torch-exported ONNX file of an aten suite run (DIR/<op>/<k>.torch.onnx, e.g. the CI subset's
target/aten-suite-subset) on seeded random inputs, against onnxruntime (no anchor there:
the OpInfo modules are not rebuilt by this script).

    PYTHONPATH=target/pte-site python tests/pte_models.py --modelc target/debug/modelc \\
        [--aten target/aten-suite-subset] [--only a,b] [--no-anchor] [--out DIR]
        [--qdq resnet18,mobilenet_v2]

ExecuTorch loads and runs the programs in a process of its own (restarted when the runtime
aborts on a file, which is then recorded `invalid` instead of ending the run). Prints one line per model, then
`pte models: ONNX->pte N of M, exir N of M` (and `pte aten: ONNX->pte N of M`); writes
OUT/report.json. Exits 1 when modelc crashes or writes a `.pte` the runtime refuses or
whose result differs.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aten_suite as A  # noqa: E402

RUN_TIMEOUT = 300


def _et_worker(conn):
    """The runtime's process: loads and runs the programs it is sent until the pipe closes."""
    import torch
    from executorch.extension.pybindings import portable_lib
    import executorch.kernels.quantized  # noqa: F401 - registers quantized_decomposed::*

    torch.set_num_threads(1)
    while True:
        try:
            path, buffer, xs = conn.recv()
        except EOFError:
            return
        try:
            m = (portable_lib._load_for_executorch(path) if path is not None
                 else portable_lib._load_for_executorch_from_buffer(buffer))
            # Rank 0 kept, torch's contiguous strides also for empty tensors (numpy's are 0
            # there, which the runtime's input check rejects).
            ts = tuple(torch.from_numpy(np.asarray(x)).clone(memory_format=torch.contiguous_format)
                       for x in xs)
            conn.send(("ran", [o.numpy() for o in m.forward(ts)]))
        except Exception as e:  # noqa: BLE001 - the runtime refusing the file
            conn.send(("invalid", f"executorch: {str(e).splitlines()[0][:240] if str(e) else type(e).__name__}"))


class Runtime:
    """ExecuTorch in a separate spawned process (imported once, ~20 s), so that a runtime
    that aborts on a file is recorded instead of ending the run; restarted after a death."""

    def __init__(self):
        self.proc = None
        self.conn = None

    def run(self, xs, path=None, buffer=None):
        """("ran", outputs) or ("invalid", why) of the program at `path` (or in `buffer`)."""
        if self.proc is None or not self.proc.is_alive():
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_et_worker, args=(child,), daemon=True)
            self.proc.start()
            child.close()
        self.conn.send((path, buffer, [np.asarray(x) for x in xs]))
        if self.conn.poll(RUN_TIMEOUT):
            try:
                return self.conn.recv()
            except EOFError:
                pass
            self.proc.join(10)
            code = self.proc.exitcode
            self.proc = None
            return "invalid", f"executorch: the runtime aborted (exit {code})"
        self.proc.kill()
        self.proc = None
        return "invalid", f"executorch: no result in {RUN_TIMEOUT} s"


RUNTIME = Runtime()


def et_run(xs, path=None, buffer=None):
    return RUNTIME.run(xs, path=path, buffer=buffer)


def convert(modelc, onnx_path, pte):
    """modelc's verdict: None when it wrote `pte`, else (status, message); a refusal must
    leave no file."""
    if os.path.exists(pte):
        os.remove(pte)
    r = A.run_modelc(modelc, onnx_path, pte)
    if r is not None and os.path.exists(pte):
        return "crash", "refused but wrote " + pte
    return r


def pte_step(modelc, onnx_path, pte, xs):
    r = convert(modelc, onnx_path, pte)
    if r is not None:
        return r
    ran = A.ort_run(onnx_path, [_torch(x) for x in xs])
    if ran[0] != "ran":
        return "skip", "onnxruntime: " + ran[1]
    return A.judge(et_run(xs, path=pte), [np.asarray(o) for o in ran[1]])


def _torch(x):
    import torch

    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def exir_step(m, xs, refs):
    import torch
    from executorch.exir import to_edge

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.export(m, tuple(xs))
            buf = to_edge(ep).to_executorch().buffer
    except Exception as e:  # noqa: BLE001 - exir declining the module
        return "refused", (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return A.judge(et_run([x.numpy() for x in xs], buffer=buf), refs)


def models_run(a, modelc, report):
    import torch
    import pt2_models

    only = set(a.only.split(",")) if a.only else None
    for name, (m, _example, xs, _dyn) in pt2_models.models().items():
        if only and name not in only:
            continue
        rec = {}
        with torch.no_grad():
            refs = A.outputs_of(m(*xs))
        onnx_path = os.path.join(a.out, f"{name}.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, tuple(xs), onnx_path, opset_version=17, dynamo=False,
                              input_names=[f"x{i}" for i in range(len(xs))])
        t0 = time.time()
        r = pte_step(modelc, onnx_path, os.path.join(a.out, f"{name}.pte"), [x.numpy() for x in xs])
        rec["onnx_pte"] = list(r) + [round(time.time() - t0, 2)]
        if not a.no_anchor:
            t0 = time.time()
            with torch.no_grad():
                r = exir_step(m, xs, refs)
            rec["exir"] = list(r) + [round(time.time() - t0, 2)]
        report["models"][name] = rec
        print(f"{name:22s} " + "  ".join(f"{t}:{v[0]} {v[1][:160]}".rstrip() for t, v in rec.items()),
              flush=True)


def random_inputs(onnx_path):
    import onnx

    rng = np.random.default_rng(0)
    xs = []
    for i in onnx.load(onnx_path, load_external_data=False).graph.input:
        t = i.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim]
        dt = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if dt == np.bool_:
            x = rng.random(dims) > 0.5
        elif np.issubdtype(dt, np.integer):
            x = rng.integers(0, 3, dims)
        else:
            x = rng.standard_normal(dims)
        xs.append(np.asarray(x, dtype=dt))
    return xs


def aten_run(a, modelc, report):
    files = sorted(glob.glob(os.path.join(a.aten, "*", "*.torch.onnx")))
    out = os.path.join(a.out, "aten")
    os.makedirs(out, exist_ok=True)
    for f in files:
        op = os.path.basename(os.path.dirname(f))
        k = os.path.basename(f).split(".")[0]
        pte = os.path.join(out, f"{op}.{k}.pte")
        r = pte_step(modelc, f, pte, random_inputs(f))
        report["aten"][f"{op}#{k}"] = list(r)
        if r[0] not in ("pass", "refused"):
            print(f"aten {op}#{k}: {r[0]} {r[1][:200]}", flush=True)


def qdq_run(a, modelc, report):
    """int8 QDQ models from `modelc quantize` (seeded random calibration) -> .pte, run with
    ExecuTorch's quantized kernels, against onnxruntime on the same QDQ ONNX (fused into its
    integer kernels, and with graph optimizations off: QDQ computed in float as ExecuTorch
    does). The difference is also given in steps of the last quantized activation."""
    import subprocess

    import onnx
    import onnxruntime as ort
    import torch
    import pt2_models

    only = set(a.qdq.split(","))
    for name, (m, _example, xs, _dyn) in pt2_models.models().items():
        if name not in only:
            continue
        f = os.path.join(a.out, f"{name}.float.onnx")
        q = os.path.join(a.out, f"{name}.qdq.onnx")
        pte = os.path.join(a.out, f"{name}.qdq.pte")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, tuple(xs), f, opset_version=17, dynamo=False, input_names=["x"])
        r = subprocess.run([modelc, "quantize", f, q, "--calibration-random", "8"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            report["qdq"][name] = ["crash", "modelc quantize: " + r.stderr.strip()[:300]]
            continue
        x = [xs[0].numpy()]
        bad = convert(modelc, q, pte)
        if bad is not None:
            report["qdq"][name] = list(bad)
            print(f"qdq {name}: {bad[0]} {bad[1][:300]}", flush=True)
            continue
        ran = et_run(x, path=pte)
        if ran[0] != "ran":
            report["qdq"][name] = list(ran)
            print(f"qdq {name}: {ran[0]} {ran[1][:300]}", flush=True)
            continue
        got = ran[1][0]
        fused = ort.InferenceSession(q, providers=["CPUExecutionProvider"]).run(None, {"x": x[0]})[0]
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        plain = ort.InferenceSession(q, so, providers=["CPUExecutionProvider"]).run(None, {"x": x[0]})[0]
        g = onnx.load(q)
        inits = {i.name: i for i in g.graph.initializer}
        last = [n for n in g.graph.node if n.op_type == "QuantizeLinear"][-1]
        step = float(np.max(onnx.numpy_helper.to_array(inits[last.input[1]])))
        d, d_plain = float(np.abs(got - fused).max()), float(np.abs(got - plain).max())
        d_ort = float(np.abs(fused - plain).max())
        rng = float(fused.max() - fused.min())
        top1 = float((got.argmax(-1) == fused.argmax(-1)).mean())
        # ExecuTorch's result differs from onnxruntime's by no more than onnxruntime's two
        # executions of the same file differ from each other (plus one step), same top-1.
        ok = d <= d_ort + step and top1 == 1.0
        msg = (f"max |et - ort| {d:.4g} ({d / step:.2f} steps of {step:.4g}; unfused ort {d_plain:.4g}; "
               f"ort fused vs unfused {d_ort:.4g}; output range {rng:.3g}); top-1 {top1:.0%}")
        report["qdq"][name] = ["pass" if ok else "wrong", msg]
        print(f"qdq {name}: {'pass' if ok else 'wrong'} {msg}", flush=True)


def count(recs, tool):
    ran = [r for r in recs.values() if tool in r and r[tool][0] != "skip"]
    return sum(r[tool][0] == "pass" for r in ran), len(ran)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(A.ROOT, "target", "pte-models"))
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--aten", help="an aten suite's output directory (its *.torch.onnx files)")
    ap.add_argument("--no-models", action="store_true")
    ap.add_argument("--qdq", default="", help="comma-separated models to run as int8 QDQ too")
    ap.add_argument("--no-anchor", action="store_true", help="skip exir on the modules")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    os.makedirs(a.out, exist_ok=True)
    modelc = os.path.abspath(a.modelc)
    report = {"models": {}, "aten": {}, "qdq": {}}
    if not a.no_models:
        models_run(a, modelc, report)
    if a.aten:
        aten_run(a, modelc, report)
    if a.qdq:
        qdq_run(a, modelc, report)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    if report["models"]:
        p, n = count(report["models"], "onnx_pte")
        line = f"pte models: ONNX->pte {p} of {n}"
        if not a.no_anchor:
            q, m = count(report["models"], "exir")
            line += f", exir {q} of {m}"
        print(line)
    if report["aten"]:
        recs = {k: {"t": v} for k, v in report["aten"].items()}
        p, n = count(recs, "t")
        refused = sum(v[0] == "refused" for v in report["aten"].values())
        print(f"pte aten: ONNX->pte {p} of {n} ({refused} refused by node)")
    bad = [(k, t, v) for k, rec in report["models"].items() for t, v in rec.items()
           if t == "onnx_pte" and v[0] in ("wrong", "invalid", "crash")]
    bad += [(k, "aten", v) for k, v in report["aten"].items() if v[0] in ("wrong", "invalid", "crash")]
    bad += [(k, "qdq", v) for k, v in report["qdq"].items() if v[0] in ("wrong", "invalid", "crash")]
    if report["qdq"]:
        ok = sum(v[0] == "pass" for v in report["qdq"].values())
        print(f"pte qdq: ONNX->pte {ok} of {len(report['qdq'])}")
    for k, t, v in bad:
        print(f"FAIL {k} {t}: {v[0]} {v[1]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
