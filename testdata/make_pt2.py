"""Makes testdata/pt2: small `torch.export.save` archives from the pinned torch, for the CLI
tests (format detection, convert, inspect) that must run without Python.

    target/pyenv/bin/python testdata/make_pt2.py

linear_dyn.pt2: relu(Linear(4, 3)(x)) for x: f32[batch, 4], batch a Dim in 1..64.
"""

import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pt2")


class LinearRelu(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.l(x))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=64)
    ep = torch.export.export(LinearRelu().eval(), (torch.randn(2, 4),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, os.path.join(OUT, "linear_dyn.pt2"))


if __name__ == "__main__":
    main()
