"""MediaPipe's custom ops MaxPoolingWithArgmax2D and MaxUnpooling2D through `modelc convert`:
hand-built .tflite files (LiteRT's own schema object API) of a pooling with argmax and of a
pooling + unpooling pair, converted to ONNX and run in onnxruntime, and converted back to
.tflite and run in LiteRT, each compared with torch on the same input:

- values: torch.nn.functional.max_pool2d(return_indices=True) (NCHW; SAME padding as the
  explicit padding TensorFlow's SAME amounts to, with -inf outside the input);
- indices: MediaPipe's convention (mediapipe/util/tflite/operations/max_pool_argmax.cc): the
  first maximum's position in its own window, ky * filter_width + kx, as float32 + 0.1,
  derived from torch's flat plane index (h * W + w);
- unpooling: torch.nn.functional.max_unpool2d of torch's values and indices.

    python tests/tflite_mediapipe_pool.py --modelc target/debug/modelc [--out DIR]

Exits non-zero on any difference (values and indices exact) or conversion failure.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

CASES = [
    # name, input NHWC, filter (h, w), stride (h, w), SAME, with unpooling
    ("pool2_same", (1, 6, 8, 3), (2, 2), (2, 2), True, True),
    ("pool2_valid_odd", (2, 7, 5, 4), (2, 2), (2, 2), False, True),
    ("pool3_s2_same", (1, 7, 9, 2), (3, 3), (2, 2), True, False),
    ("pool3x2_s1_valid", (1, 5, 6, 2), (3, 2), (1, 1), False, False),
]


def pool_params(same, stride, filt):
    # TfLitePoolParams: padding, stride_width, stride_height, filter_width, filter_height,
    # activation, computed padding (4 ints).
    v = [1 if same else 2, stride[1], stride[0], filt[1], filt[0], 0, 0, 0, 0, 0]
    return list(np.array(v, dtype="<i4").tobytes())


def out_size(n, f, s, same):
    return (n + s - 1) // s if same else (n - f + s) // s


def build(path, shape, filt, stride, same, unpool):
    import flatbuffers
    import ai_edge_litert.schema_py_generated as S

    n, h, w, c = shape
    oh, ow = out_size(h, filt[0], stride[0], same), out_size(w, filt[1], stride[1], same)

    def tensor(name, shp):
        t = S.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shp), S.TensorType.FLOAT32, 0
        return t

    tensors = [tensor("x", shape), tensor("values", (n, oh, ow, c)), tensor("indices", (n, oh, ow, c))]
    codes = []
    for code in ("MaxPoolingWithArgmax2D",) + (("MaxUnpooling2D",) if unpool else ()):
        oc = S.OperatorCodeT()
        oc.builtinCode = oc.deprecatedBuiltinCode = S.BuiltinOperator.CUSTOM
        oc.customCode, oc.version = code, 1
        codes.append(oc)
    op = S.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1, 2]
    op.customOptions = pool_params(same, stride, filt)
    ops = [op]
    outputs = [1, 2]
    if unpool:
        tensors.append(tensor("unpooled", (n, oh * filt[0], ow * filt[1], c)))
        up = S.OperatorT()
        up.opcodeIndex, up.inputs, up.outputs = 1, [1, 2], [3]
        up.customOptions = pool_params(same, stride, filt)
        ops.append(up)
        outputs = [1, 2, 3]
    sg = S.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], outputs, ops, "main"
    m = S.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [sg], [S.BufferT()]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with open(path, "wb") as f:
        f.write(b.Output())


def torch_reference(x, filt, stride, same, unpool):
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    h, w = t.shape[2:]
    oh, ow = out_size(h, filt[0], stride[0], same), out_size(w, filt[1], stride[1], same)
    pads = []
    for n, f, s, o in ((h, filt[0], stride[0], oh), (w, filt[1], stride[1], ow)):
        total = max((o - 1) * s + f - n, 0)
        pads.append((total // 2, total - total // 2))
    # Padding outside the input never wins (-inf), as in MediaPipe's clipped windows.
    tp = F.pad(t, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]), value=float("-inf"))
    v, i = F.max_pool2d(tp, filt, stride, return_indices=True)
    # torch's index is flat in the padded plane: back to the window position.
    wp = tp.shape[3]
    py, px = i // wp, i % wp
    oy = torch.arange(oh).view(1, 1, -1, 1) * stride[0]
    ox = torch.arange(ow).view(1, 1, 1, -1) * stride[1]
    k = (py - oy) * filt[1] + (px - ox)
    nhwc = lambda a: a.permute(0, 2, 3, 1).numpy()  # noqa: E731
    refs = [nhwc(v), nhwc(k.to(torch.float32) + 0.1)]
    if unpool:
        # Windows tile the output (stride = filter, no padding): torch's unpooling of its own
        # indices, on the output MediaPipe sizes as input * filter.
        # torch's indices are flat in the (padded) input plane; in the unpooled plane (its
        # width ow * filter) the window position lands at (oy*s + ky, ox*s + kx).
        uw = ow * filt[1]
        ui = (oy + k // filt[1]) * uw + (ox + k % filt[1])
        u = F.max_unpool2d(v, ui, filt, stride, output_size=(oh * filt[0], uw))
        refs.append(nhwc(u))
    return refs


def compare(name, got, refs):
    bad = []
    for k, (g, r) in enumerate(zip(got, refs)):
        g = np.asarray(g, dtype=np.float32)
        if g.shape != r.shape:
            bad.append(f"{name} output {k}: shape {g.shape} vs torch {r.shape}")
        elif not np.array_equal(g, r.astype(np.float32)):
            bad.append(f"{name} output {k}: {int((g != r).sum())} of {r.size} elements differ")
    if len(got) != len(refs):
        bad.append(f"{name}: {len(got)} outputs vs {len(refs)}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="mediapipe_pool_")
    os.makedirs(out, exist_ok=True)
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    bad, checked = [], 0
    for name, shape, filt, stride, same, unpool in CASES:
        src = os.path.join(out, f"{name}.tflite")
        build(src, shape, filt, stride, same, unpool)
        x = rng.standard_normal(shape).astype(np.float32)
        refs = torch_reference(x, filt, stride, same, unpool)
        onnx = os.path.join(out, f"{name}.onnx")
        back = os.path.join(out, f"{name}.back.tflite")
        for dst in (onnx, back):
            r = subprocess.run([a.modelc, "convert", "--keep-io-layout", src, dst], capture_output=True, text=True)
            if r.returncode != 0:
                bad.append(f"{name} -> {os.path.basename(dst)}: {r.stderr.strip()}")
        if os.path.exists(onnx):
            s = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
            got = s.run(None, {s.get_inputs()[0].name: x})
            bad += compare(f"{name} onnxruntime", got, refs)
            checked += 1
        if os.path.exists(back):
            it = Interpreter(model_path=back)
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
            got = [it.get_tensor(o["index"]) for o in it.get_output_details()]
            bad += compare(f"{name} LiteRT (modelc's TFLite)", got, refs)
            checked += 1
    for b in bad:
        print("FAIL", b)
    print(f"mediapipe pooling: {checked - len({b.split(' ')[0] + b.split(' ')[1] for b in bad})} of "
          f"{2 * len(CASES)} conversions exact against torch")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
