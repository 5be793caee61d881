"""ONNX round-trip conformance: does `modelc convert` keep every model runnable
with bit-identical results?

    python tests/onnx_roundtrip.py --modelc target/release/modelc \
        --suite target/onnx-node-suite/node --out target/conformance \
        [--limit N] [--filter SUBSTR] [--jobs 2]

For every case directory (model.onnx + test_data_set_0/input_*.pb):

  a) run the ORIGINAL model in onnxruntime (CPUExecutionProvider, graph
     optimizations off, one thread) on the case's inputs, twice. A case whose
     inputs cannot be loaded, or that onnxruntime cannot load or run, is
     "ort-cannot-run-original" and not counted. A case whose two runs differ
     (random ops without a seed) is "nondeterministic-original": not counted
     in M either, but its converted model must still run and give outputs of
     the same dtype and shape.
  b) run `modelc convert model.onnx out.onnx` (timeout 60 s);
  c) run out.onnx in onnxruntime on the same inputs and compare every output
     with the original's: same names, dtype, shape and values
     (np.array_equal, NaN equal to NaN; no tolerance: the conversion is
     lossless, so the same runtime on the same graph must give the same bits).

Prints `conformance: N of M cases that onnxruntime runs in original form also
run after modelc convert with identical outputs` as its last line, writes
OUT/report.json, and exits 1 if N < M, if a nondeterministic case failed, or
if M is 0 (nothing was compared, e.g. a broken Python environment).

Cases run in a pool of worker processes (default 2). Each worker is a child
process of this script that handles one case at a time; if onnxruntime
crashes or hangs on a case, that worker is killed and replaced and the case
is recorded with the phase it died in.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

CONVERT_TIMEOUT_S = 60
CASE_TIMEOUT_S = 300

# Statuses. Only PASS counts towards N; M counts every status but the excluded.
PASS = "pass"
ORT_CANNOT_RUN_ORIGINAL = "ort-cannot-run-original"
NONDETERMINISTIC = "nondeterministic-original"
CONVERT_FAILED = "convert-failed"
ORT_CANNOT_RUN_CONVERTED = "ort-cannot-run-converted"
MISMATCH = "mismatch"
HARNESS_ERROR = "harness-error"
EXCLUDED = {ORT_CANNOT_RUN_ORIGINAL, NONDETERMINISTIC}
NOT_FAILURES = {PASS, ORT_CANNOT_RUN_ORIGINAL, NONDETERMINISTIC}


# --------------------------------------------------------------------------
# Worker side: everything that imports onnx / onnxruntime / numpy.
# --------------------------------------------------------------------------


def load_value(path: str, type_proto):
    """Load one input_<j>.pb according to the graph input's type."""
    import onnx
    from onnx import numpy_helper

    with open(path, "rb") as f:
        data = f.read()
    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        t = onnx.TensorProto()
        t.ParseFromString(data)
        return numpy_helper.to_array(t)
    if kind == "sequence_type":
        s = onnx.SequenceProto()
        s.ParseFromString(data)
        return numpy_helper.to_list(s)
    if kind == "optional_type":
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        return numpy_helper.to_optional(o)
    if kind == "map_type":
        m = onnx.MapProto()
        m.ParseFromString(data)
        return numpy_helper.to_dict(m)
    raise ValueError(f"unsupported input type {kind!r}")


def load_inputs(case_dir: str, model):
    """{graph input name: value} for test_data_set_0/input_<j>.pb."""
    ds = os.path.join(case_dir, "test_data_set_0")
    feeds = {}
    j = 0
    while True:
        path = os.path.join(ds, f"input_{j}.pb")
        if not os.path.exists(path):
            break
        if j >= len(model.graph.input):
            raise ValueError(f"{path} has no matching graph input")
        vi = model.graph.input[j]
        feeds[vi.name] = load_value(path, vi.type)
        j += 1
    return feeds


