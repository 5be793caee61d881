"""Exports torchvision CNNs to ONNX with torch's classic exporter and records onnxruntime's
outputs on a fixed input, for the `to-nhwc` end-to-end test (crates/passes/tests/layout.rs).

usage: layout_cnn_models.py OUT_DIR NAME...   (NAME: resnet18, mobilenet_v2)
Writes OUT_DIR/NAME.onnx, NAME.input.bin and NAME.output.bin (raw little-endian f32,
input [1, 3, 224, 224] NCHW, output [1, 1000]).

The BatchNorm statistics and affine parameters are randomized (seeded): with torchvision's
initialization MobileNetV2's outputs vanish (max |y| ~ 3e-9), which would make the
comparison meaningless. The exporter folds them into the convolutions.
"""

import os
import sys

import numpy as np
import onnxruntime as ort
import torch
import torchvision


def main() -> None:
    out_dir, names = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    n = m.num_features
                    m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.1)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        path = os.path.join(out_dir, f"{name}.onnx")
        tmp = path + ".tmp"
        torch.onnx.export(
            model, (x,), tmp, input_names=["input"], output_names=["output"], dynamo=False
        )
        sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"input": x.numpy()})
        x.numpy().astype("<f4").tofile(os.path.join(out_dir, f"{name}.input.bin"))
        y.astype("<f4").tofile(os.path.join(out_dir, f"{name}.output.bin"))
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
