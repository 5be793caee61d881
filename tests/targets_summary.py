"""The hardware-targets table in one piece, from the reports of the three table scripts
(`cargo xtask targets-table` runs them first):

- target/targets-table/report.json (tests/targets_table.py): Ethos-U55-128 and Ethos-U65-256
  through Vela, TFLite Micro running the Ethos-U55 model, the Edge TPU rules;
- target/targets-onnx/report.json (tests/targets_onnx.py): qnn-htp through onnxruntime-qnn's HTP
  emulator with CPU fallback off, nnapi and coreml through onnxruntime's usability checker,
  tensorrt's rules (no TensorRT here);
- target/targets-gpu/report.json (tests/targets_gpu.py): tflite-gpu through TensorFlow
  2.15.1's GPU analyzer.

One row per model and target: the tool's verdict on the plain conversion ("before") and on the
`--target` model ("after"), `modelc check`'s on the `--target` model, accuracy against fp32 on
the held-out inputs (minimum cosine, top-1 agreement; the detector's box agreement), and what
is left off the accelerator. Fails (exit 1) when a script reported failures, a model is missing
from a report, or `modelc check` and the tool disagree on whether the `--target` model lands
whole on the accelerator (in either direction).

Run: target/pyenv/bin/python tests/targets_summary.py --target-dir target [--only a,b] [--modelc M] [--out FILE]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0", "transformer_encoder", "lstm", "yolo"]


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        return {"error": f"{path}: {e}"}


def whole(check):
    """'a/b' -> a == b (None when unknown)."""
    try:
        a, b = str(check).split("/")
        return int(a) == int(b)
    except ValueError:
        return None


def fmt(x, nd=4):
    return f"{x:.{nd}f}" if isinstance(x, float) else ("-" if x is None else str(x))


MODELC = None
TABLE_DIR = None


def first_cut(name):
    """The Edge TPU file's first unsupported op and why (`modelc check`), when --modelc is given."""
    if not MODELC:
        return None
    path = TABLE_DIR / f"{name}.edgetpu.tflite"
    proc = subprocess.run([MODELC, "check", str(path), "--target", "edgetpu", "--json"], capture_output=True,
                          text=True, timeout=600)
    try:
        v = json.loads(proc.stdout)
    except ValueError:
        return None
    left = [n for n in v["nodes"] if not n["accelerator"]]
    return f"cut at: {left[0]['reason']}"[:140] if left else "-"


def tflite_rows(name, r, fails):
    out = []
    if r is None:
        fails.append(f"{name}: not in target/targets-table/report.json")
        return out
    acc = (r.get("cosine"), r.get("top1"))
    # Ethos-U55: Vela's CPU/NPU counts, before and after.
    before = f"Vela CPU {r.get('plain_vela_cpu')}, NPU {r.get('plain_vela_npu')}"
    if r.get("plain_vela_error"):
        before = "Vela fails: " + " ".join(r["plain_vela_error"])[:60]
    cpu = r.get("target_vela_cpu")
    after = f"Vela CPU {cpu}, NPU {r.get('target_vela_npu')}"
    out.append(("ethos-u55-128", before, after, r.get("target_check"), cpu == 0 if cpu is not None else None, *acc,
                "-" if cpu == 0 else f"{cpu} CPU op(s)"))
    u65 = r.get("ethos-u65-256_vela", "None/None")
    u65_cpu = u65.split("/")[0]
    out.append(("ethos-u65-256", "-", f"Vela CPU {u65_cpu}, NPU {u65.split('/')[-1]}", r.get("ethos-u65-256_check"),
                u65_cpu == "0" if u65_cpu != "None" else None, *acc, "-" if u65_cpu == "0" else f"{u65_cpu} CPU op(s)"))
    tflm = r.get("tflm", "-")
    out.append(("tflm", "-", tflm.split(",")[0] + " (the ethos-u55 file)", r.get("tflm_check"), tflm.startswith("ok"),
                *acc,
                "-" if tflm.startswith("ok") else tflm[:80]))
    out.append(("edgetpu", "-", "no offline compiler", r.get("edgetpu_check"), None, None, None,
                first_cut(name) or "rules only"))
    return out


