"""TorchScript op forms: small torch functions traced by the installed torch, converted by
`modelc convert model.pt model.onnx`, run in onnxruntime against torch's own output.

    python tests/torchscript_forms.py --modelc target/release/modelc [--out DIR] [--only a,b]

Each form either converts and matches torch (max|ort - torch| / max|torch| <= 1e-4), or is
refused with a message naming the op that is not supported. A wrong result, an onnxruntime
failure on the converted file, any other refusal (an archive torch wrote that modelc cannot
read), or a refusal of a form in MUST fails the run. The archives come from the torch in the
pinned environment, so the reader also meets whatever its current writer produces (zip64
end records, traced_inputs/, constants/ storages).

With `--tflite`, every form that converts to ONNX is also converted `model.pt model.tflite`
and run in LiteRT (channels-last inputs and outputs transposed by shape): it must match torch
the same way, or be refused with "no TFLite form"; a file LiteRT cannot load or run, or a
wrong result, fails the run.

Last line: `torchscript forms: N exported exactly, R refused by op, F failures` (and, with
`--tflite`, a line `tflite: N exact in LiteRT, R without a TFLite form`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

TOL = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def forms():
    """(name, function or module, input shapes, must convert)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    x4 = (2, 3, 8, 8)
    i = lambda x: (x * 10).int()  # noqa: E731 - integer inputs from the float ones
    return [
        # Arithmetic whose ONNX spelling differs by dtype or sign convention.
        ("remainder-float", lambda x: torch.remainder(x, 0.7), [x4], True),
        ("remainder-negative-divisor", lambda x: torch.remainder(x, -0.7), [x4], True),
        ("remainder-tensor", lambda x, y: torch.remainder(x, y), [x4, x4], True),
        ("fmod-float", lambda x: torch.fmod(x, 0.7), [x4], True),
        ("floor-divide-int", lambda x: torch.div(i(x), 3, rounding_mode="floor").float(), [x4], True),
        ("floordiv-int-negative", lambda x: (i(x) // -3).float(), [x4], True),
        ("trunc-divide-int", lambda x: torch.div(i(x), 3, rounding_mode="trunc").float(), [x4], True),
        ("remainder-int", lambda x: torch.remainder(i(x), -3).float(), [x4], True),
        ("fmod-int", lambda x: torch.fmod(i(x), -3).float(), [x4], True),
        ("floordiv-float", lambda x: x // 0.3, [x4], True),
        ("floor-divide-float", lambda x: torch.div(x, 0.7, rounding_mode="floor"), [x4], True),
        ("trunc-divide-float", lambda x: torch.div(x, 0.7, rounding_mode="trunc"), [x4], True),
        ("pow-scalar", lambda x: x.abs() ** 1.5, [x4], True),
        ("rsqrt", lambda x: torch.rsqrt(x.abs() + 1), [x4], True),
        ("masked-fill", lambda x: x.masked_fill(x < 0, -1.0), [x4], True),
        ("where-scalar", lambda x: torch.where(x > 0, x, 0.0), [x4], True),
        ("clamp-min", lambda x: x.clamp(min=0.1), [x4], True),
        ("clamp-max", lambda x: torch.clamp(x, max=0.3), [x4], True),
        # Activations.
        ("gelu", F.gelu, [x4], True),
        ("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), [x4], True),
        ("silu", F.silu, [x4], True),
        ("mish", F.mish, [x4], True),
        ("hardswish", F.hardswish, [x4], True),
        ("hardsigmoid", F.hardsigmoid, [x4], True),
        ("leaky-relu", lambda x: F.leaky_relu(x, 0.2), [x4], True),
        ("elu-alpha", lambda x: F.elu(x, 0.5), [x4], True),
        ("relu6", F.relu6, [x4], True),
        ("softplus-beta", lambda x: F.softplus(x, beta=2.0, threshold=5.0), [x4], True),
        ("softplus-threshold", lambda x: F.softplus(x * 3, threshold=2.0), [x4], True),
        ("erf", torch.erf, [x4], True),
        # Reductions and normalization.
        ("softmax-dim1", lambda x: F.softmax(x, dim=1), [x4], True),
        ("log-softmax-dim-2", lambda x: F.log_softmax(x, dim=-2), [x4], True),
        ("mean-keepdim", lambda x: x.mean(dim=(-1, -2), keepdim=True), [x4], True),
        ("sum-all", lambda x: x.sum(), [x4], True),
        ("amax", lambda x: x.amax(dim=1), [x4], True),
        ("std", lambda x: x.std(dim=1), [x4], True),
        ("std-all", lambda x: x.std(), [x4], True),
        ("var-biased-keepdim", lambda x: x.var(dim=(-1, -2), unbiased=False, keepdim=True), [x4], True),
        ("var-correction-0", lambda x: torch.var(x, dim=1, correction=0), [x4], True),
        ("var-mean-pair", lambda x: torch.var_mean(x, dim=2), [x4], True),
        ("std-mean-keepdim", lambda x: torch.std_mean(x, dim=(1, 3), keepdim=True), [x4], True),
        ("layer-norm", nn.LayerNorm(8), [x4], True),
        ("group-norm", nn.GroupNorm(3, 6), [(2, 6, 4, 4)], True),
        ("group-norm-no-affine", nn.GroupNorm(2, 4, affine=False), [(2, 4, 5)], True),
        ("group-norm-1d-groups", nn.GroupNorm(1, 3), [x4], True),
        ("instance-norm-affine", nn.InstanceNorm2d(3, affine=True), [x4], True),
        ("instance-norm", nn.InstanceNorm1d(3), [(2, 3, 9)], True),
        ("instance-norm-running", nn.InstanceNorm2d(3, track_running_stats=True), [x4], True),
        ("cumsum", lambda x: torch.cumsum(x, dim=2), [x4], True),
        ("cumsum-negative-dim", lambda x: x.cumsum(-1), [x4], True),
        ("topk", lambda x: torch.topk(x, 3, dim=-1), [x4], True),
        ("topk-smallest-dim1", lambda x: torch.topk(x, 2, dim=1, largest=False)[0], [x4], True),
        ("sort-descending", lambda x: torch.sort(x, dim=2, descending=True), [x4], True),
        ("sort-last", lambda x: torch.sort(x)[1].float(), [x4], True),
        ("argmax-keepdim", lambda x: torch.argmax(x, dim=1, keepdim=True), [x4], True),
        ("argmax-flat", lambda x: torch.argmax(x), [x4], True),
        ("argmin", lambda x: torch.argmin(x, dim=-1), [x4], True),
        ("max-dim", lambda x: torch.max(x, dim=2), [x4], True),
        ("min-dim-keepdim", lambda x: torch.min(x, 1, keepdim=True)[0], [x4], True),
        # Shapes and indexing.
        ("cat-negative-dim", lambda x: torch.cat([x, x * 2], dim=-1), [x4], True),
        ("index-last", lambda x: x[:, -1], [x4], True),
        ("slice-steps", lambda x: x[:, 1:, ::2, -3:], [x4], True),
        ("permute", lambda x: x.permute(0, 2, 3, 1).contiguous(), [x4], True),
        ("chunk", lambda x: x.chunk(3, dim=1)[2], [x4], True),
        ("split-sizes", lambda x: torch.split(x, [1, 2], dim=1)[1], [x4], True),
        ("flatten-1-2", lambda x: x.flatten(1, 2), [x4], True),
        ("expand", lambda x: x[:, :1].expand(-1, 4, -1, -1), [x4], True),
        ("repeat", lambda x: x.repeat(1, 2, 1, 3), [x4], True),
        ("pad-constant", lambda x: F.pad(x, (1, 2), value=0.5), [x4], True),
        ("pad-negative", lambda x: F.pad(x, (-1, 2)), [x4], True),
        ("pad-reflect", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), [x4], True),
        ("pad-replicate", lambda x: F.pad(x, (1, 2, 2, 1), mode="replicate"), [x4], True),
        ("pad-circular", lambda x: F.pad(x, (1, 2, 2, 1), mode="circular"), [x4], True),
        ("pad-circular-1d", nn.CircularPad1d((3, 0)), [(2, 3, 8)], True),
        ("flip", lambda x: torch.flip(x, dims=[1, 3]), [x4], True),
        ("flip-negative", lambda x: x.flip(-1), [x4], True),
        # Linear algebra.
        ("matmul-1d", torch.matmul, [(3, 5), (5,)], True),
        ("matmul-broadcast", lambda x, y: x @ y, [x4, (8, 6)], True),
        ("baddbmm", lambda x, y, z: torch.baddbmm(x, y, z, beta=0.5, alpha=2.0), [(2, 3, 4), (2, 3, 5), (2, 5, 4)], True),
        ("addmm", lambda x, y, z: torch.addmm(x, y, z, beta=0.5, alpha=2.0), [(3, 4), (3, 5), (5, 4)], True),
        ("linear-3d", nn.Linear(8, 3), [(2, 5, 8)], True),
        ("sdpa-causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
         [(2, 4, 6, 8)] * 3, True),
        ("einsum", lambda x, y: torch.einsum("bchw,bcwk->bchk", x, y), [x4, (2, 3, 8, 5)], True),
        ("einsum-transpose-sum", lambda x: torch.einsum("bchw->bwc", x), [x4], True),
        ("einsum-implicit", lambda x, y: torch.einsum("ij,jk", x, y), [(3, 4), (4, 5)], True),
        ("einsum-attention", lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k), [(2, 3, 5, 4), (2, 3, 6, 4)], True),
        ("einsum-outer", lambda x, y: torch.einsum("i,j->ij", x, y), [(5,), (3,)], True),
        ("einsum-sum-all", lambda x: torch.einsum("ij->", x), [(3, 4)], True),
        ("einsum-weights", lambda x, w: torch.einsum("abc,cd->dba", x, w), [(2, 3, 4), (4, 5)], True),
        ("einsum-drop-one-side", lambda x, y: torch.einsum("bij,bk->bi", x, y), [(2, 3, 4), (2, 5)], True),
        ("einsum-three", lambda x, y, z: torch.einsum("bn,anm,bm->ba", x, y, z), [(2, 3), (4, 3, 5), (2, 5)], True),
        ("einsum-implicit-order", lambda x, y: torch.einsum("bk,ka", x, y), [(3, 4), (4, 5)], True),
        # Convolution and pooling.
        ("conv1d", nn.Conv1d(3, 4, 5, stride=2, padding=2), [(2, 3, 20)], True),
        ("conv-transpose2d", nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), [x4], True),
        ("conv-padding-same", nn.Conv2d(4, 4, 3, dilation=2, groups=2, padding="same"), [(1, 4, 9, 9)], True),
        ("conv1d-padding-same-even", nn.Conv1d(3, 4, 4, padding="same"), [(2, 3, 11)], True),
        ("conv-padding-valid", nn.Conv2d(3, 4, 3, padding="valid"), [x4], True),
        ("avg-pool-ceil", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x4], True),
        ("avg-pool-count-pad", lambda x: F.avg_pool2d(x, 3, 1, 1), [x4], True),
        ("max-pool-ceil", lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True), [x4], True),
        ("adaptive-avg-pool-2", lambda x: F.adaptive_avg_pool2d(x, 2), [x4], True),
        ("adaptive-avg-pool-3-uneven", lambda x: F.adaptive_avg_pool2d(x, (3, 5)), [(2, 3, 8, 7)], True),
        ("adaptive-avg-pool-same-size", nn.AdaptiveAvgPool2d(7), [(1, 4, 7, 7)], True),
        ("adaptive-avg-pool-1d", lambda x: F.adaptive_avg_pool1d(x, 6), [(2, 3, 20)], True),
        ("adaptive-max-pool-2", lambda x: F.adaptive_max_pool2d(x, 2), [x4], True),
        ("adaptive-max-pool-uneven", lambda x: F.adaptive_max_pool2d(x, (3, 5)), [(2, 3, 8, 7)], True),
        ("adaptive-max-pool-1", nn.AdaptiveMaxPool2d(1), [x4], True),
        ("adaptive-max-pool-1-indices", lambda x: F.adaptive_max_pool2d(x, 1, return_indices=True)[1].float(),
         [x4], True),
        ("adaptive-max-pool-1d-indices", lambda x: F.adaptive_max_pool1d(x, 1, return_indices=True),
         [(2, 3, 9)], True),
        ("adaptive-max-pool-2-indices", lambda x: F.adaptive_max_pool2d(x, 2, return_indices=True)[1].float(),
         [x4], True),
        ("adaptive-max-pool-uneven-indices", lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True)[1].float(),
         [x4], False),
        ("interpolate-nearest-scale", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), [x4], True),
        ("interpolate-nearest-size", lambda x: F.interpolate(x, size=(5, 12), mode="nearest"), [x4], True),
        ("interpolate-nearest-exact", lambda x: F.interpolate(x, scale_factor=1.5, mode="nearest-exact"), [x4], True),
        ("interpolate-bilinear-size", lambda x: F.interpolate(x, size=(5, 7), mode="bilinear"), [x4], True),
        ("interpolate-bilinear-scale", lambda x: F.interpolate(x, scale_factor=1.7, mode="bilinear"), [x4], True),
        ("interpolate-bilinear-corners", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear",
                                                                 align_corners=True), [x4], True),
        ("interpolate-linear-1d", lambda x: F.interpolate(x, scale_factor=3, mode="linear"), [(2, 3, 8)], True),
        ("interpolate-nearest-1d", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), [(2, 3, 8)], True),
        ("interpolate-linear-1d-size", lambda x: F.interpolate(x, size=13, mode="linear"), [(2, 3, 8)], True),
        ("interpolate-linear-1d-corners", lambda x: F.interpolate(x, size=5, mode="linear", align_corners=True),
         [(2, 3, 9)], True),
        ("interpolate-nearest-3d", lambda x: F.interpolate(x, scale_factor=2), [(1, 2, 3, 4, 5)], True),
        ("interpolate-trilinear", lambda x: F.interpolate(x, size=(4, 6, 3), mode="trilinear"),
         [(1, 2, 3, 4, 5)], True),
        ("upsample-module", nn.Upsample(scale_factor=2, mode="bilinear"), [x4], True),
        ("interpolate-bicubic", lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), [x4], True),
        ("interpolate-bicubic-corners", lambda x: F.interpolate(x, size=(5, 11), mode="bicubic",
                                                                align_corners=True), [x4], True),
        ("interpolate-antialias", lambda x: F.interpolate(x, size=(4, 4), mode="bilinear", antialias=True),
         [x4], True),
        ("interpolate-antialias-uneven", lambda x: F.interpolate(x, size=(3, 5), mode="bilinear", antialias=True),
         [(2, 3, 11, 16)], True),
        ("interpolate-antialias-up", lambda x: F.interpolate(x, size=(12, 10), mode="bilinear", antialias=True),
         [x4], True),
        ("interpolate-antialias-corners", lambda x: F.interpolate(x, size=(5, 3), mode="bilinear", antialias=True,
                                                                  align_corners=True), [x4], False),
        ("interpolate-antialias-bicubic", lambda x: F.interpolate(x, size=(3, 5), mode="bicubic", antialias=True),
         [(2, 3, 11, 16)], True),
        ("interpolate-antialias-scale", lambda x: F.interpolate(x, scale_factor=0.3, mode="bilinear", antialias=True),
         [(1, 2, 20, 17)], True),
        # Ops transformer and vision-transformer models record (issue 12).
        ("arange-end", lambda x: x + torch.arange(x.shape[-1]), [x4], True),
        ("arange-start-step-float", lambda x: x * torch.arange(0.5, 4.5, 0.5), [x4], True),
        ("new-ones-full-zeros", lambda x: x.new_ones(x.shape[-2:]) + x.new_full((8,), 2.5) + x.new_zeros(8, 8) + x,
         [x4], True),
        ("full-like-int", lambda x: torch.full_like(x.long(), 7).float() + x, [x4], True),
        ("tril-triu", lambda x: x.tril(-1) + x.triu(2), [x4], True),
        ("index-tensor", lambda x: x[:, torch.tensor([2, 0, 1])], [x4], True),
        ("index-two-tensors", lambda x: x[torch.tensor([1, 0]), :, torch.tensor([3, 4])], [x4], True),
        ("index-adjacent-tensors", lambda x: x[:, torch.tensor([1, 0]), torch.tensor([3, 4])], [x4], True),
        ("index-bool-mask", lambda x: x[x > 0.5], [x4], True),
        ("max-all", lambda x: torch.max(x), [x4], True),
        ("min-binary", lambda x, y: torch.min(x, y), [x4, x4], True),
        ("maximum-broadcast", lambda x, y: torch.maximum(x, y), [x4, (8,)], True),
        ("split-int-uneven", lambda x: torch.split(x, 3, dim=-1), [x4], True),
        ("chunk-uneven", lambda x: x.chunk(3, dim=-1), [(2, 3, 5)], True),
        ("unbind", lambda x: torch.stack(x.unbind(1)[::-1], 1), [x4], True),
        ("vector-norm", lambda x: torch.linalg.vector_norm(x, dim=(-1,), keepdim=True), [x4], True),
        ("vector-norm-ord3", lambda x: torch.linalg.vector_norm(x, 3, dim=1), [x4], True),
        ("norm-l1-all", lambda x: torch.norm(x, p=1), [x4], True),
        ("normalize", lambda x: F.normalize(x, dim=1), [x4], True),
        ("addcmul", lambda x, y, z: torch.addcmul(x, y, z, value=0.5), [x4, x4, x4], True),
        ("addcdiv", lambda x, y, z: torch.addcdiv(x, y, z.abs() + 1, value=2.0), [x4, x4, x4], True),
        ("roll", lambda x: torch.roll(x, (1, -2), (2, 3)), [x4], True),
        ("roll-flat", lambda x: torch.roll(x, 5), [x4], True),
        ("swapaxes-movedim", lambda x: torch.movedim(x.swapaxes(1, 3), 0, 2), [x4], True),
        ("gather", lambda x: torch.gather(x, 3, (x.abs() * 3).long().clamp(max=7)), [x4], True),
        ("fill-slice", lambda x: x.clone().index_fill_(1, torch.tensor([0]), 0.0) if False else
         (lambda y: (y.__setitem__((slice(None), slice(0, 2)), 3.0), y)[1])(x.clone()), [x4], True),
        ("interpolate-size-of-other", lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bilinear"),
         [x4, (1, 1, 11, 5)], True),
        ("mha-fast-path", nn.MultiheadAttention(8, 2, batch_first=True), [(2, 5, 8)] * 3, True),
        ("pixel-shuffle", lambda x: F.pixel_shuffle(x, 2), [(1, 8, 3, 3)], True),
        ("pixel-shuffle-3", nn.PixelShuffle(3), [(2, 18, 2, 4)], True),
        ("pixel-unshuffle", lambda x: F.pixel_unshuffle(x, 2), [(1, 2, 4, 6)], True),
        ("pixel-unshuffle-3", nn.PixelUnshuffle(3), [(2, 3, 6, 9)], True),
    ]


