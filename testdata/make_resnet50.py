"""Build a ResNet-50 v1.5 ONNX model (about 100 MB of fp32 weights) for tests
and benchmarks, without torch.

    python testdata/make_resnet50.py [--out target/testdata] [--seed 0]

The graph has torchvision's layout and the node pattern of its ONNX export
(opset 17): conv 7x7/2 + BatchNormalization + Relu, MaxPool 3x3/2, bottleneck
stages of [3, 4, 6, 3] blocks with the stride on the 3x3 conv (v1.5) and a
1x1 conv + BatchNormalization downsample on the first block of each stage,
GlobalAveragePool, Flatten, Gemm 2048 -> 1000. Conv, BatchNormalization and
Relu are separate nodes (no folding), initializers carry torchvision's
parameter names (conv1.weight, layer1.0.bn1.running_mean, fc.bias, ...), and
node names follow the exporter's /layer1/layer1.0/conv1/Conv scheme.

Weights are seeded numpy random numbers, scaled so that activations stay
finite. The input is `input` float[batch,3,224,224] with a symbolic batch
dimension; the output is `output` float[batch,1000].

Writes OUT/resnet50.onnx (checked with onnx.checker, then run once in
onnxruntime) and OUT/resnet50_data/{input_0,output_0}.pb: a seeded input and
onnxruntime's output for it, for tests that want a reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # what torch.onnx writes for opset 17
STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # width, blocks, stride
EXPANSION = 4


class Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.params = 0

    def init(self, name: str, arr: np.ndarray) -> str:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        self.params += arr.size
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, name: str, inputs: list[str], **attrs) -> str:
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, x: str, prefix: str, scope: str, cin: int, cout: int, k: int, stride: int) -> str:
        fan_in = cin * k * k
        w = self.rng.standard_normal((cout, cin, k, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        pad = k // 2
        return self.node(
            "Conv",
            f"{scope}/Conv",
            [x, self.init(f"{prefix}.weight", w)],
            dilations=[1, 1],
            group=1,
            kernel_shape=[k, k],
            pads=[pad, pad, pad, pad],
            strides=[stride, stride],
        )

    def bn(self, x: str, prefix: str, scope: str, c: int, gamma: tuple[float, float] = (0.8, 1.2)) -> str:
        r = self.rng
        ins = [
            x,
            self.init(f"{prefix}.weight", r.uniform(*gamma, c)),
            self.init(f"{prefix}.bias", r.normal(0.0, 0.05, c)),
            self.init(f"{prefix}.running_mean", r.normal(0.0, 0.05, c)),
            self.init(f"{prefix}.running_var", r.uniform(0.8, 1.2, c)),
        ]
        return self.node("BatchNormalization", f"{scope}/BatchNormalization", ins, epsilon=1e-5, momentum=0.9)

    def relu(self, x: str, scope: str) -> str:
        return self.node("Relu", f"{scope}/Relu", [x])

    def bottleneck(self, x: str, name: str, cin: int, width: int, stride: int) -> str:
        scope = "/" + name.split(".")[0] + "/" + name
        cout = width * EXPANSION
        y = self.conv(x, f"{name}.conv1", f"{scope}/conv1", cin, width, 1, 1)
        y = self.relu(self.bn(y, f"{name}.bn1", f"{scope}/bn1", width), f"{scope}/relu")
        y = self.conv(y, f"{name}.conv2", f"{scope}/conv2", width, width, 3, stride)
        y = self.relu(self.bn(y, f"{name}.bn2", f"{scope}/bn2", width), f"{scope}/relu_1")
        y = self.conv(y, f"{name}.conv3", f"{scope}/conv3", width, cout, 1, 1)
        # A small last gamma keeps the residual sum from growing block by block.
        y = self.bn(y, f"{name}.bn3", f"{scope}/bn3", cout, gamma=(0.1, 0.3))
        identity = x
        if stride != 1 or cin != cout:
            identity = self.conv(x, f"{name}.downsample.0", f"{scope}/downsample/downsample.0", cin, cout, 1, stride)
            identity = self.bn(identity, f"{name}.downsample.1", f"{scope}/downsample/downsample.1", cout)
        y = self.node("Add", f"{scope}/Add", [y, identity])
        return self.relu(y, f"{scope}/relu_2")


def build(seed: int) -> tuple[onnx.ModelProto, int]:
    b = Builder(seed)
    x = b.conv("input", "conv1", "/conv1", 3, 64, 7, 2)
    x = b.relu(b.bn(x, "bn1", "/bn1", 64), "/relu")
    x = b.node("MaxPool", "/maxpool/MaxPool", [x], ceil_mode=0, dilations=[1, 1], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    cin = 64
    for i, (width, blocks, stride) in enumerate(STAGES, start=1):
        for j in range(blocks):
            x = b.bottleneck(x, f"layer{i}.{j}", cin, width, stride if j == 0 else 1)
            cin = width * EXPANSION
    x = b.node("GlobalAveragePool", "/avgpool/GlobalAveragePool", [x])
    x = b.node("Flatten", "/Flatten", [x], axis=1)
    fc_w = b.rng.standard_normal((1000, 2048), dtype=np.float32) * np.float32(np.sqrt(1.0 / 2048))
    fc_b = b.rng.normal(0.0, 0.01, 1000)
    b.nodes.append(
        helper.make_node(
            "Gemm",
            [x, b.init("fc.weight", fc_w), b.init("fc.bias", fc_b)],
            ["output"],
            name="/fc/Gemm",
            alpha=1.0,
            beta=1.0,
            transB=1,
        )
    )
    graph = helper.make_graph(
        b.nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1000])],
        initializer=b.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="modelc-testdata",
        producer_version="make_resnet50.py",
        doc_string=f"ResNet-50 v1.5 (torchvision layout), seeded random weights (seed {seed}).",
    )
    return model, b.params


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(root, "target", "testdata"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "resnet50.onnx")
    tmp = path + ".tmp"

    t0 = time.monotonic()
    model, params = build(args.seed)
    onnx.save_model(model, tmp)
    del model
    onnx.checker.check_model(tmp, full_check=True)

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(tmp, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(args.seed + 1)
    x = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
    (y,) = sess.run(["output"], {"input": x})
    if y.shape != (1, 1000) or y.dtype != np.float32 or not np.all(np.isfinite(y)):
        print(f"make_resnet50: bad output {y.dtype}{list(y.shape)}, finite={np.all(np.isfinite(y))}", file=sys.stderr)
        return 1
    (y2,) = sess.run(["output"], {"input": np.concatenate([x, x])})  # the batch dim is symbolic
    if y2.shape != (2, 1000):
        print(f"make_resnet50: batch 2 gave shape {list(y2.shape)}", file=sys.stderr)
        return 1
    del sess

    data_dir = os.path.join(args.out, "resnet50_data")
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, "input").SerializeToString())
    with open(os.path.join(data_dir, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y, "output").SerializeToString())
    os.replace(tmp, path)

    size = os.path.getsize(path)
    print(
        f"make_resnet50: {path}: {size} bytes ({size / 2**20:.1f} MiB), {params} parameters, "
        f"checked and run in onnxruntime {ort.__version__} (top class {int(np.argmax(y))}) in {time.monotonic() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