# numpy's own dtypes of these kinds go to onnxruntime as they are; the
# ml_dtypes ones (bfloat16, float8, 4- and 2-bit) go as OrtValues.
NATIVE_KINDS = "biufOUS"
# ml_dtypes' sub-byte types hold one element per byte; ONNX packs them.
BITS = {"int4": 4, "uint4": 4, "float4_e2m1fn": 4, "int2": 2, "uint2": 2}


def pack_bytes(arr) -> bytes:
    """The ONNX in-memory bytes of an ndarray of any element type."""
    import numpy as np

    flat = np.ascontiguousarray(arr).reshape(-1)
    bits = BITS.get(arr.dtype.name)
    if bits is None:
        return flat.tobytes()
    per = 8 // bits
    codes = flat.view(np.uint8) & ((1 << bits) - 1)
    pad = (-codes.size) % per
    if pad:
        codes = np.concatenate([codes, np.zeros(pad, np.uint8)])
    codes = codes.reshape(-1, per)
    packed = np.zeros(codes.shape[0], np.uint8)
    for k in range(per):
        packed |= codes[:, k] << (k * bits)
    return packed.tobytes()


def to_feed(value, type_proto):
    """A value onnxruntime accepts: numpy as it is, OrtValue for the rest."""
    import ctypes

    import numpy as np
    import onnxruntime as ort

    if not isinstance(value, np.ndarray) or (
        value.dtype.kind in NATIVE_KINDS and value.dtype.type.__module__ == "numpy"
    ):
        return value
    elem_type = type_proto.tensor_type.elem_type if type_proto.HasField("tensor_type") else 0
    if not elem_type:
        return value
    data = pack_bytes(value)
    ov = ort.OrtValue.ortvalue_from_shape_and_type(list(value.shape), elem_type)
    if ov.tensor_size_in_bytes() != len(data):
        raise ValueError(
            f"{value.dtype}{list(value.shape)}: onnxruntime wants {ov.tensor_size_in_bytes()} bytes, have {len(data)}"
        )
    ctypes.memmove(ov.data_ptr(), data, len(data))
    return ov


class RawTensor:
    """An output that numpy cannot hold (bfloat16, float8, 4-bit, ...): its
    onnxruntime type, shape and bytes."""

    def __init__(self, ov):
        import ctypes

        self.dtype = ov.data_type()
        self.shape = tuple(ov.shape())
        self.data = ctypes.string_at(ov.data_ptr(), ov.tensor_size_in_bytes())

    def __repr__(self):
        return f"{self.dtype}{list(self.shape)}"


