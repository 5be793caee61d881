"""aten conformance suite: single-op modules from PyTorch's own operator database (OpInfo
`op_db` and each op's `sample_inputs`), traced by the pinned torch, converted by modelc to
ONNX (run in onnxruntime) and to TFLite (`--keep-io-layout`: the module's own NCHW interface;
run in LiteRT), and exported by torch's classic
TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`, run in onnxruntime) as the
anchor, every result compared with torch on the same module and the same inputs.

    python tests/aten_suite.py --modelc target/release/modelc [--out DIR] [--ops a,b]
        [--samples N] [--workers 2] [--floor tests/aten_suite_floor.json] [--subset]

Which modules: ops whose float32 CPU samples torch can trace; inference only (no
`*_backward` ops, no factory functions, no ops with non-deterministic output, no random ops:
an op whose eager result changes with the seed is left out); samples whose tensors hold at
most MAX_ELEMENTS elements and whose results are real tensors. The float tensors of a sample
are the module's inputs; its other arguments (index tensors, masks, ints, dtypes) are
constants of the module, as they are in a model. At most `--samples` samples per op.

Each module is counted for each tool as one of:
  pass     runs and matches torch (float: max |got - torch| <= 1e-4 of the range of torch's
           output, NaN and infinities in the same places; integer and bool outputs exact)
  refused  the converter declined with an error (modelc: one line naming the op)
  wrong    ran but differs from torch (shape, dtype kind, values)
  invalid  the file was written but the runtime refused to load, allocate or run it (or the
           runtime killed the process): a malformed file, never a numeric mismatch
  crash    modelc panicked or died of a signal
and for modelc a refusal that is not one line naming an aten/prim op counts as `crash` too
(it is a bug of the same kind: an error the user cannot act on).

Writes OUT/report.json (every module, every tool) and OUT/report.txt (the table per op and the
totals). Prints the totals last:
    modelc->ONNX: N of M, modelc->TFLite: N of M, torch.onnx.export: N of M

With `--floor FILE`, the run fails when a module FILE lists as passing (for ONNX or TFLite)
does not pass, when modelc crashes, or when it writes a file the runtime refuses (for the
tools of `--fail-on-invalid`, default both; the others' are printed as bugs); with `--subset`
only FILE's ops run (the CI subset). `--update-floor` rewrites FILE's passing lists from this
run (adding new passes; it refuses to drop one).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-4
MAX_ELEMENTS = 20_000
OPSET = 18
TIMEOUT = 120
# One op's samples in all (tracing, converting, running, exporting).
OP_TIMEOUT = 600
# Worker processes that may die (runtimes crashing on files) before the run gives up.
MAX_DEATHS = 50
TOOLS = ("onnx", "tflite", "torch_onnx")
TOOL_TITLES = {"onnx": "modelc->ONNX", "tflite": "modelc->TFLite", "torch_onnx": "torch.onnx.export"}
STATUSES = ("pass", "refused", "wrong", "invalid", "crash")

# Ops that draw random numbers but whose seeds the check below cannot see change the result
# for every sample (or that OpInfo does not flag): left out by name.
RANDOM_NAMES = ("rand", "normal", "bernoulli", "multinomial", "dropout", "uniform", "poisson",
                "cauchy", "exponential", "geometric", "log_normal", "random")


def op_id(op):
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def selected_ops(names):
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    out = []
    for op in op_db:
        oid = op_id(op)
        if names is not None and oid not in names and op.name not in names:
            continue
        if torch.float32 not in op.supported_dtypes("cpu"):
            continue
        if not op.supports_tracing or op.is_factory_function or op.has_nondeterministic_output:
            continue
        if "backward" in op.name or any(r in op.name for r in RANDOM_NAMES):
            continue
        out.append(op)
    return out


# --------------------------------------------------------------------------- modules

def flatten_tensors(v):
    """The float tensors of a sample argument tree, and a function rebuilding the tree from
    replacements for them (other leaves are kept: they become module constants)."""
    import torch

    leaves = []

    def walk(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype == torch.float32:
            leaves.append(x)
            return ("t", len(leaves) - 1)
        if isinstance(x, (list, tuple)):
            return (type(x), [walk(i) for i in x])
        if isinstance(x, dict):
            return (dict, {k: walk(i) for k, i in x.items()})
        return ("c", x)

    spec = walk(v)

    def build(spec, xs):
        kind, body = spec
        if kind == "t":
            return xs[body]
        if kind == "c":
            return body
        if kind is dict:
            return {k: build(s, xs) for k, s in body.items()}
        return kind(build(s, xs) for s in body)

    return leaves, spec, build


def make_module(op, sample):
    """(module, float inputs) for one sample: forward(x0, x1, ...) calls the op."""
    import torch

    tree = (sample.input, list(sample.args), dict(sample.kwargs))
    xs, spec, build = flatten_tensors(tree)
    fn = op.op

    def call(*ts):
        inp, args, kwargs = build(spec, ts)
        return fn(inp, *args, **kwargs)

    params = ", ".join(f"x{i}" for i in range(len(xs)))
    ns = {}
    exec(f"def forward(self, {params}):\n    return call({params})\n", {"call": call}, ns)  # noqa: S102
    cls = type("AtenOp", (torch.nn.Module,), {"forward": ns["forward"]})
    return cls().eval(), [x.detach().clone() for x in xs]


def all_tensors(v):
    import torch

    if isinstance(v, torch.Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        out = []
        for i in v:
            t = all_tensors(i)
            if t is None:
                return None
            out.extend(t)
        return out
    return None


def sample_size_ok(sample):
    import torch

    ts = all_tensors([sample.input, list(sample.args), list(sample.kwargs.values())]) or []
    if any(t.is_complex() for t in ts if isinstance(t, torch.Tensor)):
        return False

    def count(v):
        if isinstance(v, torch.Tensor):
            return v.numel()
        if isinstance(v, (list, tuple)):
            return sum(count(i) for i in v)
        if isinstance(v, dict):
            return sum(count(i) for i in v.values())
        return 0

    return count([sample.input, sample.args, sample.kwargs]) <= MAX_ELEMENTS


def outputs_of(v):
    """Flattened real-tensor outputs, or None when the result is not only tensors."""
    ts = all_tensors(v)
    if not ts or any(t.is_complex() or t.is_sparse for t in ts):
        return None
    return [t.detach().cpu().numpy().copy() for t in ts]


# ------------------------------------------------------------------------- compare

def compare(got, refs):
    """None when `got` matches torch's `refs`, else what differs."""
    if len(got) != len(refs):
        return f"{len(got)} outputs, torch has {len(refs)}"
    for k, (g, t) in enumerate(zip(got, refs)):
        g = np.asarray(g)
        if g.shape != t.shape:
            return f"output {k}: shape {g.shape} vs torch {t.shape}"
        kind = lambda d: "b" if d == np.bool_ else ("f" if np.issubdtype(d, np.floating) else "i")  # noqa: E731
        if kind(g.dtype) != kind(t.dtype):
            return f"output {k}: {g.dtype} vs torch {t.dtype}"
        if t.size == 0:
            continue
        if kind(t.dtype) != "f":
            if not np.array_equal(g, t):
                return f"output {k}: {int((g != t).sum())} of {t.size} elements differ"
            continue
        g64, t64 = g.astype(np.float64), t.astype(np.float64)
        if not np.array_equal(np.isnan(g64), np.isnan(t64)):
            return f"output {k}: NaN in other places"
        inf = np.isinf(t64)
        if not np.array_equal(g64[inf], t64[inf]) or np.isinf(g64[~inf]).any():
            return f"output {k}: infinities differ"
        fin = np.isfinite(t64)
        if not fin.any():
            continue
        tf = t64[fin]
        scale = float(tf.max() - tf.min()) or float(np.abs(tf).max()) or 1.0
        err = float(np.abs(g64[fin] - tf).max()) / scale
        if err > TOL:
            return f"output {k}: error {err:.3g} of the range"
    return None


