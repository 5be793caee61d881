"""Transformer and vision-transformer architectures, built with torch and torchvision from
their configs with seeded random weights (no downloads), traced and scripted, converted by
`modelc convert model.pt model.onnx` and, in the same run, exported by
`torch.onnx.export` (classic exporter, opset 17) from the same module; both files run in
onnxruntime on the same inputs and are compared with torch's outputs:
max|ort - torch| / max|torch| <= 1e-4 (relative to the output range).

    python tests/torchscript_archs.py --modelc target/debug/modelc [--out DIR] [--only a,b]

Inputs keep their natural element types (token ids are int64): a converted model that
declares a float input where the module takes ids fails, as onnxruntime refuses the feed.
Scripted forms are converted with `--input-shape` for the inputs they are run on (a scripted
module declares no sizes, and Swin's code branches on them); traced forms get none.

Last lines: one per architecture and form, then `torchscript archs: modelc N of M match
torch (...), R refused by op, F failures; torch.onnx.export K of M`. Exits 1 on any failure:
a wrong result, a file onnxruntime rejects, or a refusal of a form that must convert (forms
marked '?' in `archs()` may instead be refused with the op named).

Run time on this machine (debug modelc, 2 shared cores): about 2.5 minutes with the
full-size torchvision models (vit_b_16, swin_t, maxvit_t, densenet121; `--skip` them for a
quick run).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import warnings

import numpy as np

TOL = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def archs():
    """(name, module factory, input factory, forms) — forms among 'traced', 'scripted';
    a form ending in '?' may be refused (with the op named), not converted wrongly."""
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    def img(n=1, c=3, h=224, w=224):
        return lambda g: [torch.randn(n, c, h, w, generator=g)]

    def seq(b=2, length=10, e=64):
        return lambda g: [torch.randn(b, length, e, generator=g)]

    def ids(b=2, length=12, vocab=100):
        return lambda g: [torch.randint(0, vocab, (b, length), generator=g)]

    class Mha(nn.Module):
        """nn.MultiheadAttention as a block uses it (self-attention, weights not needed)."""

        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(64, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    class MhaWeights(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(32, 4)

        def forward(self, q, k):
            return self.attn(q, k, k)

    class Bert(nn.Module):
        """BERT-style: token + position (arange) + type (new_zeros) embeddings, encoder,
        pooler on the first token."""

        def __init__(self, vocab=100, e=64):
            super().__init__()
            self.tok = nn.Embedding(vocab, e)
            self.pos = nn.Embedding(64, e)
            self.typ = nn.Embedding(2, e)
            self.norm = nn.LayerNorm(e)
            layer = nn.TransformerEncoderLayer(e, 4, 128, batch_first=True, activation="gelu")
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.pool = nn.Linear(e, e)

        def forward(self, input_ids):
            n = input_ids.size(1)
            pos = torch.arange(n, device=input_ids.device).unsqueeze(0)
            typ = input_ids.new_zeros(input_ids.shape)
            h = self.norm(self.tok(input_ids) + self.pos(pos) + self.typ(typ))
            mask = input_ids == 0
            h = self.enc(h, src_key_padding_mask=mask)
            return h, torch.tanh(self.pool(h[:, 0]))

    class Gpt(nn.Module):
        """GPT-style: causal mask from new_ones/triu, fused qkv split by size, unbind."""

        def __init__(self, vocab=100, e=64, heads=4):
            super().__init__()
            self.heads = heads
            self.wte = nn.Embedding(vocab, e)
            self.wpe = nn.Embedding(64, e)
            self.ln = nn.LayerNorm(e)
            self.qkv = nn.Linear(e, 3 * e)
            self.proj = nn.Linear(e, e)
            self.head = nn.Linear(e, vocab, bias=False)

        def forward(self, idx):
            b, t = idx.shape
            pos = torch.arange(0, t, dtype=torch.long)
            x = self.wte(idx) + self.wpe(pos)
            h = self.ln(x)
            q, k, v = self.qkv(h).split(h.size(-1), dim=2)
            q, k, v = (z.view(b, t, self.heads, -1).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            causal = x.new_ones(t, t).tril().view(1, 1, t, t)
            att = att.masked_fill(causal == 0, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).contiguous().view(b, t, -1)
            x = x + self.proj(y)
            return self.head(x)

    class TimmVit(nn.Module):
        """timm-style ViT block: qkv reshape/permute/unbind, scale, LayerScale (addcmul),
        cls token via expand, CLS pooling; L2-normalized embedding (linalg_vector_norm)."""

        def __init__(self, e=64, heads=4):
            super().__init__()
            self.heads = heads
            self.patch = nn.Conv2d(3, e, 8, 8)
            self.cls = nn.Parameter(torch.randn(1, 1, e))
            self.pos = nn.Parameter(torch.randn(1, 17, e) * 0.02)
            self.n1 = nn.LayerNorm(e)
            self.qkv = nn.Linear(e, 3 * e)
            self.proj = nn.Linear(e, e)
            self.gamma = nn.Parameter(torch.full((e,), 0.1))
            self.n2 = nn.LayerNorm(e)
            self.mlp = nn.Sequential(nn.Linear(e, 2 * e), nn.GELU(), nn.Linear(2 * e, e))

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
            b, n, c = x.shape
            qkv = self.qkv(self.n1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            a = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
            y = (a.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
            x = torch.addcmul(x, self.gamma, self.proj(y))
            x = x + self.mlp(self.n2(x))
            return F.normalize(x[:, 0], dim=-1)

    class T5Bias(nn.Module):
        """T5 relative position buckets: arange, abs, log, binary min, full_like, where."""

        def __init__(self, buckets=32, max_distance=128, heads=4):
            super().__init__()
            self.buckets, self.max_distance = buckets, max_distance
            self.bias = nn.Embedding(buckets, heads)

        def forward(self, x):
            q, k = x.shape[1], x.shape[1]
            ctx = torch.arange(q, dtype=torch.long)[:, None]
            mem = torch.arange(k, dtype=torch.long)[None, :]
            rel = mem - ctx
            n = self.buckets // 2
            ret = (rel > 0).to(torch.long) * n
            rel = torch.abs(rel)
            exact = n // 2
            small = rel < exact
            large = exact + (
                torch.log(rel.float() / exact) / math.log(self.max_distance / exact) * (n - exact)
            ).to(torch.long)
            large = torch.min(large, torch.full_like(large, n - 1))
            ret = ret + torch.where(small, rel, large)
            bias = self.bias(ret).permute(2, 0, 1).unsqueeze(0)
            scores = torch.einsum("bqd,bkd->bqk", x, x).unsqueeze(1) + bias
            return scores.max(dim=-1).values, scores.amax(-1).max()

    class Fpn(nn.Module):
        """An FPN top-down path: upsample to the lateral's computed size."""

        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, 2, 1)
            self.c2 = nn.Conv2d(8, 8, 3, 2, 1)
            self.lat = nn.Conv2d(8, 8, 1)

        def forward(self, x):
            a = self.c1(x)
            b = self.c2(a)
            up = F.interpolate(b, size=a.shape[-2:], mode="nearest")
            up2 = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
            return self.lat(a) + up + up2

    def tiny_vit():
        return torchvision.models.VisionTransformer(
            image_size=64, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128,
            num_classes=10)

    def tiny_swin(v2=False):
        from torchvision.models import swin_transformer as st
        kw = dict(block=st.SwinTransformerBlockV2, downsample_layer=st.PatchMergingV2) if v2 else {}
        return st.SwinTransformer(patch_size=[4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4],
                                  window_size=[4, 4], num_classes=10, **kw)

    def tiny_maxvit():
        from torchvision.models.maxvit import MaxVit
        return MaxVit(input_size=(64, 64), stem_channels=16, partition_size=2, block_channels=[16, 32],
                      block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10)

    def encoder(norm_first=False, act="relu"):
        layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, norm_first=norm_first,
                                           activation=act)
        return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    tv = torchvision.models
    both = ("traced", "scripted")
    return [
        ("transformer-encoder", encoder, seq(), both),
        ("transformer-encoder-normfirst-gelu", lambda: encoder(True, "gelu"), seq(), both),
        ("multihead-attention", Mha, seq(), both),
        ("multihead-attention-weights", MhaWeights,
         lambda g: [torch.randn(5, 2, 32, generator=g), torch.randn(7, 2, 32, generator=g)], both),
        ("transformer-decoder",
         lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(64, 4, 128, batch_first=True), 2),
         lambda g: [torch.randn(2, 7, 64, generator=g), torch.randn(2, 10, 64, generator=g)], ("traced",)),
        ("transformer", lambda: nn.Transformer(64, 4, 2, 2, 128, batch_first=True),
         lambda g: [torch.randn(2, 10, 64, generator=g), torch.randn(2, 7, 64, generator=g)], ("traced",)),
        ("bert-like", Bert, ids(), both),
        ("gpt-like", Gpt, ids(), both),
        ("timm-vit-block", TimmVit, img(2, 3, 32, 32), both),
        ("t5-relative-bias", T5Bias, seq(2, 9, 16), both),
        ("fpn-upsample-to-size", Fpn, img(1, 3, 32, 40), both),
        ("vit-tiny", tiny_vit, img(2, 3, 64, 64), both),
        # Scripted Swin builds its shifted-window mask with list mutation inside run-time
        # branches and slices of run-time bounds: refused by op (named) for now.
        ("swin-tiny", tiny_swin, img(1, 3, 64, 64), ("traced", "scripted")),
        ("swin-v2-tiny", lambda: tiny_swin(True), img(1, 3, 64, 64), ("traced", "scripted")),
        ("maxvit-tiny", tiny_maxvit, img(1, 3, 64, 64), both),
        ("vit_b_16", lambda: tv.vit_b_16(weights=None), img(), ("traced",)),
        ("swin_t", lambda: tv.swin_t(weights=None), img(), ("traced",)),
        ("maxvit_t", lambda: tv.maxvit_t(weights=None), img(), ("traced",)),
        ("densenet121", lambda: tv.densenet121(weights=None), img(), ("scripted",)),
    ]


