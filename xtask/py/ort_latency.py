"""onnxruntime latency of a model on seeded random inputs.

    python ort_latency.py MODEL --dim NAME=VALUE ... [--repeat 5] [--threads 1]

Prints `min_ms <value>` and, on the last line, `median_ms <value>`. onnxruntime runs with
`--threads` intra-op threads (default 1) and one inter-op thread and its default (full)
graph optimizations, as people deploy it.
"""

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dim", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    dims = dict(d.split("=") for d in args.dim)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sess.get_inputs():
        shape = [int(dims[d]) if isinstance(d, str) else d for d in i.shape]
        feeds[i.name] = rng.uniform(-1, 1, shape).astype(TYPES[i.type])
    sess.run(None, feeds)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    print(f"min_ms {min(times):.3f}")
    print(f"median_ms {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
