"""`modelc check` for the ONNX targets against their own tools.

- nnapi, coreml: onnxruntime's mobile usability checker (the pinned onnxruntime 1.32's
  onnxruntime/tools/mobile_helpers/usability_checker.py, as check_onnx_model_mobile_usability
  runs it: BASIC optimization, ONNX shape inference, check_*_partitions with fixed input sizes
  required). "On the accelerator" means: every node supported, one partition.
- qnn-htp: onnxruntime-qnn 2.7.0's HTP backend (x86 emulation), in a subprocess: a session with
  session.disable_cpu_ep_fallback=1 is created and runs one input. Its error log names the nodes
  the EP does not take.
- tensorrt: no TensorRT runs here; each hand-made case states what onnx-tensorrt's operators.md
  says, and modelc must say the same.

Part 1 (always): small hand-made ONNX models, each made to break one rule of one target (or to
pass). For every tool-judged target, modelc's verdict must equal the tool's; for the target a
case aims at, both must equal the case's expectation (so each case really tests something).
Part 2 (--models DIR): ResNet-18, MobileNetV2, EfficientNet-B0 and a transformer encoder.
nnapi/coreml: the fp32 export before and after `modelc convert --target T`; qnn-htp and
tensorrt: `modelc quantize` plain and with `--target T` (qnn-htp: its default a16w8 and, with
`--activation-type u8`, a8w8, which must not be closer to fp32), calibrated on image-like inputs; the
tools' verdicts and modelc's, and the accuracy of the target model against fp32 on held-out
inputs (cosine, top-1): qnn-htp's from the HTP emulator's own outputs, tensorrt's from
onnxruntime's CPU run of the QDQ model.

Run: PYTHONPATH=target/qnn-site target/pyenv/bin/python tests/targets_onnx.py \
        --modelc target/debug/modelc [--models target/testdata/torchvision --only resnet18]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quant_models  # noqa: E402  (the calibration / held-out image generator)

ROOT = Path(__file__).resolve().parent.parent
TOOL_TARGETS = ["nnapi", "coreml", "qnn-htp"]
MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0", "transformer_encoder", "transformer_gelu", "lstm", "yolo"]
# Made here with torch when --models DIR lacks them (seeded, exported by the TorchScript
# exporter): a 2-layer encoder with Gelu (opset 20, where Gelu is an ONNX op) and an
# nn.LSTM classifier; name -> (input shape, opset).
MADE_HERE = {"transformer_gelu": ((1, 32, 128), 20), "lstm": ((1, 16, 32), 17)}


def make_model(name, path):
    import torch

    torch.manual_seed(0)
    if name == "transformer_gelu":
        m = torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=512, dropout=0.1,
                                             activation="gelu", batch_first=True),
            num_layers=2, enable_nested_tensor=False)
    else:
        class Lstm(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm, self.fc = torch.nn.LSTM(32, 64, batch_first=True), torch.nn.Linear(64, 10)

            def forward(self, x):
                y, _ = self.lstm(x)
                return self.fc(y[:, -1])
        m = Lstm()
    shape, opset = MADE_HERE[name]
    # Not under no_grad: nn.MultiheadAttention's fused fast path has no ONNX export.
    torch.onnx.export(m.eval(), (torch.randn(*shape),), str(path), input_names=["input"], output_names=["output"],
                      opset_version=opset, dynamo=False)

QNN_RUN = r"""
import json, sys, numpy as np, onnxruntime as ort, onnxruntime_qnn as oq
ort.register_execution_provider_library(oq.get_ep_name(), oq.get_library_path())
devs = [d for d in ort.get_ep_devices() if d.ep_name == oq.get_ep_name()]
so = ort.SessionOptions()
so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
so.log_severity_level = 3
so.add_provider_for_devices(devs, {"backend_path": oq.get_qnn_htp_path()})
feeds = [dict(np.load(p)) for p in sys.argv[2:]]
try:
    s = ort.InferenceSession(sys.argv[1], so)
    if not feeds:
        feeds = [{i.name: np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in i.shape]).astype(
            {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(uint16)": np.uint16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32}[i.type]) for i in s.get_inputs()}]
    outs = [s.run(None, f)[0] for f in feeds]
    np.save(sys.argv[1] + ".htp.npy", np.stack(outs))
    print(json.dumps({"ok": True}))
except Exception as e:
    print(json.dumps({"ok": False, "error": str(e).splitlines()[0][:300]}))
"""


# ---------------------------------------------------------------- the tools


def mobile_checker(path, target):
    """(supported nodes, nodes, partitions) by onnxruntime's usability checker."""
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    with tempfile.TemporaryDirectory() as tmp:
        opt = Path(tmp) / "opt.onnx"
        optimize_model(Path(path), opt, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(opt).model_with_shape_info
        if target == "nnapi":
            info = uc.check_nnapi_partitions(model, True)
        else:
            info = uc.check_coreml_partitions(model, True, "coreml_supported_mlprogram_ops.md")
    return info.num_supported_nodes, info.num_nodes, info.num_partitions


def qnn_htp(path, feeds=()):
    """Whether the HTP backend takes the whole model (CPU fallback disabled) and runs it;
    the nodes its log names as unsupported; the outputs for `feeds` (.npz files)."""
    proc = subprocess.run([sys.executable, "-c", QNN_RUN, str(path), *map(str, feeds)],
                          capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    verdict = json.loads(lines[-1]) if lines else {"ok": False, "error": f"exit {proc.returncode}: {proc.stderr[-300:]}"}
    unsupported = sorted(set(
        ln.split("Unsupported nodes in QNN EP: ", 1)[1].strip()
        for ln in proc.stderr.splitlines() if "Unsupported nodes in QNN EP: " in ln))
    verdict["unsupported"] = [u.replace("\x1b[m", "") for u in unsupported]
    out = Path(str(path) + ".htp.npy")
    verdict["outputs"] = np.load(out) if verdict["ok"] and out.exists() else None
    return verdict


def tool_all(path, target):
    """(all on the accelerator?, a short note) from the target's tool."""
    if target == "qnn-htp":
        v = qnn_htp(path)
        return v["ok"], "runs on HTP" if v["ok"] else (v.get("error", "") + " " + " ".join(v["unsupported"]))[:200]
    sup, total, parts = mobile_checker(path, target)
    return sup == total and parts == 1, f"{sup}/{total} nodes, {parts} partitions"


def modelc_check(modelc, path, target, extra=()):
    proc = subprocess.run([modelc, "check", str(path), "--target", target, "--json", *extra],
                          capture_output=True, text=True, timeout=600)
    try:
        v = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"modelc check {path} --target {target}: {proc.stderr.strip()}")
    reasons = [p["reason"] for p in v["nodes"] if not p["accelerator"]]
    return v["accelerated"] == v["total"], v, reasons


# ---------------------------------------------------------------- hand-made cases


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def model(nodes, inputs, outputs, inits=(), opset=17):
    m = helper.make_model(helper.make_graph(nodes, "case", inputs, outputs, list(inits)),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10 if opset >= 21 else 8  # opset 21 (uint16 QDQ) needs IR version 10
    onnx.checker.check_model(m)
    return m


def conv_relu(batch=1):
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    return model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["y"])],
                 [f32("x", [batch, 3, 8, 8])], [f32("y", [batch, 4, 8, 8])], [w])


def unary(op, shape=(1, 8, 16)):
    return model([helper.make_node(op, ["x"], ["y"])], [f32("x", list(shape))], [f32("y", list(shape))])


def transpose6():
    return model([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 2, 3, 5, 4])],
                 [f32("x", [1, 2, 2, 2, 2, 3])], [f32("y", [1, 2, 2, 2, 3, 2])])


