"""modelc check --target tflite-gpu against TensorFlow 2.15.1's GPU compatibility analyzer,
operator by operator.

For each TFLite file (the committed test models, the per-op files of testdata/tflite/ops, and
any given with --model), runs `tf.lite.experimental.Analyzer.analyze(path,
gpu_compatibility=True)` (TensorFlow 2.15.1 in its own venv, `cargo xtask tf215-env`; 2.21's
analyzer approves everything) and `modelc check FILE --target tflite-gpu --json`, and compares
where each operator lands. Both list the operators in the file's order, so they are matched by
index (and their op names must agree):

- modelc must never place on the GPU an operator the analyzer flags ("unsafe": fatal);
- an operator modelc sends to the CPU that the analyzer accepts is "cautious": counted and
  printed, and fatal for the files named with --exact (the table's models).

With --table DIR (fp32 ONNX exports of testdata/make_torchvision.py), each of TABLE (and, with
--made DIR, the LSTM and YOLO-style detector of tests/targets_models.py exported there) is
converted by `modelc convert` plain, with `--target tflite-gpu` and with `--target tflite-gpu
--fp16` (float16 weight buffers + DEQUANTIZE); the plain file is compared like --model, the
target files like --exact, and the table prints the analyzer's GPU operator counts before and
after, and the --fp16 file's size and output cosine against the float32-weight file (TFLite's
interpreter, seeded random inputs; at most 0.55 of the weight bytes, a smaller file, cosine at
least 0.9999).

Run: target/tf215env/bin/python tests/targets_gpu.py --modelc target/debug/modelc \
        [--table target/testdata/torchvision] [--model FILE ...] [--exact FILE ...] [--out DIR]
"""

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = "tflite-gpu"
TABLE = ["resnet18", "mobilenet_v2", "efficientnet_b0", "mobilenet_v3_small", "transformer_encoder"]
MADE = ["lstm", "yolo"]


def analyze(path):
    """The analyzer's verdict: [(op name, warning or None)] in operator order, for subgraph 0."""
    import tensorflow as tf

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    ops, sub = [], None
    for line in buf.getvalue().splitlines():
        m = re.match(r"Subgraph#(\d+)", line)
        if m:
            sub = int(m.group(1))
            continue
        m = re.match(r"\s+Op#(\d+) (\w+)\(", line)
        if m and sub == 0:
            ops.append([m.group(2), None])
            continue
        w = re.match(r"GPU COMPATIBILITY WARNING: (.*)", line)
        if w and ops and sub == 0 and not w.group(1).startswith("Subgraph#"):
            ops[-1][1] = w.group(1)
    return ops


def check(modelc, path):
    proc = subprocess.run([modelc, "check", str(path), "--target", TARGET, "--json"],
                          capture_output=True, text=True, timeout=600)
    if not proc.stdout.strip():
        return None, proc.stderr.strip().splitlines()[-1:] or ["no output"]
    return json.loads(proc.stdout)["nodes"], None


def compare(modelc, path):
    tool = analyze(path)
    nodes, err = check(modelc, path)
    row = {"model": str(path), "ops": len(tool), "gpu_tool": sum(1 for _, w in tool if w is None)}
    if err:
        row["error"] = f"modelc check failed: {err}"
        return row
    row["gpu_modelc"] = sum(1 for n in nodes if n["accelerator"])
    if [n["op"] for n in nodes] != [op for op, _ in tool]:
        row["error"] = f"operator lists differ: modelc {[n['op'] for n in nodes][:8]}…, analyzer {[o for o, _ in tool][:8]}…"
        return row
    row["unsafe"] = [f"{n['op']} `{n['node']}`: analyzer: {w}" for n, (_, w) in zip(nodes, tool)
                     if n["accelerator"] and w is not None]
    row["cautious"] = [f"{n['op']} `{n['node']}`: {n.get('reason')}" for n, (_, w) in zip(nodes, tool)
                       if not n["accelerator"] and w is None]
    row["flagged"] = sorted({f"{op}: {w}" for op, w in tool if w is not None})
    return row


