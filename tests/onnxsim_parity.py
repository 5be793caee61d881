"""`modelc optimize -O2` against onnxsim on the torchvision models: node counts, numerics,
portability and speed.

    python tests/onnxsim_parity.py --modelc target/release/modelc \
        --models target/testdata/torchvision --out target/parity [--only resnet50] [--no-fail]

For every MODELS/<name>.onnx (made by testdata/make_torchvision.py):

1. onnxsim: `onnxsim.simplify` on the file in a fresh Python process (import, load,
   simplify, save: what `onnxsim IN OUT` costs a user), wall clock of the process.
2. modelc: `modelc optimize -O2 IN OUT`, wall clock of the process. The two runs alternate
   in the same loop, so both see the same machine load.
3. Node counts (top-level graph nodes; both write constants as initializers) and the
   per-op-type histogram of each result.
4. Numerics: the original and modelc's result run in onnxruntime (CPU, all graph
   optimizations off so the runtime does not rewrite either) on the same seeded random
   input; every output must satisfy max|a - b| <= RTOL * max|a| (1e-4 relative to the
   output's scale: elementwise relative error is meaningless for logits near zero).
5. Portability: every node of modelc's result is in the default ONNX domain (or
   `ai.onnx` / `ai.onnx.ml`), and so is every opset import.

A model fails when modelc leaves more nodes than onnxsim, the outputs mismatch, a vendor
domain appears, modelc errors, or modelc is not at least SPEEDUP times faster. Prints a
table, the op types modelc leaves more of than onnxsim (the gap list), writes
OUT/report.json, and exits 1 if any model failed (unless --no-fail).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

RTOL = 1e-4
SPEEDUP = 10.0
PORTABLE_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}

SIMPLIFY = (
    "import sys, onnx, onnxsim\n"
    "m = onnx.load(sys.argv[1])\n"
    "s, ok = onnxsim.simplify(m)\n"
    "assert ok, 'onnxsim could not validate its result'\n"
    "onnx.save(s, sys.argv[2])\n"
)


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall clock and CPU time (user + sys, from the children's rusage) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def histogram(model: onnx.ModelProto) -> collections.Counter:
    return collections.Counter(
        (n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}")
        for n in model.graph.node
    )


def run_ort(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def random_feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    inits = {i.name for i in model.graph.initializer}
    feeds = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def vendor_domains(model: onnx.ModelProto) -> list[str]:
    found = {n.domain for n in model.graph.node} | {o.domain for o in model.opset_import}
    return sorted(d for d in found if d not in PORTABLE_DOMAINS)


def check_model(name: str, src: str, modelc: str, out_dir: str, runs: int) -> dict:
    sim_out = os.path.join(out_dir, f"{name}.onnxsim.onnx")
    ours_out = os.path.join(out_dir, f"{name}.modelc.onnx")
    row: dict = {"model": name, "problems": []}
    sim_times, ours_times = [], []
    for _ in range(runs):
        wall, cpu, proc = timed([sys.executable, "-c", SIMPLIFY, src, sim_out])
        if proc.returncode != 0:
            raise RuntimeError(f"onnxsim failed on {name}:\n{proc.stderr[-2000:]}")
        sim_times.append((wall, cpu))
        wall, cpu, proc = timed([modelc, "optimize", "-O2", src, ours_out])
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["(no message)"]
            row["problems"].append("modelc failed: " + lines[-1])
            row.update(onnxsim_s=min(sim_times)[0], modelc_s=None)
            return row
        ours_times.append((wall, cpu))
        row["modelc_summary"] = proc.stdout + proc.stderr
    # The fastest run of each (least disturbed by other load on the machine); CPU time is
    # reported next to it because it hardly depends on that load.
    (row["onnxsim_s"], row["onnxsim_cpu_s"]) = min(sim_times)
    (row["modelc_s"], row["modelc_cpu_s"]) = min(ours_times)
    row["speedup"] = row["onnxsim_s"] / row["modelc_s"]

    original = onnx.load(src, load_external_data=False)
    sim = onnx.load(sim_out, load_external_data=False)
    ours = onnx.load(ours_out, load_external_data=False)
    row["nodes_original"] = len(original.graph.node)
    row["nodes_onnxsim"] = len(sim.graph.node)
    row["nodes_modelc"] = len(ours.graph.node)
    row["bytes_original"] = os.path.getsize(src)
    row["bytes_onnxsim"] = os.path.getsize(sim_out)
    row["bytes_modelc"] = os.path.getsize(ours_out)
    h_sim, h_ours = histogram(sim), histogram(ours)
    row["ops_onnxsim"], row["ops_modelc"] = dict(h_sim), dict(h_ours)
    row["gap"] = {
        op: h_ours[op] - h_sim.get(op, 0) for op in sorted(h_ours) if h_ours[op] > h_sim.get(op, 0)
    }
    row["ahead"] = {
        op: h_sim[op] - h_ours.get(op, 0) for op in sorted(h_sim) if h_sim[op] > h_ours.get(op, 0)
    }

    if row["nodes_modelc"] > row["nodes_onnxsim"]:
        row["problems"].append(
            f"{row['nodes_modelc']} nodes, onnxsim {row['nodes_onnxsim']}"
        )
    vendors = vendor_domains(ours)
    if vendors:
        row["problems"].append("vendor domains: " + ", ".join(vendors))
    if row["speedup"] < SPEEDUP:
        row["problems"].append(f"only {row['speedup']:.1f}x faster than onnxsim")

    feeds = random_feeds(original)
    try:
        want = run_ort(src, feeds)
        got = run_ort(ours_out, feeds)
    except Exception as e:  # onnxruntime rejecting modelc's file is a finding, not a crash
        row["problems"].append(f"onnxruntime: {str(e).splitlines()[0]}")
        return row
    worst = 0.0
    if len(want) != len(got):
        row["problems"].append(f"{len(got)} outputs, expected {len(want)}")
    for a, b in zip(want, got):
        if a.shape != b.shape:
            row["problems"].append(f"output shape {b.shape}, expected {a.shape}")
            continue
        scale = float(np.max(np.abs(a))) or 1.0
        worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b))) / scale)
    row["max_rel_err"] = worst
    if worst > RTOL:
        row["problems"].append(f"outputs differ: max error {worst:.2e} of the output scale")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--models", required=True, help="directory of make_torchvision.py's output")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--runs", type=int, default=1, help="timed runs of each tool (fastest kept)")
    ap.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = sorted(f[:-5] for f in os.listdir(args.models) if f.endswith(".onnx"))
    if args.only:
        wanted = args.only.split(",")
        missing = [n for n in wanted if n not in names]
        if missing:
            print(f"no such model(s) in {args.models}: {', '.join(missing)}", file=sys.stderr)
            return 2
        names = wanted
    if not names:
        print(f"no models in {args.models}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    rows = []
    for name in names:
        row = check_model(name, os.path.join(args.models, f"{name}.onnx"), args.modelc, args.out, args.runs)
        rows.append(row)
        status = "ok" if not row["problems"] else "FAIL: " + "; ".join(row["problems"])
        print(f"parity: {name}: {status}", flush=True)

    print()
    print(
        f"{'model':<20} {'nodes':>6} {'onnxsim':>8} {'modelc':>7} "
        f"{'onnxsim s':>10} {'modelc s':>9} {'speedup':>8} {'cpu s (sim/ours)':>17} "
        f"{'max err':>9}  result"
    )
    for r in rows:
        fmt = lambda k, f: (f.format(r[k]) if r.get(k) is not None else "-")  # noqa: E731
        print(
            f"{r['model']:<20} {fmt('nodes_original', '{}'):>6} {fmt('nodes_onnxsim', '{}'):>8} "
            f"{fmt('nodes_modelc', '{}'):>7} {fmt('onnxsim_s', '{:.2f}'):>10} "
            f"{fmt('modelc_s', '{:.3f}'):>9} {fmt('speedup', '{:.1f}x'):>8} "
            f"{fmt('onnxsim_cpu_s', '{:.2f}') + ' / ' + fmt('modelc_cpu_s', '{:.3f}'):>17} "
            f"{fmt('max_rel_err', '{:.1e}'):>9}  {'ok' if not r['problems'] else 'FAIL'}"
        )
    print("\ngap (op types modelc leaves more of than onnxsim; +n = extra nodes):")
    for r in rows:
        if r.get("gap"):
            gap = ", ".join(f"{op} +{n}" for op, n in r["gap"].items())
            ahead = ", ".join(f"{op} -{n}" for op, n in r.get("ahead", {}).items())
            print(f"  {r['model']:<20} {gap}" + (f"   (fewer: {ahead})" if ahead else ""))
    total = collections.Counter()
    for r in rows:
        total.update(r.get("gap", {}))
    if total:
        print("  all models: " + ", ".join(f"{op} +{n}" for op, n in total.most_common()))

    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump({"rtol": RTOL, "speedup_required": SPEEDUP, "results": rows}, f, indent=1)
        f.write("\n")
    failed = [r["model"] for r in rows if r["problems"]]
    print(
        f"\nparity: {len(rows) - len(failed)} of {len(rows)} models pass "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