# --------------------------------------------------------------------------- tools

def last_line(text, code):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else f"exit {code}"


def run_modelc(modelc, src, dst, *flags):
    """(status, message) of `modelc convert src dst` when it did not write a file, else None."""
    try:
        r = subprocess.run([modelc, "convert", *flags, src, dst], capture_output=True, text=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "crash", f"timed out after {TIMEOUT} s"
    if r.returncode == 0:
        return None
    err = r.stderr.strip()
    if r.returncode < 0 or "panicked" in err or r.returncode == 101:
        return "crash", last_line(err, r.returncode)[:300]
    lines = [l for l in err.splitlines() if l.strip()]
    msg = lines[-1] if lines else f"exit {r.returncode}"
    # A refusal is one line naming the op (aten::x, prim::x) or the node.
    if len(lines) == 1 and ("aten::" in msg or "prim::" in msg or "no TFLite" in msg or "node" in msg):
        return "refused", msg[:300]
    return "crash", ("unclear refusal: " + " | ".join(lines))[:300]


def ort_run(path, xs):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime refusing the file
        return "invalid", f"onnxruntime load: {str(e).splitlines()[0][:240] if str(e) else type(e).__name__}"
    names = {f"x{i}": x.numpy() for i, x in enumerate(xs)}
    feed = {}
    for k, i in enumerate(s.get_inputs()):
        if i.name in names:
            feed[i.name] = names[i.name]
        elif k < len(xs):
            feed[i.name] = xs[k].numpy()
    try:
        return "ran", s.run(None, feed)
    except Exception as e:  # noqa: BLE001 - onnxruntime failing to run the file
        return "invalid", f"onnxruntime run: {str(e).splitlines()[0][:240] if str(e) else type(e).__name__}"


def litert_run(path, xs):
    from ai_edge_litert.interpreter import Interpreter

    try:
        it = Interpreter(model_path=path, num_threads=1)
        ins = it.get_input_details()
        # Inputs may be resized (a model of unknown dimensions) before allocation.
        for d, x in zip(ins, xs):
            if tuple(d["shape"]) != tuple(x.shape):
                it.resize_tensor_input(d["index"], list(x.shape))
        it.allocate_tensors()
    except Exception as e:  # noqa: BLE001 - LiteRT refusing the file
        return "invalid", f"LiteRT load: {str(e).splitlines()[0][:240] if str(e) else type(e).__name__}"
    try:
        for d, x in zip(it.get_input_details(), xs):
            # (np.ascontiguousarray would make a 0-d input 1-d.)
            it.set_tensor(d["index"], np.array(x.numpy(), dtype=d["dtype"], order="C"))
        it.invoke()
        return "ran", [it.get_tensor(o["index"]) for o in it.get_output_details()]
    except Exception as e:  # noqa: BLE001 - LiteRT failing to run the file
        return "invalid", f"LiteRT run: {str(e).splitlines()[0][:240] if str(e) else type(e).__name__}"


def judge(ran, refs):
    status, v = ran
    if status != "ran":
        return status, v
    bad = compare(v, refs)
    return ("wrong", bad) if bad else ("pass", "")


def torch_export(traced, xs, path):
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(traced, tuple(xs), path, dynamo=False, opset_version=OPSET,
                              input_names=[f"x{i}" for i in range(len(xs))])
    except Exception as e:  # noqa: BLE001 - the exporter declining
        msg = str(e).strip().splitlines()
        return "refused", (msg[0] if msg else type(e).__name__)[:300]
    return None


# ---------------------------------------------------------------------------- runs

def run_op(job, send):
    """Every sample of one op, each traced (`torch.jit.trace`) into a .pt: see run_samples."""
    run_samples(job, send, save_traced, traced_steps, "no traceable float32 sample")


def save_traced(m, xs, base):
    """`m` traced and saved as BASE.pt; (the path, the module as read back, the same)."""
    import torch

    traced = torch.jit.trace(m, tuple(xs), check_trace=False)
    pt = base + ".pt"
    traced.save(pt)
    loaded = torch.jit.load(pt)
    return pt, loaded, loaded


def traced_steps(modelc, pt, loaded, xs, refs):
    """The tools of this suite on one traced module: {tool: (extension, step(dst))}."""
    return {
        "onnx": ("onnx", lambda dst: run_modelc(modelc, pt, dst) or judge(ort_run(dst, xs), refs)),
        # The module's own (NCHW) interface: the inputs and torch's outputs as they are.
        "tflite": ("tflite", lambda dst: run_modelc(modelc, pt, dst, "--keep-io-layout")
                   or judge(litert_run(dst, xs), refs)),
        "torch_onnx": ("torch.onnx",
                       lambda dst: torch_export(loaded, xs, dst) or judge(ort_run(dst, xs), refs)),
    }


def run_samples(job, send, save, steps_of, none_message):
    """Every sample of one op from sample `start` on; sends ("step", k, tool) before each
    conversion or run (so that a runtime that kills the process is known) and ("rec", record)
    after each module. `crashed` maps (k, tool) to the message of a run that killed an earlier
    worker: that step is recorded, not repeated. `save(module, inputs, base)` writes the
    module's file and returns (path, the file as read back — called on the inputs —, what the
    steps need); `steps_of(modelc, path, handle, inputs, refs)` gives the tools' steps."""
    name, modelc, out, cap, tools, start, crashed = job
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    op = OPS[name]
    # The samples' random values are seeded: module ids (op#k) name the same module each run.
    torch.manual_seed(0)
    try:
        samples = list(op.sample_inputs("cpu", torch.float32, requires_grad=False))
    except Exception as e:  # noqa: BLE001 - OpInfo's own generator failing
        send(("rec", {"op": name, "skip": f"samples: {type(e).__name__}"}))
        return
    d = os.path.join(out, name.replace("/", "_"))
    os.makedirs(d, exist_ok=True)
    k = 0
    for sample in samples:
        if k >= cap:
            break
        if not sample_size_ok(sample):
            continue
        try:
            m, xs = make_module(op, sample)
            with torch.no_grad():
                torch.manual_seed(0)
                refs = outputs_of(m(*xs))
                if refs is None or not xs:
                    continue
                if k == 0:
                    torch.manual_seed(1)
                    again = outputs_of(m(*xs))
                    if again is None or compare(again, refs) is not None:
                        send(("rec", {"op": name, "skip": "random or non-deterministic"}))
                        return
                if k < start:
                    k += 1
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    path, read_back, handle = save(m, xs, os.path.join(d, str(k)))
                got = outputs_of(read_back(*xs))
            # The file's own result is the reference; a file that does not reproduce eager
            # (data-dependent Python in the op's wrapper) is not a module of this op.
            if got is None or compare(got, refs) is not None:
                continue
        except Exception:  # noqa: BLE001 - not traceable/exportable: not a module of the suite
            continue
        rec = {"op": name, "sample": k, "id": f"{name}#{k}",
               "inputs": [list(x.shape) for x in xs]}
        steps = steps_of(modelc, path, handle, xs, refs)
        for t in tools:
            if (k, t) in crashed:
                rec[t] = ["invalid", crashed[(k, t)]]
                continue
            send(("step", k, t))
            ext, step = steps[t]
            rec[t] = list(step(os.path.join(d, f"{k}.{ext}")))
        send(("rec", rec))
        k += 1
    if k == 0:
        send(("rec", {"op": name, "skip": none_message}))


OPS = {}


def worker_main(conn, names):
    """A worker process (started fresh: forking a process that runs threads can deadlock
    torch): loads the op database, then runs the jobs it is sent until it gets None. It
    prints nothing: torch's tracer and exporter write graphs and warnings to the process's
    own stdout/stderr (the parent prints one line per module)."""
    import signal

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    def on_alarm(signum, frame):
        raise TimeoutError(f"no result in {OP_TIMEOUT} s")

    signal.signal(signal.SIGALRM, on_alarm)
    for o in selected_ops(names):
        OPS[op_id(o)] = o
    conn.send(("ready",))
    while True:
        job = conn.recv()
        if job is None:
            return
        signal.alarm(OP_TIMEOUT)
        try:
            run_op(job, conn.send)
        except Exception as e:  # noqa: BLE001 - one op's failure is reported, the run goes on
            conn.send(("rec", {"op": job[0], "skip": f"suite error: {type(e).__name__}: {e}",
                               "trace": traceback.format_exc()[-800:]}))
        finally:
            signal.alarm(0)
        conn.send(("done",))


def run_all(jobs, workers, names, on_record):
    """Runs the jobs on `workers` processes. A worker that dies (a runtime crashing on a file
    kills the process) is replaced; the step it was on is recorded as `invalid` and its op
    goes on from that sample."""
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    pending = list(jobs)
    live = {}  # conn -> [process, job or None, last step]
    deaths = 0

    def start():
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(child, names), daemon=True)
        p.start()
        child.close()
        live[parent] = [p, None, None]

    for _ in range(min(workers, len(pending))):
        start()
    while live:
        ready = wait(list(live) + [w[0].sentinel for w in live.values()])
        for conn in list(live):
            p, job, step = live[conn]
            msg, gone = None, False
            try:
                if conn in ready or conn.poll():
                    msg = conn.recv()
            except (EOFError, OSError):
                gone = True
            if gone or (p.sentinel in ready and not conn.poll()):
                # Died: record the step it was on and go on after it.
                p.join(30)
                conn.close()
                del live[conn]
                deaths += 1
                if deaths > MAX_DEATHS:
                    raise SystemExit(f"aten suite: {deaths} worker processes died; stopping")
                if job is not None and step is not None:
                    k, tool = step
                    crashed = dict(job[6])
                    crashed[(k, tool)] = f"the runtime killed the process (exit {p.exitcode})"
                    pending.insert(0, job[:5] + (k, crashed))
                elif job is not None:
                    on_record({"op": job[0], "skip": f"the process died making a sample (exit {p.exitcode})"})
                if pending:
                    start()
                continue
            if msg is None:
                continue
            if msg[0] == "step":
                live[conn][2] = msg[1:]
                continue
            if msg[0] == "rec":
                live[conn][2] = None
                on_record(msg[1])
                continue
            # "ready" or "done": the next job, or the end.
            if pending:
                job = pending.pop(0)
                live[conn][1:] = [job, None]
                conn.send(job)
            else:
                conn.send(None)
                p.join()
                del live[conn]


