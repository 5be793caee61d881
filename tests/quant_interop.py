"""Static int8 quantization by modelc against onnxruntime's own quantize_static.

For each model (testdata/make_torchvision.py's export, in --models-dir): `modelc quantize` (static int8 QDQ,
minmax, per-channel weights) and onnxruntime.quantization.quantize_static (QDQ format,
per-channel, the same calibration .npy files, same activation type) are both run; then both
quantized models and the fp32 model run in onnxruntime on held-out inputs. Reported per
model: file size relative to fp32, mean cosine similarity and top-1 agreement with fp32,
single-threaded latency (median), and the calibration time of each tool.

With --check the script exits 1 unless, for every model, modelc's file is at most
--max-size-ratio of fp32, its outputs are at least as close to fp32 as onnxruntime's
(cosine within --cos-slack, top-1 not lower), and it runs no slower than onnxruntime's
model (within --speed-slack).

With --tflite, each model is also quantized to full-integer TFLite (`modelc quantize
x.onnx x.tflite`: int8 activations, outputs quantized then dequantized) and run in LiteRT
on the held-out inputs, next to modelc's int8-activation QDQ ONNX model (same calibration,
--activation-type i8 --quantize-outputs) in onnxruntime; that QDQ model converted to
TFLite by `modelc convert` too. With --check, at least --tflite-agree of the output
elements of each must agree within one output quantization step, each may have one
DEQUANTIZE op only (the output's: the model is full integer), and each must also run on
LiteRT's builtin kernels without the XNNPACK delegate (within two steps on one input).
Also with --tflite: the dynamic-range TFLite (`--mode int8-dynamic` to .tflite: int8 weights,
float compute) in LiteRT against the fp32 model in onnxruntime; with --check its cosine must
be at least --dynamic-cosine and its size at most --max-size-ratio plus 0.01.

Always: modelc's interpreter runs an int8 QDQ model of modelc's (outputs quantized too,
--quantize-outputs) on held-out inputs with 1 and 2 threads, next to onnxruntime running the
same file: the interpreter computes its QDQ convolutions and additions in integers as
onnxruntime's QLinear kernels do, and its outputs must agree with onnxruntime's within one
output quantization step on at least --interp-agree of the elements, and be bit-identical
between the thread counts (checked with --check).

usage: quant_interop.py MODELC DATA_DIR OUT_JSON --models-dir DIR [--models a,b] [--check]
       [--runs N] [--tflite]
(DATA_DIR: calib/ and heldout/ from tests/quant_models.py; outputs are written there too.)
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)


class NpyReader(CalibrationDataReader):
    def __init__(self, files, name):
        self.items = iter([{name: np.load(f)} for f in files])

    def get_next(self):
        return next(self.items, None)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def outputs(path, inputs):
    s = session(path)
    name = s.get_inputs()[0].name
    return [s.run(None, {name: x})[0] for x in inputs]


def latencies(paths, x, runs, rounds=7):
    """Single-threaded latency of each model, interleaved: each round runs every model
    `runs` times and keeps the median. Returns the best round's median per model (the
    figure reported) and, per model, the median over rounds of its median divided by the
    last model's in the same round: a paired ratio, so load from other processes, which
    comes and goes between rounds, hits both sides of each comparison alike."""
    sessions = []
    for path in paths:
        s = session(path)
        name = s.get_inputs()[0].name
        for _ in range(3):
            s.run(None, {name: x})
        sessions.append((s, name))
    per_round = []
    for _ in range(rounds):
        medians = []
        for s, name in sessions:
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                s.run(None, {name: x})
                times.append(time.perf_counter() - t)
            medians.append(float(np.median(times)) * 1e3)
        per_round.append(medians)
    best = [min(r[i] for r in per_round) for i in range(len(paths))]
    ratios = [float(np.median([r[i] / r[-1] for r in per_round])) for i in range(len(paths))]
    return best, ratios


def closeness(ref, got):
    cos, agree, maxrel = [], 0, 0.0
    for a, b in zip(ref, got):
        a = a.astype(np.float64).ravel()
        b = b.astype(np.float64).ravel()
        cos.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30)))
        agree += int(np.argmax(a) == np.argmax(b))
        maxrel = max(maxrel, float(np.abs(a - b).max() / (np.abs(a).max() + 1e-30)))
    return {
        "cosine": float(np.mean(cos)),
        "cosine_min": float(np.min(cos)),
        "top1": agree / len(ref),
        "max_rel": maxrel,
    }


def tflite_dynamic(modelc, fp32, held, work, name, fp32_size):
    """modelc's dynamic-range TFLite model in LiteRT vs the fp32 model in onnxruntime: mean
    cosine on the held-out inputs and file size relative to fp32."""
    from ai_edge_litert.interpreter import Interpreter

    tfl = os.path.join(work, f"{name}.modelc-int8-dynamic.tflite")
    p = subprocess.run([modelc, "quantize", "--mode", "int8-dynamic", fp32, tfl],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"modelc quantize --mode int8-dynamic {name} -> {tfl} failed:\n{p.stderr}")
    it = Interpreter(tfl)
    it.allocate_tensors()
    sess = session(fp32)
    cos = []
    for x in held:
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0].ravel().astype(np.float64)
        it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"]).ravel().astype(np.float64)
        cos.append(float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref))))
    return {"cosine": float(np.mean(cos)), "size_ratio": os.path.getsize(tfl) / fp32_size}


def output_step(path):
    """The scale of the DequantizeLinear that makes the model's (first) output."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in g.node if n.op_type == "Constant"}
    last = [n for n in g.node if g.output[0].name in n.output][0]
    if last.op_type != "DequantizeLinear":
        sys.exit(f"{path}: the output comes from {last.op_type}, not DequantizeLinear")
    scale = inits.get(last.input[1]) or consts[last.input[1]]
    return float(numpy_helper.to_array(scale).reshape(-1)[0])


