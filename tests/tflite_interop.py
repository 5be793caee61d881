"""TFLite interop: converted models run in the real runtimes and match the source's outputs.

    python tests/tflite_interop.py --modelc target/debug/modelc --out target/tflite-interop \
        [--only NAMES]
    python tests/tflite_interop.py --table MANIFEST

Directions, every model each way this crate adds:
  ONNX -> TFLite    torchvision ResNet-18 and MobileNetV2 (weights=None, seeded; exported
                    here with the classic exporter, opset 17) and testdata/models/tiny_cnn.onnx:
                    LiteRT on the .tflite vs onnxruntime on the .onnx. The .tflite takes and
                    gives NHWC, so the input is transposed for LiteRT. ResNet-18 must have at
                    most 36 operators (what onnx2tf makes) and no TRANSPOSE; with
                    --keep-io-layout it takes NCHW with one TRANSPOSE at the boundary.
  Resize forms      every ONNX Resize mode / coordinate mode / rounding, scales up and down:
                    exact in LiteRT vs onnxruntime, or refused with a reason (never wrong).
  Op forms          single ops in attribute forms a converter can get silently wrong
                    (softmax before opset 13, negative Gather indices, empty Reduce axes,
                    negative pads, ...): exact in LiteRT or refused with a reason.
  Layout forms      convolution / pooling attribute forms and ops reading a convolution's
                    output along an axis: exact in LiteRT (outputs channels last) or refused.
  Quantized forms   ops after a convolution, `modelc quantize` int8 then `modelc convert`:
                    LiteRT (XNNPACK and its builtin kernels) within one step of
                    onnxruntime on the QDQ model, or refused.
  QDQ ONNX -> TFLite  ResNet-18 quantized by onnxruntime's QDQ quantizer: int8 TFLite ops,
                    LiteRT vs onnxruntime within 3 output quantization steps on 99%.
  TFLite -> TFLite  testdata/tflite/*.tflite (made by testdata/make_tflite.py with Keras):
                    LiteRT on the converted file vs the stored LiteRT reference output.
  TFLite -> ONNX    the same models: onnxruntime on the .onnx vs the stored reference (the
                    ONNX input is NCHW when the model's image input was switched).
  TFLite -> ONNX -> TFLite  back to TFLite (quantized models via QDQ), in LiteRT.
  modelc run        the imported TFLite model on modelc's reference interpreter vs LiteRT.
  LSTM              torch nn.LSTM models (1 and 2 layers, batch_first or not, bidirectional;
                    exported here with the classic exporter, opset 17) and hand-built ONNX
                    LSTMs (peepholes, reverse direction, layout 1, zero initial state):
                    ONNX -> TFLite in LiteRT vs onnxruntime (onnx's reference evaluator for
                    layout 1, which onnxruntime lacks), every output by name; then that
                    .tflite -> ONNX in onnxruntime vs LiteRT on the .tflite, that ONNX back
                    to TFLite and modelc run on the .tflite, both vs LiteRT. A hand-made
                    BIDIRECTIONAL_SEQUENCE_LSTM file (modelc's two unidirectional ops
                    rewritten with LiteRT's schema classes) -> ONNX vs LiteRT. A model that
                    reads LSTM's Y_c converts with the cell unrolled (decompose-lstm-state);
                    one carrying state with int8 / int4 W and R behind DequantizeLinear
                    (gate-reordered by Slice / Concat) unrolls with INT8 / INT4 weights
                    DEQUANTIZE feeds to FULLY_CONNECTED, LiteRT vs onnxruntime.

Dynamic shapes and static int8 transformers: tests/tflite_dynamic.py (its docs).

Table forms (--table MANIFEST, instead of everything above; crates/tflite/tests/table.rs
                    writes the manifest from modelc's builtin <-> op table): every row
                    marked exact, its .tflite written by modelc from a one-node graph, in
                    LiteRT vs onnxruntime on the ONNX form of the same op (built here from
                    the row's op, attributes and input types by tests/table_forms.py).
                    Last line: `tflite table: N of M rows exact`.

Float models: relative error max|y - ref| / max|ref| <= 1e-4. Quantized (int8/int16 I/O or
inside): at least 99% of the elements within one quantization step of the output (or 1%
of the output range for float outputs of quantized models). Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

import numpy as np

import table_forms as table_forms_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4
RESNET_MAX_OPS = 36


def export_torchvision(name: str, path: str) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), path, opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"])


def convert(modelc: str, src: str, dst: str) -> None:
    r = subprocess.run([modelc, "convert", src, dst], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"modelc convert {os.path.basename(src)} -> {os.path.basename(dst)}: {r.stderr.strip()}")


def litert(path: str, x: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    if tuple(inp["shape"]) != x.shape:
        raise RuntimeError(f"LiteRT input shape {tuple(inp['shape'])} != {x.shape}")
    it.set_tensor(inp["index"], x.astype(inp["dtype"]))
    it.invoke()
    return it.get_tensor(out["index"]), it._get_ops_details(), out.get("quantization", (0.0, 0))


def ort(path: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as rt

    s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    want = [d if isinstance(d, int) else None for d in i.shape]

    def fits(shape):
        return len(shape) == len(want) and all(w is None or w == d for w, d in zip(want, shape))

    if not fits(x.shape):
        # The image input was switched to NCHW by the conversion.
        if len(x.shape) == 4 and fits((x.shape[0], x.shape[3], x.shape[1], x.shape[2])):
            x = x.transpose(0, 3, 1, 2)
        else:
            raise RuntimeError(f"onnxruntime input shape {i.shape} != {x.shape}")
    return s.run(None, {i.name: np.ascontiguousarray(x)})[0]


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    y, ref = y.astype(np.float64), ref.astype(np.float64)
    if y.shape != ref.shape:
        raise RuntimeError(f"output shape {y.shape} != {ref.shape}")
    return float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-12))


def quant_ok(y: np.ndarray, ref: np.ndarray) -> tuple[bool, str]:
    """Integer outputs: within one step; float outputs: within 1% of the range."""
    if y.shape != ref.shape:
        return False, f"shape {y.shape} != {ref.shape}"
    d = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    if np.issubdtype(ref.dtype, np.integer):
        frac = float((d <= 1).mean())
        return frac >= 0.99, f"{frac:.1%} within 1 step, max diff {d.max():.0f}"
    span = float(ref.max() - ref.min()) or 1.0
    frac = float((d <= 0.01 * span).mean())
    return frac >= 0.99, f"{frac:.1%} within 1% of range, max diff {d.max():.3g}"


def check(results: list, name: str, fn) -> None:
    try:
        ok, msg = fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
        ok, msg = False, f"error: {e}"
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg}", flush=True)


def export_grouped_conv(name: str, path: str) -> None:
    """Grouped (not depthwise) convolutions, as in ResNeXt and RegNet: CONV_2D with a filter
    of C / group input channels."""
    import torch

    class Grouped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(8, 16, 3, padding=1, groups=4)
            self.b = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=2)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    torch.manual_seed(0)
    torch.onnx.export(Grouped().eval(), (torch.randn(1, 8, 12, 12),), path, opset_version=17,
                      input_names=["x"], dynamo=False)


def export_ceil_pool(name: str, path: str) -> None:
    """ceil_mode max pooling (GoogLeNet/Inception), with and without pads: explicit PADV2
    with the lowest float, then VALID pooling."""
    import torch
    import torch.nn.functional as F

    class CeilPool(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)

        def forward(self, x):
            y = F.max_pool2d(self.conv(x), 3, 2, ceil_mode=True)
            return F.max_pool2d(y, 2, 2, padding=1, ceil_mode=True)

    torch.manual_seed(0)
    torch.onnx.export(CeilPool().eval(), (torch.randn(1, 3, 16, 16),), path, opset_version=17,
                      input_names=["x"], dynamo=False)


def export_avg_pool(name: str, path: str) -> None:
    """Average pooling with the divisors TFLite's SAME does not give: padding counted
    (Inception's 3x3 stride-1 pool), ceil_mode without counting padding (ResNet-D's
    downsampling), both with pads; PAD + VALID pooling, then a per-position MUL where the
    divisor varies."""
    import torch
    import torch.nn.functional as F

    class AvgPool(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)

        def forward(self, x):
            x = self.conv(x)
            a = F.avg_pool2d(x, 3, 1, padding=1)
            b = F.avg_pool2d(a, 2, 2, ceil_mode=True, count_include_pad=False)
            c = F.avg_pool2d(b, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)
            return F.avg_pool2d(c, 3, 2, padding=1, ceil_mode=True) + c.mean()

    torch.manual_seed(0)
    torch.onnx.export(AvgPool().eval(), (torch.randn(1, 3, 17, 17),), path, opset_version=17,
                      input_names=["x"], dynamo=False)


def export_slices(name: str, path: str) -> None:
    """Slices with steps, negative starts and ends past the axis: STRIDED_SLICE."""
    import torch

    class Slices(torch.nn.Module):
        def forward(self, x):
            return x[:, 1:5, ::2] * 2 + x[:, -3:, 1:12:2].sum(1, keepdim=True)

    torch.onnx.export(Slices(), (torch.randn(2, 8, 12),), path, opset_version=17,
                      input_names=["x"], dynamo=False)


# Small torch models made at test time, by name.
MADE_HERE = {
    "grouped_conv": export_grouped_conv,
    "ceil_pool": export_ceil_pool,
    "avg_pool": export_avg_pool,
    "slices": export_slices,
}


def onnx_to_tflite(modelc: str, out: str, results: list, only) -> None:
    models = [("tiny_cnn", os.path.join(ROOT, "testdata/models/tiny_cnn.onnx"))]
    for tv in ["resnet18", "mobilenet_v2", *MADE_HERE]:
        models.append((tv, os.path.join(out, f"{tv}.onnx")))
    for name, path in models:
        if only and name not in only:
            continue

        def run(name=name, path=path):
            import onnxruntime as rt

            if not os.path.exists(path):
                MADE_HERE.get(name, export_torchvision)(name, path)
            s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
            i = s.get_inputs()[0]
            shape = [d if isinstance(d, int) else 1 for d in i.shape]
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            ref = s.run(None, {i.name: x})[0]
            tfl = os.path.join(out, f"{name}.tflite")
            convert(modelc, path, tfl)
            xl = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
            y, ops, _ = litert(tfl, np.ascontiguousarray(xl))
            if ref.ndim == 4:
                ref = ref.transpose(0, 2, 3, 1)
            err = rel_err(y, ref)
            names = [o["op_name"] for o in ops if o["op_name"] != "DELEGATE"]
            msg = f"rel err {err:.2e}, {len(names)} ops"
            ok = err <= TOLERANCE
            # tiny_cnn flattens its feature map into a dense layer: the exporter permutes the
            # dense weight instead of transposing the map back to NCHW.
            if "TRANSPOSE" in names:
                ok, msg = False, msg + " (has TRANSPOSE)"
            if name == "resnet18" and len(names) > RESNET_MAX_OPS:
                ok, msg = False, msg + f" (more than {RESNET_MAX_OPS})"
            return ok, msg

        check(results, f"onnx->tflite {name}", run)

        def keep_io(name=name, path=path):
            """--keep-io-layout: the .tflite takes NCHW like the ONNX model (one boundary TRANSPOSE)."""
            import onnxruntime as rt

            s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
            i = s.get_inputs()[0]
            shape = [d if isinstance(d, int) else 1 for d in i.shape]
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            ref = s.run(None, {i.name: x})[0]
            tfl = os.path.join(out, f"{name}.keepio.tflite")
            r = subprocess.run([modelc, "convert", "--keep-io-layout", path, tfl], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr.strip())
            y, ops, _ = litert(tfl, x)
            err = rel_err(y, ref)
            n_t = [o["op_name"] for o in ops].count("TRANSPOSE")
            return err <= TOLERANCE and n_t <= 1, f"rel err {err:.2e}, {n_t} TRANSPOSE"

        if name == "resnet18":
            check(results, f"onnx->tflite --keep-io-layout {name}", keep_io)


def litert_channels_last(path: str, x: np.ndarray):
    """Runs the .tflite on `x` in LiteRT, transposed channels last when the file's input is
    (the exporter switches image inputs). Returns every output and whether it did."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    last = tuple(inp["shape"]) != x.shape and x.ndim >= 3
    it.set_tensor(inp["index"], np.ascontiguousarray(np.moveaxis(x, 1, -1)) if last else x)
    it.invoke()
    return [it.get_tensor(o["index"]) for o in it.get_output_details()], last