def onnx_rows(name, r, fails):
    out = []
    if r is None:
        fails.append(f"{name}: not in target/targets-onnx/report.json")
        return out
    for t in ("nnapi", "coreml"):
        e = r.get(t, {})
        out.append((t, str(e.get("before", "-"))[:40], str(e.get("after", e.get("error", "-")))[:40], e.get("modelc"),
                    e.get("tool_whole", None), e.get("cosine_min"), e.get("top1"),
                    "; ".join(e.get("modelc_reasons", []))[:80] or "-"))
    q = r.get("qnn-htp", {})
    plain, tgt = q.get("plain", {}), q.get("target", {})
    htp_ok = tgt.get("htp") == "runs, CPU fallback off" if "htp" in tgt else None
    out.append(("qnn-htp", str(plain.get("htp", plain.get("error", "-")))[:40],
                str(tgt.get("htp", tgt.get("error", "-")))[:40], tgt.get("modelc"), htp_ok, tgt.get("cosine_min"),
                tgt.get("top1"), "; ".join(tgt.get("modelc_reasons", []))[:80] or "-"))
    trt = r.get("tensorrt", {}).get("target", {})
    out.append(("tensorrt", "-", "no TensorRT here", trt.get("modelc"), None, trt.get("cosine_min"), trt.get("top1"),
                "rules only"))
    return out


def gpu_rows(name, by_file, fails):
    plain, tgt = by_file.get(f"{name}.plain.tflite"), by_file.get(f"{name}.target.tflite")
    if tgt is None:
        fails.append(f"{name}: not in target/targets-gpu/report.json")
        return []
    b = f"GPU {plain['gpu_tool']}/{plain['ops']}" if plain and "gpu_tool" in plain else "-"
    a = f"GPU {tgt.get('gpu_tool')}/{tgt.get('ops')}"
    return [("tflite-gpu", b, a, f"{tgt.get('gpu_modelc')}/{tgt.get('ops')}", tgt.get("gpu_tool") == tgt.get("ops"),
             None, None, "; ".join(tgt.get("flagged", []))[:80] or "-")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target-dir", default="target")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--out", help="also write the table (Markdown) here")
    ap.add_argument("--modelc", help="modelc, to name the Edge TPU files' first unsupported op")
    args = ap.parse_args()
    d = Path(args.target_dir)
    global MODELC, TABLE_DIR
    MODELC, TABLE_DIR = args.modelc, d / "targets-table"
    reports = {k: load(d / k / "report.json") for k in ("targets-table", "targets-onnx", "targets-gpu")}
    fails = []
    for k, rep in reports.items():
        if "error" in rep:
            fails.append(f"{k}: no report ({rep['error']})")
        for f in rep.get("failures", []):
            fails.append(f"{k}: {f}")
    tfl = {r["model"]: r for r in reports["targets-table"].get("rows", [])}
    onx = {r["model"]: r for r in reports["targets-onnx"].get("models", [])}
    gpu = {Path(r["model"]).name: r for r in reports["targets-gpu"].get("rows", [])}
    lines = ["| model | target | tool: plain conversion | tool: --target | modelc check | agree | cosine | top-1 | "
             "left off the accelerator |", "|---|---|---|---|---|---|---|---|---|"]
    for name in (args.only.split(",") if args.only else MODELS):
        rows = tflite_rows(name, tfl.get(name), fails) + gpu_rows(name, gpu, fails) + onnx_rows(name, onx.get(name), fails)
        for target, before, after, check, tool_whole, cos, top1, left in rows:
            mine = whole(check) if check and "/" in str(check) else None
            if tool_whole is None or mine is None:
                agree = "-"
            else:
                agree = "yes" if tool_whole == mine else "NO"
                if tool_whole != mine:
                    fails.append(f"{name} on {target}: the tool says {'all' if tool_whole else 'not all'} on the "
                                 f"accelerator ({after}), modelc check {check}")
            lines.append(f"| {name} | {target} | {before} | {after} | {check or '-'} | {agree} | {fmt(cos, 5)} | "
                         f"{fmt(top1, 3)} | {left} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n\n" + "\n".join(f"FAIL: {f}" for f in fails) + "\n")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
