"""Single-op models for the interpreter's fast kernels, with onnxruntime's outputs.

    python kernel_cases.py OUT_DIR

Writes, per case, NAME.onnx, NAME.in<i>.bin (the inputs, little-endian float32, shapes as
the model declares them) and NAME.out.bin (onnxruntime's output, single-threaded), and
cases.txt (one name a line). The cases cover what the direct depthwise, 1x1, fused-activation and
threaded paths special-case: groups (depthwise with and without a channel multiplier),
strides, dilations, asymmetric pads, 1-D/2-D/3-D, bias or none, and matrix products large
enough for the GEMM to split them among threads.
"""

import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

CASES = []


def conv(name, x, w, bias=True, **attrs):
    CASES.append((name, "Conv", [x, w] + ([[w[0]]] if bias else []), attrs))


# Depthwise (group == channels), 2-D.
conv("dw3x3_s1_p1", [1, 32, 28, 28], [32, 1, 3, 3], group=32, pads=[1, 1, 1, 1])
conv("dw3x3_s2_p1", [2, 16, 29, 30], [16, 1, 3, 3], group=16, strides=[2, 2], pads=[1, 1, 1, 1])
conv("dw5x5_s2_asym", [1, 24, 17, 15], [24, 1, 5, 5], group=24, strides=[2, 2], pads=[2, 1, 1, 2])
conv("dw3x3_dil2", [1, 8, 20, 20], [8, 1, 3, 3], group=8, dilations=[2, 2], pads=[2, 2, 2, 2], bias=False)
conv("dw3x3_valid_s3", [1, 8, 19, 22], [8, 1, 3, 3], group=8, strides=[3, 3])
conv("dw_mult2", [1, 6, 14, 14], [12, 1, 3, 3], group=6, pads=[1, 1, 1, 1])
conv("dw_same_upper", [1, 10, 15, 16], [10, 1, 4, 4], group=10, strides=[2, 2], auto_pad="SAME_UPPER")
conv("dw_bigpad", [1, 4, 5, 5], [4, 1, 3, 3], group=4, pads=[4, 3, 2, 4])
conv("dw_1d", [2, 8, 40], [8, 1, 5], group=8, pads=[2, 2], strides=[2])
conv("dw_3d", [1, 4, 6, 7, 8], [4, 1, 3, 3, 3], group=4, pads=[1, 1, 1, 1, 1, 1])
conv("single_channel", [1, 1, 12, 12], [8, 1, 3, 3], pads=[1, 1, 1, 1])
# Grouped, 1x1 and ordinary convolutions (im2col + GEMM with the bias as its start).
conv("grouped4", [1, 16, 14, 14], [32, 4, 3, 3], group=4, pads=[1, 1, 1, 1])
conv("pw_1x1", [1, 96, 28, 28], [144, 96, 1, 1])
conv("pw_1x1_s2", [1, 32, 15, 15], [64, 32, 1, 1], strides=[2, 2], bias=False)
conv("conv3x3_big", [1, 64, 28, 28], [128, 64, 3, 3], pads=[1, 1, 1, 1])
conv("conv7x7_s2", [1, 3, 64, 64], [32, 3, 7, 7], strides=[2, 2], pads=[3, 3, 3, 3])
# Matrix products big enough to be split among threads.
CASES.append(("matmul_big", "MatMul", [[256, 384], [384, 320]], {}))
CASES.append(("matmul_batched", "MatMul", [[4, 128, 64], [4, 64, 128]], {}))
CASES.append(("gemm_transb", "Gemm", [[64, 512], [1000, 512], [1000]], {"transB": 1}))
# Activations the interpreter applies in place to their producer's result (fused), with
# bounds as constants: Conv -> Clip(0, 6), depthwise Conv -> Sigmoid -> Mul (SiLU),
# Add -> Relu, and a Sigmoid alone (vectorized exp).
CASES.append(("conv_relu6", "Conv+Clip", [[1, 16, 20, 20], [32, 16, 3, 3], [32]], {"pads": [1, 1, 1, 1]}))
CASES.append(("dw_silu", "Conv+SiLU", [[1, 24, 18, 18], [24, 1, 3, 3], [24]], {"group": 24, "pads": [1, 1, 1, 1]}))
CASES.append(("add_relu", "Add+Relu", [[2, 8, 30, 30], [2, 8, 30, 30]], {}))
CASES.append(("sigmoid_wide", "Sigmoid", [[4, 64, 33, 33]], {}))


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(18)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    names = []
    for name, op, shapes, attrs in CASES:
        ins = [f"i{k}" for k in range(len(shapes))]
        first, _, act = op.partition("+")
        nodes = [helper.make_node(first, ins, ["y" if not act else "t"], **attrs)]
        inits = []
        if act == "Clip":
            inits = [helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0])]
            nodes.append(helper.make_node("Clip", ["t", "lo", "hi"], ["y"]))
        elif act == "SiLU":
            nodes += [helper.make_node("Sigmoid", ["t"], ["s"]), helper.make_node("Mul", ["t", "s"], ["y"])]
        elif act:
            nodes.append(helper.make_node(act, ["t"], ["y"]))
        graph = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in zip(ins, shapes)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        feeds = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in zip(ins, shapes)}
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, feeds)
        onnx.save(model, out / f"{name}.onnx")
        for k, n in enumerate(ins):
            feeds[n].astype("<f4").tofile(out / f"{name}.in{k}.bin")
        np.asarray(y, dtype="<f4").tofile(out / f"{name}.out.bin")
        names.append(name)
    (out / "cases.txt").write_text("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
