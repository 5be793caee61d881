"""`.pt2` suite: the aten suite's single-op modules (tests/aten_suite.py: PyTorch's OpInfo
samples, float32 CPU) exported with `torch.export.export` and saved with `torch.export.save`,
then converted by modelc from the `.pt2` to ONNX (run in onnxruntime) and to TFLite (run in
LiteRT), with `torch.onnx.export(..., dynamo=True)` (the torch.export-based exporter, which
starts from the same ExportedProgram) on the same modules as the anchor. Every result is
compared with torch's eager output on the same inputs, as the aten suite compares.

    python tests/pt2_suite.py --modelc target/debug/modelc [--out DIR] [--ops a,b]
        [--samples N] [--workers 2] [--core] [--floor tests/pt2_suite_floor.json] [--subset]

The `.pt2` is what `torch.export.export` gives by default (the training IR: aten ops before
decomposition, e.g. `linear`, `batch_norm`); with `--core` the program is first decomposed to
the Core ATen opset (`ExportedProgram.run_decompositions()`), the closed op set other
torch.export consumers read. A module torch.export itself cannot export is not counted.

Tools and statuses as in tests/aten_suite.py: pass / refused / wrong / invalid / crash.
Prints
    pt2->ONNX: N of M, pt2->TFLite: N of M, torch.onnx.export(dynamo): N of M
and writes OUT/report.json and OUT/report.txt. With `--floor FILE` the run fails when a
module FILE lists as passing (`pt2_onnx`, `pt2_tflite`) no longer does, when modelc crashes,
or when it writes a file its runtime refuses (an ONNX file onnxruntime, or a TFLite file
LiteRT, cannot load or run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aten_suite as A  # noqa: E402  (the module builders, runners, comparisons, reports)

TOOLS = ("pt2_onnx", "pt2_tflite", "dynamo_onnx")
A.TOOL_TITLES.update({"pt2_onnx": "pt2->ONNX", "pt2_tflite": "pt2->TFLite",
                      "dynamo_onnx": "torch.onnx.export(dynamo)"})
CORE = os.environ.get("PT2_SUITE_CORE") == "1"


def dynamo_export(ep, xs, path):
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(ep, tuple(xs), path, dynamo=True, opset_version=A.OPSET,
                              input_names=[f"x{i}" for i in range(len(xs))], verbose=False,
                              optimize=True)
    except Exception as e:  # noqa: BLE001 - the exporter declining
        msg = str(e).strip().splitlines()
        return "refused", (msg[0] if msg else type(e).__name__)[:300]
    return None


def run_op(job, send):
    """Every sample of one op, exported with `torch.export` into a .pt2 (aten_suite's loop:
    the same module choice and messages)."""
    A.run_samples(job, send, save_exported, exported_steps, "no exportable float32 sample")


def save_exported(m, xs, base):
    """`m` exported (and decomposed to Core ATen with --core), saved as BASE.pt2; (the path,
    the archive's module as loaded back, the ExportedProgram for the dynamo anchor)."""
    import torch

    ep = torch.export.export(m, tuple(xs), strict=False)
    if CORE:
        ep = ep.run_decompositions()
    path = base + ".pt2"
    torch.export.save(ep, path)
    return path, torch.export.load(path).module(), ep


def exported_steps(modelc, path, ep, xs, refs):
    """The tools of this suite on one archive: {tool: (extension, step(dst))}."""
    return {
        "pt2_onnx": ("onnx", lambda dst: A.run_modelc(modelc, path, dst)
                     or A.judge(A.ort_run(dst, xs), refs)),
        "pt2_tflite": ("tflite", lambda dst: A.run_modelc(modelc, path, dst, "--keep-io-layout")
                       or A.judge(A.litert_run(dst, xs), refs)),
        "dynamo_onnx": ("dynamo.onnx", lambda dst: dynamo_export(ep, xs, dst)
                        or A.judge(A.ort_run(dst, xs), refs)),
    }


def worker_main(conn, names):
    """aten_suite's worker, running this suite's modules."""
    A.run_op = run_op
    A.worker_main(conn, names)


# The anchor of each modelc direction (None: no anchor runs here).
ANCHORS = {"pt2_onnx": "dynamo_onnx", "pt2_tflite": None}
# Why pt2->TFLite has no anchor here (pip's answer for litert-torch, the PyTorch->TFLite
# converter, with the pinned torch; xtask/requirements.txt).
NO_TFLITE_ANCHOR = "litert-torch 0.10.0 depends on torch<2.15.0 (pinned 2.15.0): not installable"


def refusal_reason(msg):
    """A refusal's group: the op it names (`aten::x`, `prim::x`, or the IR op a writer has no
    form for) and its reason, with the node's own names and numbers left out."""
    tfl = re.search(r"no TFLite form: (.*)", msg)
    if tfl:
        return "TFLite: " + re.sub(r'"[^"]*"|\b\d+\b', "_", tfl.group(1)).replace(" _ ", " ")[:80]
    m = re.search(r"((?:aten|prim)::[\w.]+)(.*)", msg)
    if not m:
        return re.sub(r"^modelc: error: \S+: ", "", msg)[:80]
    why = re.sub(r"'[^']*'|`[^`]*`|\b\d+\b", "_", m.group(2).lstrip(":) ").strip())
    return f"{m.group(1)}: {why[:80]}" if why else m.group(1)


def direction_table(records, tools):
    """One row per modelc direction: its count, the anchor's on the same modules, modules
    refused by node, wrong results, files the runtime refused (invalid) and crashes; then
    the refusals grouped by reason (most first)."""
    mods = [r for r in records if "skip" not in r]
    lines = [f"{'direction':14s} {'modelc':>12s} {'anchor':>34s} {'refused':>8s} {'wrong':>6s} "
             f"{'invalid':>8s} {'crash':>6s}"]
    groups = {}
    for t in ("pt2_onnx", "pt2_tflite"):
        if t not in tools:
            continue
        m, c = A.totals(mods, t)
        anchor = ANCHORS.get(t)
        if anchor and anchor in tools:
            am, ac = A.totals(mods, anchor)
            acell = f"{A.TOOL_TITLES[anchor]} {ac['pass']} of {am}"
        elif anchor:
            acell = f"{A.TOOL_TITLES[anchor]} not run"
        else:
            acell = "none (litert-torch)"
        lines.append(f"{A.TOOL_TITLES[t]:14s} {c['pass']:>5d} of {m:<5d} {acell:>34s} {c['refused']:>8d} "
                     f"{c['wrong']:>6d} {c['invalid']:>8d} {c['crash']:>6d}")
        for r in mods:
            if r[t][0] == "refused":
                groups.setdefault((A.TOOL_TITLES[t], refusal_reason(r[t][1])), []).append(r["id"])
    if "pt2_tflite" in tools:
        lines.append(f"(pt2->TFLite anchor: {NO_TFLITE_ANCHOR})")
    lines.append("refusals by reason:")
    for (title, why), ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"  {len(ids):4d}  {title:12s} {why}   e.g. {', '.join(ids[:3])}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(A.ROOT, "target", "pt2-suite"))
    ap.add_argument("--ops", default="")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--core", action="store_true", help="decompose to Core ATen before saving")
    ap.add_argument("--floor")
    ap.add_argument("--subset", action="store_true")
    ap.add_argument("--merge", help="comma-separated DIRs of earlier runs (chunks by --ops, one "
                    "modelc): no run, OUT's report from their records.jsonl")
    a = ap.parse_args()
    if a.core:
        # The workers read it (they are spawned: the environment is what they share).
        os.environ["PT2_SUITE_CORE"] = "1"
    tools = [t for t in a.tools.split(",") if t]
    started = time.time()
    floor = None
    if a.floor:
        with open(a.floor) as f:
            floor = json.load(f)
    names = set(a.ops.split(",")) if a.ops else (set(floor["ops"]) if a.subset else None)
    ops = A.selected_ops(names)
    os.makedirs(a.out, exist_ok=True)
    modelc = os.path.abspath(a.modelc)
    jobs = [(A.op_id(o), modelc, a.out, a.samples, tools, 0, {}) for o in ops]
    records = []
    if a.merge:
        for d in a.merge.split(","):
            with open(os.path.join(d, "records.jsonl")) as f:
                records.extend(json.loads(line) for line in f if line.strip())
        jobs, a.workers = [], 0
    progress = open(os.path.join(a.out, "records.jsonl"), "w")
    for r in records:
        progress.write(json.dumps(r) + "\n")

    def on_record(r):
        records.append(r)
        progress.write(json.dumps(r) + "\n")
        progress.flush()
        if "skip" not in r:
            print(f"{r['id']:50s} " + " ".join(f"{t}:{r[t][0]}" for t in tools), flush=True)

    A.worker_main = worker_main
    A.run_all(jobs, a.workers, names, on_record)
    progress.close()
    records.sort(key=lambda r: (r["op"], r.get("sample", -1)))
    directions = direction_table(records, tools)
    lines = A.table(records, tools) + [""] + directions + [""] + A.summary(records, tools)
    elapsed = time.time() - started
    lines.append(f"({len(ops)} ops, {elapsed:.0f} s, {a.workers} workers, at most {a.samples} samples "
                 f"per op, {'Core ATen' if a.core else 'training IR'} programs)")
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump({"tools": tools, "core": a.core, "seconds": round(elapsed, 1), "records": records}, f, indent=1)
    with open(os.path.join(a.out, "report.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(directions))
    print("\n".join(lines[-(len(tools) + 3):]))
    if floor is None:
        return 0
    modelc_tools = ("pt2_onnx", "pt2_tflite")
    problems = A.check_floor(floor, records, tools, modelc_tools, modelc_tools)
    for p in problems:
        print(f"FAIL {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
