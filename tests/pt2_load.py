"""`.pt2` load figure: a seeded MLP of ~25M float32 parameters (~100 MB) exported with
`torch.export.export` and saved with `torch.export.save` at run time (never committed), then
`modelc inspect` on it, each run in a fresh process: its wall time and peak RSS (the child's
getrusage; this process never imports torch, so what the child inherits before it execs
modelc is a few MB) beside the file's size. Fails when the best wall time is not under `--max-seconds`
(1 s) or the peak RSS reaches `--max-rss-ratio` (1.5) times the file's size.

    python tests/pt2_load.py --modelc target/release/modelc [--out DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def export(path: str, width: int, layers: int) -> None:
    import torch

    torch.manual_seed(0)
    mods = []
    for _ in range(layers):
        mods += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    m = torch.nn.Sequential(*mods).eval()
    x = torch.randn(2, width)
    batch = torch.export.Dim("batch", min=1, max=1024)
    ep = torch.export.export(m, (x,), dynamic_shapes=({0: batch},), strict=False)
    torch.export.save(ep, path)


def measure(modelc: str, path: str) -> tuple[float, int]:
    """One `modelc inspect` in a fresh process: (wall seconds, peak RSS in bytes)."""
    start = time.perf_counter()
    p = subprocess.Popen([modelc, "inspect", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"modelc inspect {path} failed: {err.strip()}")
    # ru_maxrss is in KiB on Linux.
    return wall, usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default="target/pt2-load")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--width", type=int, default=2240)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=1.0)
    ap.add_argument("--max-rss-ratio", type=float, default=1.5)
    ap.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"mlp_{a.width}x{a.layers}.pt2")
    if a.export_only:
        export(path, a.width, a.layers)
        return
    if not os.path.exists(path):
        # In another process: this one stays small, since a child's peak RSS counts the
        # memory of the process it was forked from until it execs modelc.
        subprocess.run([sys.executable, __file__, "--modelc", a.modelc, "--out", a.out,
                        "--width", str(a.width), "--layers", str(a.layers), "--export-only"],
                       check=True)
    size = os.path.getsize(path)
    params = a.layers * (a.width * a.width + a.width)
    runs = [measure(os.path.abspath(a.modelc), path) for _ in range(a.runs)]
    wall = min(w for w, _ in runs)
    rss = max(r for _, r in runs)
    ratio = rss / size
    print(f"pt2 load: {size / 1e6:.1f} MB .pt2 ({params / 1e6:.1f}M float32 params), "
          f"modelc inspect {wall:.3f} s wall (best of {a.runs}), "
          f"peak RSS {rss / 1e6:.1f} MB = {ratio:.2f}x the file")
    if wall >= a.max_seconds or ratio >= a.max_rss_ratio:
        sys.exit(f"pt2 load: over the bound ({a.max_seconds} s, {a.max_rss_ratio}x the file)")


if __name__ == "__main__":
    main()