def compare(outs, refs):
    worst = 0.0
    for g, t in zip(outs, refs):
        if g.shape != t.shape:
            return f"shape {g.shape} vs torch {t.shape}"
        if t.size == 0:
            continue
        err = float(np.abs(g.astype(np.float64) - t.astype(np.float64)).max()
                    / max(float(np.abs(t.astype(np.float64)).max()), 1e-12))
        worst = max(worst, err)
    if len(outs) != len(refs):
        return f"{len(outs)} outputs, torch {len(refs)}"
    return None if worst <= TOL else f"rel err {worst:.3g}"


def run_ort(path, xs):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: x for i, x in zip(s.get_inputs(), xs)})


def flat(v):
    import torch

    if isinstance(v, torch.Tensor):
        return [v.detach().numpy()]
    if isinstance(v, (tuple, list)):
        return [y for x in v for y in flat(x)]
    return []


@contextlib.contextmanager
def quiet():
    """The exporter prints the graph it failed on to the process's stdout and stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in saved + [null]:
            os.close(f)


def one(modelc, out, name, make, inputs, form):
    """(modelc status, message, torch.onnx.export status, message)."""
    import torch

    torch.manual_seed(0)
    m = make().eval()
    xs = inputs(torch.Generator().manual_seed(1))
    with torch.no_grad():
        refs = flat(m(*xs))
        ts = torch.jit.trace(m, tuple(xs), check_trace=False) if form == "traced" else torch.jit.script(m)
    pt = os.path.join(out, f"{name}-{form}.pt")
    ts.save(pt)
    feeds = [x.numpy() for x in xs]
    onnx = os.path.join(out, f"{name}-{form}.onnx")
    t0 = time.time()
    # A scripted module declares no sizes, and code that branches on them (Swin's window
    # shifts) converts only for known ones: give the shapes of the inputs it is run on.
    shapes = []
    if form == "scripted":
        for a, x in zip(ts.forward.schema.arguments[1:], xs):
            shapes += ["--input-shape", f"{a.name}:{','.join(str(n) for n in x.shape)}"]
    r = subprocess.run([modelc, "convert", pt, onnx, *shapes], capture_output=True, text=True, timeout=900)
    dt = time.time() - t0
    if r.returncode != 0:
        line = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        mine = (False, f"convert failed: {line}")
    else:
        try:
            bad = compare(run_ort(onnx, feeds), refs)
            mine = (bad is None, f"{bad or 'matches torch'} ({dt:.1f} s)")
        except Exception as e:  # noqa: BLE001 - onnxruntime refusing the file is a failure
            mine = (False, f"onnxruntime: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}")
    # The peer: the classic exporter on the eager module (the form only matters to modelc).
    peer_path = os.path.join(out, f"{name}-{form}.torch.onnx")
    try:
        with warnings.catch_warnings(), torch.no_grad(), quiet():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, tuple(xs), peer_path, opset_version=17, dynamo=False)
        bad = compare(run_ort(peer_path, feeds), refs)
        peer = (bad is None, bad or "matches torch")
    except Exception as e:  # noqa: BLE001 - an export failure is the peer's failure
        peer = (False, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    return mine, peer


def input_type_flag(modelc, out):
    """`--input-type ids:int64` on a scripted module whose int input is not used as indices
    (nothing in the archive says its type; `--input-shape` gives its rank): the ONNX input is
    int64 and computes torch's result. (ok, message)."""
    import torch

    class Ids(torch.nn.Module):
        def forward(self, ids):
            return ids * 3 + torch.arange(ids.shape[-1])

    ids = torch.randint(-50, 50, (2, 7))
    pt = os.path.join(out, "input-type-flag.pt")
    torch.jit.script(Ids()).save(pt)
    onnx = os.path.join(out, "input-type-flag.onnx")
    r = subprocess.run([modelc, "convert", pt, onnx, "--input-type", "ids:int64", "--input-shape", "ids:2,7"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return False, "convert failed: " + r.stderr.strip()[-300:]
    try:
        bad = compare(run_ort(onnx, [ids.numpy()]), [Ids()(ids).numpy()])
    except Exception as e:  # noqa: BLE001 - onnxruntime refusing the file is a failure
        return False, f"onnxruntime: {str(e).splitlines()[0][:300]}"
    return bad is None, bad or "int64 input, matches torch"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "torchscript-archs"))
    ap.add_argument("--only", default="")
    ap.add_argument("--skip", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    only = [o for o in a.only.split(",") if o]
    skip = [o for o in a.skip.split(",") if o]
    n = mine_ok = peer_ok = refused = failed = 0
    for name, make, inputs, forms in archs():
        if (only and name not in only) or name in skip:
            continue
        for form in forms:
            may_refuse = form.endswith("?")
            form = form.rstrip("?")
            n += 1
            try:
                (ok, msg), (pok, pmsg) = one(a.modelc, a.out, name, make, inputs, form)
            except Exception as e:  # noqa: BLE001 - torch failing to trace/script the module
                print(f"SKIP {name}-{form}: torch cannot make it: {e}", flush=True)
                n -= 1
                continue
            mine_ok += ok
            peer_ok += pok
            is_refusal = not ok and msg.startswith("convert failed") and "not supported" in msg
            status = "ok  " if ok else ("skip" if may_refuse and is_refusal else "FAIL")
            refused += status == "skip"
            failed += status == "FAIL"
            print(f"{status} {name + '-' + form:44s} {msg[:400]}", flush=True)
            print(f"     {'':44s} torch.onnx.export: {'ok' if pok else 'FAIL'} {pmsg if not pok else ''}",
                  flush=True)
    if not only or "input-type-flag" in only:
        ok, msg = input_type_flag(a.modelc, a.out)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {'input-type-flag (--input-type ids:int64)':44s} {msg}", flush=True)
    print(f"torchscript archs: modelc {mine_ok} of {n} match torch (rel err <= {TOL:g}), "
          f"{refused} refused by op, {failed} failures; torch.onnx.export {peer_ok} of {n}")
    return 0 if n and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
