"""Write the node-heavy ONNX files the memory benchmark reads (`cargo xtask bench`).

    target/pyenv/bin/python testdata/make_big_graphs.py OUT_DIR

relu_chain.onnx   x -> Relu -> Relu -> ... (200,000 nodes, every value named, ~5 MB): a
                  graph of many small nodes and no weights, where per-node storage is all
                  the memory a reader uses.
empty_nodes.onnx  a graph of 1,000,000 empty NodeProtos (2 bytes each, ~2 MB): what a
                  hostile file can make a reader allocate before it finds the first error.

Both are written deterministically; the empty-node file is spliced as raw protobuf bytes
(onnx.helper would take minutes to build a million messages).
"""

import argparse
import os

import onnx
from onnx import TensorProto, helper

CHAIN_NODES = 200_000
EMPTY_NODES = 1_000_000


def relu_chain(path):
    nodes = [
        helper.make_node("Relu", [f"v{i}" if i else "x"], [f"v{i + 1}" if i + 1 < CHAIN_NODES else "y"], name=f"relu{i}")
        for i in range(CHAIN_NODES)
    ]
    graph = helper.make_graph(
        nodes,
        "relu_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def empty_nodes(path):
    graph = helper.make_graph(
        [],
        "empty_nodes",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    )
    # GraphProto.node is field 1 (length-delimited): an empty NodeProto is 0x0a 0x00.
    graph_bytes = graph.SerializeToString() + b"\x0a\x00" * EMPTY_NODES
    model = helper.make_model(
        helper.make_graph([], "placeholder", [], []),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ClearField("graph")
    # ModelProto.graph is field 7 (length-delimited).
    data = model.SerializeToString() + b"\x3a" + varint(len(graph_bytes)) + graph_bytes
    with open(path, "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    relu_chain(os.path.join(args.out, "relu_chain.onnx"))
    empty_nodes(os.path.join(args.out, "empty_nodes.onnx"))


if __name__ == "__main__":
    main()
