"""The Ethos-U / TFLite Micro table: torchvision CNNs and a transformer encoder quantized by
`modelc quantize` to int8 TFLite, plain and with `--target ethos-u55-128`, judged by the
vendors' tools.

The LSTM and the YOLO-style detector are made here (tests/targets_models.py, seeded weights).
For each model (testdata/make_torchvision.py's fp32 ONNX exports): calibration and held-out
inputs (image-like ones from tests/quant_models.py; for the transformer encoder and the LSTM,
standard-normal features of their input shape), then
- `modelc quantize --calibration calib/` (plain) and the same with `--target ethos-u55-128`;
- Vela 5.2.0 on both: CPU and NPU operator counts, next to `modelc check`'s;
- accuracy of the target model against fp32 on the held-out inputs: onnxruntime runs the
  fp32 model, LiteRT the int8 TFLite (inputs quantized, outputs dequantized with the scales
  in the file): cosine (>= 0.99 required) and top-1 agreement (the detector: box agreement,
  the share of anchor cells whose objectness is on the same side of 0.5 as fp32's);
- the same quantized with `--target ethos-u65-256` (Vela for that configuration) and with
  `--target edgetpu` (`modelc check` only: no Edge TPU compiler runs offline);
- TFLite Micro (PyPI tflite-micro) loads the target model within the stated arena and runs
  one input (`modelc check --target tflm` on the file must agree), in a subprocess (its interpreter aborts on what it cannot run); its output is
  compared with LiteRT's reference kernels (the kernels TFLite Micro shares; at most one
  quantization step apart), and the distance to LiteRT's default kernels is shown. The
  transformer's int8 LayerNorm (MEAN, RSQRT) and BATCH_MATMUL kernels of TFLite Micro round
  differently from LiteRT's (up to 4 steps measured): for it the bar is TFLite Micro's own
  output against fp32 (cosine >= 0.99), shown with the step distance.

Run: PYTHONPATH=target/targets-site target/pyenv/bin/python tests/targets_table.py \
        --modelc target/release/modelc --models target/testdata/torchvision [--only resnet18]
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quant_models  # noqa: E402  (the calibration / held-out image generator)

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0", "mobilenet_v3_large", "mobilenet_v3_small",
          "transformer_encoder", "lstm", "yolo"]
# Models made here (tests/targets_models.py, seeded weights), not torchvision exports.
MADE = {"lstm", "yolo"}
# Models whose input is a sequence of token features, not an NCHW image.
SEQUENCES = {"transformer_encoder": (1, 64, 256), "lstm": (1, 16, 32)}
ARENA = 8 << 20


def vela(path, out, config="ethos-u55-128"):
    proc = subprocess.run([sys.executable, "-m", "ethosu.vela", "--accelerator-config", config,
                           "--output-dir", str(out), str(path)], capture_output=True, text=True, timeout=1800)
    text = proc.stdout + proc.stderr
    cpu = re.search(r"CPU operators = (\d+)", text)
    npu = re.search(r"NPU operators = (\d+)", text)
    if proc.returncode != 0 or not cpu:
        return None, None, text.strip().splitlines()[-1:] if text.strip() else ["no output"]
    return int(cpu.group(1)), int(npu.group(1)) if npu else None, None


def check(modelc, path, target="ethos-u55-128"):
    proc = subprocess.run([modelc, "check", str(path), "--target", target, "--json"],
                          capture_output=True, text=True, timeout=600)
    v = json.loads(proc.stdout)
    return v["accelerated"], v["total"]


def to_file_layout(x):
    """The writer's NHWC input for an image; a sequence as it is."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def litert(path, xs):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for x in xs:
        x = to_file_layout(x)
        if i["dtype"] != np.float32:
            s, z = i["quantization"]
            x = np.clip(np.round(x / s) + z, np.iinfo(i["dtype"]).min, np.iinfo(i["dtype"]).max).astype(i["dtype"])
        it.set_tensor(i["index"], x)
        it.invoke()
        y = it.get_tensor(o["index"])
        raw = y.copy()
        if o["dtype"] != np.float32:
            s, z = o["quantization"]
            y = (y.astype(np.float32) - z) * s
        outs.append((y, raw))
    return outs


