"""TFLite op suite: every model in testdata/tflite/ops/ (single ops and small patterns made by
TensorFlow's converter, float / int8 / int16x8; see testdata/make_tflite_ops.py) imported by
modelc and run in onnxruntime vs LiteRT on the committed inputs.

    python tests/tflite_op_suite.py --modelc target/debug/modelc --out target/tflite-suite \
        [--only SUBSTR] [--peer NAME=DIR ...] [--update-passing]

Each NAME.tflite is converted with `modelc convert --keep-io-layout NAME.tflite NAME.onnx` (the
ONNX file takes and gives the same NHWC tensors as the .tflite, so outputs compare directly;
without the flag modelc moves image inputs to NCHW) and run in onnxruntime on NAME.npz; the
reference is LiteRT on the .tflite. A model passes when every output has the reference's
dtype and shape and
  - float: max |y - ref| <= 1e-4 of the reference's range (max - min; its magnitude when flat),
  - int8 / int16: at least 99% of the elements within one quantization step (|y - ref| <= 1),
  - other integer and bool outputs: equal.

--peer NAME=DIR scores another converter's files, DIR/<model>.onnx (a missing file is a
conversion failure), in the same way, and prints its count beside modelc's. `cargo xtask
tflite-suite` uses it for tf2onnx.

Prints `tflite op suite: modelc N of M` (and each peer's line), writes OUT/report.json, and
exits 1 when a model named in tests/tflite_op_suite.passing no longer passes, or when modelc
wrote a file onnxruntime rejects as invalid (whatever the list says). --update-passing
rewrites the list with what passes now.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = os.path.join(ROOT, "testdata", "tflite", "ops")
PASSING = os.path.join(ROOT, "tests", "tflite_op_suite.passing")
FLOAT_TOL = 1e-4
QUANT_FRACTION = 0.99


def litert(path: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


class Invalid(Exception):
    """onnxruntime refused the file itself (not an unimplemented kernel)."""


def ort(path: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as rt

    rt.set_default_logger_severity(3)  # the failures are reported below, once per model
    try:
        s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types per status
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kind = type(e).__name__
        unknown_op = "is not a registered function/op" in str(e)  # a custom-domain node: valid ONNX
        if kind in ("InvalidGraph", "InvalidArgument", "Fail") and not unknown_op:
            raise Invalid(f"{kind}: {msg}") from None
        raise RuntimeError(f"onnxruntime: {kind}: {msg}") from None
    feeds = {i.name: x for i, x in zip(s.get_inputs(), inputs)}
    if len(feeds) != len(inputs):
        raise RuntimeError(f"the ONNX model has {len(s.get_inputs())} inputs, the .tflite {len(inputs)}")
    return s.run(None, feeds)


def compare(ys: list[np.ndarray], refs: list[np.ndarray]) -> str | None:
    """None when the outputs match; else what differs."""
    if len(ys) != len(refs):
        return f"{len(ys)} outputs, LiteRT gives {len(refs)}"
    for k, (y, ref) in enumerate(zip(ys, refs)):
        if y.dtype != ref.dtype:
            return f"output {k}: dtype {y.dtype}, LiteRT gives {ref.dtype}"
        if y.shape != ref.shape:
            return f"output {k}: shape {y.shape}, LiteRT gives {ref.shape}"
        if y.size == 0:
            continue
        if ref.dtype.kind == "f":
            y64, r64 = y.astype(np.float64), ref.astype(np.float64)
            if not np.array_equal(np.isnan(y64), np.isnan(r64)):
                return f"output {k}: NaN where LiteRT has none (or the reverse)"
            ok = ~np.isnan(r64)
            span = float(r64[ok].max() - r64[ok].min()) if ok.any() else 0.0
            if span == 0.0:
                span = max(float(np.abs(r64[ok]).max()) if ok.any() else 0.0, 1.0)
            err = float(np.abs(y64[ok] - r64[ok]).max()) / span if ok.any() else 0.0
            if err > FLOAT_TOL:
                return f"output {k}: relative error {err:.2e} of the output range"
        elif ref.dtype in (np.int8, np.uint8, np.int16):
            close = np.abs(y.astype(np.int64) - ref.astype(np.int64)) <= 1
            if close.mean() < QUANT_FRACTION:
                return f"output {k}: {close.mean():.1%} of the elements within one step"
        elif not np.array_equal(y, ref):
            return f"output {k}: {int((y != ref).sum())} of {y.size} elements differ"
    return None


def score(name: str, onnx_path: str | None, inputs, refs, err: str | None) -> dict:
    if onnx_path is None or not os.path.exists(onnx_path):
        return {"ok": False, "stage": "convert", "why": err or "no file written"}
    try:
        ys = ort(onnx_path, inputs)
    except Invalid as e:
        return {"ok": False, "stage": "invalid", "why": str(e)}
    except Exception as e:
        return {"ok": False, "stage": "run", "why": str(e).strip().splitlines()[0][:300]}
    why = compare(ys, refs)
    return {"ok": why is None, "stage": "compare" if why else "ok", "why": why}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="run only the models whose name contains SUBSTR")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--update-passing", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    peers = [p.split("=", 1) for p in args.peer]

    models = sorted(os.path.basename(p)[: -len(".tflite")] for p in glob.glob(os.path.join(OPS, "*.tflite")))
    if args.only:
        models = [m for m in models if args.only in m]
    if not models:
        print(f"tflite op suite: no models under {OPS}", file=sys.stderr)
        return 1
    started = time.time()
    report: dict[str, dict] = {}
    for m in models:
        src = os.path.join(OPS, f"{m}.tflite")
        with np.load(os.path.join(OPS, f"{m}.npz")) as z:
            inputs = [z[f"input{i}"] for i in range(len(z.files))]
        refs = litert(src, inputs)
        dst = os.path.join(args.out, f"{m}.onnx")
        if os.path.exists(dst):
            os.remove(dst)
        r = subprocess.run([args.modelc, "convert", "--keep-io-layout", src, dst], capture_output=True, text=True)
        err = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1] if r.returncode else None
        entry = {"modelc": score(m, dst if r.returncode == 0 else None, inputs, refs, err)}
        for pname, pdir in peers:
            p = os.path.join(pdir, f"{m}.onnx")
            perr = None
            if os.path.exists(os.path.join(pdir, f"{m}.err")):
                with open(os.path.join(pdir, f"{m}.err"), encoding="utf-8", errors="replace") as f:
                    lines = [ln for ln in f.read().strip().splitlines() if ln.strip()]
                perr = lines[-1][:300] if lines else None
            entry[pname] = score(m, p if os.path.exists(p) else None, inputs, refs, perr)
        report[m] = entry

    tools = ["modelc"] + [p for p, _ in peers]
    for t in tools:
        bad = [(m, e[t]) for m, e in report.items() if not e[t]["ok"]]
        if t == "modelc" or os.environ.get("TFLITE_SUITE_VERBOSE"):
            for m, e in bad:
                print(f"  {t} {m}: {e['stage']}: {e['why']}")
    for t in tools:
        n = sum(e[t]["ok"] for e in report.values())
        by_variant = {}
        for m, e in report.items():
            v = m.rsplit(".", 1)[-1]
            a, b = by_variant.get(v, (0, 0))
            by_variant[v] = (a + e[t]["ok"], b + 1)
        detail = ", ".join(f"{v} {a}/{b}" for v, (a, b) in sorted(by_variant.items()))
        print(f"tflite op suite: {t} {n} of {len(report)} ({detail})")
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)

    failed = False
    invalid = [m for m, e in report.items() if e["modelc"]["stage"] == "invalid"]
    if invalid:
        failed = True
        print(f"FAIL: modelc wrote {len(invalid)} file(s) onnxruntime rejects: {', '.join(invalid)}")
    passing_now = sorted(m for m, e in report.items() if e["modelc"]["ok"])
    if args.update_passing:
        with open(PASSING, "w") as f:
            f.write("# Models of testdata/tflite/ops that modelc converts to ONNX matching LiteRT\n")
            f.write("# (tests/tflite_op_suite.py --update-passing writes it; a model here that stops passing fails CI).\n")
            f.writelines(f"{m}\n" for m in passing_now)
        print(f"wrote {len(passing_now)} names to {os.path.relpath(PASSING, ROOT)}")
    else:
        with open(PASSING) as f:
            listed = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        missing = [m for m in listed if m not in report and not args.only]
        regressed = [m for m in listed if m in report and not report[m]["modelc"]["ok"]]
        if missing:
            failed = True
            print(f"FAIL: listed as passing but not in the suite: {', '.join(missing)}")
        if regressed:
            failed = True
            print(f"FAIL: {len(regressed)} model(s) listed as passing no longer pass: {', '.join(regressed)}")
        newly = [m for m in passing_now if m not in listed]
        if newly:
            print(f"note: {len(newly)} model(s) pass but are not listed (--update-passing adds them): {', '.join(newly)}")
    print(f"tflite op suite: {time.time() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