def qdq_gemm(act=np.uint8, zp=128, quantize_output=True):
    """x -> Q -> DQ -> Gemm(DQ(int8 w)) [-> Q -> DQ] -> y, activations of type `act`."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
             numpy_helper.from_array(np.array(zp, act), "z"),
             numpy_helper.from_array(rng.integers(-127, 128, (16, 32)).astype(np.int8), "wq"),
             numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
             numpy_helper.from_array(np.array(0, np.int8), "wz")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("Gemm", ["xd", "wd"], ["g" if quantize_output else "y"], transB=1)]
    if quantize_output:
        nodes += [helper.make_node("QuantizeLinear", ["g", "s", "z"], ["gq"]),
                  helper.make_node("DequantizeLinear", ["gq", "s", "z"], ["y"])]
    return model(nodes, [f32("x", [1, 32])], [f32("y", [1, 16])], inits, opset=21 if act == np.uint16 else 17)


def clip_constant_nodes():
    """Clip whose bounds are ONNX Constant nodes (torch's export of ReLU6): onnxruntime makes
    them initializers, so they are no nodes of any partition."""
    lo = helper.make_node("Constant", [], ["lo"], value=numpy_helper.from_array(np.array(0.0, np.float32)))
    hi = helper.make_node("Constant", [], ["hi"], value=numpy_helper.from_array(np.array(6.0, np.float32)))
    return model([lo, hi, helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                 [f32("x", [1, 4, 8, 8])], [f32("y", [1, 4, 8, 8])])


def resize_omitted_roi():
    """torch's export of nn.Upsample(scale_factor=2, mode="nearest"): Resize(x, "", scales).
    onnxruntime's mobile usability checker counts the omitted roi as a tensor without a
    fixed shape, so the node leaves the nnapi/coreml partition."""
    s = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    return model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest",
                                   coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
                 [f32("x", [1, 4, 8, 8])], [f32("y", [1, 4, 16, 16])], [s])


def det():
    return model([helper.make_node("Det", ["x"], ["y"])], [f32("x", [2, 3, 3])], [f32("y", [2])])


def qdq_conv_float_output():
    """x -> Q -> DQ -> Conv(DQ(int8 w)) -> y (float): HTP runs it (only Gemm needs its output quantized)."""
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(128, np.uint8), "z"),
             numpy_helper.from_array(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "wq"),
             numpy_helper.from_array(np.array(0.02, np.float32), "ws"),
             numpy_helper.from_array(np.array(0, np.int8), "wz")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1])]
    return model(nodes, [f32("x", [1, 3, 8, 8])], [f32("y", [1, 4, 8, 8])], inits)


def gemm_weight_only():
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.integers(-127, 128, (16, 32)).astype(np.int8), "wq"),
             numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
             numpy_helper.from_array(np.array(0, np.int8), "wz")]
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("Gemm", ["x", "wd"], ["y"], transB=1)]
    return model(nodes, [f32("x", [1, 32])], [f32("y", [1, 16])], inits)


def lstm():
    """A float LSTM (seq 16, input 32, hidden 64): the QNN EP registers LSTM, but the HTP
    backend fails to finalize it (float or QDQ), so it is not in qnn-htp's list."""
    rng = np.random.default_rng(4)
    w = numpy_helper.from_array((rng.standard_normal((1, 256, 32)) * 0.1).astype(np.float32), "w")
    r = numpy_helper.from_array((rng.standard_normal((1, 256, 64)) * 0.1).astype(np.float32), "r")
    return model([helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=64)],
                 [f32("x", [16, 1, 32])], [f32("y", [16, 1, 1, 64])], [w, r])


