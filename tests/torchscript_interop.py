"""TorchScript → ONNX interop: do models torch traced and scripted, converted by
`modelc convert model.pt model.onnx`, compute in onnxruntime what torch computed?

    python tests/torchscript_interop.py --modelc target/release/modelc \
        [--out target/torchscript-interop] [--only NAME,...]

Models: the small ones committed under testdata/torchscript (CNN with BatchNorm, ResNet
block, MLP with dropout, LSTM, TransformerEncoderLayer; traced and scripted) and the large
ones testdata/make_torchscript.py makes under target/testdata/torchscript when missing
(torchvision ResNet-18 and MobileNetV2, nn.TransformerEncoder; traced and scripted). Each
directory holds model.pt, input_<i>.npy and torch's output_<i>.npy.

For each: convert (timeout 300 s), run the ONNX file in onnxruntime (CPU, one thread) on
the same inputs, and compare every output with torch's: same shape and
max|ort - torch| / max|torch| <= 1e-4.

TorchScript → TFLite: the image models (TFLITE_MODELS) are also converted with
`modelc convert model.pt model.tflite` and run in LiteRT (NHWC: inputs transposed for it,
rank-4 outputs transposed back), with the same tolerance against torch.

Also: a hostile archive (a data.pkl calling os.system) must make `modelc convert` exit 1
with a one-line error naming the global, without running it.

Last line: `torchscript interop: N of M conversions match torch (rel err <= 1e-4)`; exits 1
if N < M, if M is 0, or if the hostile-archive check fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

TOL = 1e-4
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def model_dirs(only):
    small = os.path.join(ROOT, "testdata", "torchscript")
    large = os.path.join(ROOT, "target", "testdata", "torchscript")
    names_large = [
        f"{n}_{v}"
        for n in ("resnet18", "mobilenet_v2", "transformer_encoder")
        for v in ("traced", "scripted")
    ]
    missing = [n for n in names_large if not os.path.exists(os.path.join(large, n, "output_0.npy"))]
    if missing:
        bases = sorted({n.rsplit("_", 1)[0] for n in missing})
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "testdata", "make_torchscript.py"),
             "--large-only", "--only", ",".join(bases), "--out", large],
            check=True,
        )
    dirs = [os.path.join(small, n) for n in sorted(os.listdir(small))]
    dirs += [os.path.join(large, n) for n in names_large]
    if only:
        dirs = [d for d in dirs if any(o in os.path.basename(d) for o in only)]
    return dirs


# The image models TorchScript → TFLite covers (the others use ops the TFLite exporter does
# not translate yet: LayerNormalization, Erf, LSTM; scripted MLPs need --input-shape).
TFLITE_MODELS = [
    "cnn_bn_traced", "resblock_traced", "resblock_scripted",
    "resnet18_traced", "resnet18_scripted", "mobilenet_v2_traced", "mobilenet_v2_scripted",
]


# Scripted code that branches on sizes (an `if` whose branches give different ranks, Swin's
# window shifts): converted for the shapes of their input files, as `modelc run` reads them;
# without the shapes modelc refuses them by line, which crates/torchscript's tests check.
SHAPED = {"squeeze_if_one_scripted", "swin_block_scripted"}


def shape_args(d):
    """`--input-shape NAME:DIMS` for each `forward` argument, from the input files."""
    if os.path.basename(d) not in SHAPED:
        return []
    import torch

    schema = torch.jit.load(os.path.join(d, "model.pt")).forward.schema
    args = []
    for i, a in enumerate(schema.arguments[1:]):
        x = np.load(os.path.join(d, f"input_{i}.npy"))
        args += ["--input-shape", f"{a.name}:{','.join(str(n) for n in x.shape)}"]
    return args


def compare(outs, d):
    worst = 0.0
    for i, y in enumerate(outs):
        want = np.load(os.path.join(d, f"output_{i}.npy"))
        if y.shape != want.shape:
            return False, f"output {i}: shape {y.shape}, torch {want.shape}"
        scale = max(float(np.abs(want).max()), 1e-6)
        err = float(np.abs(y.astype(np.float64) - want).max()) / scale
        worst = max(worst, err)
    if worst > TOL:
        return False, f"relative error {worst:.3g}"
    return True, f"relative error {worst:.3g}"


def check_tflite(modelc, d, out_dir):
    from ai_edge_litert.interpreter import Interpreter

    name = os.path.basename(d)
    path = os.path.join(out_dir, name + ".tflite")
    r = subprocess.run(
        [modelc, "convert", os.path.join(d, "model.pt"), path, *shape_args(d)],
        capture_output=True, text=True, timeout=300,
    )
    if r.returncode != 0:
        return False, "convert failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    it = Interpreter(path)
    xs = []
    for i, det in enumerate(it.get_input_details()):
        x = np.load(os.path.join(d, f"input_{i}.npy"))
        if x.ndim == 4:
            x = x.transpose(0, 2, 3, 1)
        # Scripted models declare no sizes: the file's dims are dynamic (-1), set here.
        it.resize_tensor_input(det["index"], list(x.shape))
        xs.append((det["index"], np.ascontiguousarray(x)))
    it.allocate_tensors()
    for index, x in xs:
        it.set_tensor(index, x)
    it.invoke()
    outs = []
    for det in it.get_output_details():
        y = it.get_tensor(det["index"])
        outs.append(y.transpose(0, 3, 1, 2) if y.ndim == 4 else y)
    return compare(outs, d)


def check(modelc, d, out_dir):
    import onnxruntime as ort

    name = os.path.basename(d)
    onnx_path = os.path.join(out_dir, name + ".onnx")
    r = subprocess.run(
        [modelc, "convert", os.path.join(d, "model.pt"), onnx_path, *shape_args(d)],
        capture_output=True, text=True, timeout=300,
    )
    if r.returncode != 0:
        return False, "convert failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for i, inp in enumerate(sess.get_inputs()):
        feeds[inp.name] = np.load(os.path.join(d, f"input_{i}.npy"))
    outs = sess.run(None, feeds)
    return compare(outs, d)


def hostile(modelc):
    """A data.pkl that calls os.system: refused by name, not executed."""
    with tempfile.TemporaryDirectory() as t:
        marker = os.path.join(t, "pwned")
        cmd = f"touch {marker}".encode()
        pkl = b"\x80\x02cos\nsystem\n(X" + len(cmd).to_bytes(4, "little") + cmd + b"tR."
        path = os.path.join(t, "evil.pt")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("evil/data.pkl", pkl)
            z.writestr("evil/version", "10")
        r = subprocess.run([modelc, "convert", path, os.path.join(t, "x.onnx")],
                           capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        ok = (r.returncode == 1 and len(lines) >= 1 and "os.system" in lines[0]
              and "panicked" not in r.stderr and not os.path.exists(marker))
        return ok, (lines[0] if lines else f"exit {r.returncode}, no message")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "torchscript-interop"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    only = [o for o in a.only.split(",") if o]
    dirs = model_dirs(only)
    jobs = [(d, ".onnx", check) for d in dirs]
    jobs += [(d, ".tflite", check_tflite) for d in dirs if os.path.basename(d) in TFLITE_MODELS]
    passed = 0
    for d, ext, fn in jobs:
        try:
            ok, msg = fn(a.modelc, d, a.out)
        except Exception as e:  # runtime load/run errors are failures, reported by name
            ok, msg = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        passed += ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(d) + ext:40s} {msg}")
    h_ok, h_msg = hostile(a.modelc)
    print(f"{'ok  ' if h_ok else 'FAIL'} {'hostile archive (os.system)':32s} {h_msg}")
    print(f"torchscript interop: {passed} of {len(jobs)} conversions match torch (rel err <= {TOL:g})")
    return 0 if (jobs and passed == len(jobs) and h_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