def run_form(modelc, out, name, fn, shapes):
    """(status, message): status is 'ok', 'refused' or 'fail'."""
    import onnxruntime as ort
    import torch

    torch.manual_seed(0)
    xs = [torch.randn(*s) for s in shapes]
    if isinstance(fn, torch.nn.Module):
        m = fn
    else:
        m = type("Form", (torch.nn.Module,), {"forward": lambda self, *a: fn(*a)})()
    m.eval()
    with torch.no_grad():
        ref = m(*xs)
        traced = torch.jit.trace(m, tuple(xs))
    pt = os.path.join(out, f"{name}.pt")
    onnx = os.path.join(out, f"{name}.onnx")
    traced.save(pt)
    r = subprocess.run([modelc, "convert", pt, onnx], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        ok = "is not supported" in msg or "not supported" in msg
        return ("refused" if ok else "fail"), msg[-160:]
    s = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    got = s.run(None, {i.name: x.numpy() for i, x in zip(s.get_inputs(), xs)})
    bad = close(got, ref if isinstance(ref, tuple) else (ref,))
    return ("fail", bad) if bad else ("ok", "matches torch")


def close(got, refs):
    """None when every output matches torch's within TOL (relative to the largest |torch|),
    else what differs. Outputs in another layout are moved channels first by shape."""
    for g, t in zip(got, refs):
        t = t.numpy()
        if g.shape != t.shape and g.ndim >= 3 and np.moveaxis(g, -1, 1).shape == t.shape:
            g = np.moveaxis(g, -1, 1)
        if g.shape != t.shape:
            return f"shape {g.shape} vs torch {t.shape}"
        err = float(np.abs(g.astype(np.float64) - t).max() / max(np.abs(t).max(), 1e-12)) if t.size else 0.0
        if err > TOL:
            return f"rel err {err:.3g}"
    return None


def run_tflite(modelc, out, name, shapes):
    """The TFLite leg (see the module docs) for a form whose .pt `run_form` wrote."""
    import torch
    from ai_edge_litert.interpreter import Interpreter

    torch.manual_seed(0)
    xs = [torch.randn(*s) for s in shapes]
    pt = os.path.join(out, f"{name}.pt")
    with torch.no_grad():
        ref = torch.jit.load(pt)(*xs)
    tfl = os.path.join(out, f"{name}.tflite")
    r = subprocess.run([modelc, "convert", pt, tfl], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        return ("refused" if "no TFLite form" in msg else "fail"), msg[-160:]
    it = Interpreter(model_path=tfl)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), xs):
        v = x.numpy()
        if tuple(d["shape"]) != v.shape and v.ndim >= 3:
            v = np.moveaxis(v, 1, -1)
        it.set_tensor(d["index"], np.ascontiguousarray(v.astype(d["dtype"])))
    it.invoke()
    got = [it.get_tensor(o["index"]) for o in it.get_output_details()]
    bad = close(got, ref if isinstance(ref, tuple) else (ref,))
    return ("fail", bad) if bad else ("ok", "matches torch in LiteRT")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "torchscript-forms"))
    ap.add_argument("--only", default="")
    ap.add_argument("--tflite", action="store_true", help="also convert each form to .tflite and run it in LiteRT")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    only = [o for o in a.only.split(",") if o]
    counts = {"ok": 0, "refused": 0, "fail": 0}
    tfl = {"ok": 0, "refused": 0, "fail": 0}
    for name, fn, shapes, must in forms():
        if only and name not in only:
            continue
        try:
            status, msg = run_form(a.modelc, a.out, name, fn, shapes)
        except Exception as e:  # noqa: BLE001 - onnxruntime failing on the file is a failure
            status, msg = "fail", f"{type(e).__name__}: {str(e).splitlines()[0][:140] if str(e) else ''}"
        if status == "refused" and must:
            status, msg = "fail", f"must convert; {msg}"
        counts[status] += 1
        print(f"{ {'ok': 'ok  ', 'refused': 'skip', 'fail': 'FAIL'}[status]} {name:28s} {msg}", flush=True)
        if a.tflite and status == "ok":
            try:
                t_status, t_msg = run_tflite(a.modelc, a.out, name, shapes)
            except Exception as e:  # noqa: BLE001 - LiteRT refusing the file is a failure
                t_status, t_msg = "fail", f"LiteRT: {str(e).splitlines()[0][:140] if str(e) else type(e).__name__}"
            tfl[t_status] += 1
            if t_status != "ok":
                print(f"  {'no tflite' if t_status == 'refused' else 'TFLITE FAIL'}: {t_msg}", flush=True)
    print(f"torchscript forms: {counts['ok']} exported exactly, {counts['refused']} refused by op, "
          f"{counts['fail']} failures")
    if a.tflite:
        print(f"tflite: {tfl['ok']} exact in LiteRT, {tfl['refused']} without a TFLite form, {tfl['fail']} failures")
    failed = counts["fail"] or tfl["fail"]
    return 0 if not failed and counts["ok"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