def gather(indices):
    """A float Gather along axis 2 with constant indices (int64): HTP runs a scalar index, and
    fails to finalize 1-D indices."""
    i = numpy_helper.from_array(np.array(indices, np.int64), "i")
    out = [1, 8] + ([len(indices)] if np.ndim(indices) else [])
    return model([helper.make_node("Gather", ["x", "i"], ["y"], axis=2)], [f32("x", [1, 8, 16])], [f32("y", out)], [i])


def matmul_int32():
    b = numpy_helper.from_array(np.ones((8, 4), np.int32), "b")
    return model([helper.make_node("MatMul", ["x", "b"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.INT32, [2, 8])],
                 [helper.make_tensor_value_info("y", TensorProto.INT32, [2, 4])], [b])


# name, model, the target it aims at, the verdict it expects there, and TensorRT's verdict
# (operators.md), with the rule it tests.
CASES = [
    ("conv_relu_static", conv_relu(1), None, True, True),
    ("clip_constant_nodes", clip_constant_nodes(), None, True, True),
    ("conv_relu_dynamic_batch", conv_relu("N"), "nnapi", False, True),   # nnapi/coreml: static shapes
    ("erf", unary("Erf"), "nnapi", False, True),                        # nnapi: op not listed
    ("hardmax", unary("Hardmax"), "coreml", False, True),               # coreml: not listed
    ("resize_omitted_roi", resize_omitted_roi(), "coreml", False, True),  # nnapi/coreml: omitted input is dynamic
    ("det", det(), "tensorrt", False, False),                            # TensorRT: Det N
    ("relu_rank6", unary("Relu", (1, 2, 2, 2, 2, 3)), "qnn-htp", False, True),  # HTP: rank 6 > 5
    ("transpose_rank6", transpose6(), "coreml", False, True),           # coreml: rank 6 > 5
    ("qdq_gemm_float_output", qdq_gemm(quantize_output=False), "qnn-htp", False, False),  # HTP: Gemm quantized in, float out; TensorRT: uint8
    ("qdq_conv_float_output", qdq_conv_float_output(), "qnn-htp", True, False),  # TensorRT: uint8
    ("gemm_weight_only", gemm_weight_only(), "qnn-htp", True, True),
    ("qdq_gemm_uint8", qdq_gemm(), "qnn-htp", True, False),             # TensorRT: DequantizeLinear INT8 only
    ("qdq_gemm_uint16", qdq_gemm(np.uint16, 32768), "qnn-htp", True, False),  # HTP a16w8; TensorRT: INT8 only
    ("qdq_gemm_int8_symmetric", qdq_gemm(np.int8, 0), "tensorrt", True, True),
    ("qdq_gemm_int8_zero_point_3", qdq_gemm(np.int8, 3), "tensorrt", False, False),  # TensorRT: zero point must be 0
    ("gather_scalar_index", gather(3), "qnn-htp", True, True),
    ("gather_vector_index", gather([0, 5, 7]), "qnn-htp", False, True),  # HTP: finalize fails
    ("lstm", lstm(), "qnn-htp", False, True),                        # HTP: finalize fails; TensorRT: LSTM Y
    ("matmul_int32", matmul_int32(), "tensorrt", False, False),          # TensorRT: MatMul FP32/FP16/BF16; HTP: no int32 MatMul
]


def run_cases(modelc, out):
    rows, failures = [], []
    for name, m, aim, expect, trt in CASES:
        path = out / f"{name}.onnx"
        onnx.save(m, path)
        row = {"case": name}
        for target in TOOL_TARGETS + ["tensorrt"]:
            mine, _, reasons = modelc_check(modelc, path, target)
            if target == "tensorrt":
                theirs, note = trt, "operators.md"
            else:
                theirs, note = tool_all(path, target)
            row[target] = {"modelc": mine, "tool": theirs, "tool_note": note, "modelc_reasons": reasons}
            if mine != theirs:
                failures.append(f"{name} on {target}: modelc says {'all' if mine else 'not all'} on the accelerator "
                                f"{reasons}, the tool {'all' if theirs else 'not all'} ({note})")
            if target == aim and theirs != expect:
                failures.append(f"{name}: the case expects {expect} on {target}, the tool says {theirs} ({note})")
        rows.append(row)
        cells = "  ".join(f"{t}={'Y' if row[t]['tool'] else 'n'}/{'Y' if row[t]['modelc'] else 'n'}"
                          for t in TOOL_TARGETS + ["tensorrt"])
        print(f"{name:28s} {cells}   (tool/modelc)", flush=True)
    return rows, failures


# ---------------------------------------------------------------- models


def inputs_for(name, rng, n):
    if name == "transformer_encoder":
        return [rng.standard_normal((1, 64, 256)).astype(np.float32) for _ in range(n)]
    if name in MADE_HERE:
        return [rng.standard_normal(MADE_HERE[name][0]).astype(np.float32) for _ in range(n)]
    return quant_models.images(rng, n)


def accuracy(ref, got):
    cos = [float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
           for a, b in zip(ref, got)]
    top1 = [float(np.argmax(a) == np.argmax(b)) for a, b in zip(ref, got)]
    return min(cos), float(np.mean(top1))


def run_models(modelc, models, out, only, n_calib, n_heldout):
    import onnxruntime as ort

    rows, failures = [], []
    for name in only or MODELS:
        src = Path(models) / f"{name}.onnx"
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        if not src.exists() and name in MADE_HERE:
            src = d / f"{name}.onnx"
            make_model(name, src)
        elif not src.exists() and name == "yolo":
            # The YOLO-style detector of the TFLite table (tests/targets_models.py).
            import targets_models
            src = targets_models.export(name, d)
        rng = np.random.default_rng(1234)
        for sub, n in (("calib", n_calib), ("heldout", n_heldout)):
            (d / sub).mkdir(parents=True, exist_ok=True)
            for i, x in enumerate(inputs_for(name, rng, n)):
                np.save(d / sub / f"{i:03d}.npy", x)
        heldout = [np.load(p) for p in sorted((d / "heldout").glob("*.npy"))]
        sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
        feed = sess.get_inputs()[0].name
        ref = [sess.run(None, {feed: x})[0] for x in heldout]
        feeds = []
        for i, x in enumerate(heldout):
            np.savez(d / f"heldout{i}.npz", **{feed: x})
            feeds.append(d / f"heldout{i}.npz")
        row = {"model": name}
        # nnapi / coreml: the fp32 model as exported, then through convert --target.
        for target in ("nnapi", "coreml"):
            conv = d / f"{name}.{target}.onnx"
            t0 = time.time()
            proc = subprocess.run([modelc, "convert", str(src), str(conv), "--target", target],
                                  capture_output=True, text=True, timeout=1800)
            before, bnote = tool_all(src, target)
            if proc.returncode != 0 and not conv.exists():
                row[target] = {"before": bnote, "error": proc.stderr.strip().splitlines()[-1:]}
                failures.append(f"{name}: convert --target {target} failed: {proc.stderr.strip()[-300:]}")
                continue
            after, anote = tool_all(conv, target)
            mine, v, reasons = modelc_check(modelc, conv, target)
            cs = ort.InferenceSession(str(conv), providers=["CPUExecutionProvider"])
            cos, top1 = accuracy(ref, [cs.run(None, {feed: x})[0] for x in heldout])
            row[target] = {"before": bnote, "after": anote, "tool_whole": bool(after),
                           "modelc": f"{v['accelerated']}/{v['total']}",
                           "modelc_reasons": sorted(set(reasons)), "cosine_min": cos, "top1": top1,
                           "seconds": round(time.time() - t0, 1)}
            if cos < 0.9999:
                failures.append(f"{name}: convert --target {target} changed the outputs (cosine {cos})")
            if mine and not after:
                failures.append(f"{name} on {target}: modelc says all on the accelerator, the tool: {anote}")
            if after and not mine:
                failures.append(f"{name} on {target}: the tool takes it all ({anote}), modelc: {sorted(set(reasons))}")
        # qnn-htp / tensorrt: quantized plain and with --target.
        for target in ("qnn-htp", "tensorrt"):
            entry = {}
            kinds = [("plain", []), ("target", ["--target", target])]
            if target == "qnn-htp":
                # The file's default is a16w8; its other option, a8w8, for the comparison.
                kinds.append(("target_a8w8", ["--target", target, "--activation-type", "u8"]))
            for kind, extra in kinds:
                q = d / f"{name}.{target}.{kind}.onnx"
                t0 = time.time()
                proc = subprocess.run([modelc, "quantize", str(src), str(q), "--calibration", str(d / "calib"), *extra],
                                      capture_output=True, text=True, timeout=3600)
                if not q.exists():
                    entry[kind] = {"error": proc.stderr.strip().splitlines()[-1:]}
                    failures.append(f"{name}: quantize {' '.join(extra)} failed: {proc.stderr.strip()[-300:]}")
                    continue
                mine, v, reasons = modelc_check(modelc, q, target)
                e = {"modelc": f"{v['accelerated']}/{v['total']}", "modelc_reasons": sorted(set(reasons))[:5],
                     "quantize_seconds": round(time.time() - t0, 1)}
                if target == "qnn-htp":
                    verdict = qnn_htp(q, feeds if kind.startswith("target") else ())
                    e["htp"] = "runs, CPU fallback off" if verdict["ok"] else verdict.get("error", "")[:160]
                    e["htp_unsupported"] = verdict["unsupported"]
                    if mine and not verdict["ok"]:
                        failures.append(f"{name} {kind} on qnn-htp: modelc says all on HTP, HTP: {e['htp']}")
                    if verdict["ok"] and not mine:
                        failures.append(f"{name} {kind} on qnn-htp: HTP runs it all, modelc: {e['modelc_reasons']}")
                    if kind.startswith("target") and verdict["outputs"] is not None:
                        got = [o for o in verdict["outputs"]]
                        e["cosine_min"], e["top1"] = accuracy(ref, got)
                    if kind == "target_a8w8" and "cosine_min" in e and "cosine_min" in entry.get("target", {}):
                        if entry["target"]["cosine_min"] < e["cosine_min"]:
                            failures.append(f"{name}: qnn-htp a16w8 (cosine {entry['target']['cosine_min']:.6f}) is "
                                            f"further from fp32 than a8w8 ({e['cosine_min']:.6f})")
                else:
                    qs = ort.InferenceSession(str(q), providers=["CPUExecutionProvider"])
                    if kind == "target":
                        got = [qs.run(None, {feed: x})[0] for x in heldout]
                        e["cosine_min"], e["top1"] = accuracy(ref, got)
                entry[kind] = e
            row[target] = entry
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=str(ROOT / "target/targets-onnx"))
    ap.add_argument("--models", help="directory of the fp32 torchvision .onnx exports (part 2)")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--heldout", type=int, default=8)
    args = ap.parse_args()
    out = Path(args.out)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    cases, failures = run_cases(args.modelc, out / "cases")
    report = {"cases": cases}
    if args.models:
        rows, more = run_models(args.modelc, args.models, out, args.only.split(",") if args.only else None,
                                args.calib, args.heldout)
        report["models"] = rows
        failures += more
    report["failures"] = failures
    report["seconds"] = round(time.time() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"report: {out / 'report.json'} ({report['seconds']} s)")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
