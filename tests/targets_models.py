"""Two small models made for the targets table (tests/targets_table.py), with seeded weights:

- `lstm`: a keyword-spotting-style recurrent classifier, nn.LSTM(32 → 64) over 16 steps of
  [1, 16, 32] features, the last step's hidden state through a Linear(64 → 10);
- `yolo`: a YOLO-style detector on a [1, 3, 224, 224] image, a Conv-BN-SiLU backbone (stride
  16), an FPN-style head that upsamples (nearest) the stride-16 map and concatenates it with
  the stride-8 one, and per level a 1x1 detection conv (3 anchors x (4 box + 1 object + 4
  classes)) through a sigmoid, both levels concatenated: [1, 27, 980].

Exported to ONNX (opset 17, the TorchScript exporter, as testdata/make_torchvision.py does).
Run: target/pyenv/bin/python tests/targets_models.py OUT_DIR
"""

import sys
from pathlib import Path

import torch
from torch import nn

SEED = 1313
SHAPES = {"lstm": (1, 16, 32), "yolo": (1, 3, 224, 224)}


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 64, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def cbs(i, o, stride):
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.SiLU())


class Yolo(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.Sequential(cbs(3, 16, 2), cbs(16, 32, 2), cbs(32, 32, 1))
        self.b2 = nn.Sequential(cbs(32, 64, 2), cbs(64, 64, 1))
        self.b3 = nn.Sequential(cbs(64, 128, 2), cbs(128, 128, 1))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h8 = cbs(128 + 64, 64, 1)
        self.det8 = nn.Conv2d(64, 27, 1)
        self.det16 = nn.Conv2d(128, 27, 1)

    def forward(self, x):
        p8 = self.b2(self.b1(x))
        p16 = self.b3(p8)
        f8 = self.h8(torch.cat([self.up(p16), p8], 1))
        o8 = self.det8(f8).sigmoid().flatten(2)
        o16 = self.det16(p16).sigmoid().flatten(2)
        return torch.cat([o8, o16], 2)


def build(name):
    torch.manual_seed(SEED)
    model = {"lstm": Lstm, "yolo": Yolo}[name]().eval()
    g = torch.Generator().manual_seed(SEED + 1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
    if name == "yolo":
        # Detection logits spread over the sigmoid's range (random init leaves every output
        # near 0.5, where agreement would say nothing).
        with torch.no_grad():
            for det in (model.det8, model.det16):
                det.weight.mul_(8.0)
    return model


def export(name, out_dir):
    path = Path(out_dir) / f"{name}.onnx"
    model = build(name)
    example = torch.randn(*SHAPES[name], generator=torch.Generator().manual_seed(SEED + 2))
    with torch.no_grad():
        torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["output"],
                          opset_version=17, do_constant_folding=True, dynamo=False)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for n in SHAPES:
        print(export(n, out))
