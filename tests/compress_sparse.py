"""Sparse TFLite weights written by `modelc compress --sparsity` against the dense file of the
same weights, in LiteRT.

An MLP (ONNX, seeded random weights: this checks the storage and the kernels, not accuracy)
is sparsified by `modelc compress` with each pattern (block:R, N:M, unstructured R) twice: to
.tflite (FULLY_CONNECTED weights in SparsityParameters form behind DENSIFY) and to .onnx (the
same zeros, dense), which `modelc convert` turns into the dense .tflite. Per pattern: both file sizes, how many tensors LiteRT
reports sparsity parameters for, the largest difference between LiteRT's outputs of the
sparse file and onnxruntime's of the sparsified ONNX model on held-out inputs (relative to
the largest |output|), with LiteRT's default delegates (XNNPACK) and with its builtin kernels
only, and LiteRT's median latency of the
sparse and dense files in both modes, measured interleaved in the same run (one thread).

With --check the script exits 1 unless every sparse file is smaller than its dense one, has a
sparse tensor, and matches onnxruntime within --tol in both modes.

usage: compress_sparse.py --modelc MODELC --out DIR [--patterns block:0.75,2:4,0.9]
       [--runs N] [--check] [--json FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def mlp(path, sizes, seed):
    """x[1, sizes[0]] → (Gemm → Relu)* → Gemm, weights [out, in] with transB."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev = "x"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}" if out != "y" else "y"],
                                      transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out]))
        prev = out
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, sizes[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, sizes[-1]])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    onnx.save(m, path)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return p


def litert(path, builtin):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if builtin else {}
    it = Interpreter(path, num_threads=1, **kw)
    it.allocate_tensors()
    return it


def invoke(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--patterns", default="block:0.75,2:4,0.9")
    ap.add_argument("--sizes", default="512,2048,1024,10")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sizes = [int(s) for s in a.sizes.split(",")]
    src = os.path.join(a.out, "mlp.onnx")
    mlp(src, sizes, 0)
    rng = np.random.default_rng(1)
    calib = os.path.join(a.out, "calib")
    os.makedirs(calib, exist_ok=True)
    for i in range(4):
        np.save(os.path.join(calib, f"{i}.npy"), rng.standard_normal((1, sizes[0])).astype(np.float32))
    held = [rng.standard_normal((1, sizes[0])).astype(np.float32) for _ in range(8)]
    failures, rows = [], []
    for pat in a.patterns.split(","):
        tag = pat.replace(":", "_")
        sparse_tfl = os.path.join(a.out, f"{tag}.tflite")
        sparse_onnx = os.path.join(a.out, f"{tag}.onnx")
        dense_tfl = os.path.join(a.out, f"{tag}.dense.tflite")
        rep = json.loads(run([a.modelc, "compress", src, sparse_tfl, "--sparsity", pat,
                              "--calibration", calib, "--json"]).stdout)
        run([a.modelc, "compress", src, sparse_onnx, "--sparsity", pat, "--calibration", calib])
        run([a.modelc, "convert", sparse_onnx, dense_tfl])
        sess = ort.InferenceSession(sparse_onnx, providers=["CPUExecutionProvider"])
        refs = [sess.run(None, {"x": x})[0] for x in held]
        row = {"pattern": pat}
        for mode, builtin in (("default", False), ("builtin", True)):
            s_it, d_it = litert(sparse_tfl, builtin), litert(dense_tfl, builtin)
            row["sparse_tensors"] = sum(1 for t in s_it.get_tensor_details()
                                        if t.get("sparsity_parameters"))
            worst = 0.0
            for x, ref in zip(held, refs):
                worst = max(worst, float(np.abs(invoke(s_it, x) - ref).max()) / float(np.abs(ref).max()))
            # Interleaved timing: each round runs both files once.
            t_s, t_d = [], []
            x = held[0]
            for _ in range(5):
                invoke(s_it, x), invoke(d_it, x)
            for _ in range(a.runs):
                t0 = time.perf_counter()
                invoke(s_it, x)
                t1 = time.perf_counter()
                invoke(d_it, x)
                t2 = time.perf_counter()
                t_s.append(t1 - t0)
                t_d.append(t2 - t1)
            row[f"max_rel_diff_{mode}"] = worst
            row[f"litert_{mode}_ms_sparse"] = 1e3 * float(np.median(t_s))
            row[f"litert_{mode}_ms_dense"] = 1e3 * float(np.median(t_d))
        zeros = sum(s["zeros_after"] for s in rep["sparsified"])
        elems = sum(s["elements"] for s in rep["sparsified"])
        row.update({
            "weights_zero": zeros / elems,
            "sparse_bytes": os.path.getsize(sparse_tfl),
            "dense_bytes": os.path.getsize(dense_tfl),
        })
        rows.append(row)
        print(f"{pat:>11}: {100 * row['weights_zero']:.1f}% zero, "
              f"{row['sparse_bytes']} vs {row['dense_bytes']} bytes "
              f"({100 * row['sparse_bytes'] / row['dense_bytes']:.1f}%), "
              f"{row['sparse_tensors']} sparse tensors; vs onnxruntime max rel diff "
              f"{row['max_rel_diff_default']:.2e} (default) {row['max_rel_diff_builtin']:.2e} (builtin); "
              f"LiteRT median ms sparse/dense: default {row['litert_default_ms_sparse']:.3f}/"
              f"{row['litert_default_ms_dense']:.3f}, builtin {row['litert_builtin_ms_sparse']:.3f}/"
              f"{row['litert_builtin_ms_dense']:.3f} ({a.runs} runs, 1 thread)")
        if row["sparse_bytes"] >= row["dense_bytes"]:
            failures.append(f"{pat}: sparse file not smaller")
        if row["sparse_tensors"] == 0:
            failures.append(f"{pat}: no sparse tensor in the file")
        worst = max(row["max_rel_diff_default"], row["max_rel_diff_builtin"])
        if worst > a.tol:
            failures.append(f"{pat}: outputs differ from onnxruntime by {worst:.2e} > {a.tol}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    if a.check and failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