def interpreter_agreement(modelc, fp32, calib_dir, held, work, name, activation_type):
    """modelc's interpreter (1 and 2 threads) against onnxruntime on one int8 QDQ model
    with quantized outputs: the fraction of output elements within one output step, the
    worst difference in steps, and whether the two thread counts gave the same bits."""
    qdq = os.path.join(work, f"{name}.modelc-int8-qout.onnx")
    p = subprocess.run([modelc, "quantize", fp32, qdq, "--calibration", calib_dir,
                        "--activation-type", activation_type, "--quantize-outputs"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"modelc quantize {name} -> {qdq} failed:\n{p.stderr}")
    step = output_step(qdq)
    sess = session(qdq)
    within, total, worst, same_bits = 0, 0, 0.0, True
    for i, x in enumerate(held[:8]):
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        xin = os.path.join(work, f"{name}.heldout{i}.npy")
        np.save(xin, x)
        ours = []
        for threads in (1, 2):
            out_dir = os.path.join(work, f"{name}.interp{threads}")
            p = subprocess.run([modelc, "run", qdq, xin, "-o", out_dir, "--threads", str(threads)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"modelc run {qdq} failed:\n{p.stderr}")
            ours.append(np.load(os.path.join(out_dir, "output_0.npy")))
        same_bits &= ours[0].tobytes() == ours[1].tobytes()
        steps = np.abs(ours[0].astype(np.float64) - ref) / step
        within += int((steps <= 1.0 + 1e-3).sum())
        total += steps.size
        worst = max(worst, float(steps.max()))
    return {"within_one_step": within / total, "max_steps": worst,
            "threads_bit_identical": same_bits}


def tflite_agreement(modelc, fp32, calib_dir, held, work, name):
    """Fraction of output elements where LiteRT's run of modelc's full-int8 TFLite model and
    onnxruntime's run of modelc's int8 QDQ model differ by at most one quantization step of
    the output (the scale of the tensor the final DEQUANTIZE reads). Two TFLite models: the
    one `modelc quantize` writes, and the QDQ ONNX model converted by `modelc convert` (its
    Conv biases are float, so the exporter must give them their int32 form itself)."""
    from ai_edge_litert.interpreter import Interpreter

    tfl = os.path.join(work, f"{name}.modelc-int8.tflite")
    qdq = os.path.join(work, f"{name}.modelc-int8-i8.onnx")
    converted = os.path.join(work, f"{name}.modelc-int8-converted.tflite")
    for out, extra in ((tfl, []), (qdq, ["--activation-type", "i8", "--quantize-outputs"])):
        p = subprocess.run([modelc, "quantize", fp32, out, "--calibration", calib_dir, *extra],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"modelc quantize {name} -> {out} failed:\n{p.stderr}")
    p = subprocess.run([modelc, "convert", qdq, converted], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"modelc convert {qdq} -> {converted} failed:\n{p.stderr}")
    sess = session(qdq)
    refs = [sess.run(None, {sess.get_inputs()[0].name: x})[0] for x in held]
    result = {}
    for key, path in (("quantize", tfl), ("convert", converted)):
        it = Interpreter(path)
        it.allocate_tensors()
        details = {d["index"]: d for d in it.get_tensor_details()}
        out = it.get_output_details()[0]
        ops = it._get_ops_details()
        last = [o for o in ops if out["index"] in list(o["outputs"])][0]
        if last["op_name"] != "DEQUANTIZE":
            sys.exit(f"{name}: {path}'s output comes from {last['op_name']}, not DEQUANTIZE")
        # Full integer: the only float op is that last DEQUANTIZE (and the input's QUANTIZE).
        dequantize = sum(o["op_name"] == "DEQUANTIZE" for o in ops)
        step = details[last["inputs"][0]]["quantization"][0]
        within, total, worst = 0, 0, 0.0
        for x, ref in zip(held, refs):
            it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
            it.invoke()
            steps = np.abs(it.get_tensor(out["index"]) - ref) / step
            within += int((steps <= 1.0 + 1e-3).sum())
            total += steps.size
            worst = max(worst, float(steps.max()))
        # LiteRT's own kernels (no XNNPACK, as on devices where it is not used) check what
        # XNNPACK accepts silently, e.g. LOGISTIC's fixed output scale of 1/256.
        try:
            from ai_edge_litert.interpreter import OpResolverType
            b = Interpreter(path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            b.allocate_tensors()
            b.set_tensor(b.get_input_details()[0]["index"],
                         np.ascontiguousarray(held[0].transpose(0, 2, 3, 1)))
            b.invoke()
            builtin_steps = round(float((np.abs(b.get_tensor(b.get_output_details()[0]["index"])
                                             - refs[0]) / step).max()), 3)
        except Exception as e:  # noqa: BLE001 - a file LiteRT's kernels refuse is the failure
            builtin_steps = f"fails: {str(e)[:120]}"
        result[key] = {"within_one_step": within / total, "max_steps": worst,
                       "dequantize_ops": dequantize, "tflite_bytes": os.path.getsize(path),
                       "builtin_kernels_max_steps": builtin_steps}
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("modelc")
    ap.add_argument("data")
    ap.add_argument("out_json")
    ap.add_argument("--models", default="resnet50,mobilenet_v2,efficientnet_b0")
    ap.add_argument("--models-dir", required=True, help="the fp32 ONNX models (NAME.onnx)")
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--activation-type", default="u8", choices=["u8", "i8"])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--tflite", action="store_true")
    ap.add_argument("--tflite-agree", type=float, default=0.99)
    ap.add_argument("--interp-agree", type=float, default=0.99)
    ap.add_argument("--dynamic-cosine", type=float, default=0.999)
    ap.add_argument("--max-size-ratio", type=float, default=0.27)
    ap.add_argument("--cos-slack", type=float, default=1e-4)
    ap.add_argument("--speed-slack", type=float, default=0.10)
    a = ap.parse_args()

    calib_files = sorted(glob.glob(os.path.join(a.data, "calib", "*.npy")))[: a.calib]
    held = [np.load(f) for f in sorted(glob.glob(os.path.join(a.data, "heldout", "*.npy")))]
    if len(calib_files) < a.calib or not held:
        sys.exit(f"quant_interop: need {a.calib} calibration and some held-out .npy files under {a.data}")
    work = os.path.join(os.path.dirname(os.path.abspath(a.out_json)), "quant")
    os.makedirs(work, exist_ok=True)
    calib_dir = os.path.join(work, f"calib{a.calib}")
    os.makedirs(calib_dir, exist_ok=True)
    for f in calib_files:
        dst = os.path.join(calib_dir, os.path.basename(f))
        if not os.path.exists(dst):
            np.save(dst, np.load(f))

    results, failures = [], []
    for name in a.models.split(","):
        fp32 = os.path.join(a.models_dir, f"{name}.onnx")
        ours = os.path.join(work, f"{name}.modelc-int8.onnx")
        theirs = os.path.join(work, f"{name}.ort-int8.onnx")

        t = time.perf_counter()
        p = subprocess.run(
            [a.modelc, "quantize", fp32, ours, "--calibration", calib_dir,
             "--activation-type", a.activation_type],
            capture_output=True, text=True,
        )
        ours_s = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"modelc quantize {name} failed:\n{p.stderr}")
        m = re.search(r"calibration: \d+ inputs through the interpreter in ([0-9.]+) s", p.stderr)
        ours_calib = float(m.group(1)) if m else None

        sess_in = session(fp32).get_inputs()[0].name
        t = time.perf_counter()
        # onnxruntime's recommended pre-processing (shape inference, its graph optimizer:
        # Identity removal, constant folding), without which its quantizer leaves the
        # exporter's Identity-fed biases in float and most of its fusions fail.
        pre = os.path.join(work, f"{name}.ort-pre.onnx")
        quant_pre_process(fp32, pre, skip_symbolic_shape=True)
        qt = QuantType.QUInt8 if a.activation_type == "u8" else QuantType.QInt8
        quantize_static(
            pre, theirs, NpyReader(calib_files, sess_in),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=qt, weight_type=QuantType.QInt8,
        )
        theirs_s = time.perf_counter() - t

        ref = outputs(fp32, held)
        row = {
            "model": name,
            "fp32_bytes": os.path.getsize(fp32),
            "calibration_inputs": len(calib_files),
            "heldout_inputs": len(held),
        }
        (fp32_ms, ours_ms, theirs_ms), (_, speed_ratio, _) = latencies([fp32, ours, theirs], held[0], a.runs)
        row["fp32_ms"] = fp32_ms
        # modelc's model time over onnxruntime's, paired round by round (see `latencies`).
        row["ms_ratio"] = speed_ratio
        for tag, path, secs, ms in (
            ("modelc", ours, ours_s, ours_ms),
            ("ort", theirs, theirs_s, theirs_ms),
        ):
            row[tag] = {
                "bytes": os.path.getsize(path),
                "size_ratio": os.path.getsize(path) / row["fp32_bytes"],
                **closeness(ref, outputs(path, held)),
                "ms": ms,
                "quantize_seconds": secs,
            }
        row["modelc"]["calibration_seconds"] = ours_calib
        results.append(row)
        o, r = row["modelc"], row["ort"]
        print(
            f"{name:<16} size {o['size_ratio']:.3f} (ort {r['size_ratio']:.3f})  "
            f"cosine {o['cosine']:.5f} (ort {r['cosine']:.5f})  "
            f"top-1 {o['top1']:.3f} (ort {r['top1']:.3f})  "
            f"ms {o['ms']:.2f} (ort {r['ms']:.2f}, fp32 {row['fp32_ms']:.2f}; paired ratio {row['ms_ratio']:.3f})  "
            f"quantize {o['quantize_seconds']:.1f}s [calib {ours_calib}s] (ort {r['quantize_seconds']:.1f}s)",
            flush=True,
        )
        row["interpreter"] = t = interpreter_agreement(a.modelc, fp32, calib_dir, held, work, name,
                                                       a.activation_type)
        print(f"{name:<16} int8 QDQ in modelc's interpreter vs onnxruntime: "
              f"{100 * t['within_one_step']:.2f}% of elements within one step "
              f"(worst {t['max_steps']:.1f} steps), 1 and 2 threads "
              f"{'bit-identical' if t['threads_bit_identical'] else 'DIFFER'}", flush=True)
        if a.check and t["within_one_step"] < a.interp_agree:
            failures.append(f"{name}: the interpreter agrees with onnxruntime within one step on "
                            f"{100 * t['within_one_step']:.2f}% < {100 * a.interp_agree:.0f}%")
        if a.check and not t["threads_bit_identical"]:
            failures.append(f"{name}: the interpreter's int8 outputs differ between 1 and 2 threads")
        if a.tflite:
            row["tflite"] = tflite_agreement(a.modelc, fp32, calib_dir, held, work, name)
            for how, t in row["tflite"].items():
                print(f"{name:<16} full-int8 TFLite ({how}) in LiteRT vs int8 QDQ in onnxruntime: "
                      f"{100 * t['within_one_step']:.2f}% of elements within one step "
                      f"(worst {t['max_steps']:.1f} steps), {t['dequantize_ops']} DEQUANTIZE, "
                      f"builtin kernels {t['builtin_kernels_max_steps']} steps, "
                      f"{t['tflite_bytes']} bytes", flush=True)
                if a.check and t["within_one_step"] < a.tflite_agree:
                    failures.append(f"{name}: TFLite ({how}) agrees within one step on "
                                    f"{100 * t['within_one_step']:.2f}% < {100 * a.tflite_agree:.0f}%")
                if a.check and (isinstance(t["builtin_kernels_max_steps"], str)
                                or t["builtin_kernels_max_steps"] > 2.0 + 1e-3):
                    failures.append(f"{name}: TFLite ({how}) with LiteRT's builtin kernels: "
                                    f"{t['builtin_kernels_max_steps']}")
                if a.check and t["dequantize_ops"] != 1:
                    failures.append(f"{name}: TFLite ({how}) has {t['dequantize_ops']} DEQUANTIZE "
                                    "ops (full integer has one, for the output)")
            row["tflite_dynamic"] = d = tflite_dynamic(a.modelc, fp32, held, work, name,
                                                       os.path.getsize(fp32))
            print(f"{name:<16} dynamic-range TFLite in LiteRT vs fp32: cosine {d['cosine']:.5f}, "
                  f"size {d['size_ratio']:.3f}", flush=True)
            if a.check and d["cosine"] < a.dynamic_cosine:
                failures.append(f"{name}: dynamic-range TFLite cosine {d['cosine']:.5f} < {a.dynamic_cosine}")
            if a.check and d["size_ratio"] > a.max_size_ratio + 0.01:
                failures.append(f"{name}: dynamic-range TFLite size {d['size_ratio']:.3f}")
        if a.check:
            if o["size_ratio"] > a.max_size_ratio:
                failures.append(f"{name}: size ratio {o['size_ratio']:.3f} > {a.max_size_ratio}")
            if o["cosine"] < r["cosine"] - a.cos_slack:
                failures.append(f"{name}: cosine {o['cosine']:.5f} < onnxruntime's {r['cosine']:.5f}")
            if o["top1"] < r["top1"]:
                failures.append(f"{name}: top-1 {o['top1']:.3f} < onnxruntime's {r['top1']:.3f}")
            if row["ms_ratio"] > 1 + a.speed_slack:
                failures.append(f"{name}: {row['ms_ratio']:.3f}x onnxruntime's time "
                                f"({o['ms']:.2f} vs {r['ms']:.2f} ms best)")
    with open(a.out_json, "w") as f:
        json.dump({"activation_type": a.activation_type, "results": results}, f, indent=2)
    for msg in failures:
        print(f"FAIL {msg}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
