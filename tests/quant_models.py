"""Makes the data the quantization interop check uses (under target/quant): seeded image-like
inputs in calib/ (calibration .npy files) and heldout/ (.npy files never used for
calibration). The fp32 models are testdata/make_torchvision.py's exports.

usage: quant_models.py OUT_DIR [--calib N] [--heldout N]
"""

import argparse
import os

import numpy as np


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
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(1234)
    for sub, n in (("calib", a.calib), ("heldout", a.heldout)):
        d = os.path.join(a.out, sub)
        os.makedirs(d, exist_ok=True)
        for i, img in enumerate(images(rng, n)):
            np.save(os.path.join(d, f"{i:03d}.npy"), img)


if __name__ == "__main__":
    main()