def from_channels_last(y: np.ndarray, ref: np.ndarray, last: bool) -> np.ndarray:
    """An output of a channels-last model in ONNX's order: image outputs come channels last,
    others as they are (form cases keep the two apart by shape: no output has C = H = W)."""
    if last and y.shape != ref.shape and y.ndim >= 3:
        return np.moveaxis(y, -1, 1)
    return y


def converts(modelc: str, src: str, dst: str, case: str, must: bool, bad: list) -> bool:
    """`modelc convert src dst` for a form test: True when it wrote the file. A refusal is
    fine only when it names why ("no TFLite form") and the form is not a must; otherwise
    it is recorded in `bad`."""
    r = subprocess.run([modelc, "convert", src, dst], capture_output=True, text=True)
    if r.returncode == 0:
        return True
    if "no TFLite form" not in r.stderr or must:
        bad.append(f"{case} refused: {r.stderr.strip()[-120:]}")
    return False


def resize_model(path: str, hw, scales=None, sizes=None, opset=17, **attrs) -> None:
    """One ONNX Resize of a [1, 3, H, W] input, by scales or sizes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([], np.float32), "roi"),
             numpy_helper.from_array(np.array(scales or [], np.float32), "scales")]
    ins = ["x", "roi", "scales"]
    if sizes is not None:
        inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
        ins.append("sizes")
    g = helper.make_graph(
        [helper.make_node("Resize", ins, ["y"], **attrs)], "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, *hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), path)


# Resize forms that must export (what torch and TensorFlow exporters write), by case name.
RESIZE_MUST_EXPORT = {
    "nearest/asymmetric/floor@2", "nearest/asymmetric/floor@0.6",
    "nearest/half_pixel/round_prefer_ceil@0.6", "nearest/half_pixel/round_prefer_floor@2",
    "nearest/pytorch_half_pixel/round_prefer_floor@3", "nearest/align_corners/round_prefer_ceil@3",
    "linear/half_pixel@2", "linear/pytorch_half_pixel@0.6", "linear/align_corners@3",
    "linear/asymmetric@2", "linear/sizes", "nearest/sizes", "linear/2x3", "nearest/2x3",
    "linear/axes@2", "nearest/axes@1.5",
}


def resize_cases(modelc: str, out: str, results: list, only) -> None:
    """Every Resize mode / coordinate mode / rounding at up- and downscales, plus forms TFLite
    cannot express (inexact scales, antialiased downscaling, channel resizes): each either
    converts and matches onnxruntime exactly in LiteRT, or is refused with a reason. A wrong
    result fails; so does a refusal of a form in RESIZE_MUST_EXPORT."""
    name = "resize"
    if only and name not in only:
        return
    cases = []
    for coord in ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]:
        for sc in [2, 3, 0.6]:
            cases.append((f"linear/{coord}@{sc}", (5, 5),
                          dict(scales=[1, 1, sc, sc], mode="linear", coordinate_transformation_mode=coord)))
            for rounding in ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]:
                cases.append((f"nearest/{coord}/{rounding}@{sc}", (5, 5),
                              dict(scales=[1, 1, sc, sc], mode="nearest",
                                   coordinate_transformation_mode=coord, nearest_mode=rounding)))
    cases += [
        ("linear/sizes", (5, 5), dict(sizes=[1, 3, 7, 7], mode="linear")),
        ("nearest/sizes", (5, 5), dict(sizes=[1, 3, 10, 10], mode="nearest")),
        ("linear/2x3", (4, 5), dict(scales=[1, 1, 2, 3], mode="linear")),
        ("nearest/2x3", (4, 5), dict(scales=[1, 1, 2, 3], mode="nearest")),
        ("linear/inexact-0.65", (5, 5), dict(scales=[1, 1, 0.65, 0.65], mode="linear")),
        ("linear/antialias-down", (8, 8), dict(scales=[1, 1, 0.5, 0.5], mode="linear", antialias=1, opset=18)),
        ("linear/pytorch_half_pixel-to-1", (4, 4), dict(sizes=[1, 3, 1, 1], mode="linear",
                                                       coordinate_transformation_mode="pytorch_half_pixel")),
        ("nearest/channels", (4, 4), dict(scales=[1, 2, 2, 2], mode="nearest",
                                           coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
        ("cubic", (5, 5), dict(scales=[1, 1, 2, 2], mode="cubic")),
        # Opset 18's axes: scales for the listed axes only (what modelc's TorchScript import writes).
        ("linear/axes@2", (5, 5), dict(scales=[2, 2], mode="linear", axes=[2, 3], opset=18,
                                       coordinate_transformation_mode="pytorch_half_pixel")),
        ("linear/axes-inexact-1.7", (8, 8), dict(scales=[1.7, 1.7], mode="linear", axes=[2, 3], opset=18)),
        ("nearest/axes@1.5", (8, 8), dict(scales=[1.5, 1.5], mode="nearest", axes=[2, 3], opset=18,
                                          coordinate_transformation_mode="half_pixel",
                                          nearest_mode="round_prefer_ceil")),
    ]
    d = os.path.join(out, "resize")
    os.makedirs(d, exist_ok=True)

    def run():
        exported, refused, bad = 0, 0, []
        for case, hw, kw in cases:
            src = os.path.join(d, case.replace("/", "_") + ".onnx")
            resize_model(src, hw, **kw)
            x = np.random.default_rng(0).standard_normal((1, 3, *hw)).astype(np.float32)
            ref = ort(src, x)
            tfl = src[:-5] + ".tflite"
            if not converts(modelc, src, tfl, case, case in RESIZE_MUST_EXPORT, bad):
                refused += 1
                continue
            y, _, _ = litert(tfl, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
            y = y.transpose(0, 3, 1, 2)
            if y.shape != ref.shape or np.abs(y - ref).max() > 1e-5 * max(1.0, np.abs(ref).max()):
                bad.append(f"{case}: wrong result")
            exported += 1
        msg = f"{exported} exported exactly, {refused} refused with a reason"
        return not bad, msg + ("; " + "; ".join(bad) if bad else "")

    check(results, "onnx->tflite resize forms", run)


def single_op_model(path: str, op: str, shape, opset: int, consts, dtype, out_dtype, attrs) -> None:
    """An ONNX model of one `op` on input `x` (shape, dtype) and constant further inputs
    (None: an omitted optional input)."""
    import onnx
    from onnx import helper, numpy_helper

    inits, ins = [], ["x"]
    for i, c in enumerate(consts):
        if c is None:
            ins.append("")
            continue
        inits.append(numpy_helper.from_array(np.asarray(c), f"c{i}"))
        ins.append(f"c{i}")
    tp = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    out_tp = helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype or dtype))
    g = helper.make_graph([helper.make_node(op, ins, ["y"], **attrs)], op,
                          [helper.make_tensor_value_info("x", tp, list(shape))],
                          [helper.make_tensor_value_info("y", out_tp, None)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), path)


def op_case(name, op, shape=(2, 3, 4, 5), opset=17, consts=(), dtype=np.float32, out=None, must=False, **attrs):
    return dict(name=name, op=op, shape=shape, opset=opset, consts=consts, dtype=dtype,
                out_dtype=out, must=must, attrs=attrs)


# Attribute forms of single ops where a converter can silently compute something else.
# must=True: the form has to export (the others may be refused, with a reason).
OP_FORMS = [
    op_case("softmax-opset11-default-axis", "Softmax", opset=11, must=True),
    op_case("softmax-opset11-axis2", "Softmax", opset=11, axis=2, must=True),
    op_case("logsoftmax-opset11-axis1", "LogSoftmax", opset=11, axis=1, must=True),
    op_case("softmax-opset13-last", "Softmax", opset=13, must=True),
    op_case("softmax-opset13-axis1", "Softmax", opset=13, axis=1),
    op_case("pad-reflect", "Pad", consts=[np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)], mode="reflect", must=True),
    op_case("pad-constant-value", "Pad", consts=[np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64),
                                                 np.array(1.5, np.float32)], must=True),
    op_case("pad-negative", "Pad", consts=[np.array([0, 0, -1, 1, 0, 0, 1, -2], np.int64)], must=True),
    op_case("pad-crop-only", "Pad", consts=[np.array([0, 0, -1, 0, 0, 0, 0, -2], np.int64)], must=True),
    op_case("pad-negative-edge", "Pad", consts=[np.array([0, 0, -1, 2, 0, 0, 1, -2], np.int64)], mode="edge",
            must=True),
    op_case("pad-negative-reflect", "Pad", consts=[np.array([0, 0, 1, -1, 0, 0, -1, 2], np.int64)], mode="reflect",
            must=True),
    op_case("pad-edge", "Pad", consts=[np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)], mode="edge", must=True),
    op_case("gather-negative", "Gather", consts=[np.array([-1, 0, 2], np.int64)], axis=1, must=True),
    op_case("gather-scalar-negative", "Gather", consts=[np.array(-2, np.int64)], axis=2, must=True),
    op_case("gather-2d-indices", "Gather", consts=[np.array([[0, 1], [3, 2]], np.int64)], axis=3, must=True),
    op_case("reducemean-all", "ReduceMean", keepdims=0, must=True),
    op_case("reducesum-empty-axes", "ReduceSum", opset=13, consts=[np.array([], np.int64)], must=True),
    op_case("reducesum-empty-axes-noop", "ReduceSum", opset=13, consts=[np.array([], np.int64)],
            noop_with_empty_axes=1),
    op_case("reducesum-axes-input", "ReduceSum", opset=13, consts=[np.array([1, -1], np.int64)], must=True),
    op_case("reducemax-negative-axis", "ReduceMax", opset=13, axes=[-2], keepdims=0, must=True),
    op_case("reducemean-opset18", "ReduceMean", opset=18, consts=[np.array([2, 3], np.int64)], keepdims=0, must=True),
    op_case("reduceprod", "ReduceProd", opset=13, axes=[3], must=True),
    op_case("argmax-last-index", "ArgMax", axis=2, select_last_index=1, out=np.int64),
    op_case("clip-min-only", "Clip", consts=[np.array(-1.0, np.float32)], must=True),
    op_case("clip-max-only", "Clip", consts=[None, np.array(1.0, np.float32)], must=True),
    op_case("leakyrelu", "LeakyRelu", alpha=0.3, must=True),
    op_case("hardsigmoid-alpha-beta", "HardSigmoid", alpha=0.3, beta=0.4, must=True),
    op_case("hardswish", "HardSwish", opset=14, must=True),
    op_case("elu-alpha", "Elu", alpha=0.7),
    op_case("prelu-last-axis", "PRelu", consts=[np.array([0.1, 0.2, 0.3, 0.4, 0.5], np.float32)], must=True),
    op_case("prelu-channel", "PRelu", consts=[np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1)], must=True),
    op_case("div-int", "Div", consts=[np.array(3, np.int32)], dtype=np.int32, must=True),
    op_case("mod-int", "Mod", consts=[np.array(3, np.int32)], dtype=np.int32, must=True),
    op_case("fmod-int", "Mod", consts=[np.array(-3, np.int32)], dtype=np.int32, fmod=1, must=True),
    op_case("fmod-float", "Mod", consts=[np.array(0.7, np.float32)], fmod=1, must=True),
    op_case("tile", "Tile", consts=[np.array([1, 2, 1, 3], np.int64)], must=True),
    op_case("expand", "Expand", shape=(2, 1, 4, 1), consts=[np.array([2, 3, 4, 5], np.int64)], must=True),
    op_case("expand-broadcast-shape", "Expand", shape=(2, 1, 4, 1), consts=[np.array([1, 3, 1, 5], np.int64)],
            must=True),
    op_case("transpose-perm", "Transpose", perm=[3, 1, 0, 2], must=True),
    op_case("transpose-default", "Transpose", must=True),
    op_case("slice-negative-step", "Slice", consts=[np.array([-1], np.int64), np.array([-100], np.int64),
                                                   np.array([3], np.int64), np.array([-2], np.int64)], must=True),
    op_case("flatten-axis0", "Flatten", axis=0, must=True),
    op_case("depthtospace-crd", "DepthToSpace", shape=(1, 8, 3, 3), blocksize=2, mode="CRD", must=True),
    op_case("depthtospace-dcr", "DepthToSpace", shape=(1, 8, 3, 3), blocksize=2, mode="DCR", must=True),
    op_case("gemm-transA-alpha-beta", "Gemm", shape=(4, 3), consts=[np.full((4, 5), 0.5, np.float32),
                                                                    np.ones(5, np.float32)],
            transA=1, alpha=0.5, beta=2.0, must=True),
    op_case("gemm-full-matrix-c", "Gemm", shape=(4, 3), consts=[np.linspace(-1, 1, 15, dtype=np.float32).reshape(3, 5),
                                                                np.linspace(0, 2, 20, dtype=np.float32).reshape(4, 5)],
            must=True),
    op_case("gemm-transB-beta", "Gemm", shape=(4, 3), consts=[np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3),
                                                              np.ones(5, np.float32)], transB=1, beta=0.5, must=True),
    op_case("matmul-vector-matrix", "MatMul", shape=(5,), consts=[np.linspace(-1, 1, 30, dtype=np.float32).reshape(5, 6)],
            must=True),
    op_case("matmul-dot", "MatMul", shape=(5,), consts=[np.linspace(-1, 1, 5, dtype=np.float32)], must=True),
    op_case("matmul-broadcast", "MatMul", consts=[np.linspace(-1, 1, 30, dtype=np.float32).reshape(5, 6)], must=True),
    op_case("matmul-1d", "MatMul", shape=(3, 5), consts=[np.linspace(-1, 1, 5, dtype=np.float32)], must=True),
    op_case("cast-to-int32", "Cast", to=6, out=np.int32, must=True),
    op_case("squeeze-all-ones", "Squeeze", shape=(1, 3, 1, 5), opset=13, must=True),
    op_case("unsqueeze-negative", "Unsqueeze", opset=13, consts=[np.array([-1, 1], np.int64)], must=True),
    op_case("gelu-tanh", "Gelu", opset=20, approximate="tanh", must=True),
    # Variadic Max / Min: a chain of MAXIMUM / MINIMUM, broadcasting as it goes.
    op_case("max-three-inputs", "Max", consts=[np.linspace(-1, 1, 5, dtype=np.float32),
                                               np.array([[0.5], [-0.5], [0.0], [1.5]], np.float32)], must=True),
    op_case("min-four-inputs", "Min", consts=[np.float32(0.3), np.linspace(-2, 2, 5, dtype=np.float32),
                                              np.full((3, 1, 1), -0.2, np.float32)], must=True),
    # Ops without a builtin, exported by their decompose-* passes.
    op_case("instancenorm", "InstanceNormalization", consts=[np.array([0.5, 1.0, -1.5], np.float32),
                                                             np.array([0.1, -0.2, 0.3], np.float32)],
            epsilon=1e-3, must=True),
    op_case("instancenorm-opset18", "InstanceNormalization", opset=18,
            consts=[np.array([0.5, 1.0, -1.5], np.float32), np.array([0.1, -0.2, 0.3], np.float32)], must=True),
    op_case("reducel2-axes", "ReduceL2", opset=13, axes=[1, -1], keepdims=0, must=True),
    op_case("reducel2-all", "ReduceL2", opset=13, must=True),
    op_case("reducel2-opset18", "ReduceL2", opset=18, consts=[np.array([2], np.int64)], must=True),
    op_case("gatherelements-axis3", "GatherElements",
            consts=[np.array([[[[4, 0], [1, -1]]]], np.int64).repeat(2, 0).repeat(3, 1)], axis=3, must=True),
    op_case("gatherelements-axis1", "GatherElements",
            consts=[np.arange(2 * 2 * 4 * 5, dtype=np.int64).reshape(2, 2, 4, 5) % 3], axis=1, must=True),
    op_case("scatternd", "ScatterND", consts=[np.array([[0, 1], [1, -1]], np.int64),
                                              np.linspace(-1, 1, 40, dtype=np.float32).reshape(2, 4, 5)], must=True),
    op_case("scatternd-elements", "ScatterND", consts=[np.array([[0, 0, 0, 0], [1, 2, 3, 4]], np.int64),
                                                       np.array([7.0, -7.0], np.float32)], must=True),
    op_case("scatternd-add", "ScatterND", opset=16,
            consts=[np.array([[1], [1]], np.int64), np.ones((2, 3, 4, 5), np.float32)], reduction="add", must=True),
]


def op_forms(modelc: str, out: str, results: list, only) -> None:
    """OP_FORMS: each converts and matches onnxruntime in LiteRT (1e-5 of the output's
    range), or is refused with a reason. A wrong result, a file LiteRT cannot load or run,
    or a refused must-export form fails."""
    name = "op_forms"
    if only and name not in only:
        return
    d = os.path.join(out, "op_forms")
    os.makedirs(d, exist_ok=True)

    def run():
        exported, refused, bad = 0, 0, []
        for c in OP_FORMS:
            src = os.path.join(d, c["name"] + ".onnx")
            single_op_model(src, c["op"], c["shape"], c["opset"], c["consts"], c["dtype"],
                            c["out_dtype"], c["attrs"])
            rng = np.random.default_rng(0)
            if np.issubdtype(c["dtype"], np.floating):
                x = (rng.standard_normal(c["shape"]) * 3).astype(c["dtype"])
            else:
                x = rng.integers(-5, 5, c["shape"]).astype(c["dtype"])
            ref = ort(src, x)
            tfl = src[:-5] + ".tflite"
            if not converts(modelc, src, tfl, c["name"], c["must"], bad):
                refused += 1
                continue
            try:
                ys, last = litert_channels_last(tfl, x)
            except Exception as e:  # noqa: BLE001 - LiteRT rejecting the file is the failure
                bad.append(f"{c['name']}: LiteRT: {str(e)[:100]}")
                continue
            y = from_channels_last(ys[0], ref, last)
            tol = 1e-5 * max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
            if y.shape != ref.shape or (ref.size and np.abs(y.astype(np.float64) - ref).max() > tol):
                bad.append(f"{c['name']}: wrong result")
            exported += 1
        msg = f"{exported} of {len(OP_FORMS)} exported exactly, {refused} refused with a reason"
        return not bad, msg + ("; " + "; ".join(bad) if bad else "")

    check(results, "onnx->tflite op forms", run)


def layout_forms_cases():
    """(name, nodes, initializers, input shape, opset, must) of small graphs the layout pass
    turns channels-last: convolution and pooling attribute forms, and the ops that read a
    convolution's output along an axis (whose axis the pass must remap)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)

    def c(name, a):
        return numpy_helper.from_array(np.asarray(a, np.float32), name)

    def i64(name, v):
        return numpy_helper.from_array(np.array(v, np.int64), name)

    def conv(name, xshape, wshape, must=True, bias=True, **attrs):
        inits, ins = [c("w", rng.standard_normal(wshape) * 0.3)], ["x", "w"]
        if bias:
            inits.append(c("b", rng.standard_normal(wshape[0])))
            ins.append("b")
        return (name, [helper.make_node("Conv", ins, ["y"], **attrs)], inits, xshape, 17, must)

    def convt(name, xshape, wshape, must=True, bias=True, relu=False, **attrs):
        inits, ins = [c("w", rng.standard_normal(wshape) * 0.3)], ["x", "w"]
        if bias:
            inits.append(c("b", rng.standard_normal(wshape[1] * attrs.get("group", 1))))
            ins.append("b")
        nodes = [helper.make_node("ConvTranspose", ins, ["t" if relu else "y"], **attrs)]
        if relu:
            nodes.append(helper.make_node("Relu", ["t"], ["y"]))
        return (name, nodes, inits, xshape, 17, must)

    def pool(name, op, xshape=(1, 3, 9, 9), must=True, **attrs):
        return (name, [helper.make_node(op, ["x"], ["y"], **attrs)], [], xshape, 17, must)

    def after_conv(name, node, inits=(), channels=5, opset=17, must=True, xshape=(1, 3, 4, 6)):
        first = helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1])
        w = c("w", rng.standard_normal((channels, xshape[1], 1, 1)))
        return (name, [first, node], [w, *inits], xshape, opset, must)

    return [
        conv("conv-asymmetric-pads", (1, 3, 9, 9), (4, 3, 3, 3), pads=[0, 1, 2, 1]),
        conv("conv-same-upper-even-kernel", (1, 3, 8, 8), (5, 3, 4, 4), auto_pad="SAME_UPPER", strides=[2, 2]),
        conv("conv-same-lower", (1, 3, 8, 8), (5, 3, 4, 4), auto_pad="SAME_LOWER", strides=[2, 2]),
        conv("conv-same-lower-even-kernel", (1, 3, 9, 9), (4, 3, 4, 2), auto_pad="SAME_LOWER"),
        conv("conv-dilated", (1, 3, 11, 11), (4, 3, 3, 3), dilations=[2, 3], pads=[2, 3, 2, 3]),
        conv("conv-rect-strides", (1, 3, 11, 9), (4, 3, 3, 2), strides=[2, 3]),
        conv("conv-no-bias", (1, 3, 9, 9), (4, 3, 3, 3), bias=False),
        conv("conv-depthwise-multiplier-2", (1, 3, 9, 9), (6, 1, 3, 3), group=3, pads=[1, 1, 1, 1]),
        conv("conv-grouped", (1, 4, 9, 9), (6, 2, 3, 3), group=2),
        conv("conv-1d", (1, 3, 20), (4, 3, 5), pads=[2, 2]),
        conv("conv-1d-strided-dilated", (1, 3, 23), (4, 3, 3), strides=[2], dilations=[2], pads=[1, 3]),
        conv("conv-1d-depthwise", (1, 4, 20), (4, 1, 3), group=4, pads=[1, 1]),
        conv("conv-1d-same-upper", (2, 3, 17), (5, 3, 4), auto_pad="SAME_UPPER", strides=[2]),
        ("conv-1d-chain", [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1]),
                           helper.make_node("Relu", ["a"], ["r"]),
                           helper.make_node("Conv", ["r", "w2"], ["b"]),
                           helper.make_node("MaxPool", ["b"], ["y"], kernel_shape=[2], strides=[2])],
         [c("w1", rng.standard_normal((6, 3, 3)) * 0.3), c("w2", rng.standard_normal((4, 6, 3)) * 0.3)],
         (1, 3, 30), 17, True),
        convt("convtranspose-1d", (1, 4, 10), (4, 3, 4), strides=[2], pads=[1, 1]),
        convt("convtranspose-1d-output-padding", (1, 4, 10), (4, 3, 3), strides=[2], output_padding=[1]),
        convt("convtranspose-k2-s2", (1, 4, 5, 6), (4, 3, 2, 2), strides=[2, 2]),
        convt("convtranspose-k4-s2-p1", (1, 4, 5, 6), (4, 3, 4, 4), strides=[2, 2], pads=[1, 1, 1, 1]),
        convt("convtranspose-output-padding", (1, 4, 5, 6), (4, 3, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1],
              output_padding=[1, 1]),
        convt("convtranspose-asymmetric-pads", (1, 4, 5, 6), (4, 3, 4, 4), strides=[2, 2], pads=[1, 2, 2, 1]),
        convt("convtranspose-no-bias-relu", (1, 4, 5, 6), (4, 3, 3, 3), bias=False, relu=True),
        convt("convtranspose-dilated", (1, 4, 5, 6), (4, 3, 3, 3), must=False, dilations=[2, 2]),
        convt("convtranspose-grouped", (1, 4, 5, 6), (4, 2, 3, 3), group=2),
        convt("convtranspose-depthwise-upsample", (1, 4, 5, 6), (4, 1, 4, 4), bias=False, group=4, strides=[2, 2],
              pads=[1, 1, 1, 1]),
        convt("convtranspose-output-shape", (1, 4, 5, 6), (4, 3, 3, 3), strides=[2, 2], output_shape=[10, 12]),
        convt("convtranspose-output-shape-k4", (1, 4, 5, 6), (4, 3, 4, 4), strides=[2, 2], output_shape=[9, 13]),
        convt("convtranspose-output-shape-full", (1, 4, 5, 6), (4, 3, 3, 3), strides=[2, 2], output_shape=[11, 13]),
        pool("maxpool-same-upper", "MaxPool", kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"),
        pool("maxpool-asymmetric-pads", "MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0]),
        pool("maxpool-dilated", "MaxPool", must=False, kernel_shape=[3, 3], dilations=[2, 2]),
        pool("maxpool-1d", "MaxPool", xshape=(1, 3, 20), kernel_shape=[3], strides=[2], pads=[1, 1]),
        pool("avgpool-1d-count-pads", "AveragePool", xshape=(1, 3, 20), kernel_shape=[3], strides=[2],
             pads=[1, 1], count_include_pad=1),
        pool("avgpool-1d-ceil", "AveragePool", xshape=(1, 3, 20), kernel_shape=[3], strides=[2], ceil_mode=1),
        pool("global-average-pool", "GlobalAveragePool"),
        pool("global-max-pool", "GlobalMaxPool"),
        pool("global-average-pool-1d", "GlobalAveragePool", xshape=(1, 3, 20)),
        after_conv("concat-channels", helper.make_node("Concat", ["a", "x"], ["y"], axis=1)),
        after_conv("concat-negative-axis", helper.make_node("Concat", ["a", "x"], ["y"], axis=-3)),
        after_conv("reshape", helper.make_node("Reshape", ["a", "s"], ["y"]), [i64("s", [1, 5, -1])]),
        after_conv("softmax-channels", helper.make_node("Softmax", ["a"], ["y"], axis=1), opset=13),
        after_conv("reducemean-hw", helper.make_node("ReduceMean", ["a"], ["y"], axes=[2, 3], keepdims=0), opset=13),
        after_conv("reducemax-channels", helper.make_node("ReduceMax", ["a"], ["y"], axes=[1], keepdims=1), opset=13),
        after_conv("transpose", helper.make_node("Transpose", ["a"], ["y"], perm=[0, 2, 1, 3])),
        after_conv("slice-channels", helper.make_node("Slice", ["a", "st", "en", "ax"], ["y"]),
                   [i64("st", [1]), i64("en", [4]), i64("ax", [1])]),
        after_conv("split-channels", helper.make_node("Split", ["a", "sp"], ["y", "z"], axis=1),
                   [i64("sp", [2, 3])], opset=13),
        after_conv("gather-last-channel", helper.make_node("Gather", ["a", "i"], ["y"], axis=1), [i64("i", -1)]),
        after_conv("flatten-axis2", helper.make_node("Flatten", ["a"], ["y"], axis=2)),
        after_conv("depthtospace", helper.make_node("DepthToSpace", ["a"], ["y"], blocksize=2), channels=8),
        after_conv("depthtospace-crd", helper.make_node("DepthToSpace", ["a"], ["y"], blocksize=2, mode="CRD"),
                   channels=12),
        after_conv("mul-per-channel", helper.make_node("Mul", ["a", "k"], ["y"]), [c("k", rng.standard_normal((5, 1, 1)))]),
        after_conv("add-along-width", helper.make_node("Add", ["a", "k"], ["y"]), [c("k", rng.standard_normal(6))]),
        after_conv("add-rank2", helper.make_node("Add", ["a", "k"], ["y"]), [c("k", rng.standard_normal((4, 1)))]),
        after_conv("pad-reflect", helper.make_node("Pad", ["a", "p"], ["y"], mode="reflect"),
                   [i64("p", [0, 0, 1, 2, 0, 0, 2, 1])]),
        after_conv("resize-linear", helper.make_node("Resize", ["a", "", "sc"], ["y"], mode="linear"),
                   [c("sc", [1, 1, 2, 2])]),
    ]


def layout_forms(modelc: str, out: str, results: list, only) -> None:
    """layout_forms_cases(): each converts and matches onnxruntime in LiteRT, or (when not
    must) is refused with a reason. The .tflite takes its image input channels last and
    gives image outputs channels last."""
    name = "layout_forms"
    if only and name not in only:
        return
    import onnx
    from onnx import TensorProto, helper

    d = os.path.join(out, "layout_forms")
    os.makedirs(d, exist_ok=True)

    def run():
        exported, refused, bad = 0, 0, []
        for case, nodes, inits, xshape, opset, must in layout_forms_cases():
            src = os.path.join(d, case + ".onnx")
            outs = [o for n in nodes for o in n.output if o not in {i for m in nodes for i in m.input}]
            g = helper.make_graph(nodes, case, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(xshape))],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], inits)
            onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), src)
            x = np.random.default_rng(1).standard_normal(xshape).astype(np.float32)
            import onnxruntime as rt
            refs = rt.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, {"x": x})
            tfl = src[:-5] + ".tflite"
            if not converts(modelc, src, tfl, case, must, bad):
                refused += 1
                continue
            try:
                ys, last = litert_channels_last(tfl, x)
            except Exception as e:  # noqa: BLE001 - LiteRT rejecting the file is the failure
                bad.append(f"{case}: LiteRT: {str(e)[:100]}")
                continue
            for y, ref in zip(ys, refs):
                y = from_channels_last(y, ref, last)
                if y.shape != ref.shape or rel_err(y, ref) > TOLERANCE:
                    bad.append(f"{case}: wrong result")
                    break
            exported += 1
        msg = f"{exported} exported, {refused} refused with a reason"
        return not bad, msg + ("; " + "; ".join(bad) if bad else "")

    check(results, "onnx->tflite layout forms", run)