# --------------------------------------------------------------------------- report

def totals(records, tool):
    mods = [r for r in records if tool in r]
    c = {s: 0 for s in STATUSES}
    for r in mods:
        c[r[tool][0]] += 1
    return len(mods), c


def table(records, tools):
    by_op = {}
    for r in records:
        by_op.setdefault(r["op"], []).append(r)
    lines = []
    head = f"{'op':44s} " + " ".join(f"{TOOL_TITLES[t]:>18s}" for t in tools)
    lines.append(head)
    for name in sorted(by_op):
        rs = [r for r in by_op[name] if "skip" not in r]
        if not rs:
            lines.append(f"{name:44s} skipped: {by_op[name][0]['skip']}")
            continue
        cells = []
        for t in tools:
            n = sum(r[t][0] == "pass" for r in rs)
            cells.append(f"{n:>8d} of {len(rs):<3d}    ")
        first_fail = next((f"{t}: {r[t][0]} {r[t][1]}" for r in rs for t in tools
                           if t != "torch_onnx" and r[t][0] != "pass"), "")
        lines.append(f"{name:44s} " + " ".join(f"{c:>18s}" for c in cells) + f"  {first_fail[:150]}")
    return lines


def summary(records, tools):
    mods = [r for r in records if "skip" not in r]
    ops = {r["op"] for r in mods}
    lines = [f"aten suite: {len(mods)} modules from {len(ops)} ops"]
    for t in tools:
        m, c = totals(mods, t)
        lines.append(f"  {TOOL_TITLES[t]:18s} {c['pass']:5d} of {m}   (refused {c['refused']}, wrong {c['wrong']}, "
                     f"invalid {c['invalid']}, crash {c['crash']})")
    lines.append(", ".join(f"{TOOL_TITLES[t]}: {totals(mods, t)[1]['pass']} of {totals(mods, t)[0]}" for t in tools))
    return lines


