"""TFLite export of models with sizes unknown until run time, and static int8 transformers.

    python tests/tflite_dynamic.py --modelc target/debug/modelc --out target/tflite-dynamic \
        [--only NAMES]

(also run by tests/tflite_interop.py, as its `dynamic_shapes` and `int8_transformer` parts)

Dynamic shapes  OCR-style models exported by torch with dynamic axes (a DBNet-style detector:
                strided convolutions, an FPN with nearest / bilinear upsampling by scale and
                to a computed size, ConvTranspose with and without pads and output_padding;
                a CRNN-style recognizer: width-dynamic reshape, permute and a dense head; average
                pooling counting pads and Flatten of unknown batch and size; a U-Net-style
                crop to the input's size, Slice ends computed from Shape) and
                the transformer encoder of testdata/make_transformer.py (symbolic batch and
                sequence, Reshape [0, -1, heads, dim]). Each converts with its unknown sizes
                kept (the input's shape_signature has -1), and LiteRT, resized with
                `resize_tensor_input` to two or three sizes, matches onnxruntime on the ONNX
                source within 1e-4 of the output range; the image models have no TRANSPOSE.
                Pinned with `--dim`, the same model
                converts with static sizes and matches at that size.
int8 transformer  torch nn.TransformerEncoder (testdata/make_torchvision.py) and the
                dynamic-shape encoder quantized to static int8 by `modelc quantize`
                (int8 activations), as QDQ ONNX then `modelc convert`: LiteRT within 1% of
                the output range of onnxruntime on the QDQ model on at least 99% of elements
                (the torch encoder), and at least as close to the float model as onnxruntime's
                QDQ run is, less one percentage point (the fraction of elements within 1% of
                the float output's range); `modelc quantize` to .tflite directly: that budget
                against the QDQ model quantized with its outputs (as the .tflite form is).

Computed indices  GatherElements and ScatterND whose indices are graph inputs: LiteRT equals
                onnxruntime.

Read back       the run-time forms the writer makes, read back: ConvTranspose of unknown size
                (TRANSPOSE_CONV with a computed output_shape; rewritten with LiteRT's schema
                classes to SAME padding to `in * s`, and to a size past the whole result),
                Slice with computed starts / ends (STRIDED_SLICE of run-time begin / end with
                masks; rewritten to shrink an axis), Pad (constant, reflect) by run-time pads
                (PADV2 / MIRROR_PAD), ScatterND with reduction add into zeros of
                a computed shape and repeated indices (SCATTER_ND): the .tflite converted to
                .onnx by modelc, onnxruntime on it vs LiteRT on the .tflite, within 1e-4 of the
                output range (exact for slices and ScatterND); and to .tflite again, in LiteRT.

Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

from tflite_interop import check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4


def modelc(exe: str, *args: str) -> None:
    r = subprocess.run([exe, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"modelc {' '.join(args[:1])}: {r.stderr.strip()[-600:]}")


def export_ocr(d: str) -> dict:
    """The DBNet-style detector, CRNN-style recognizer and a pooling head: {name: (path,
    input sizes)}."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 16, 3, 2, 1)
            self.c3 = nn.Conv2d(16, 16, 3, 2, 1)
            self.l2, self.l3 = nn.Conv2d(16, 8, 1), nn.Conv2d(16, 8, 1)
            self.bn = nn.BatchNorm2d(8)
            self.up1 = nn.ConvTranspose2d(8, 8, 2, 2)
            self.up3 = nn.ConvTranspose2d(8, 8, 4, 2, padding=1)
            self.up4 = nn.ConvTranspose2d(8, 8, 3, 2, padding=1, output_padding=1)
            self.up2 = nn.ConvTranspose2d(16, 1, 2, 2)

        def forward(self, x):
            a = F.relu(self.c1(x))
            b = F.relu(self.c2(a))
            c = F.relu(self.c3(b))
            p3 = self.l3(c)
            p2 = self.l2(b) + F.interpolate(p3, scale_factor=2, mode="nearest")
            p2 = p2 + F.interpolate(p3, scale_factor=2, mode="bilinear", align_corners=True)
            p2b = F.interpolate(p3, size=p2.shape[2:], mode="bilinear", align_corners=False)
            f = torch.cat([p2, p2b], 1)[:, :8]
            y = torch.cat([F.relu(self.bn(self.up1(f))), F.relu(self.up3(f) + self.up4(f))], 1)
            return torch.sigmoid(self.up2(y))

    class Recognizer(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 16, 3, 1, 1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), (4, 1))
            b, c, h, w = x.shape
            x = x.reshape(b, c * h, w).permute(2, 0, 1)
            return self.fc(x).log_softmax(-1)

    class Pooled(nn.Module):
        """Average pooling counting its pads and Flatten of a map of unknown batch and size."""

        def __init__(self):
            super().__init__()
            self.c, self.p, self.fc = nn.Conv2d(3, 4, 3, 1, 1), nn.AvgPool2d(3, 2, 1), nn.Linear(4, 5)

        def forward(self, x):
            y = self.p(F.relu(self.c(x)))
            return torch.cat([self.fc(y.mean((2, 3))), torch.flatten(y, 1)[:, :7]], 1)

    class Cropped(nn.Module):
        """A U-Net-style crop of an upsampled map to the input's size (Slice ends from Shape)."""

        def __init__(self):
            super().__init__()
            self.d, self.u, self.c = nn.Conv2d(3, 4, 3, 2, 1), nn.ConvTranspose2d(4, 4, 3, 2), nn.Conv2d(3, 4, 1)

        def forward(self, x):
            up = self.u(F.relu(self.d(x)))
            return up[:, :, : x.shape[2], : x.shape[3]] + self.c(x)

    torch.manual_seed(0)
    out = {}
    path = os.path.join(d, "cropped.onnx")
    torch.onnx.export(Cropped().eval(), (torch.randn(1, 3, 17, 22),), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}})
    out["cropped"] = (path, [(1, 3, 17, 22), (1, 3, 16, 9)])
    path = os.path.join(d, "pooled.onnx")
    torch.onnx.export(Pooled().eval(), (torch.randn(2, 3, 16, 20),), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    out["pooled"] = (path, [(2, 3, 16, 20), (1, 3, 9, 13)])
    det = Detector().eval()
    with torch.no_grad():
        det.bn.running_mean.uniform_(-0.5, 0.5)
        det.bn.running_var.uniform_(0.5, 2.0)
    path = os.path.join(d, "detector.onnx")
    torch.onnx.export(det, (torch.randn(1, 3, 64, 96),), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}})
    out["detector"] = (path, [(1, 3, 64, 96), (1, 3, 32, 160), (1, 3, 40, 56)])
    path = os.path.join(d, "recognizer.onnx")
    torch.onnx.export(Recognizer().eval(), (torch.randn(1, 3, 16, 40),), path, opset_version=17,
                      dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n", 3: "w"}, "y": {0: "w", 1: "n"}})
    out["recognizer"] = (path, [(1, 3, 16, 40), (2, 3, 16, 72)])
    return out


def make_transformer(d: str) -> str:
    subprocess.run([sys.executable, os.path.join(ROOT, "testdata", "make_transformer.py"), "--out", d],
                   check=True, capture_output=True)
    return os.path.join(d, "transformer.onnx")


def ort_run(path: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as rt

    s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def litert_run(path: str, x: np.ndarray, nhwc: bool) -> tuple[np.ndarray, list]:
    """LiteRT on `x` (NCHW images given channels last when `nhwc`), the input resized to
    it; returns the output (back to NCHW) and the input's shape_signature."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    inp = it.get_input_details()[0]
    xi = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if nhwc else x)
    it.resize_tensor_input(inp["index"], list(xi.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], xi)
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])
    if nhwc and y.ndim == 4:
        y = y.transpose(0, 3, 1, 2)
    return y, [int(v) for v in inp["shape_signature"]]


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    if y.shape != ref.shape:
        raise RuntimeError(f"output shape {y.shape} != onnxruntime's {ref.shape}")
    y64, r64 = y.astype(np.float64), ref.astype(np.float64)
    return float(np.abs(y64 - r64).max() / max(float(r64.max() - r64.min()), 1e-12))


def compare_sizes(src: str, tfl: str, sizes: list, nhwc: bool, want_unknown: bool,
                  no_transpose: bool = False) -> tuple[bool, str]:
    from ai_edge_litert.interpreter import Interpreter

    msgs, ok = [], True
    # Image models channels last throughout need no TRANSPOSE, unknown sizes or not (the
    # recognizer permutes, and Flatten reads channels first, so theirs are the model's).
    if no_transpose:
        ops = [o["op_name"] for o in Interpreter(model_path=tfl)._get_ops_details()]
        if "TRANSPOSE" in ops:
            return False, f"{ops.count('TRANSPOSE')} TRANSPOSE ops"
    for shape in sizes:
        x = np.random.default_rng(len(msgs)).standard_normal(shape).astype(np.float32)
        y, sig = litert_run(tfl, x, nhwc)
        if want_unknown != (-1 in sig):
            return False, f"input shape_signature {sig}"
        err = rel_err(y, ort_run(src, x))
        ok &= err <= TOLERANCE
        msgs.append(f"{'x'.join(map(str, shape))}: {err:.1e}")
    return ok, "signature kept -1; " * want_unknown + "rel err " + ", ".join(msgs)


def dynamic_shapes(exe: str, out: str, results: list, only) -> None:
    name = "dynamic_shapes"
    if only and name not in only:
        return
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    models = export_ocr(d)
    models["transformer"] = (make_transformer(d), [(1, 16, 256), (2, 7, 256)])
    for m, (src, sizes) in models.items():
        tfl = src[:-5] + ".tflite"
        nhwc = m != "transformer"

        def run(src=src, tfl=tfl, sizes=sizes, nhwc=nhwc):
            modelc(exe, "convert", src, tfl)
            return compare_sizes(src, tfl, sizes, nhwc, True, m in ("detector", "cropped"))

        check(results, f"onnx->tflite {m} (sizes unknown until run time)", run)

    def pinned():
        src, sizes = models["detector"]
        tfl = os.path.join(d, "detector_pinned.tflite")
        modelc(exe, "convert", src, tfl, "--dim", "h=64", "--dim", "w=96")
        return compare_sizes(src, tfl, sizes[:1], True, False)

    check(results, "onnx->tflite detector pinned with --dim h=64 --dim w=96", pinned)


def quant_checks(src: str, qdq: str, tfl: str, shapes: list, strict: bool) -> tuple[bool, str]:
    ok, msgs = True, []
    for i, shape in enumerate(shapes):
        x = np.random.default_rng(100 + i).standard_normal(shape).astype(np.float32)
        yf, yq = ort_run(src, x), ort_run(qdq, x)
        y, _ = litert_run(tfl, x, False)
        if y.shape != yf.shape:
            return False, f"output shape {y.shape} != {yf.shape}"
        band = 0.01 * float(yf.max() - yf.min())
        near_float = float((np.abs(y - yf) <= band).mean())
        qdq_float = float((np.abs(yq - yf) <= band).mean())
        near_qdq = float((np.abs(y - yq) <= 0.01 * float(yq.max() - yq.min())).mean())
        ok &= near_float >= qdq_float - 0.01 and (near_qdq >= 0.99 or not strict)
        msgs.append(f"{'x'.join(map(str, shape))}: {near_qdq:.1%} within 1% of onnxruntime QDQ; "
                    f"within 1% of float: {near_float:.1%} (onnxruntime QDQ {qdq_float:.1%})")
    return ok, "; ".join(msgs)


def int8_transformer(exe: str, out: str, results: list, only) -> None:
    name = "int8_transformer"
    if only and name not in only:
        return
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "testdata", "make_torchvision.py"), "--out", d,
                    "--only", "transformer_encoder"], check=True, capture_output=True)
    cases = {
        "torch nn.TransformerEncoder": (os.path.join(d, "transformer_encoder.onnx"), (1, 64, 256),
                                        [(1, 64, 256)], True),
        "encoder of symbolic batch and sequence": (make_transformer(d), (1, 16, 256),
                                                   [(1, 16, 256), (2, 9, 256)], False),
    }
    for label, (src, cal_shape, shapes, strict) in cases.items():
        base = src[:-5]
        cal = base + "_calibration"
        os.makedirs(cal, exist_ok=True)
        rng = np.random.default_rng(0)
        for i in range(8):
            np.save(os.path.join(cal, f"{i}.npy"), rng.standard_normal(cal_shape).astype(np.float32))
        qdq, via_qdq, direct = base + "_int8.onnx", base + "_int8_qdq.tflite", base + "_int8.tflite"

        def run(src=src, cal=cal, qdq=qdq, via_qdq=via_qdq, direct=direct, shapes=shapes, strict=strict):
            modelc(exe, "quantize", src, qdq, "--calibration", cal, "--activation-type", "i8")
            modelc(exe, "convert", qdq, via_qdq)
            modelc(exe, "quantize", src, direct, "--calibration", cal)
            # The .tflite form quantizes the outputs and gives softmax its fixed output range
            # too: its budget is that of the QDQ model quantized with the outputs.
            qdq_out = base + "_int8_outputs.onnx"
            modelc(exe, "quantize", src, qdq_out, "--calibration", cal, "--activation-type", "i8",
                   "--quantize-outputs", "--bias", "int32")
            a_ok, a = quant_checks(src, qdq, via_qdq, shapes, strict)
            b_ok, b = quant_checks(src, qdq_out, direct, shapes, False)
            return a_ok and b_ok, f"QDQ -> convert: {a} | quantize to .tflite: {b}"

        check(results, f"int8 {label} -> tflite", run)


def computed_indices(exe: str, out: str, results: list, only) -> None:
    """GatherElements and ScatterND whose indices are graph inputs (decompose-gather-elements'
    coordinates computed in the file, negative indices counted from the end; SCATTER_ND of
    computed indices): LiteRT vs onnxruntime, exactly."""
    name = "computed_indices"
    if only and name not in only:
        return
    import onnx
    from onnx import TensorProto, helper

    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    cases = {
        "gatherelements": (helper.make_node("GatherElements", ["x", "i"], ["y"], axis=3),
                           [("i", i64, [2, 3, 4, 2])],
                           {"i": rng.integers(-5, 5, (2, 3, 4, 2)).astype(np.int64)}),
        "gatherelements-axis1": (helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1),
                                 [("i", i64, [2, 2, 4, 5])],
                                 {"i": rng.integers(0, 3, (2, 2, 4, 5)).astype(np.int64)}),
        "scatternd": (helper.make_node("ScatterND", ["x", "i", "u"], ["y"]),
                      [("i", i64, [2, 2]), ("u", f, [2, 4, 5])],
                      {"i": np.array([[1, 2], [0, 0]], np.int64),
                       "u": rng.standard_normal((2, 4, 5)).astype(np.float32)}),
    }
    for case, (node, extra, feeds) in cases.items():
        src = os.path.join(d, case + ".onnx")
        tfl = src[:-5] + ".tflite"
        ins = [helper.make_tensor_value_info("x", f, [2, 3, 4, 5])]
        ins += [helper.make_tensor_value_info(n, t, s) for n, t, s in extra]
        g = helper.make_graph([node], case, ins, [helper.make_tensor_value_info("y", f, None)])
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)

        def run(src=src, tfl=tfl, feeds=feeds):
            import onnxruntime as rt
            from ai_edge_litert.interpreter import Interpreter

            modelc(exe, "convert", src, tfl)
            all_feeds = {"x": x, **feeds}
            ref = rt.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, all_feeds)[0]
            it = Interpreter(model_path=tfl)
            runner = it.get_signature_runner()
            y = next(iter(runner(**all_feeds).values()))
            ops = sorted({o["op_name"] for o in it._get_ops_details()})
            exact = y.shape == ref.shape and np.array_equal(y, ref)
            return exact, f"{'exact' if exact else 'differs'}; ops {' '.join(ops)}"

        check(results, f"onnx->tflite {case} of computed indices", run)


def rewrite_tflite(src: str, dst: str, edit) -> None:
    """`edit(schema, model)` applied to the file `src` with LiteRT's schema classes, to `dst`."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    with open(src, "rb") as f:
        m = schema.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
    edit(schema, m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with open(dst, "wb") as f:
        f.write(b.Output())


def ops_of(m, schema, name: str) -> list:
    code = getattr(schema.BuiltinOperator, name)
    return [op for op in m.subgraphs[0].operators if m.operatorCodes[op.opcodeIndex].builtinCode == code]


def back_vs_litert(exe: str, tfl: str, feeds: dict, image: set, tol: float) -> tuple[bool, str]:
    """modelc converts `tfl` to .onnx; onnxruntime on it vs LiteRT on `tfl`, at `feeds`
    (channels last; the inputs named in `image` are given to the .onnx channels first when it
    takes them so); and `tfl` to .tflite again, in LiteRT vs `tfl`."""
    import onnxruntime as rt
    from ai_edge_litert.interpreter import Interpreter

    back = tfl[:-7] + "_back.onnx"
    modelc(exe, "convert", tfl, back)
    it = Interpreter(model_path=tfl)
    y = next(iter(it.get_signature_runner()(**feeds).values()))
    sess = rt.InferenceSession(back, providers=["CPUExecutionProvider"])
    ort_feeds = {}
    for i in sess.get_inputs():
        v = feeds[i.name]
        nchw = i.name in image and isinstance(i.shape[1], int) and i.shape[1] == v.shape[3] != v.shape[1]
        ort_feeds[i.name] = v.transpose(0, 3, 1, 2) if nchw else v
    yb = sess.run(None, ort_feeds)[0]
    if yb.shape != y.shape and yb.ndim == 4 and yb.transpose(0, 2, 3, 1).shape == y.shape:
        yb = yb.transpose(0, 2, 3, 1)
    err = rel_err(yb, y)
    # And back to .tflite (the read-back model written again): LiteRT vs LiteRT.
    again = tfl[:-7] + "_again.tflite"
    modelc(exe, "convert", tfl, again)
    ya = next(iter(Interpreter(model_path=again).get_signature_runner()(**feeds).values()))
    err_again = rel_err(ya, y)
    ok = err <= tol and err_again <= tol
    return ok, f"{'x'.join(map(str, y.shape))}: rel err {err:.1e}, written again {err_again:.1e}"


def read_back(exe: str, out: str, results: list, only) -> None:
    """The writer's run-time forms (and TensorFlow-style variants of them) read back."""
    name = "read_back"
    if only and name not in only:
        return
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    rng = np.random.default_rng(1)

    def save(nodes, case, ins, inits=(), opset=17):
        src = os.path.join(d, case + ".onnx")
        g = helper.make_graph(nodes, case, [helper.make_tensor_value_info(*i) for i in ins],
                              [helper.make_tensor_value_info("y", f, None)], list(inits))
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), src)
        tfl = src[:-5] + ".tflite"
        modelc(exe, "convert", src, tfl)
        return tfl

    # ConvTranspose of unknown height and width: k 4, stride 2, with a bias.
    w = numpy_helper.from_array(rng.standard_normal((3, 2, 4, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "b")
    ct = save([helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2])], "conv_transpose",
              [("x", f, [1, 3, "h", "w"])], [w, b])

    def output_shape(k_less_s: int, same: bool):
        """The written output_shape [N, (H - 1)·s + k, ...] as [N, (H - 1)·s + s + `k_less_s`,
        ...], with SAME padding when `same`."""
        def edit(schema, m):
            (tc,) = ops_of(m, schema, "TRANSPOSE_CONV")
            (add,) = ops_of(m, schema, "ADD")
            operand = m.subgraphs[0].tensors[add.inputs[1]]
            m.buffers[operand.buffer].data = np.array([k_less_s] * 2, np.int32).view(np.uint8)
            if same:
                tc.builtinOptions.padding = schema.Padding.SAME
        return edit

    # LiteRT takes output sizes whose VALID / SAME convolution gives the input size back.
    variants = {
        "conv_transpose": ct,
        # TensorFlow's Conv2DTranspose(padding="same") of unknown size: output in·s, SAME
        # (pads 1 and 1 for k 4).
        "conv_transpose_same": (ct, output_shape(0, True)),
        # in·s - 1: SAME pads 1 and 2.
        "conv_transpose_same_odd": (ct, output_shape(-1, True)),
        # One row and column past the whole (in - 1)·s + k result: zeros there, plus the bias.
        "conv_transpose_past_the_end": (ct, output_shape(3, False)),
    }
    for case, v in variants.items():
        def run(case=case, v=v):
            tfl = v if isinstance(v, str) else os.path.join(d, case + ".tflite")
            if not isinstance(v, str):
                rewrite_tflite(v[0], tfl, v[1])
            msgs, ok = [], True
            for shape in [(1, 5, 7, 3), (1, 8, 3, 3)]:
                x = rng.standard_normal(shape).astype(np.float32)
                o, m = back_vs_litert(exe, tfl, {"x": x}, {"x"}, TOLERANCE)
                ok &= o
                msgs.append(m)
            return ok, "; ".join(msgs)

        check(results, f"tflite->onnx {case} of a run-time output_shape", run)

    # Slice with starts / ends computed at run time on axes 0 and 2 (negative step), axis 1
    # whole: STRIDED_SLICE with run-time begin / end and the masks.
    sl = save([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])], "slice",
              [("x", f, [4, 5, 6]), ("s", i64, [2]), ("e", i64, [2])],
              [numpy_helper.from_array(np.array([0, 2], np.int64), "a"),
               numpy_helper.from_array(np.array([1, -1], np.int64), "st")])

    def shrink_axis_0(schema, m):
        (ss,) = [op for op in ops_of(m, schema, "STRIDED_SLICE") if op.outputs[0] in m.subgraphs[0].outputs]
        ss.builtinOptions.shrinkAxisMask = 1
        t = m.subgraphs[0].tensors[ss.outputs[0]]
        t.shape, t.shapeSignature = np.array([5, 1], np.int32), np.array([5, -1], np.int32)

    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    bounds = [([1, -2], [3, 0]), ([-1, 5], [4, -100]), ([0, 3], [9, 2])]
    for case, v in {"slice": sl, "slice_shrink_axis": (sl, shrink_axis_0)}.items():
        def run(case=case, v=v):
            tfl = v if isinstance(v, str) else os.path.join(d, case + ".tflite")
            if not isinstance(v, str):
                rewrite_tflite(v[0], tfl, v[1])
            msgs, ok = [], True
            for s_, e_ in bounds:
                feeds = {"x": x, "s": np.array(s_, np.int64), "e": np.array(e_, np.int64)}
                o, m = back_vs_litert(exe, tfl, feeds, set(), 0.0)
                ok &= o
                msgs.append(f"starts {s_} ends {e_} {m}")
            return ok, "; ".join(msgs)

        check(results, f"tflite->onnx {case} of run-time begin / end", run)

    # Pad by pads given at run time: PADV2 / MIRROR_PAD of a computed paddings tensor.
    for mode in ["constant", "reflect"]:
        extra = [numpy_helper.from_array(np.array(1.5, np.float32), "v")] if mode == "constant" else []
        inputs = ["x", "p", "v"] if mode == "constant" else ["x", "p"]
        pd = save([helper.make_node("Pad", inputs, ["y"], mode=mode)], f"pad_{mode}",
                  [("x", f, [4, 5, 6]), ("p", i64, [6])], extra)

        def run_pad(pd=pd):
            msgs, ok = [], True
            for pads in [[0, 1, 2, 3, 0, 1], [2, 0, 0, 0, 3, 4]]:
                feeds = {"x": x, "p": np.array(pads, np.int64)}
                o, m = back_vs_litert(exe, pd, feeds, set(), 0.0)
                ok &= o
                msgs.append(f"pads {pads} {m}")
            return ok, "; ".join(msgs)

        check(results, f"tflite->onnx pad ({mode}) of run-time pads", run_pad)

    # ScatterND adding into zeros of a computed shape, an index repeated: SCATTER_ND sums.
    sc = save([helper.make_node("Shape", ["x"], ["shape"]),
               helper.make_node("ConstantOfShape", ["shape"], ["zeros"]),
               helper.make_node("ScatterND", ["zeros", "i", "u"], ["y"], reduction="add")],
              "scatter_nd_add", [("x", f, [3, 4, 5]), ("i", i64, [3, 1]), ("u", f, [3, 4, 5])], opset=18)

    def run_scatter():
        feeds = {"x": x[:3, :4, :5].copy(), "i": np.array([[2], [0], [2]], np.int64),
                 "u": rng.standard_normal((3, 4, 5)).astype(np.float32)}
        return back_vs_litert(exe, sc, feeds, set(), 0.0)

    check(results, "tflite->onnx scatter_nd_add of repeated indices", run_scatter)


def run_all(exe: str, out: str, results: list, only) -> None:
    dynamic_shapes(exe, out, results, only)
    int8_transformer(exe, out, results, only)
    computed_indices(exe, out, results, only)
    read_back(exe, out, results, only)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    results: list = []
    run_all(a.modelc, a.out, results, a.only)
    print(f"tflite dynamic/int8: {sum(results)} of {len(results)} passed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
