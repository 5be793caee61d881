"""Opset conversion over the ONNX node suite: modelc against onnx's own version converter.

    python tests/opset_convert.py --modelc target/debug/modelc \
        --suite target/onnx-node-suite/node --target 13 --target 17 \
        [--filter SUBSTR] [--limit N] [--json OUT.json] [--min-up N] [--min-down N]

For every target T and every node-suite case whose model imports a default-domain opset
other than T (from 7 on), both tools convert the model to T:

  - modelc: `modelc convert model.onnx out.onnx --opset T` (a refusal is an exit status 1
    naming the node and the reason);
  - onnx: `onnx.version_converter.convert_version(model, T)`.

A conversion passes when the converted model imports opset T, onnxruntime (CPU, graph
optimizations off) loads and runs it on the case's inputs and every output matches the
suite's expected output (the conformance data: rtol 1e-3, atol 1e-5, NaN equal to NaN;
non-float outputs exactly). Counts are per direction (up: the case's opset is below T;
down: above), for both tools in the same run, and for reference how many of the same
cases onnxruntime runs correctly in their original form (an original newer than
onnxruntime supports does not run, while its converted form may).

Also counted: converted files onnxruntime rejects as invalid (modelc must never write one:
the script exits 1 if modelc did), and for modelc the refusals by reason.

Cases run in a worker process that is replaced if onnxruntime or the converter crashes
on a case (recorded as a crash of the phase it died in).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT_TIMEOUT_S = 60


# ---------------------------------------------------------------- worker side


def close(a, b) -> str | None:
    """None when the output `a` matches the expected `b`."""
    import numpy as np

    if isinstance(b, list) or isinstance(a, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return "sequence differs"
        for x, y in zip(a, b):
            r = close(x, y)
            if r:
                return r
        return None
    if a is None or b is None:
        return None if a is None and b is None else "optional differs"
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f"shape {list(a.shape)} vs {list(b.shape)}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if a.dtype.kind == "f":
        ok = np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-3, atol=1e-5, equal_nan=True)
    elif a.dtype == object:
        ok = a.tolist() == b.tolist()
    else:
        ok = a.tobytes() == b.tobytes()
    return None if ok else "values differ"


def expected_outputs(case_dir, model):
    from onnx_roundtrip import load_value

    ds = os.path.join(case_dir, "test_data_set_0")
    outs = []
    for j, vi in enumerate(model.graph.output):
        path = os.path.join(ds, f"output_{j}.pb")
        if not os.path.exists(path):
            return None
        outs.append(load_value(path, vi.type))
    return outs


def run_and_check(path, model, feeds, expected):
    """'pass', or (status, detail)."""
    from onnx_roundtrip import ort_run, one_line

    try:
        import onnxruntime as ort  # noqa: F401

        _, got = ort_run(path, model, feeds)
    except Exception as e:  # noqa: BLE001
        text = str(e)
        invalid = any(k in text for k in ("INVALID_GRAPH", "INVALID_ARGUMENT", "ValidationError", "Load model"))
        return ("invalid" if invalid else "ort-failed", one_line(text, 300))
    for j, (g, e) in enumerate(zip(got, expected)):
        r = close(g, e)
        if r:
            return ("mismatch", f"output {j}: {r}")
    return "pass"


def default_opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return None


def do_case(req):
    import onnx
    from onnx import version_converter
    from onnx_roundtrip import load_inputs, one_line

    case_dir, target, modelc = req["case"], req["target"], req["modelc"]
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    feeds = load_inputs(case_dir, model)
    expected = expected_outputs(case_dir, model)
    if expected is None:
        return {"skip": "no expected outputs"}
    res = {}
    r = run_and_check(os.path.join(case_dir, "model.onnx"), model, feeds, expected)
    res["original"] = r if r == "pass" else list(r)
    with tempfile.TemporaryDirectory() as tmp:
        # modelc
        out = os.path.join(tmp, "modelc.onnx")
        p = subprocess.run(
            [modelc, "convert", os.path.join(case_dir, "model.onnx"), out, "--opset", str(target)],
            capture_output=True,
            text=True,
            timeout=CONVERT_TIMEOUT_S,
        )
        if p.returncode != 0:
            res["modelc"] = ["refused", one_line(p.stderr, 400)]
        else:
            m = onnx.load(out)
            if default_opset(m) != target:
                res["modelc"] = ["wrong-opset", str(default_opset(m))]
            else:
                r = run_and_check(out, m, feeds, expected)
                res["modelc"] = r if r == "pass" else list(r)
        # onnx.version_converter
        try:
            m = version_converter.convert_version(model, target)
            out = os.path.join(tmp, "onnx.onnx")
            onnx.save(m, out)
            r = run_and_check(out, m, feeds, expected)
            res["onnx"] = r if r == "pass" else list(r)
        except Exception as e:  # noqa: BLE001
            res["onnx"] = ["refused", one_line(str(e), 300)]
    return res


def random_feeds(model):
    """Seeded inputs of the declared shapes (unknown dimensions: 1)."""
    import numpy as np
    from onnx import helper

    rng = np.random.default_rng(0)
    inits = {i.name for i in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim]
        dt = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if dt.kind == "f":
            feeds[vi.name] = rng.standard_normal(dims).astype(dt)
        elif dt.kind in "iu":
            feeds[vi.name] = rng.integers(0, 4, dims).astype(dt)
        else:
            feeds[vi.name] = rng.integers(0, 2, dims).astype(dt)
    return feeds


def do_model(req):
    """A whole model to `target` by both tools, each run in onnxruntime against the
    original's outputs in onnxruntime (max error within 1e-4 of each output's range)."""
    import numpy as np
    import onnx
    from onnx import version_converter
    from onnx_roundtrip import one_line, ort_run

    path, target, modelc = req["case"], req["target"], req["modelc"]
    model = onnx.load(path)
    feeds = random_feeds(model)
    _, ref = ort_run(path, model, feeds)

    def check(out):
        m = onnx.load(out)
        if default_opset(m) != target:
            return ["wrong-opset", str(default_opset(m))]
        try:
            _, got = ort_run(out, m, feeds)
        except Exception as e:  # noqa: BLE001
            return ["invalid", one_line(str(e), 300)]
        for j, (g, r) in enumerate(zip(got, ref)):
            g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
            scale = max(float(np.abs(r).max()) if r.size else 0.0, 1e-6)
            if g.shape != r.shape or float(np.abs(g - r).max()) > 1e-4 * scale:
                return ["mismatch", f"output {j}"]
        return "pass"

    res = {"original": "pass"}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "modelc.onnx")
        p = subprocess.run(
            [modelc, "convert", path, out, "--opset", str(target)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        res["modelc"] = check(out) if p.returncode == 0 else ["refused", one_line(p.stderr, 400)]
        try:
            m = version_converter.convert_version(model, target)
            out = os.path.join(tmp, "onnx.onnx")
            onnx.save(m, out)
            res["onnx"] = check(out)
        except Exception as e:  # noqa: BLE001
            res["onnx"] = ["refused", one_line(str(e), 300)]
    return res


def worker_main():
    sys.path.insert(0, HERE)
    for line in sys.stdin:
        req = json.loads(line)
        print(json.dumps({"start": req["id"]}), flush=True)
        try:
            res = do_model(req) if req.get("model") else do_case(req)
        except Exception as e:  # noqa: BLE001
            res = {"error": f"{type(e).__name__}: {e}"[:300]}
        print(json.dumps({"done": req["id"], "result": res}), flush=True)
    return 0


# ---------------------------------------------------------------- parent side


def case_opsets(suite, names):
    import onnx

    out = {}
    for n in names:
        try:
            m = onnx.load(os.path.join(suite, n, "model.onnx"), load_external_data=False)
        except Exception:  # noqa: BLE001
            continue
        v = default_opset(m)
        if v is not None:
            out[n] = v
    return out


def run_all(reqs):
    """Runs every request in a worker, replacing a worker that dies; results by id."""
    results = {}
    pending = list(reqs)
    while pending:
        w = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        def feed(w=w, batch=list(pending)):
            # From a thread: the worker's replies must be read while it is fed.
            try:
                for r in batch:
                    w.stdin.write(json.dumps(r) + "\n")
                w.stdin.close()
            except (BrokenPipeError, OSError):
                pass

        threading.Thread(target=feed, daemon=True).start()
        current = None
        for line in w.stdout:
            msg = json.loads(line)
            if "start" in msg:
                current = msg["start"]
            else:
                results[msg["done"]] = msg["result"]
                current = None
        w.wait()
        done = set(results)
        if current is not None:
            results[current] = {"crash": f"worker died (status {w.returncode})"}
            done.add(current)
        pending = [r for r in pending if r["id"] not in done]
        if current is None and pending:
            # The worker ended without starting a case: do not loop forever.
            for r in pending:
                results[r["id"]] = {"crash": "worker ended early"}
            pending = []
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--modelc")
    ap.add_argument("--suite")
    ap.add_argument("--target", type=int, action="append")
    ap.add_argument("--filter", default="")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--models", default="", help="comma-separated whole .onnx models, converted to each target too")
    ap.add_argument("--min-up", type=int, default=0, help="fail when modelc passes fewer upgrades (per target)")
    ap.add_argument("--min-down", type=int, default=0, help="fail when modelc passes fewer downgrades (per target)")
    ap.add_argument(
        "--at-least-peer",
        action="store_true",
        help="fail when modelc passes fewer conversions than onnx.version_converter in any direction",
    )
    args = ap.parse_args()
    if args.worker:
        return worker_main()
    if not (args.modelc and args.suite and args.target):
        ap.error("--modelc, --suite and --target are required")
    start = time.time()
    names = sorted(n for n in os.listdir(args.suite) if args.filter in n)
    if args.limit:
        names = names[: args.limit]
    opsets = case_opsets(args.suite, names)
    reqs = []
    for t in args.target:
        for n, v in opsets.items():
            if v != t and v >= 7:
                reqs.append(
                    {
                        "id": len(reqs),
                        "case": os.path.join(args.suite, n),
                        "name": n,
                        "from": v,
                        "target": t,
                        "dir": "up" if v < t else "down",
                        "modelc": os.path.abspath(args.modelc),
                    }
                )
    import onnx

    for path in [m for m in args.models.split(",") if m]:
        v = default_opset(onnx.load(path, load_external_data=False))
        for t in args.target:
            if v is not None and v != t:
                reqs.append(
                    {
                        "id": len(reqs),
                        "case": os.path.abspath(path),
                        "name": os.path.basename(path),
                        "from": v,
                        "target": t,
                        "dir": "model",
                        "model": True,
                        "modelc": os.path.abspath(args.modelc),
                    }
                )
    results = run_all(reqs)
    report = {"targets": {}, "seconds": 0.0}
    failed = False
    for t in args.target:
        per = {}
        for d in ("up", "down"):
            rs = [(r, results.get(r["id"], {})) for r in reqs if r["target"] == t and r["dir"] == d]
            rs = [(r, res) for r, res in rs if "skip" not in res]
            count = {"cases": len(rs)}
            for tool in ("original", "modelc", "onnx"):
                count[tool] = sum(1 for _, res in rs if res.get(tool) == "pass")
            # An invalid file counts against modelc where onnxruntime loads the original (a
            # model of ops onnxruntime does not know fails either way).
            def loads(res):
                o = res.get("original")
                return o == "pass" or isinstance(o, list) and o[0] == "mismatch"

            invalid = [
                (r["name"], res["modelc"][1])
                for r, res in rs
                if isinstance(res.get("modelc"), list) and res["modelc"][0] == "invalid" and loads(res)
            ]
            # A mismatch counts against modelc where onnxruntime runs the original correctly.
            wrong = [
                (r["name"], res["modelc"][1])
                for r, res in rs
                if isinstance(res.get("modelc"), list)
                and (res["modelc"][0] == "wrong-opset" or res["modelc"][0] == "mismatch" and res.get("original") == "pass")
            ]
            onnx_invalid = sum(1 for _, res in rs if isinstance(res.get("onnx"), list) and res["onnx"][0] in ("invalid", "mismatch"))
            refusals = {}
            for r, res in rs:
                m = res.get("modelc")
                if isinstance(m, list) and m[0] == "refused":
                    refusals[r["name"]] = m[1]
            count["modelc_invalid"] = invalid
            count["modelc_wrong"] = wrong
            count["onnx_invalid_or_wrong"] = onnx_invalid
            count["crashes"] = [r["name"] for r, res in rs if "crash" in res or "error" in res]
            count["modelc_refusals"] = refusals
            count["cases_detail"] = {r["name"]: res for r, res in rs}
            per[d] = count
            print(
                f"opset {d} to {t}: {len(rs)} cases; passing in onnxruntime after conversion: "
                f"modelc {count['modelc']}, onnx.version_converter {count['onnx']} "
                f"(original form: {count['original']}); modelc wrote {len(invalid)} invalid and "
                f"{len(wrong)} wrong files, refused {len(refusals)}; onnx wrote {onnx_invalid} invalid or wrong"
            )
            for name, why in invalid + wrong:
                print(f"  modelc {name}: {why}")
            if invalid or wrong:
                failed = True
            if args.at_least_peer and count["modelc"] < count["onnx"]:
                print("  FAIL: modelc passes fewer than onnx.version_converter")
                failed = True
            if d == "up" and count["modelc"] < args.min_up or d == "down" and count["modelc"] < args.min_down:
                print(f"  FAIL: fewer than the required {args.min_up if d == 'up' else args.min_down}")
                failed = True
        models = [(r, results.get(r["id"], {})) for r in reqs if r["target"] == t and r["dir"] == "model"]
        for r, res in models:
            print(f"  model {r['name']} opset {r['from']} -> {t}: modelc {res.get('modelc')}, onnx {res.get('onnx')}")
            m = res.get("modelc")
            if isinstance(m, list) and m[0] in ("invalid", "mismatch", "wrong-opset"):
                failed = True
        per["models"] = {r["name"]: res for r, res in models}
        report["targets"][str(t)] = per
    report["seconds"] = round(time.time() - start, 1)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(f"{len(reqs)} conversions per tool in {report['seconds']} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