def quantized_forms(modelc: str, out: str, results: list, only) -> None:
    """Ops after a convolution, quantized by `modelc quantize` (int8 activations, outputs
    quantized too) and converted to TFLite by `modelc convert`: each converts to a model
    LiteRT runs with XNNPACK and with its own builtin kernels (which check output scales
    XNNPACK accepts silently), within one output step of onnxruntime on the QDQ model for
    99% of the elements, or is refused with a reason."""
    name = "quantized_forms"
    if only and name not in only:
        return
    import onnx
    import onnxruntime as rt
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from onnx import TensorProto, helper, numpy_helper

    d = os.path.join(out, "quantized_forms")
    calib = os.path.join(d, "calib")
    os.makedirs(calib, exist_ok=True)
    rng = np.random.default_rng(0)
    calib_1d = os.path.join(d, "calib_1d")
    os.makedirs(calib_1d, exist_ok=True)
    for i in range(8):
        np.save(os.path.join(calib, f"{i:03d}.npy"), rng.standard_normal((1, 3, 8, 8)).astype(np.float32))
        np.save(os.path.join(calib_1d, f"{i:03d}.npy"), rng.standard_normal((1, 3, 16)).astype(np.float32))

    def c(n, a, dtype=np.float32):
        return numpy_helper.from_array(np.asarray(a, dtype), n)

    H = helper.make_node
    # (name, nodes after the convolution `a`, extra initializers, opset, must)
    cases = [
        ("relu", [H("Relu", ["a"], ["y"])], [], 17, True),
        ("sigmoid", [H("Sigmoid", ["a"], ["y"])], [], 17, True),
        ("softmax-channels", [H("Softmax", ["a"], ["y"], axis=1)], [], 13, True),
        ("hardswish", [H("HardSwish", ["a"], ["y"])], [], 14, True),
        ("leakyrelu", [H("LeakyRelu", ["a"], ["y"], alpha=0.1)], [], 17, True),
        ("avgpool-pads", [H("AveragePool", ["a"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], [], 17, True),
        ("avgpool-ceil", [H("AveragePool", ["a"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                            ceil_mode=1)], [], 17, False),
        ("maxpool", [H("MaxPool", ["a"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], [], 17, True),
        ("global-average-pool", [H("GlobalAveragePool", ["a"], ["y"])], [], 17, True),
        ("concat-differently-scaled", [H("Mul", ["a", "k"], ["m"]), H("Concat", ["a", "m"], ["y"], axis=1)],
         [c("k", 3.0)], 17, True),
        ("residual-add", [H("Relu", ["a"], ["r"]), H("Add", ["a", "r"], ["y"])], [], 17, True),
        ("swish", [H("Sigmoid", ["a"], ["s"]), H("Mul", ["a", "s"], ["y"])], [], 17, True),
        ("resize-nearest", [H("Resize", ["a", "", "sc"], ["y"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
         [c("sc", [1, 1, 2, 2])], 17, True),
        ("flatten-gemm", [H("Flatten", ["a"], ["f"]), H("Gemm", ["f", "gw", "gb"], ["y"], transB=1)],
         [c("gw", rng.standard_normal((5, 256)) * 0.1), c("gb", rng.standard_normal(5))], 17, True),
        ("clip-0-6", [H("Clip", ["a", "lo", "hi"], ["y"])], [c("lo", 0.0), c("hi", 6.0)], 17, True),
        ("reducemean-hw", [H("ReduceMean", ["a"], ["y"], axes=[2, 3], keepdims=1)], [], 13, True),
        ("depthwise-no-bias", [H("Conv", ["a", "dw"], ["y"], group=4, kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
         [c("dw", rng.standard_normal((4, 1, 3, 3)))], 17, True),
        ("pad", [H("Pad", ["a", "p"], ["y"])], [c("p", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)], 17, True),
        ("convtranspose", [H("ConvTranspose", ["a", "wt", "bt"], ["y"], strides=[2, 2])],
         [c("wt", rng.standard_normal((4, 3, 2, 2)) * 0.3), c("bt", rng.standard_normal(3) * 0.1)], 17, True),
        ("convtranspose-pads-no-bias", [H("ConvTranspose", ["a", "wt"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])],
         [c("wt", rng.standard_normal((4, 5, 4, 4)) * 0.3)], 17, True),
        ("convtranspose-crop", [H("ConvTranspose", ["a", "wt", "bt"], ["y"], strides=[2, 2], pads=[1, 2, 2, 1])],
         [c("wt", rng.standard_normal((4, 3, 4, 4)) * 0.3), c("bt", rng.standard_normal(3) * 0.1)], 17, True),
        ("convtranspose-relu", [H("ConvTranspose", ["a", "wt", "bt"], ["t"], strides=[2, 2]), H("Relu", ["t"], ["y"])],
         [c("wt", rng.standard_normal((4, 3, 3, 3)) * 0.3), c("bt", rng.standard_normal(3) * 0.1)], 17, True),
        # After a 1-D convolution (the cases named *-1d: input [1, 3, 16]).
        ("relu-maxpool-1d", [H("Relu", ["a"], ["r"]), H("MaxPool", ["r"], ["y"], kernel_shape=[2], strides=[2])],
         [], 17, True),
        ("conv-chain-1d", [H("Relu", ["a"], ["r"]), H("Conv", ["r", "w2"], ["y"], kernel_shape=[3], group=2)],
         [c("w2", rng.standard_normal((6, 2, 3)) * 0.3)], 17, True),
    ]

    def run():
        exported, refused, bad = 0, 0, []
        for case, tail, extra, opset, must in cases:
            src = os.path.join(d, case + ".onnx")
            one_d = case.endswith("-1d")
            xshape, window = ((1, 3, 16), [3]) if one_d else ((1, 3, 8, 8), [3, 3])
            first = H("Conv", ["x", "w", "b"], ["a"], kernel_shape=window, pads=[1] * 2 * len(window))
            inits = [c("w", rng.standard_normal((4, 3, *window)) * 0.3), c("b", rng.standard_normal(4) * 0.1), *extra]
            g = helper.make_graph([first, *tail], case,
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(xshape))],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
            onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), src)
            qdq, tfl = src[:-5] + ".q.onnx", src[:-5] + ".tflite"
            r = subprocess.run([modelc, "quantize", src, qdq, "--calibration", calib_1d if one_d else calib,
                                "--activation-type", "i8",
                                "--quantize-outputs"], capture_output=True, text=True)
            if r.returncode != 0:
                bad.append(f"{case}: quantize failed: {r.stderr.strip()[-120:]}")
                continue
            if not converts(modelc, qdq, tfl, case, must, bad):
                refused += 1
                continue
            x = rng.standard_normal(xshape).astype(np.float32)
            ref = rt.InferenceSession(qdq, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            for kernels in ("xnnpack", "builtin"):
                try:
                    kw = {} if kernels == "xnnpack" else {
                        "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
                    it = Interpreter(model_path=tfl, **kw)
                    it.allocate_tensors()
                    it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(np.moveaxis(x, 1, -1)))
                    it.invoke()
                    od = it.get_output_details()[0]
                    y = it.get_tensor(od["index"])
                except Exception as e:  # noqa: BLE001 - LiteRT refusing the file is the failure
                    bad.append(f"{case} ({kernels}): {str(e)[:100]}")
                    break
                if y.ndim >= 3:
                    y = np.moveaxis(y, -1, 1)
                details = {t["index"]: t for t in it.get_tensor_details()}
                last = [o for o in it._get_ops_details() if od["index"] in list(o["outputs"])][0]
                # The step of the output's quantization; an op the quantizer leaves in float
                # (HardSwish, ReduceMean) reads a dequantized tensor whose elements may
                # differ by one step of theirs, so its output by about as much.
                ops = it._get_ops_details()
                if last["op_name"] != "DEQUANTIZE":
                    last = [o for o in ops if last["inputs"][0] in list(o["outputs"])][0]
                step = details[last["inputs"][0]]["quantization"][0] if last["op_name"] == "DEQUANTIZE" else 0.0
                if not step:
                    bad.append(f"{case}: the output is not computed from a quantized tensor")
                    break
                within = float((np.abs(y - ref) / step <= 1.0 + 1e-3).mean()) if y.shape == ref.shape else 0.0
                if within < 0.99:
                    bad.append(f"{case} ({kernels}): {100 * within:.1f}% within one step")
                    break
            else:
                exported += 1
        msg = f"{exported} exported, {refused} refused with a reason"
        return not bad, msg + ("; " + "; ".join(bad) if bad else "")

    check(results, "quantized forms -> tflite", run)


def quantized_onnx(modelc: str, out: str, results: list, only) -> None:
    """ResNet-18 quantized by onnxruntime's QDQ quantizer (int8, per-channel weights) -> TFLite:
    every QDQ-wrapped op must become a quantized TFLite op, and LiteRT must agree with
    onnxruntime on the QDQ model to within a few output quantization steps."""
    name = "resnet18_qdq"
    if only and name not in only:
        return

    def run():
        import onnxruntime as rt
        from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                              quantize_static)

        src = os.path.join(out, "resnet18.onnx")
        if not os.path.exists(src):
            export_torchvision("resnet18", src)
        qdq = os.path.join(out, f"{name}.onnx")
        rng = np.random.default_rng(1)
        calib = [rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(4)]

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(calib)

            def get_next(self):
                x = next(self.it, None)
                return None if x is None else {"input": x}

        quantize_static(src, qdq, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        x = calib[0]
        opts = rt.SessionOptions()
        # Plain QDQ semantics (no fusion into QLinear kernels with other rounding).
        opts.graph_optimization_level = rt.GraphOptimizationLevel.ORT_DISABLE_ALL
        ref = rt.InferenceSession(qdq, opts, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        tfl = os.path.join(out, f"{name}.tflite")
        convert(modelc, qdq, tfl)
        y, ops, _ = litert(tfl, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        names = [o["op_name"] for o in ops if o["op_name"] != "DELEGATE"]
        convs = [o for o in ops if o["op_name"] == "CONV_2D"]
        # Quantized: the convolutions' inputs are int8 tensors.
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=tfl)
        it.allocate_tensors()
        dtypes = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
        int8_convs = sum(1 for o in convs if dtypes[o["inputs"][0]] == np.int8)
        step = float(np.abs(ref).max()) / 127
        d = np.abs(y - ref)
        frac = float((d <= 3 * step).mean())
        ok = frac >= 0.99 and int8_convs == len(convs) == 20 and len(names) <= 40
        return ok, (f"{frac:.1%} within 3 output steps (max diff {d.max() / step:.1f} steps), "
                    f"{int8_convs}/{len(convs)} int8 convs, {len(names)} ops")

    check(results, f"onnx(qdq)->tflite {name}", run)


def tflite_sources(modelc: str, out: str, results: list, only) -> None:
    for path in sorted(glob.glob(os.path.join(ROOT, "testdata/tflite/*.tflite"))):
        name = os.path.basename(path)[: -len(".tflite")]
        if only and name not in only:
            continue
        x = np.load(path[: -len(".tflite")] + ".input.npy")
        ref = np.load(path[: -len(".tflite")] + ".output.npy")
        quantized = not name.endswith("_float")

        def judge(y):
            if quantized:
                return quant_ok(y, ref)
            err = rel_err(y, ref)
            return err <= TOLERANCE, f"rel err {err:.2e}"

        def to_tflite(path=path, name=name):
            dst = os.path.join(out, f"{name}.rt.tflite")
            convert(modelc, path, dst)
            y, ops, _ = litert(dst, x)
            ok, msg = judge(y)
            return ok, msg + f", {len(ops)} ops"

        def to_onnx(path=path, name=name):
            dst = os.path.join(out, f"{name}.onnx")
            convert(modelc, path, dst)
            y = ort(dst, x)
            if y.ndim == 4 and y.shape != ref.shape:
                y = y.transpose(0, 2, 3, 1)
            return judge(y)

        def via_onnx(path=path, name=name):
            mid = os.path.join(out, f"{name}.via.onnx")
            dst = os.path.join(out, f"{name}.via.tflite")
            convert(modelc, path, mid)
            convert(modelc, mid, dst)
            y, ops, _ = litert(dst, x)
            ok, msg = judge(y)
            return ok, msg + f", {len(ops)} ops"

        def interp(path=path, name=name):
            d = os.path.join(out, f"{name}.run")
            inp = path[: -len(".tflite")] + ".input.npy"
            r = subprocess.run([modelc, "run", path, inp, "-o", d], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr.strip())
            return judge(np.load(os.path.join(d, "output_0.npy")))

        check(results, f"modelc run {name}", interp)
        check(results, f"tflite->tflite {name}", to_tflite)
        check(results, f"tflite->onnx {name}", to_onnx)
        check(results, f"tflite->onnx->tflite {name}", via_onnx)


# ----------------------------------------------------------------------------- LSTM

def export_torch_lstm(path: str, x_shape, outputs: str, **kw) -> None:
    """nn.LSTM(**kw) returning `outputs` ("y", "yh" = (y, h_n), "yc" = (y, c_n))."""
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(**kw).eval()

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            return {"y": (y,), "yh": (y, h), "yc": (y, c)}[outputs]

    names = {"y": ["y"], "yh": ["y", "h"], "yc": ["y", "c"]}[outputs]
    torch.onnx.export(Wrap(), (torch.randn(*x_shape),), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=names)


def hand_lstm(path: str, *, seq: int, batch: int, inp: int, hidden: int, direction: str,
              layout: int, peepholes: bool, zero_state: bool, outputs: str = "yh",
              keras: bool = False) -> None:
    """One ONNX LSTM node with random weights, built with onnx.helper; `outputs` "yh" (Y and
    Y_h), "y" or "h". `keras`: the explicit forms tf2onnx writes, the default activations
    spelled out and a constant sequence_lens equal to the sequence length."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    nd = 2 if direction == "bidirectional" else 1
    f = lambda *s: (0.3 * rng.standard_normal(s)).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(f(nd, 4 * hidden, inp), "W"),
             numpy_helper.from_array(f(nd, 4 * hidden, hidden), "R"),
             numpy_helper.from_array(f(nd, 8 * hidden), "B")]
    ins = ["x", "W", "R", "B", ""]
    if keras:
        inits.append(numpy_helper.from_array(np.full(batch, seq, np.int32), "seq_lens"))
        ins[4] = "seq_lens"
    if zero_state:
        shape = (batch, nd, hidden) if layout else (nd, batch, hidden)
        inits += [numpy_helper.from_array(np.zeros(shape, np.float32), "h0"),
                  numpy_helper.from_array(np.zeros(shape, np.float32), "c0")]
        ins += ["h0", "c0"]
    else:
        ins += ["", ""]
    if peepholes:
        inits.append(numpy_helper.from_array(f(nd, 3 * hidden), "P"))
        ins.append("P")
    attrs = {"activations": ["Sigmoid", "Tanh", "Tanh"] * nd} if keras else {}
    node = helper.make_node("LSTM", ins, ["y" if "y" in outputs else "", "h" if "h" in outputs else ""],
                            hidden_size=hidden, direction=direction, layout=layout, **attrs)
    x_shape = [batch, seq, inp] if layout else [seq, batch, inp]
    y_shape = [batch, seq, nd, hidden] if layout else [seq, nd, batch, hidden]
    h_shape = [batch, nd, hidden] if layout else [nd, batch, hidden]
    g = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)] * ("y" in outputs)
                          + [helper.make_tensor_value_info("h", TensorProto.FLOAT, h_shape)] * ("h" in outputs),
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    onnx.save(m, path)


def onnx_outputs(path: str, x: np.ndarray) -> dict:
    """Every output of the ONNX model by name: onnxruntime, or onnx's reference evaluator
    for LSTM layout 1 (onnxruntime has only layout 0). An NHWC `x` is transposed for a
    model that takes NCHW."""
    import onnx

    m = onnx.load(path)
    names = [o.name for o in m.graph.output]
    iname = m.graph.input[0].name
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    if x.ndim == 4 and list(x.shape) != dims and dims == [x.shape[0], x.shape[3], x.shape[1], x.shape[2]]:
        # The image input was switched back to NCHW by the import.
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if any(a.name == "layout" and a.i == 1 for n in m.graph.node for a in n.attribute):
        from onnx.reference import ReferenceEvaluator

        ys = ReferenceEvaluator(m).run(None, {iname: x})
    else:
        import onnxruntime as rt

        ys = rt.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {iname: x})
    return dict(zip(names, ys))


def litert_outputs(path: str, x: np.ndarray):
    """Every output of the .tflite by tensor name, and the operator names (one invoke on a
    fresh interpreter: the LSTM state is in variable tensors that start at zero)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    if tuple(inp["shape"]) != x.shape:
        raise RuntimeError(f"LiteRT input shape {tuple(inp['shape'])} != {x.shape}")
    it.set_tensor(inp["index"], x)
    it.invoke()
    outs = {o["name"]: it.get_tensor(o["index"]) for o in it.get_output_details()}
    ops = [o["op_name"] for o in it._get_ops_details() if o["op_name"] != "DELEGATE"]
    return outs, ops


def compare(ys: dict, refs: dict) -> tuple[bool, str]:
    if set(ys) != set(refs):
        raise RuntimeError(f"outputs {sorted(ys)} != {sorted(refs)}")
    errs = {n: rel_err(ys[n], refs[n]) for n in refs}
    return all(e <= TOLERANCE for e in errs.values()), ", ".join(f"{n} rel err {e:.2e}" for n, e in errs.items())


def to_bidirectional_op(src: str, dst: str, merge: bool) -> None:
    """Rewrites modelc's form of a bidirectional LSTM (UNIDIRECTIONAL_SEQUENCE_LSTM forward,
    REVERSE_V2 / UNIDIRECTIONAL_SEQUENCE_LSTM / REVERSE_V2 backward) into one
    BIDIRECTIONAL_SEQUENCE_LSTM with LiteRT's own schema classes: a file as TensorFlow's
    converter may write it, for the importer. `merge`: the op replaces the CONCATENATION of
    the two outputs on the last axis (merge_outputs); else it has two outputs."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    with open(src, "rb") as f:
        m = s.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
    g = m.subgraphs[0]
    code = lambda op: m.operatorCodes[op.opcodeIndex].builtinCode  # noqa: E731
    BO = s.BuiltinOperator
    writer = {t: op for op in g.operators for t in op.outputs}
    readers = lambda t: [op for op in g.operators if t in list(op.inputs)]  # noqa: E731
    lstms = [op for op in g.operators if code(op) == BO.UNIDIRECTIONAL_SEQUENCE_LSTM]
    if len(lstms) != 2:
        raise RuntimeError(f"expected 2 LSTM ops, found {len(lstms)}")
    bw = next(op for op in lstms if op.inputs[0] in writer and code(writer[op.inputs[0]]) == BO.REVERSE_V2)
    fw = next(op for op in lstms if op is not bw)
    rev_in = writer[bw.inputs[0]]
    (rev_out,) = readers(bw.outputs[0])
    gone = [fw, bw, rev_in, rev_out]
    opts = s.BidirectionalSequenceLSTMOptionsT(
        fusedActivationFunction=s.ActivationFunctionType.TANH, mergeOutputs=merge,
        timeMajor=fw.builtinOptions.timeMajor)
    if merge:
        (cat,) = readers(fw.outputs[0])
        if code(cat) != BO.CONCATENATION or list(cat.inputs) != [fw.outputs[0], rev_out.outputs[0]]:
            raise RuntimeError("the LSTM outputs do not meet in one CONCATENATION")
        gone.append(cat)
        outputs = list(cat.outputs)
    else:
        outputs = [fw.outputs[0], rev_out.outputs[0]]
    m.operatorCodes.append(s.OperatorCodeT())
    oc = m.operatorCodes[-1]
    oc.builtinCode = oc.deprecatedBuiltinCode = BO.BIDIRECTIONAL_SEQUENCE_LSTM
    oc.version = 1
    op = s.OperatorT()
    op.opcodeIndex = len(m.operatorCodes) - 1
    op.inputs = ([fw.inputs[0]] + list(fw.inputs[1:18]) + list(bw.inputs[1:18])
                 + list(fw.inputs[18:20]) + list(bw.inputs[18:20]) + [-1] * 9)
    op.outputs = outputs
    op.builtinOptionsType = s.BuiltinOptions.BidirectionalSequenceLSTMOptions
    op.builtinOptions = opts
    at = min(g.operators.index(o) for o in gone)
    g.operators = [o for o in g.operators if not any(o is x for x in gone)]
    g.operators.insert(at, op)
    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with open(dst, "wb") as f:
        f.write(b.Output())


def for_tflite(path: str, x: np.ndarray) -> np.ndarray:
    """`x` for the .tflite: an NCHW image input becomes NHWC when the conversion switched it."""
    from ai_edge_litert.interpreter import Interpreter

    shape = tuple(Interpreter(model_path=path).get_input_details()[0]["shape"])
    if shape != x.shape and x.ndim == 4 and shape == (x.shape[0], x.shape[2], x.shape[3], x.shape[1]):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def export_crnn(path: str) -> None:
    """A small CRNN (convolutions over an NCHW image, then its columns through a
    bidirectional LSTM and a linear layer): the layout pass and the LSTM together."""
    import torch

    torch.manual_seed(0)
    nn = torch.nn

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d((8, 1)))
            self.rnn = nn.LSTM(16, 24, bidirectional=True)
            self.fc = nn.Linear(48, 10)

        def forward(self, x):
            f = self.conv(x).squeeze(2).permute(2, 0, 1)  # [width, batch, channels]
            y, _ = self.rnn(f)
            return self.fc(y)

    torch.onnx.export(CRNN().eval(), (torch.randn(1, 1, 16, 20),), path, opset_version=17,
                      dynamo=False, input_names=["x"], output_names=["y"])


def modelc_run_vs_litert(modelc: str, out: str, name: str, tfl: str, x: np.ndarray):
    """modelc's interpreter on the imported .tflite vs LiteRT (outputs in order)."""
    from ai_edge_litert.interpreter import Interpreter

    ref, _ = litert_outputs(tfl, x)
    names = [o["name"] for o in Interpreter(model_path=tfl).get_output_details()]
    inp = os.path.join(out, f"{name}.input.npy")
    np.save(inp, x)
    d = os.path.join(out, f"{name}.run")
    r = subprocess.run([modelc, "run", tfl, inp, "-o", d], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    ys = {n: np.load(os.path.join(d, f"output_{i}.npy")) for i, n in enumerate(names)}
    return compare(ys, ref)


def to_float16_weights(src: str, dst: str) -> None:
    """Rewrites every LSTM weight of a .tflite as float16 behind a DEQUANTIZE op, as
    TensorFlow's converter writes float16-quantized models (LiteRT's schema classes)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    with open(src, "rb") as f:
        m = s.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
    g = m.subgraphs[0]
    BO = s.BuiltinOperator
    m.operatorCodes.append(s.OperatorCodeT())
    oc = m.operatorCodes[-1]
    oc.builtinCode = oc.deprecatedBuiltinCode = BO.DEQUANTIZE
    oc.version = 3
    dq = []
    for op in g.operators:
        if m.operatorCodes[op.opcodeIndex].builtinCode != BO.UNIDIRECTIONAL_SEQUENCE_LSTM:
            continue
        for t in op.inputs[1:18]:
            if t < 0:
                continue
            tensor = g.tensors[t]
            data = m.buffers[tensor.buffer].data
            if data is None or len(data) == 0:
                continue
            half = np.frombuffer(bytes(bytearray(data)), np.float32).astype(np.float16)
            buf = s.BufferT()
            buf.data = np.frombuffer(half.tobytes(), np.uint8)
            m.buffers.append(buf)
            h = s.TensorT()
            h.shape = list(tensor.shape)
            h.type = s.TensorType.FLOAT16
            h.buffer = len(m.buffers) - 1
            h.name = (tensor.name or b"w") + b"/fp16"
            g.tensors.append(h)
            tensor.buffer = 0
            op_dq = s.OperatorT()
            op_dq.opcodeIndex = len(m.operatorCodes) - 1
            op_dq.inputs = [len(g.tensors) - 1]
            op_dq.outputs = [t]
            dq.append(op_dq)
    if not dq:
        raise RuntimeError("no LSTM weights to rewrite")
    g.operators = dq + list(g.operators)
    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with open(dst, "wb") as f:
        f.write(b.Output())


# name -> how to make the ONNX model (path) and the input shape.
LSTM_CASES = {
    "lstm_1layer": (lambda p: export_torch_lstm(p, (6, 2, 8), "yh", input_size=8, hidden_size=16), (6, 2, 8)),
    "lstm_2layer_batch_first": (lambda p: export_torch_lstm(p, (2, 6, 8), "y", input_size=8, hidden_size=16,
                                                            num_layers=2, batch_first=True), (2, 6, 8)),
    "lstm_bidirectional": (lambda p: export_torch_lstm(p, (6, 2, 8), "yh", input_size=8, hidden_size=16,
                                                       bidirectional=True), (6, 2, 8)),
    "lstm_2layer_bidirectional_batch_first": (
        lambda p: export_torch_lstm(p, (3, 7, 5), "yh", input_size=5, hidden_size=12, num_layers=2,
                                    bidirectional=True, batch_first=True), (3, 7, 5)),
    "lstm_bidirectional_batch_first": (
        lambda p: export_torch_lstm(p, (3, 7, 5), "y", input_size=5, hidden_size=12, num_layers=2,
                                    bidirectional=True, batch_first=True), (3, 7, 5)),
    "lstm_peephole_reverse": (lambda p: hand_lstm(p, seq=5, batch=2, inp=4, hidden=6, direction="reverse",
                                                  layout=0, peepholes=True, zero_state=False), (5, 2, 4)),
    "lstm_bidirectional_layout1_peephole": (
        lambda p: hand_lstm(p, seq=5, batch=3, inp=4, hidden=6, direction="bidirectional", layout=1,
                            peepholes=True, zero_state=True), (3, 5, 4)),
    "lstm_crnn": (export_crnn, (1, 1, 16, 20)),
    "lstm_keras_style_last_state": (
        lambda p: hand_lstm(p, seq=7, batch=2, inp=3, hidden=8, direction="forward", layout=0,
                            peepholes=False, zero_state=True, outputs="h", keras=True), (7, 2, 3)),
    "lstm_bidirectional_last_state": (
        lambda p: hand_lstm(p, seq=7, batch=2, inp=3, hidden=8, direction="bidirectional", layout=0,
                            peepholes=False, zero_state=False, outputs="h"), (7, 2, 3)),
}


def lstm_models(modelc: str, out: str, results: list, only) -> None:
    for name, (make, shape) in LSTM_CASES.items():
        if only and name not in only and "lstm" not in only:
            continue
        src = os.path.join(out, f"{name}.onnx")
        tfl = os.path.join(out, f"{name}.tflite")
        x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)

        def to_tflite(make=make, src=src, tfl=tfl, x=x):
            make(src)
            refs = onnx_outputs(src, x)
            convert(modelc, src, tfl)
            ys, ops = litert_outputs(tfl, for_tflite(tfl, x))
            ok, msg = compare(ys, refs)
            n_lstm = ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM")
            return ok and n_lstm > 0, f"{msg}; {len(ops)} ops: {' '.join(ops)}"

        def to_onnx(name=name, tfl=tfl, x=x):
            if not os.path.exists(tfl):
                raise RuntimeError("no .tflite (the ONNX -> TFLite step failed)")
            x = for_tflite(tfl, x)
            ref, _ = litert_outputs(tfl, x)
            dst = os.path.join(out, f"{name}.back.onnx")
            convert(modelc, tfl, dst)
            import onnx

            ops = [n.op_type for n in onnx.load(dst).graph.node]
            ok, msg = compare(onnx_outputs(dst, x), ref)
            return ok and "LSTM" in ops, f"{msg}; {len(ops)} nodes: {' '.join(ops)}"

        def via_onnx(name=name, tfl=tfl, x=x):
            """The imported ONNX written back to TFLite, in LiteRT vs the .tflite."""
            x = for_tflite(tfl, x)
            ref, _ = litert_outputs(tfl, x)
            mid = os.path.join(out, f"{name}.back.onnx")
            dst = os.path.join(out, f"{name}.via.tflite")
            convert(modelc, mid, dst)
            ys, ops = litert_outputs(dst, x)
            ok, msg = compare(ys, ref)
            return ok, f"{msg}; {len(ops)} ops"

        def interp(name=name, tfl=tfl, x=x):
            return modelc_run_vs_litert(modelc, out, name, tfl, for_tflite(tfl, x))

        if os.path.exists(tfl):
            os.remove(tfl)
        check(results, f"onnx->tflite {name}", to_tflite)
        check(results, f"tflite->onnx {name}", to_onnx)
        check(results, f"tflite->onnx->tflite {name}", via_onnx)
        check(results, f"modelc run {name}", interp)

    # BIDIRECTIONAL_SEQUENCE_LSTM (modelc writes two unidirectional ops): TFLite -> ONNX only.
    bidi = {
        "lstm_bidirectional_op_merged": (
            lambda p: export_torch_lstm(p, (6, 2, 8), "y", input_size=8, hidden_size=16,
                                        bidirectional=True), (6, 2, 8), True),
        "lstm_bidirectional_op_batch_major": (
            lambda p: hand_lstm(p, seq=5, batch=3, inp=4, hidden=6, direction="bidirectional", layout=1,
                                peepholes=True, zero_state=False, outputs="y"), (3, 5, 4), False),
    }
    for name, (make, shape, merge) in bidi.items():
        if only and name not in only and "lstm" not in only:
            continue

        def from_bidi(name=name, make=make, shape=shape, merge=merge):
            import onnx

            src = os.path.join(out, f"{name}.onnx")
            uni = os.path.join(out, f"{name}.uni.tflite")
            tfl = os.path.join(out, f"{name}.tflite")
            make(src)
            convert(modelc, src, uni)
            to_bidirectional_op(uni, tfl, merge)
            x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
            ref, ops = litert_outputs(tfl, x)
            if "BIDIRECTIONAL_SEQUENCE_LSTM" not in ops:
                raise RuntimeError(f"the rewritten file has ops {ops}")
            dst = os.path.join(out, f"{name}.onnx.back.onnx")
            convert(modelc, tfl, dst)
            nodes = [n.op_type for n in onnx.load(dst).graph.node]
            ok, msg = compare(onnx_outputs(dst, x), ref)
            return ok and "LSTM" in nodes, f"{msg}; LiteRT ops: {' '.join(ops)}; {len(nodes)} nodes: {' '.join(nodes)}"

        def interp(name=name, shape=shape):
            tfl = os.path.join(out, f"{name}.tflite")
            if not os.path.exists(tfl):
                raise RuntimeError("no .tflite (the rewrite failed)")
            x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
            return modelc_run_vs_litert(modelc, out, name, tfl, x)

        check(results, f"tflite->onnx {name}", from_bidi)
        check(results, f"modelc run {name}", interp)

    # Float16 weights behind DEQUANTIZE (TensorFlow's float16 quantization): TFLite -> ONNX
    # and TFLite -> TFLite, each vs LiteRT on the float16 file.
    name = "lstm_fp16_weights"
    if not only or name in only or "lstm" in only:
        tfl = os.path.join(out, f"{name}.tflite")
        x = np.random.default_rng(3).standard_normal((6, 2, 8)).astype(np.float32)

        def fp16_to_onnx():
            import onnx

            src = os.path.join(out, f"{name}.onnx")
            uni = os.path.join(out, f"{name}.f32.tflite")
            export_torch_lstm(src, (6, 2, 8), "yh", input_size=8, hidden_size=16, bidirectional=True)
            convert(modelc, src, uni)
            to_float16_weights(uni, tfl)
            ref, ops = litert_outputs(tfl, x)
            dst = os.path.join(out, f"{name}.back.onnx")
            convert(modelc, tfl, dst)
            nodes = [n.op_type for n in onnx.load(dst).graph.node]
            ok, msg = compare(onnx_outputs(dst, x), ref)
            return ok and "LSTM" in nodes, f"{msg}; LiteRT ops: {ops.count('DEQUANTIZE')} DEQUANTIZE + {len(ops) - ops.count('DEQUANTIZE')}"

        def fp16_to_tflite():
            ref, _ = litert_outputs(tfl, x)
            dst = os.path.join(out, f"{name}.rt.tflite")
            convert(modelc, tfl, dst)
            ys, ops = litert_outputs(dst, x)
            ok, msg = compare(ys, ref)
            return ok, f"{msg}; {len(ops)} ops: {' '.join(ops)}"

        if os.path.exists(tfl):
            os.remove(tfl)
        check(results, f"tflite->onnx {name}", fp16_to_onnx)
        check(results, f"tflite->tflite {name}", fp16_to_tflite)
        check(results, f"modelc run {name}", lambda: modelc_run_vs_litert(modelc, out, name, tfl, x))

    # Quantized weights of an unrolled LSTM (silero VAD's form after `quantize --mode
    # int8-weight` or `compress`): integers behind DequantizeLinear, gate-reordered by
    # Slice / Concat, written as INT8 / INT4 tensors DEQUANTIZE feeds to FULLY_CONNECTED.
    for bits in (8, 4):
        qname = f"lstm_state_int{bits}_weights"
        if only and qname not in only and "lstm" not in only:
            continue

        def quantized(qname=qname, bits=bits):
            src = os.path.join(out, f"{qname}.onnx")
            tfl = os.path.join(out, f"{qname}.tflite")
            x = quantized_state_lstm(src, bits)
            convert(modelc, src, tfl)
            ys, ops = litert_outputs(tfl, x)
            ok, msg = compare(ys, onnx_outputs(src, x))
            # The weights' INT8 / INT4 tensor types: crates/tflite/tests/lstm.rs.
            forms = ops.count("DEQUANTIZE") >= 2 and "FULLY_CONNECTED" in ops and "UNIDIRECTIONAL_SEQUENCE_LSTM" not in ops
            return ok and forms, f"{msg}; {len(ops)} ops: {' '.join(sorted(set(ops)))}"

        check(results, f"onnx->tflite {qname} (unrolled, quantized weights)", quantized)

    name = "lstm_reads_cell_state"
    if only and name not in only and "lstm" not in only:
        return

    def unrolled():
        """Y_c has no TFLite LSTM output: decompose-lstm-state unrolls the cell."""
        src = os.path.join(out, f"{name}.onnx")
        tfl = os.path.join(out, f"{name}.tflite")
        export_torch_lstm(src, (6, 2, 8), "yc", input_size=8, hidden_size=16)
        x = np.random.default_rng(3).standard_normal((6, 2, 8)).astype(np.float32)
        convert(modelc, src, tfl)
        ys, ops = litert_outputs(tfl, x)
        ok, msg = compare(ys, onnx_outputs(src, x))
        fused = ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM")
        return ok and fused == 0, f"{msg}; {len(ops)} ops, {fused} fused LSTM"

    check(results, f"onnx->tflite {name} (unrolled)", unrolled)


def quantized_state_lstm(path: str, bits: int) -> np.ndarray:
    """An LSTM carrying state (initial_h given, Y_c read) whose W and R are symmetric
    per-row int8 / int4 constants behind DequantizeLinear (opset 21), W's gates reordered by
    Slice / Concat as torch's exporter does; the input it is run on."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    seq, batch, inp, hidden = 3, 2, 8, 16
    qmax = 127 if bits == 8 else 7
    qtype = TensorProto.INT8 if bits == 8 else TensorProto.INT4
    nodes, inits = [], []

    def quantized(name, rows, cols):
        w = (0.3 * rng.standard_normal((rows, cols))).astype(np.float32)
        s = (np.abs(w).max(axis=1) / qmax).astype(np.float32)
        q = np.clip(np.round(w / s[:, None]), -qmax, qmax).astype(np.int8)
        inits.append(helper.make_tensor(f"{name}_q", qtype, q.shape, q.ravel().tolist()))
        inits.append(numpy_helper.from_array(s, f"{name}_s"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s"], [f"{name}_dq"], axis=0))
        return f"{name}_dq"

    w = quantized("w", 4 * hidden, inp)
    # Gate blocks i, f, c, o reordered to ONNX's i, o, f, c.
    h = hidden
    for k, (lo, hi) in enumerate([(0, h), (3 * h, 4 * h), (h, 3 * h)]):
        inits += [numpy_helper.from_array(np.array([lo], np.int64), f"lo{k}"),
                  numpy_helper.from_array(np.array([hi], np.int64), f"hi{k}")]
        nodes.append(helper.make_node("Slice", [w, f"lo{k}", f"hi{k}"], [f"w{k}"]))
    nodes.append(helper.make_node("Concat", ["w0", "w1", "w2"], ["w_iofc"], axis=0))
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    nodes.append(helper.make_node("Unsqueeze", ["w_iofc", "axis0"], ["W"]))
    r = quantized("r", 4 * hidden, hidden)
    nodes.append(helper.make_node("Unsqueeze", [r, "axis0"], ["R"]))
    inits.append(numpy_helper.from_array((0.1 * rng.standard_normal((1, 8 * hidden))).astype(np.float32), "B"))
    inits.append(numpy_helper.from_array((0.5 * rng.standard_normal((1, batch, hidden))).astype(np.float32), "h0"))
    nodes.append(helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0"], ["y", "", "c"], hidden_size=hidden))
    g = helper.make_graph(nodes, "qlstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inp])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, 1, batch, hidden]),
                           helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, batch, hidden])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return np.random.default_rng(3).standard_normal((seq, batch, inp)).astype(np.float32)


def table_case(c: dict) -> tuple[bool, str]:
    from ai_edge_litert.interpreter import Interpreter

    xs = table_forms_lib.inputs(c)
    ref = table_forms_lib.onnxruntime_output(c, c["file"][:-len(".tflite")] + ".onnx", xs)
    it = Interpreter(model_path=c["file"])
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return table_forms_lib.compare(it.get_tensor(it.get_output_details()[0]["index"]), ref)


def table_forms(manifest: str, results: list) -> None:
    """The table forms (see the module docs)."""
    cases = table_forms_lib.load(manifest)
    for c in cases:
        check(results, f"table {c['name']} <-> {c['op']}", lambda c=c: table_case(c))
    print(f"tflite table: {sum(results)} of {len(cases)} rows exact")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc")
    ap.add_argument("--out")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--table", help="run only the table forms of this manifest")
    a = ap.parse_args()
    results: list = []
    if a.table:
        table_forms(a.table, results)
        return 0 if results and all(results) else 1
    if not a.modelc or not a.out:
        ap.error("--modelc and --out are required (unless --table)")
    os.makedirs(a.out, exist_ok=True)
    onnx_to_tflite(a.modelc, a.out, results, a.only)
    resize_cases(a.modelc, a.out, results, a.only)
    op_forms(a.modelc, a.out, results, a.only)
    layout_forms(a.modelc, a.out, results, a.only)
    quantized_forms(a.modelc, a.out, results, a.only)
    quantized_onnx(a.modelc, a.out, results, a.only)
    tflite_sources(a.modelc, a.out, results, a.only)
    lstm_models(a.modelc, a.out, results, a.only)
    import tflite_dynamic  # (it imports this module's `check`)

    tflite_dynamic.run_all(a.modelc, a.out, results, a.only)
    print(f"tflite interop: {sum(results)} of {len(results)} passed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
