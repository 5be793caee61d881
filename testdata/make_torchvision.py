"""Export the torchvision models (and an nn.TransformerEncoder) that `modelc optimize` is
measured against onnxsim on.

    python testdata/make_torchvision.py --out target/testdata/torchvision [--only resnet18,vit_b_16]

Every model is built with `weights=None` after `torch.manual_seed(SEED)` (no download), put
in eval mode, and given seeded random BatchNorm running statistics (torchvision initializes
them to mean 0 / variance 1, which would make a Conv+BatchNormalization fusion trivially
exact); layers torchvision initializes to zero (ViT's classification head) get seeded random
weights, so that no model's output is identically zero. Each is exported with the classic TorchScript-based exporter
(`torch.onnx.export(..., dynamo=False)`) at opset OPSET with a static batch of 1, the way
most deployed ONNX files were made, and written to OUT/<name>.onnx. Prints one line per
model with its node count, file size and export time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torchvision

OPSET = 17
SEED = 0

IMAGE = (1, 3, 224, 224)
# nn.TransformerEncoder: d_model 256, 4 heads, FFN 1024, 4 layers, batch-first [1, 64, 256].
SEQ_INPUT = (1, 64, 256)

MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(weights=None),
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large(weights=None),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(weights=None),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(weights=None),
    "densenet121": lambda: torchvision.models.densenet121(weights=None),
    "convnext_tiny": lambda: torchvision.models.convnext_tiny(weights=None),
    "vit_b_16": lambda: torchvision.models.vit_b_16(weights=None),
    "transformer_encoder": lambda: torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(
            d_model=256, nhead=4, dim_feedforward=1024, dropout=0.1, batch_first=True
        ),
        num_layers=4,
        # The nested-tensor fast path is an inference shortcut the exporter does not trace.
        enable_nested_tensor=False,
    ),
}


def randomize_batchnorm(model: torch.nn.Module, gen: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def randomize_zero_linears(model: torch.nn.Module, gen: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and not m.weight.data.any():
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)


def export(name: str, out_dir: str) -> None:
    torch.manual_seed(SEED)
    model = MODELS[name]().eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(SEED + 1))
    randomize_zero_linears(model, torch.Generator().manual_seed(SEED + 3))
    shape = SEQ_INPUT if name == "transformer_encoder" else IMAGE
    example = torch.randn(*shape, generator=torch.Generator().manual_seed(SEED + 2))
    path = os.path.join(out_dir, f"{name}.onnx")
    tmp = path + ".tmp"
    started = time.perf_counter()
    # Not under torch.no_grad(): with gradients off, nn.MultiheadAttention takes its fused
    # inference fast path (aten::_native_multi_head_attention), which has no ONNX export.
    torch.onnx.export(
        model,
        (example,),
        tmp,
        input_names=["input"],
        output_names=["output"],
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    os.replace(tmp, path)
    secs = time.perf_counter() - started
    import onnx

    nodes = len(onnx.load(path, load_external_data=False).graph.node)
    size = os.path.getsize(path)
    print(f"{name}: {nodes} nodes, {size / 1048576:.1f} MiB, exported in {secs:.1f} s", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="target/testdata/torchvision")
    ap.add_argument("--only", help="comma-separated subset of: " + ",".join(MODELS))
    args = ap.parse_args()
    names = list(MODELS) if not args.only else [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in names:
        export(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