def ort_run(model_path: str, model, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    types = {vi.name: vi.type for vi in model.graph.input}
    ort_feeds = {k: to_feed(v, types[k]) for k, v in feeds.items()}
    names = [o.name for o in sess.get_outputs()]
    try:
        return names, sess.run(names, ort_feeds)
    except Exception as first:  # noqa: BLE001
        # Outputs of a type numpy lacks: take them as OrtValues and raw bytes.
        if "Numpy type" not in str(first):
            raise
        ov_feeds = {
            k: v if isinstance(v, ort.OrtValue) else ort.OrtValue.ortvalue_from_numpy(v)
            for k, v in ort_feeds.items()
        }
        values = []
        for ov in sess.run_with_ort_values(names, ov_feeds):
            if not ov.is_tensor():
                raise first
            try:
                values.append(ov.numpy())
            except Exception:  # noqa: BLE001
                values.append(RawTensor(ov))
        return names, values


def describe(v) -> str:
    import numpy as np

    if v is None:
        return "None"
    if isinstance(v, np.ndarray):
        return f"{v.dtype}{list(v.shape)}"
    if isinstance(v, list):
        return "seq[" + ", ".join(describe(x) for x in v[:4]) + (", ..." if len(v) > 4 else "") + "]"
    if isinstance(v, dict):
        return f"map({len(v)})"
    if isinstance(v, RawTensor):
        return repr(v)
    return type(v).__name__


def compare(a, b, where: str, values: bool = True) -> str | None:
    """None if a and b are identical (values=False: same dtype and shape only)."""
    import numpy as np

    if a is None or b is None:
        return None if a is None and b is None else f"{where}: {describe(a)} vs {describe(b)}"
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return f"{where}: {describe(a)} vs {describe(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            r = compare(x, y, f"{where}[{i}]", values)
            if r:
                return r
        return None
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or sorted(a) != sorted(b):
            return f"{where}: {describe(a)} vs {describe(b)}"
        for k in sorted(a):
            r = compare(a[k], b[k], f"{where}[{k!r}]", values)
            if r:
                return r
        return None
    if isinstance(a, RawTensor) or isinstance(b, RawTensor):
        if not (isinstance(a, RawTensor) and isinstance(b, RawTensor)) or (a.dtype, a.shape) != (b.dtype, b.shape):
            return f"{where}: {describe(a)} vs {describe(b)}"
        return None if not values or a.data == b.data else f"{where}: bytes differ"
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{where}: {describe(a)} vs {describe(b)}"
    if not values:
        return None
    if a.dtype == object:
        equal = a.tolist() == b.tolist()
    else:
        try:
            equal = bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # dtypes without isnan: compare exactly
            equal = a.tobytes() == b.tobytes()
    if equal:
        return None
    detail = ""
    try:
        diff = np.flatnonzero(a.reshape(-1) != b.reshape(-1))
        if diff.size:
            i = int(diff[0])
            detail = f" ({diff.size} of {a.size} differ; first at flat index {i}: {a.reshape(-1)[i]!r} vs {b.reshape(-1)[i]!r})"
    except Exception:  # noqa: BLE001 - best-effort detail only
        pass
    return f"{where}: values differ{detail}"


def one_line(text: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    s = " | ".join(lines[-3:]) if lines else "(no message)"
    return s if len(s) <= limit else s[: limit - 3] + "..."


def run_case(req, phase) -> dict:
    info: dict = {}
    result = run_case_inner(req, phase, info)
    if info.get("nondeterministic"):
        result["nondeterministic"] = info["nondeterministic"]
    return result


def run_case_inner(req, phase, info) -> dict:
    import onnx

    case_dir = req["case_dir"]
    work_dir = req["work_dir"]
    modelc = req["modelc"]
    model_path = os.path.join(case_dir, "model.onnx")

    # a) the original, twice.
    phase("load-original")
    try:
        model = onnx.load(model_path)
        feeds = load_inputs(case_dir, model)
    except Exception as e:  # noqa: BLE001
        return {"status": ORT_CANNOT_RUN_ORIGINAL, "reason": f"cannot load model or inputs: {one_line(str(e))}"}
    phase("ort-original")
    try:
        names, first = ort_run(model_path, model, feeds)
        _, second = ort_run(model_path, model, feeds)
    except Exception as e:  # noqa: BLE001
        return {"status": ORT_CANNOT_RUN_ORIGINAL, "reason": one_line(str(e))}
    nondeterministic = []
    for n, x, y in zip(names, first, second):
        if compare(x, y, n):
            nondeterministic.append(n)
    info["nondeterministic"] = nondeterministic

    # b) convert.
    phase("convert")
    if os.path.exists(work_dir):
        shutil.rmtree(work_dir)
    os.makedirs(work_dir)
    out_path = os.path.join(work_dir, "model.onnx")
    cmd = [modelc, req.get("command", "convert"), model_path, out_path]
    started = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=CONVERT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"status": CONVERT_FAILED, "reason": f"modelc convert timed out after {CONVERT_TIMEOUT_S} s"}
    except OSError as e:
        return {"status": HARNESS_ERROR, "reason": f"cannot run {modelc}: {e}"}
    convert_s = time.monotonic() - started
    if p.returncode != 0:
        return {
            "status": CONVERT_FAILED,
            "reason": f"exit {p.returncode}: {one_line(p.stderr or p.stdout)}",
            "convert_s": round(convert_s, 3),
        }
    if not os.path.exists(out_path):
        return {"status": CONVERT_FAILED, "reason": "modelc convert exited 0 but wrote no output file"}

    # c) the converted model, same inputs.
    phase("ort-converted")
    try:
        conv_names, conv = ort_run(out_path, model, feeds)
    except Exception as e:  # noqa: BLE001
        return {"status": ORT_CANNOT_RUN_CONVERTED, "reason": one_line(str(e)), "convert_s": round(convert_s, 3)}
    phase("compare")
    result = {"convert_s": round(convert_s, 3)}
    if conv_names != names:
        result.update(status=MISMATCH, reason=f"output names {names} became {conv_names}")
        return result
    for n, x, y in zip(names, first, conv):
        r = compare(x, y, f"output {n!r}", values=n not in nondeterministic)
        if r:
            result.update(status=MISMATCH, reason=r)
            return result
    if nondeterministic:
        result.update(
            status=NONDETERMINISTIC,
            reason=f"outputs {nondeterministic} differ between two runs of the original; compared dtype and shape only",
        )
        return result
    result["status"] = PASS
    return result


def worker_main() -> int:
    # Keep the protocol channel private: anything that native code prints to
    # stdout goes to stderr (the worker's log file) instead.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    import warnings

    warnings.simplefilter("ignore")

    def send(msg):
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        print(f"=== {req['case_dir']}", file=sys.stderr, flush=True)
        try:
            result = run_case(req, lambda p: send({"phase": p}))
        except Exception as e:  # noqa: BLE001 - a harness bug, reported per case
            result = {"status": HARNESS_ERROR, "reason": f"{type(e).__name__}: {one_line(str(e))}"}
        send({"result": result})
    return 0


# --------------------------------------------------------------------------
# Parent side: no onnx / onnxruntime imports here.
# --------------------------------------------------------------------------


class Worker:
    def __init__(self, index: int, log_dir: str):
        self.index = index
        self.log_path = os.path.join(log_dir, f"worker-{index}.log")
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def run(self, req) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            self.proc.kill()

        timer = threading.Timer(CASE_TIMEOUT_S, kill)
        timer.start()
        phase = "start"
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    break
                msg = json.loads(line)
                if "phase" in msg:
                    phase = msg["phase"]
                elif "result" in msg:
                    return msg["result"]
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            timer.cancel()
        # The worker died (or was killed) in the middle of the case.
        code = self.proc.wait()
        self.proc = None
        how = f"timed out after {CASE_TIMEOUT_S} s" if timed_out.is_set() else f"crashed (exit {code})"
        if phase == "ort-original":
            return {"status": ORT_CANNOT_RUN_ORIGINAL, "reason": f"onnxruntime {how} on the original"}
        if phase == "ort-converted":
            return {"status": ORT_CANNOT_RUN_CONVERTED, "reason": f"onnxruntime {how} on the converted model"}
        return {"status": HARNESS_ERROR, "reason": f"worker {how} in phase {phase}"}


def versions() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", "import onnx, onnxruntime, numpy; print(onnx.__version__, onnxruntime.__version__, numpy.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return dict(zip(["onnx", "onnxruntime", "numpy"], out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--modelc", help="path of the modelc binary")
    ap.add_argument(
        "--command",
        default="convert",
        choices=["convert", "optimize"],
        help="the modelc command each model goes through (`optimize` runs its default -O1 passes)",
    )
    ap.add_argument("--suite", help="directory holding one directory per case")
    ap.add_argument("--out", help="where report.json, logs and failing outputs go")
    ap.add_argument("--limit", type=int, help="run only the first N cases (after --filter)")
    ap.add_argument("--filter", help="run only cases whose name contains SUBSTR")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args()
    if args.worker:
        return worker_main()
    if not (args.modelc and args.suite and args.out):
        ap.error("--modelc, --suite and --out are required")

    modelc = os.path.abspath(args.modelc)
    suite = os.path.abspath(args.suite)
    out = os.path.abspath(args.out)
    if not os.access(modelc, os.X_OK):
        print(f"conformance: {modelc} is not an executable", file=sys.stderr)
        return 2
    if not os.path.isdir(suite):
        print(f"conformance: no suite at {suite}", file=sys.stderr)
        return 2

    cases = sorted(
        d for d in os.listdir(suite) if os.path.isfile(os.path.join(suite, d, "model.onnx"))
    )
    if args.filter:
        cases = [c for c in cases if args.filter in c]
    if args.limit is not None:
        cases = cases[: args.limit]
    if not cases:
        print("conformance: no cases selected", file=sys.stderr)
        return 2

    work_root = os.path.join(out, "cases")
    if os.path.exists(work_root):
        shutil.rmtree(work_root)
    os.makedirs(work_root)
    for f in os.listdir(out):
        if f.startswith("worker-") and f.endswith(".log"):
            os.remove(os.path.join(out, f))

    print(f"conformance: {len(cases)} cases from {suite}, {args.jobs} workers, modelc {modelc}", flush=True)
    started = time.monotonic()
    todo: queue.Queue = queue.Queue()
    for c in cases:
        todo.put(c)
    results: dict[str, dict] = {}
    lock = threading.Lock()

    def drive(index: int):
        w = Worker(index, out)
        try:
            while True:
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                t0 = time.monotonic()
                req = {
                    "case_dir": os.path.join(suite, name),
                    "work_dir": os.path.join(work_root, name),
                    "modelc": modelc,
                    "command": args.command,
                }
                r = w.run(req)
                r["seconds"] = round(time.monotonic() - t0, 3)
                failed = r["status"] not in NOT_FAILURES
                if not failed:
                    shutil.rmtree(req["work_dir"], ignore_errors=True)
                with lock:
                    results[name] = r
                    done = len(results)
                    if failed:
                        print(f"  FAIL {name}: {r['status']}: {r.get('reason', '')}", flush=True)
                    if done % 100 == 0 or done == len(cases):
                        print(f"  [{done}/{len(cases)}] {time.monotonic() - started:.0f} s", flush=True)
        finally:
            w.stop()

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    m = sum(1 for r in results.values() if r["status"] not in EXCLUDED and not r.get("nondeterministic"))
    n = counts.get(PASS, 0)
    nondet = [c for c in cases if results[c].get("nondeterministic")]
    failing = [c for c in cases if results[c]["status"] not in NOT_FAILURES]
    report = {
        "modelc": modelc,
        "suite": suite,
        "versions": versions(),
        "selected": len(cases),
        "filter": args.filter,
        "limit": args.limit,
        "N": n,
        "M": m,
        "counts": counts,
        "seconds": round(time.monotonic() - started, 1),
        "failing": failing,
        "cases": {c: results[c] for c in cases},
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print("status counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    excluded = counts.get(ORT_CANNOT_RUN_ORIGINAL, 0)
    print(f"{excluded} cases excluded because onnxruntime cannot run the original (see report.json)")
    if nondet:
        ok = sum(1 for c in nondet if results[c]["status"] == NONDETERMINISTIC)
        print(f"{len(nondet)} cases excluded as nondeterministic in onnxruntime; {ok} of them run after convert with the same output dtypes and shapes")
    if failing:
        print(f"failing cases ({len(failing)}):")
        for c in failing:
            print(f"  {c}: {results[c]['status']}: {results[c].get('reason', '')}")
    print(f"report: {os.path.join(out, 'report.json')} ({report['seconds']} s)")
    print(
        f"conformance ({args.command}): {n} of {m} cases that onnxruntime runs in original form "
        f"also run after modelc {args.command} with identical outputs"
    )
    if m == 0:
        print("conformance: no selected case runs in onnxruntime, so nothing was compared", file=sys.stderr)
        return 1
    return 1 if n < m or failing else 0


if __name__ == "__main__":
    sys.exit(main())
