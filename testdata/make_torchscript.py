"""Make TorchScript test models with torch: traced and scripted variants, each with a
seeded input and torch's output for it.

    python testdata/make_torchscript.py [--out DIR] [--small-only] [--only NAME,...]

For every model NAME it writes DIR/NAME/model.pt (torch.jit.save), DIR/NAME/input_<i>.npy
and DIR/NAME/output_<i>.npy (the TorchScript module's outputs on those inputs, in eval mode),
plus DIR/NAME/meta.json (input and output names). Models:

  small (committed under testdata/torchscript, a few hundred KB in all):
    cnn_bn_{traced,scripted}       conv + BatchNorm + ReLU + pooling + linear
    resblock_{traced,scripted}     a ResNet basic block with a downsample branch
    mlp_dropout_{traced,scripted}  linear + GELU + dropout (eval: identity) + softmax
    lstm_{traced,scripted}         a 2-layer LSTM followed by a linear head
    lstm_cell_{traced,scripted}    nn.LSTMCell, state in and out (silero-vad.jit's decoder)
    encoder_layer_{traced,scripted} nn.TransformerEncoderLayer (batch_first)
    gated_{pos,neg}_scripted       an `if` on a run-time value; inputs take each branch
    swin_block_scripted            torchvision's SwinTransformerBlock (shifted windows: list
                                   copies, `torch.tensor` masks written through views, roll)
    squeeze_if_one_scripted        an `if` on a size whose branches give different ranks
                                   (silero-vad's decoder); a broadcasting merge of the two
                                   branches would triple the output
  large (generated at test time, under target/):
    resnet18_{traced,scripted}, mobilenet_v2_{traced,scripted}   torchvision, weights=None
    transformer_encoder_{traced,scripted}                         nn.TransformerEncoder, 2 layers
    resnet50_traced (about 100 MB; for the load-time figure)

Weights are seeded (torch.manual_seed) so every run writes the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


class CnnBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        return self.fc(x)


class ResBlock(nn.Module):
    def __init__(self, cin=8, cout=16, stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x):
        identity = self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + identity
        return self.relu(out)


class MlpDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.drop(F.gelu(self.fc1(x)))
        return torch.softmax(self.fc2(x), dim=-1)


class LstmHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)


class Gated(nn.Module):
    """A branch on a run-time value (scripting keeps it; tracing would bake one branch)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        h = self.fc(x)
        if bool(h.mean() > 0):
            y = torch.relu(h) * 2.0
        else:
            y = torch.tanh(h) - 1.0
        return y


class SqueezeIfOne(nn.Module):
    """`x.squeeze(-1)` only when the last size is 1 (silero-vad's decoder does this before
    its LSTM): the branches' results have ranks 2 and 3, so only the branch the input's
    shape takes is right; `Where(c, h[1,3], x[1,3,1])` would broadcast to [1,3,3]."""

    def forward(self, x):
        if x.size(-1) == 1:
            h = x.squeeze(-1)
        else:
            h = x
        return (h * 2.0).sum().reshape(1)


class LstmCellStep(nn.Module):
    """One nn.LSTMCell step with the state given and returned (aten::lstm_cell)."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(8, 16)

    def forward(self, x, h, c):
        h2, c2 = self.cell(x, (h, c))
        return h2, c2


def swin_block():
    from torchvision.models.swin_transformer import SwinTransformerBlock

    return SwinTransformerBlock(dim=16, num_heads=2, window_size=[4, 4], shift_size=[2, 2])


def seeded(fn):
    torch.manual_seed(0)
    m = fn()
    # Non-trivial BatchNorm statistics, so a wrong BatchNorm shows in the outputs.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
    return m.eval()


def encoder_layer():
    return nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)


def transformer_encoder():
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def tv(name):
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


SMALL = {
    "cnn_bn": (lambda: CnnBn(), [(2, 3, 16, 16)]),
    "resblock": (lambda: ResBlock(), [(2, 8, 16, 16)]),
    "mlp_dropout": (lambda: MlpDropout(), [(4, 32)]),
    "lstm": (lambda: LstmHead(), [(2, 5, 16)]),
    "lstm_cell": (lambda: LstmCellStep(), [(4, 8), (4, 16), (4, 16)]),
    "encoder_layer": (encoder_layer, [(2, 6, 32)]),
}
# Scripted only, with inputs shifted so that each takes one branch of Gated's `if`.
BRANCHES = {
    "gated_pos": (lambda: Gated(), [(4, 8)], 5.0),
    "gated_neg": (lambda: Gated(), [(4, 8)], -5.0),
    "squeeze_if_one": (lambda: SqueezeIfOne(), [(1, 3, 1)], 1.0),
    "swin_block": (swin_block, [(1, 8, 8, 16)], 0.0),
}
LARGE = {
    "resnet18": (lambda: tv("resnet18"), [(1, 3, 224, 224)]),
    "mobilenet_v2": (lambda: tv("mobilenet_v2"), [(1, 3, 224, 224)]),
    "transformer_encoder": (transformer_encoder, [(2, 10, 64)]),
}
TRACED_ONLY = {
    "resnet50": (lambda: tv("resnet50"), [(1, 3, 224, 224)]),
}


def save(out_dir, name, module, inputs):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.pt")
    torch.jit.save(module, path)
    loaded = torch.jit.load(path)
    with torch.no_grad():
        outs = loaded(*inputs)
    if isinstance(outs, torch.Tensor):
        outs = (outs,)
    for i, x in enumerate(inputs):
        np.save(os.path.join(d, f"input_{i}.npy"), x.numpy())
    for i, y in enumerate(outs):
        np.save(os.path.join(d, f"output_{i}.npy"), y.numpy())
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"inputs": len(inputs), "outputs": len(outs)}, f)
    print(f"make_torchscript: {path} ({os.path.getsize(path)} bytes)")


def make(out_dir, name, fn, shapes, variants, offset=0.0):
    m = seeded(fn)
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(*s, generator=g) + offset for s in shapes]
    with torch.no_grad():
        if "traced" in variants:
            traced = torch.jit.trace(m, tuple(inputs), check_trace=False)
            save(out_dir, f"{name}_traced", traced, inputs)
        if "scripted" in variants:
            scripted = torch.jit.script(m)
            save(out_dir, f"{name}_scripted", scripted, inputs)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=None)
    ap.add_argument("--small-only", action="store_true")
    ap.add_argument("--large-only", action="store_true")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    torch.set_num_threads(1)
    only = set(filter(None, a.only.split(",")))
    jobs = []
    if not a.large_only:
        jobs += [(n, f, s, ("traced", "scripted")) for n, (f, s) in SMALL.items()]
        jobs += [(n, f, s, ("scripted",), o) for n, (f, s, o) in BRANCHES.items()]
    if not a.small_only:
        jobs += [(n, f, s, ("traced", "scripted")) for n, (f, s) in LARGE.items()]
        jobs += [(n, f, s, ("traced",)) for n, (f, s) in TRACED_ONLY.items()]
    out = a.out or (
        os.path.join(here, "torchscript")
        if a.small_only
        else os.path.join(here, "..", "target", "testdata", "torchscript")
    )
    for name, fn, shapes, variants, *offset in jobs:
        if only and name not in only:
            continue
        make(out, name, fn, shapes, variants, *offset)


if __name__ == "__main__":
    sys.exit(main())
