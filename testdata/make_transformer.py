"""Build a small transformer encoder ONNX model for interpreter benchmarks, without torch.

    python testdata/make_transformer.py [--out target/testdata] [--seed 0]

Two post-norm encoder layers in the node pattern of torch.onnx's classic export of
`nn.TransformerEncoder` (opset 17): per layer, Q/K/V projections as MatMul + Add, heads
split with Reshape + Transpose, scaled dot-product attention (MatMul, Div, Softmax,
MatMul), output projection, residual Add + LayerNormalization, and a feed-forward block
with the erf form of GELU (Div, Erf, Add, Mul, Mul). d_model 256, 4 heads, FFN 1024.

The input is `x` float[batch,seq,256] (symbolic batch and seq); the output `y` has the
same shape. Writes OUT/transformer.onnx (checked with onnx.checker and run once in
onnxruntime).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

D_MODEL, HEADS, FFN, LAYERS = 256, 4, 1024, 2
OPSET = 17


def build(seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(name, shape):
        scale = 1.0 / np.sqrt(shape[0])
        return const(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    def node(op, inputs, name, **attrs):
        out = name + "_out"
        nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    head_dim = D_MODEL // HEADS
    split_shape = const("split_shape", np.array([0, -1, HEADS, head_dim], dtype=np.int64))
    merge_shape = const("merge_shape", np.array([0, -1, D_MODEL], dtype=np.int64))
    scale = const("scale", np.array(np.sqrt(head_dim), dtype=np.float32))
    sqrt2 = const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    one = const("one", np.array(1.0, dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))

    x = "x"
    for layer in range(LAYERS):
        p = f"/layers.{layer}"

        def linear(inp, name, n_in, n_out):
            w = weight(f"layers.{layer}.{name}.weight", (n_in, n_out))
            b = const(f"layers.{layer}.{name}.bias", np.zeros(n_out, dtype=np.float32))
            return node("Add", [node("MatMul", [inp, w], f"{p}/{name}/MatMul"), b], f"{p}/{name}/Add")

        def heads(t, name):
            r = node("Reshape", [t, split_shape], f"{p}/{name}/Reshape")
            return node("Transpose", [r], f"{p}/{name}/Transpose", perm=[0, 2, 1, 3])

        q = heads(linear(x, "q_proj", D_MODEL, D_MODEL), "q")
        k = heads(linear(x, "k_proj", D_MODEL, D_MODEL), "k")
        v = heads(linear(x, "v_proj", D_MODEL, D_MODEL), "v")
        kt = node("Transpose", [k], f"{p}/k/TransposeT", perm=[0, 1, 3, 2])
        scores = node("Div", [node("MatMul", [q, kt], f"{p}/attn/MatMul"), scale], f"{p}/attn/Div")
        probs = node("Softmax", [scores], f"{p}/attn/Softmax", axis=-1)
        ctx = node("MatMul", [probs, v], f"{p}/attn/MatMul_1")
        ctx = node("Transpose", [ctx], f"{p}/attn/Transpose", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"{p}/attn/Reshape")
        attn = linear(ctx, "out_proj", D_MODEL, D_MODEL)

        def norm(t, name):
            g = const(f"layers.{layer}.{name}.weight", np.ones(D_MODEL, dtype=np.float32))
            b = const(f"layers.{layer}.{name}.bias", np.zeros(D_MODEL, dtype=np.float32))
            return node("LayerNormalization", [t, g, b], f"{p}/{name}/LayerNormalization", axis=-1, epsilon=1e-5)

        x1 = norm(node("Add", [x, attn], f"{p}/Add"), "norm1")
        h = linear(x1, "linear1", D_MODEL, FFN)
        erf = node("Erf", [node("Div", [h, sqrt2], f"{p}/gelu/Div")], f"{p}/gelu/Erf")
        gelu = node("Mul", [node("Mul", [h, node("Add", [erf, one], f"{p}/gelu/Add")], f"{p}/gelu/Mul"), half], f"{p}/gelu/Mul_1")
        ff = linear(gelu, "linear2", FFN, D_MODEL)
        x = norm(node("Add", [x1, ff], f"{p}/Add_1"), "norm2")

    nodes.append(helper.make_node("Identity", [x], ["y"], name="/Identity"))
    graph = helper.make_graph(
        nodes,
        "transformer_encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", D_MODEL])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", D_MODEL])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="modelc-testdata")
    model.ir_version = 8
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="target/testdata")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = build(args.seed)
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(args.out, "transformer.onnx")
    onnx.save(model, path)
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 128, D_MODEL)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    assert y.shape == x.shape and np.isfinite(y).all()
    print(f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
