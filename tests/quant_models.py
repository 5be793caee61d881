"""Makes the models and data the quantization interop check uses (under target/quant):
torchvision ResNet-50, MobileNetV2 and EfficientNet-B0 exported to ONNX with seeded random
weights (weights=None; torchvision's own initialisation, eval mode, so BatchNorm is folded by
the exporter), and seeded image-like inputs: calib/ (calibration .npy files) and heldout/
(.npy files never used for calibration).

usage: quant_models.py OUT_DIR [--calib N] [--heldout N] [--models a,b]
"""

import argparse
import os
import sys

import numpy as np


def export(name, path):
    import torch
    import torchvision

    torch.manual_seed(0)
    ctor = {
        "resnet50": torchvision.models.resnet50,
        "mobilenet_v2": torchvision.models.mobilenet_v2,
        "efficientnet_b0": torchvision.models.efficientnet_b0,
    }[name]
    model = ctor(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    tmp = path + ".tmp"
    torch.onnx.export(
        model,
        (x,),
        tmp,
        input_names=["input"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )
    os.replace(tmp, path)


def images(rng, n):
    """Image-like inputs: smooth random fields normalised like ImageNet inputs, so
    activations have the spatial correlation real photos give (pure noise would not)."""
    out = []
    for _ in range(n):
        coarse = rng.standard_normal((3, 14, 14)).astype(np.float32)
        img = np.kron(coarse, np.ones((16, 16), dtype=np.float32))
        img += 0.3 * rng.standard_normal((3, 224, 224)).astype(np.float32)
        out.append(img[None].astype(np.float32))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--heldout", type=int, default=16)
    ap.add_argument("--models", default="resnet50,mobilenet_v2,efficientnet_b0")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in a.models.split(","):
        path = os.path.join(a.out, f"{name}.onnx")
        if not os.path.exists(path):
            print(f"exporting {name}", file=sys.stderr)
            export(name, path)
    rng = np.random.default_rng(1234)
    for sub, n in (("calib", a.calib), ("heldout", a.heldout)):
        d = os.path.join(a.out, sub)
        os.makedirs(d, exist_ok=True)
        for i, img in enumerate(images(rng, n)):
            np.save(os.path.join(d, f"{i:03d}.npy"), img)


if __name__ == "__main__":
    main()