TFLM_RUN = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2]))
x = np.load(sys.argv[3])
it.set_input(x, 0)
it.invoke()
np.save(sys.argv[4], it.get_output(0))
"""


def tflm(path, x_q, out):
    np.save(out / "tflm_in.npy", x_q)
    proc = subprocess.run([sys.executable, "-c", TFLM_RUN, str(path), str(ARENA), str(out / "tflm_in.npy"),
                           str(out / "tflm_out.npy")], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return None, f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-200:]}"
    return np.load(out / "tflm_out.npy"), None


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--models", required=True, help="directory of the fp32 torchvision .onnx exports")
    ap.add_argument("--out", default=str(ROOT / "target/targets-table"))
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--heldout", type=int, default=8)
    args = ap.parse_args()
    out = Path(args.out)
    import onnxruntime as ort
    rows, failures = [], []
    for name in (args.only.split(",") if args.only else MODELS):
        if name in MADE:
            import targets_models
            (out / "models").mkdir(parents=True, exist_ok=True)
            src = targets_models.export(name, out / "models")
        else:
            src = Path(args.models) / f"{name}.onnx"
        row = {"model": name}
        # Calibration and held-out inputs of the model's kind (seeded; disjoint draws).
        kind_dir = out / ("seq-" + name if name in SEQUENCES else "images")
        rng = np.random.default_rng(1234)
        for sub, n in (("calib", args.calib), ("heldout", args.heldout)):
            d = kind_dir / sub
            d.mkdir(parents=True, exist_ok=True)
            if name in SEQUENCES:
                xs = [rng.standard_normal(SEQUENCES[name]).astype(np.float32) for _ in range(n)]
            else:
                xs = quant_models.images(rng, n)
            for i, x in enumerate(xs):
                np.save(d / f"{i:03d}.npy", x)
        heldout = [np.load(p) for p in sorted((kind_dir / "heldout").glob("*.npy"))]
        for kind, extra in (("plain", []), ("target", ["--target", "ethos-u55-128"])):
            dst = out / f"{name}.{kind}.tflite"
            t0 = time.time()
            proc = subprocess.run([args.modelc, "quantize", str(src), str(dst), "--calibration", str(kind_dir / "calib"),
                                   *extra], capture_output=True, text=True, timeout=3600)
            if proc.returncode != 0:
                failures.append(f"{name} {kind}: modelc quantize failed: {proc.stderr.strip()[-300:]}")
                break
            row[f"{kind}_seconds"] = round(time.time() - t0, 1)
            cpu, npu, err = vela(dst, out / "vela")
            row[f"{kind}_vela_cpu"], row[f"{kind}_vela_npu"] = cpu, npu
            if err and kind == "plain":
                row["plain_vela_error"] = err  # the starting line (Vela cannot parse a float LSTM)
            elif err:
                failures.append(f"{name} {kind}: vela failed: {err}")
            acc, total = check(args.modelc, dst)
            row[f"{kind}_check"] = f"{acc}/{total}"
            if cpu is not None and cpu > 0 and acc == total:
                failures.append(f"{name} {kind}: Vela puts {cpu} ops on the CPU, modelc check none")
        else:
            sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
            feed = sess.get_inputs()[0].name
            ref = [sess.run(None, {feed: x})[0] for x in heldout]
            ref_fp32 = ref
            got = litert(out / f"{name}.target.tflite", heldout)
            row["cosine"] = round(min(cosine(r, g[0]) for r, g in zip(ref, got)), 5)
            if name == "yolo":
                # Box agreement: the share of (anchor, cell) pairs whose objectness (channel 4
                # of each anchor's 9) is on the same side of 0.5 as fp32's.
                obj = lambda y: y.reshape(3, 9, -1)[:, 4] > 0.5  # noqa: E731
                row["top1"] = round(float(np.mean([np.mean(obj(r) == obj(g[0])) for r, g in zip(ref, got)])), 4)
            elif name not in SEQUENCES:
                row["top1"] = float(np.mean([np.argmax(r) == np.argmax(g[0]) for r, g in zip(ref, got)]))
            if row["cosine"] < 0.99:
                failures.append(f"{name}: --target model vs fp32: cosine {row['cosine']} < 0.99")
            # The other Ethos-U configuration and the Edge TPU rules, each on its own
            # `--target` file.
            for t, config in (("ethos-u65-256", "ethos-u65-256"), ("edgetpu", None)):
                dst = out / f"{name}.{t}.tflite"
                proc = subprocess.run([args.modelc, "quantize", str(src), str(dst), "--calibration",
                                       str(kind_dir / "calib"), "--target", t], capture_output=True, text=True,
                                      timeout=3600)
                if proc.returncode != 0:
                    failures.append(f"{name} {t}: modelc quantize failed: {proc.stderr.strip()[-300:]}")
                    continue
                acc, total = check(args.modelc, dst, t)
                row[f"{t}_check"] = f"{acc}/{total}"
                if config:
                    cpu, npu, err = vela(dst, out / "vela", config)
                    row[f"{t}_vela"] = f"{cpu}/{npu}"
                    if err:
                        failures.append(f"{name} {t}: vela failed: {err}")
                    elif cpu > 0 and acc == total:
                        failures.append(f"{name} {t}: Vela puts {cpu} ops on the CPU, modelc check none")
            from ai_edge_litert.interpreter import Interpreter
            it = Interpreter(model_path=str(out / f"{name}.target.tflite"))
            d = it.get_input_details()[0]
            s, z = d["quantization"]
            x_q = np.clip(np.round(to_file_layout(heldout[0]) / s) + z, -128, 127).astype(d["dtype"])
            y, err = tflm(out / f"{name}.target.tflite", x_q, out)
            # `modelc check --target tflm` on the same file must agree with TFLite Micro.
            acc, total = check(args.modelc, out / f"{name}.target.tflite", "tflm")
            row["tflm_check"] = f"{acc}/{total}"
            if (acc == total) != (err is None):
                failures.append(f"{name}: modelc check --target tflm says {acc}/{total}, TFLite Micro "
                                f"{'fails' if err else 'runs it'}")
            if err:
                row["tflm"] = f"fails ({err})"
                failures.append(f"{name}: TFLite Micro: {err}")
            else:
                # TFLite Micro runs TFLite's reference kernels; LiteRT's default (optimized)
                # kernels round some int8 ops differently (MobileNetV3's MUL/ADD/HARD_SWISH: 2
                # steps apart at the logits), so the check is against LiteRT's reference
                # kernels, and the distance to the default ones is reported next to it.
                from ai_edge_litert.interpreter import OpResolverType
                ref = Interpreter(model_path=str(out / f"{name}.target.tflite"),
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
                ref.allocate_tensors()
                ref.set_tensor(ref.get_input_details()[0]["index"], x_q)
                ref.invoke()
                y_ref = ref.get_tensor(ref.get_output_details()[0]["index"])
                diff = int(np.max(np.abs(y.astype(np.int32) - y_ref.astype(np.int32))))
                diff_opt = int(np.max(np.abs(y.astype(np.int32) - got[0][1].astype(np.int32))))
                row["tflm"] = (f"ok, arena {ARENA >> 20} MiB, max diff vs LiteRT reference kernels {diff} step(s)"
                               f" (vs its default kernels {diff_opt})")
                if name in SEQUENCES:
                    o = ref.get_output_details()[0]
                    so, zo = o["quantization"]
                    c = cosine(ref_fp32[0], (y.astype(np.float32) - zo) * so)
                    row["tflm"] += f", cosine vs fp32 {c:.5f}"
                    if c < 0.99:
                        failures.append(f"{name}: TFLite Micro's output vs fp32: cosine {c:.5f} < 0.99")
                elif diff > 1:
                    failures.append(f"{name}: TFLite Micro differs from LiteRT's reference kernels by {diff} steps")
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'model':<20} {'plain: Vela CPU/NPU':>20} {'check':>9} {'--target: Vela CPU/NPU':>23} {'check':>9}"
          f" {'cosine':>8} {'top-1':>6} {'u65-256: Vela':>14} {'edgetpu check':>14}  TFLite Micro")
    for r in rows:
        print(f"{r['model']:<20} {str(r.get('plain_vela_cpu')) + '/' + str(r.get('plain_vela_npu')):>20}"
              f" {r.get('plain_check', '-'):>9}"
              f" {str(r.get('target_vela_cpu')) + '/' + str(r.get('target_vela_npu')):>23}"
              f" {r.get('target_check', '-'):>9} {r.get('cosine', '-'):>8} {r.get('top1', '-'):>6}"
              f" {r.get('ethos-u65-256_vela', '-'):>14} {r.get('edgetpu_check', '-'):>14}  {r.get('tflm', '-')}")
    for f in failures:
        print("FAIL:", f)
    (out / "report.json").write_text(json.dumps({"rows": rows, "failures": failures}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