def check_floor(floor, records, tools, invalid_fails, modelc_tools=("onnx", "tflite")):
    """Problems: modules the floor lists as passing (under each of `modelc_tools`' names) that
    no longer do; crashes of modelc; files modelc wrote that the runtime refused, for the
    tools in `invalid_fails`."""
    by_id = {r["id"]: r for r in records if "id" in r}
    problems = []
    for t in modelc_tools:
        if t not in tools:
            continue
        for mid in floor.get(t, []):
            r = by_id.get(mid)
            if r is None:
                problems.append(f"{mid}: {TOOL_TITLES[t]} passed before, now the module is not made")
            elif r[t][0] != "pass":
                problems.append(f"{mid}: {TOOL_TITLES[t]} passed before, now {r[t][0]}: {r[t][1]}")
    for r in records:
        for t in modelc_tools:
            if t in r and (r[t][0] == "crash" or r[t][0] == "invalid" and t in invalid_fails):
                problems.append(f"{r['id']}: {TOOL_TITLES[t]} {r[t][0]}: {r[t][1]}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "aten-suite"))
    ap.add_argument("--ops", default="", help="comma-separated op names (OpInfo name or name.variant)")
    ap.add_argument("--samples", type=int, default=3, help="most samples per op")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--floor", help="JSON file of modules that must pass (see the module doc)")
    ap.add_argument("--subset", action="store_true", help="run only the floor file's ops")
    ap.add_argument("--fail-on-invalid", default="onnx,tflite",
                    help="with --floor: the tools whose refused files fail the run (the others are printed)")
    ap.add_argument("--update-floor", action="store_true", help="add this run's passes to --floor")
    a = ap.parse_args()
    tools = [t for t in a.tools.split(",") if t]
    started = time.time()
    floor = None
    if a.floor:
        with open(a.floor) as f:
            floor = json.load(f)
    names = None
    if a.ops:
        names = set(a.ops.split(","))
    elif a.subset:
        names = set(floor["ops"])
    ops = selected_ops(names)
    if names is not None:
        missing = names - {op_id(o) for o in ops} - {o.name for o in ops}
        if missing:
            print(f"aten suite: not in op_db (or left out as random/backward/untraceable): {sorted(missing)}")
    os.makedirs(a.out, exist_ok=True)
    modelc = os.path.abspath(a.modelc)
    jobs = [(op_id(o), modelc, a.out, a.samples, tools, 0, {}) for o in ops]
    records = []
    # Every record is also written as it comes, so a stopped run leaves what it did.
    progress = open(os.path.join(a.out, "records.jsonl"), "w")

    def on_record(r):
        records.append(r)
        progress.write(json.dumps(r) + "\n")
        progress.flush()
        if "skip" not in r:
            marks = " ".join(f"{t}:{r[t][0]}" for t in tools)
            print(f"{r['id']:50s} {marks}", flush=True)

    run_all(jobs, a.workers, names, on_record)
    progress.close()
    records.sort(key=lambda r: (r["op"], r.get("sample", -1)))
    lines = table(records, tools) + [""] + summary(records, tools)
    elapsed = time.time() - started
    lines.append(f"({len(ops)} ops, {elapsed:.0f} s, {a.workers} workers, at most {a.samples} samples per op)")
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump({"tools": tools, "samples_per_op": a.samples, "seconds": round(elapsed, 1),
                   "records": records}, f, indent=1)
    with open(os.path.join(a.out, "report.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[-(len(tools) + 3):]))
    status = 0
    if floor is not None:
        if a.update_floor:
            for t in ("onnx", "tflite"):
                now = {r["id"] for r in records if t in r and r[t][0] == "pass"}
                lost = set(floor.get(t, [])) - now
                if lost:
                    print(f"aten suite: not updating the floor, {t} lost {sorted(lost)}")
                    return 1
                floor[t] = sorted(now | set(floor.get(t, [])))
            with open(a.floor, "w") as f:
                json.dump(floor, f, indent=1)
                f.write("\n")
        invalid_fails = [t for t in a.fail_on_invalid.split(",") if t]
        problems = check_floor(floor, records, tools, invalid_fails)
        for r in records:
            for t in ("onnx", "tflite"):
                if t in r and r[t][0] == "invalid" and t not in invalid_fails:
                    print(f"BUG (not failing this run: --fail-on-invalid {a.fail_on_invalid}) "
                          f"{r['id']}: {TOOL_TITLES[t]} invalid: {r[t][1]}")
        for p in problems:
            print(f"FAIL {p}")
        if problems:
            status = 1
        n = {t: sum(1 for r in records if t in r and r[t][0] == "pass") for t in ("onnx", "tflite")}
        print(f"aten suite floor: {len(problems)} regressions; modelc->ONNX {n['onnx']} (floor "
              f"{len(floor.get('onnx', []))}), modelc->TFLite {n['tflite']} (floor {len(floor.get('tflite', []))})")
    return status


if __name__ == "__main__":
    sys.exit(main())