def weight_bytes(path):
    """The bytes of a TFLite file's buffers (inline data, or the size of data stored after the
    flatbuffer), read with TensorFlow's own generated schema."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    total = 0
    for i in range(model.BuffersLength()):
        b = model.Buffers(i)
        total += b.DataLength() if b.DataLength() else b.Size()
    return total


def fp16_against_fp32(fp32, fp16):
    """The --fp16 file against the float32 one: the size ratio of their weights (the bytes of
    the files' buffers: what --fp16 stores in half precision; the graph's own structure, large
    in an unrolled LSTM, does not change), and the cosine of their outputs on seeded random
    inputs (TFLite's interpreter runs both): float16 weights must stay within fp16 rounding
    (cosine >= 0.9999) in no more than 55% of the weight bytes, and the file must shrink."""
    import numpy as np
    import tensorflow as tf

    size = weight_bytes(fp16) / weight_bytes(fp32)
    file_size = fp16.stat().st_size / fp32.stat().st_size
    rng = np.random.default_rng(0)
    outs = []
    for path in (fp32, fp16):
        it = tf.lite.Interpreter(model_path=str(path))
        it.allocate_tensors()
        ys = []
        for _ in range(2):
            for d in it.get_input_details():
                it.set_tensor(d["index"], rng.standard_normal(d["shape"]).astype(d["dtype"]))
            it.invoke()
            ys.append(np.concatenate([it.get_tensor(d["index"]).ravel() for d in it.get_output_details()]))
        rng = np.random.default_rng(0)
        outs.append(np.concatenate(ys).astype(np.float64))
    a, b = outs
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    err = None
    if size > 0.55:
        err = f"--fp16 weights are {size:.3f} of the float32 ones (> 0.55)"
    elif file_size >= 1.0:
        err = f"--fp16 file is {file_size:.3f} of the float32 one (not smaller)"
    elif cos < 0.9999:
        err = f"--fp16 output cosine {cos:.6f} against float32 weights (< 0.9999)"
    return size, cos, err


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--model", action="append", default=[], help="another TFLite file to compare")
    ap.add_argument("--exact", action="append", default=[],
                    help="a TFLite file on which modelc must agree exactly (no cautious fallback)")
    ap.add_argument("--no-committed", action="store_true", help="only the files given")
    ap.add_argument("--table", help="directory of fp32 ONNX exports: convert TABLE plain and with --target")
    ap.add_argument("--made", help="directory of tests/targets_models.py's exports (lstm, yolo): in the table too")
    ap.add_argument("--only", help="comma-separated subset of the table's models (" + ",".join(TABLE + MADE) + ")")
    ap.add_argument("--out", default=str(ROOT / "target/targets-gpu"))
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    files = [] if args.no_committed else sorted((ROOT / "testdata/tflite").glob("*.tflite")) + sorted(
        p for p in (ROOT / "testdata/tflite/ops").glob("*.tflite") if ".int16x8." not in p.name)
    exact = [Path(p) for p in args.exact]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table, failures = [], []
    sources = [(n, Path(args.table) / f"{n}.onnx") for n in (TABLE if args.table else [])]
    sources += [(n, Path(args.made) / f"{n}.onnx") for n in (MADE if args.made else [])]
    if args.only:
        # Any torchvision export of the directory may be asked for, not only TABLE's.
        wanted = args.only.split(",")
        sources = [(n, Path(args.made if n in MADE else args.table) / f"{n}.onnx") for n in wanted]
    for name, src in sources:
        pair = []
        for kind, extra in (("plain", []), ("target", ["--target", TARGET]), ("fp16", ["--target", TARGET, "--fp16"])):
            dst = out / f"{name}.{kind}.tflite"
            proc = subprocess.run([args.modelc, "convert", str(src), str(dst), *extra],
                                  capture_output=True, text=True, timeout=1800)
            if not dst.exists():
                failures.append(f"{name} {kind}: modelc convert failed: {proc.stderr.strip()[-300:]}")
                break
            pair.append(dst)
        if len(pair) == 3:
            table.append((name, *pair))
            args.model.append(str(pair[0]))
            exact += pair[1:]
    files += [Path(p) for p in args.model] + exact
    rows, cautious = [], 0
    for f in files:
        row = compare(args.modelc, f)
        rows.append(row)
        if "error" in row:
            failures.append(f"{f.name}: {row['error']}")
            continue
        for u in row["unsafe"]:
            failures.append(f"{f.name}: modelc places on the GPU what the analyzer flags: {u}")
        cautious += len(row["cautious"])
        if Path(f) in exact:
            for c in row["cautious"]:
                failures.append(f"{f.name}: modelc falls back where the analyzer accepts: {c}")
    print(f"{'model':<44} {'ops':>5} {'analyzer GPU':>13} {'check GPU':>10}  flagged by the analyzer")
    for r in rows:
        name = Path(r["model"]).name
        print(f"{name:<44} {r['ops']:>5} {r['gpu_tool']:>13} {str(r.get('gpu_modelc', '-')):>10}  "
              f"{'; '.join(r.get('flagged', []))[:120]}")
    by_file = {Path(r["model"]): r for r in rows}
    if table:
        print(f"\n{'model':<22} {'plain: analyzer GPU/ops':>24} {'--target: analyzer GPU/ops':>27} {'check':>9}"
              f" {'--fp16: analyzer GPU/ops':>25} {'size':>6} {'cosine':>9}  left on the CPU")
    for name, plain, target, half in table:
        a, b, c = by_file[plain], by_file[target], by_file[half]
        left = "; ".join(b.get("flagged", [])) or "-"
        size, cos, err = fp16_against_fp32(target, half)
        c["size_ratio"], c["cosine_vs_fp32_weights"] = size, cos
        if err:
            failures.append(f"{half.name}: {err}")
        print(f"{name:<22} {str(a['gpu_tool']) + '/' + str(a['ops']):>24} {str(b['gpu_tool']) + '/' + str(b['ops']):>27}"
              f" {str(b.get('gpu_modelc', '-')) + '/' + str(b['ops']):>9} {str(c['gpu_tool']) + '/' + str(c['ops']):>25}"
              f" {size:>6.3f} {cos:>9.6f}  {left}")
    agree = sum(1 for r in rows if "error" not in r and not r["unsafe"] and not r["cautious"])
    print(f"\n{len(rows)} files: {agree} agree operator for operator; {cautious} operators modelc sends "
          f"to the CPU that the analyzer accepts; {len(failures)} failures")
    for f in failures:
        print("FAIL:", f)
    (out / "report.json").write_text(json.dumps({"rows": rows, "failures": failures}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
