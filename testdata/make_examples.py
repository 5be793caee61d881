"""Write the small example and fixture models that are committed under
testdata/models/ and testdata/bad/.

    target/pyenv/bin/python testdata/make_examples.py [--out testdata]

Everything is built with onnx.helper from fixed numbers or a seeded numpy
generator, so running the script again gives byte-identical files;
`cargo xtask testdata` regenerates them into target/ and fails if the
committed copies differ. Each file is a few KB at most.

models/ (each passes onnx.checker.check_model with full_check, except
custom_op.onnx where the checker cannot know the custom domain - see there;
all but custom_op.onnx also run in onnxruntime):
  tiny_cnn.onnx            Conv/Relu/MaxPool/Flatten/Gemm/Softmax with named
                           inputs and outputs, doc strings on model, graph,
                           nodes and values, metadata_props and value_info:
                           the README's example.
  external_data/model.onnx initializers stored in external_data/weights.bin
                           with explicit offsets and lengths (not contiguous:
                           there are gaps between them), plus one inline.
  sparse_init.onnx         two sparse_initializers (2-D COO indices and
                           linear indices) feeding MatMul and Add.
  if_loop.onnx             If with then/else subgraphs that read the outer x,
                           and a Loop whose body reads an outer-scope value
                           computed by a node of the main graph.
  local_function.onnx      model-local FunctionProtos in domain
                           com.modelc.test (one calls the other, one has an
                           attribute with a default and a ref_attr_name use).
  custom_op.onnx           a node of the unknown domain com.example with one
                           attribute of every AttributeProto type.
  fp16_bf16.onnx           float16 (raw_data and int32_data forms), bfloat16,
                           int4 (odd element count), uint4 and float8
                           initializers, Cast to float32 for the outputs.

bad/ (hostile inputs a reader must refuse with an error, not a crash):
  truncated.onnx           tiny_cnn.onnx cut in half.
  garbage.onnx             1 KiB of seeded random bytes (not a ModelProto).
  escape_external/model.onnx
                           a valid model whose external data location is
                           ../outside.bin; bad/outside.bin exists and holds
                           the right number of bytes, so only the path check
                           can refuse it.
  huge_dims.onnx           an initializer that claims dims [1 << 40]
                           (4 TiB of float) and carries no data.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

OPSET = 21
IR_VERSION = 10  # the IR version that goes with opset 21
PRODUCER = "modelc-testdata"


def model(graph, *, opsets=None, functions=None, doc="", metadata=None):
    m = helper.make_model(
        graph,
        opset_imports=opsets or [helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
        producer_version="make_examples.py",
        functions=functions or [],
        doc_string=doc,
    )
    if metadata:
        helper.set_model_props(m, metadata)
    return m


def tiny_cnn(rng) -> onnx.ModelProto:
    f32 = TensorProto.FLOAT
    w1 = numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "conv1.weight")
    b1 = numpy_helper.from_array((rng.standard_normal(4) * 0.1).astype(np.float32), "conv1.bias")
    w2 = numpy_helper.from_array((rng.standard_normal((10, 64)) * 0.1).astype(np.float32), "fc.weight")
    b2 = numpy_helper.from_array((rng.standard_normal(10) * 0.1).astype(np.float32), "fc.bias")
    w1.doc_string = "3x3 convolution kernels, 3 -> 4 channels"
    nodes = [
        helper.make_node(
            "Conv",
            ["image", "conv1.weight", "conv1.bias"],
            ["conv1_out"],
            name="conv1",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[1, 1],
            doc_string="3x3 convolution, same padding",
        ),
        helper.make_node("Relu", ["conv1_out"], ["relu1_out"], name="relu1"),
        helper.make_node(
            "MaxPool",
            ["relu1_out"],
            ["pool1_out"],
            name="pool1",
            kernel_shape=[2, 2],
            strides=[2, 2],
            doc_string="2x2 max pooling",
        ),
        helper.make_node("Flatten", ["pool1_out"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("image", f32, ["N", 3, 8, 8], doc_string="a batch of 8x8 RGB images")],
        [helper.make_tensor_value_info("probs", f32, ["N", 10], doc_string="class probabilities")],
        initializer=[w1, b1, w2, b2],
        doc_string="A tiny image classifier: conv, relu, pool, dense, softmax.",
        value_info=[
            helper.make_tensor_value_info("conv1_out", f32, ["N", 4, 8, 8]),
            helper.make_tensor_value_info("relu1_out", f32, ["N", 4, 8, 8]),
            helper.make_tensor_value_info("pool1_out", f32, ["N", 4, 4, 4]),
            helper.make_tensor_value_info("flat", f32, ["N", 64]),
            helper.make_tensor_value_info("logits", f32, ["N", 10], doc_string="unnormalised scores"),
        ],
    )
    m = model(
        graph,
        doc="modelc's bundled example: a tiny CNN with seeded random weights.",
        metadata={"author": "modelc", "license": "Apache-2.0", "labels": "0,1,2,3,4,5,6,7,8,9"},
    )
    m.model_version = 3
    m.domain = "org.modelc.examples"
    return m


def external_data(rng, location: str) -> tuple[onnx.ModelProto, bytes]:
    """A model whose weights live in a side file; returns (model, file bytes)."""
    w = (rng.standard_normal((4, 3)) * 0.5).astype(np.float32)
    b = (rng.standard_normal(3) * 0.1).astype(np.float32)
    blob = bytearray()
    inits = []
    # Offsets 0 and 64 with zero padding between: a reader must honour them.
    for name, arr, offset in (("w", w, 0), ("b", b, 64)):
        blob.extend(b"\0" * (offset - len(blob)))
        t = numpy_helper.from_array(arr, name)
        raw = t.raw_data
        set_external_data(t, location=location, offset=offset, length=len(raw))
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
        blob.extend(raw)
        inits.append(t)
    blob.extend(b"\0" * 16)  # trailing bytes no tensor claims
    inits.append(numpy_helper.from_array(np.array([2.0], np.float32), "scale"))  # stays inline
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["xwb"], name="add"),
        helper.make_node("Mul", ["xwb", "scale"], ["y"], name="scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "external_data",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=inits,
    )
    return model(graph, doc="Initializers w and b are external data."), bytes(blob)


def sparse_init() -> onnx.ModelProto:
    # W is 4x3 with 3 non-zeros, indices as [NNZ, rank] coordinates.
    w_values = numpy_helper.from_array(np.array([1.5, -2.0, 0.25], np.float32), "w")
    w_indices = numpy_helper.from_array(np.array([[0, 1], [2, 0], [3, 2]], np.int64), "w_indices")
    w = helper.make_sparse_tensor(w_values, w_indices, [4, 3])
    # bias has 3 entries, 1 non-zero, indices as linear positions.
    b_values = numpy_helper.from_array(np.array([0.5], np.float32), "bias")
    b_indices = numpy_helper.from_array(np.array([1], np.int64), "bias_indices")
    bias = helper.make_sparse_tensor(b_values, b_indices, [3])
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "bias"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "sparse_init",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        sparse_initializer=[w, bias],
    )
    return model(graph, doc="w and bias are sparse initializers.")


def if_loop() -> onnx.ModelProto:
    f32 = TensorProto.FLOAT
    # then: x * 2; else: x - 1. Both read the outer-scope x.
    then_g = helper.make_graph(
        [
            helper.make_node("Constant", [], ["two"], name="then_two", value=numpy_helper.from_array(np.array(2.0, np.float32))),
            helper.make_node("Mul", ["x", "two"], ["then_out"], name="then_mul"),
        ],
        "then_branch",
        [],
        [helper.make_tensor_value_info("then_out", f32, [3])],
    )
    else_g = helper.make_graph(
        [
            helper.make_node("Constant", [], ["one"], name="else_one", value=numpy_helper.from_array(np.array(1.0, np.float32))),
            helper.make_node("Sub", ["x", "one"], ["else_out"], name="else_sub"),
        ],
        "else_branch",
        [],
        [helper.make_tensor_value_info("else_out", f32, [3])],
    )
    # Loop body: v_out = v_in + step, where `step` is computed in the main graph.
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
            helper.make_node("Add", ["v_in", "step"], ["v_out"], name="body_add"),
            helper.make_node("Identity", ["v_out"], ["v_scan"], name="body_scan"),
        ],
        "loop_body",
        [
            helper.make_tensor_value_info("iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", f32, [3]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", f32, [3]),
            helper.make_tensor_value_info("v_scan", f32, [3]),
        ],
    )
    nodes = [
        helper.make_node("If", ["flag"], ["if_out"], name="branch", then_branch=then_g, else_branch=else_g),
        helper.make_node("Mul", ["x", "half"], ["step"], name="make_step"),
        helper.make_node("Loop", ["trip_count", "keep_going", "if_out"], ["final", "history"], name="loop", body=body),
    ]
    graph = helper.make_graph(
        nodes,
        "if_loop",
        [
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", f32, [3]),
        ],
        [
            helper.make_tensor_value_info("final", f32, [3]),
            helper.make_tensor_value_info("history", f32, [3, 3]),
        ],
        initializer=[
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
            numpy_helper.from_array(np.array(3, np.int64), "trip_count"),
            numpy_helper.from_array(np.array(True), "keep_going"),
        ],
    )
    return model(graph, doc="If with two branches and a Loop whose body reads the outer value `step`.")


def local_function() -> onnx.ModelProto:
    dom = "com.modelc.test"
    f32 = TensorProto.FLOAT
    # ScaledTanh(X; alpha=1.0) = Tanh(X * alpha), alpha through ref_attr_name.
    alpha = helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT, ref_attr_name="alpha")
    alpha_const = helper.make_node("Constant", [], ["alpha_t"], name="alpha")
    alpha_const.attribute.append(alpha)
    scaled_tanh = helper.make_function(
        dom,
        "ScaledTanh",
        ["X"],
        ["Y"],
        [
            alpha_const,
            helper.make_node("Mul", ["X", "alpha_t"], ["XA"], name="scale"),
            helper.make_node("Tanh", ["XA"], ["Y"], name="tanh"),
        ],
        opset_imports=[helper.make_opsetid("", OPSET)],
        attributes=[],
        attribute_protos=[helper.make_attribute("alpha", 1.0)],
        doc_string="Tanh(X * alpha)",
        value_info=[helper.make_tensor_value_info("XA", f32, None)],
    )
    # Gate(X, Y) = ScaledTanh(X; alpha=0.5) * Y: a function that calls a function.
    gate = helper.make_function(
        dom,
        "Gate",
        ["X", "Y"],
        ["Z"],
        [
            helper.make_node("ScaledTanh", ["X"], ["T"], name="inner", domain=dom, alpha=0.5),
            helper.make_node("Mul", ["T", "Y"], ["Z"], name="gate"),
        ],
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(dom, 1)],
        attributes=[],
        doc_string="ScaledTanh(X, alpha=0.5) * Y",
    )
    nodes = [
        helper.make_node("ScaledTanh", ["x"], ["t"], name="call_scaled_tanh", domain=dom, alpha=2.0),
        helper.make_node("Gate", ["t", "x"], ["y"], name="call_gate", domain=dom),
    ]
    graph = helper.make_graph(
        nodes,
        "local_function",
        [helper.make_tensor_value_info("x", f32, [2, 3])],
        [helper.make_tensor_value_info("y", f32, [2, 3])],
        value_info=[helper.make_tensor_value_info("t", f32, [2, 3])],
    )
    return model(
        graph,
        opsets=[helper.make_opsetid("", OPSET), helper.make_opsetid(dom, 1)],
        functions=[scaled_tanh, gate],
        doc="Model-local functions in domain com.modelc.test.",
    )


def custom_op() -> onnx.ModelProto:
    f32 = TensorProto.FLOAT
    sub = helper.make_graph(
        [helper.make_node("Neg", ["a"], ["b"], name="sub_neg")],
        "attr_graph",
        [helper.make_tensor_value_info("a", f32, [1])],
        [helper.make_tensor_value_info("b", f32, [1])],
    )
    sub2 = helper.make_graph(
        [helper.make_node("Abs", ["c"], ["d"], name="sub_abs")],
        "attr_graph_2",
        [helper.make_tensor_value_info("c", f32, [1])],
        [helper.make_tensor_value_info("d", f32, [1])],
    )
    tensor = numpy_helper.from_array(np.array([[1, 2], [3, 4]], np.int32), "attr_tensor")
    tensor2 = helper.make_tensor("attr_tensor_2", TensorProto.STRING, [2], [b"ab", b"\x00\xff"])
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([7.0], np.float32), "sp_values"),
        numpy_helper.from_array(np.array([2], np.int64), "sp_indices"),
        [4],
    )
    node = helper.make_node(
        "FancyOp",
        ["x"],
        ["y", "aux"],
        name="fancy",
        domain="com.example",
        doc_string="an op that no runtime knows",
        f=0.25,
        i=-7,
        s="hello, world",
        t=tensor,
        g=sub,
        floats=[1.0, -0.5, float("inf")],
        ints=[0, 1, -(2**62)],
        strings=["a", "", "ünïcödé"],
        tensors=[tensor, tensor2],
        graphs=[sub, sub2],
        sparse_t=sparse,
        sparse_ts=[sparse],
        type=helper.make_tensor_type_proto(TensorProto.BFLOAT16, ["n", 4]),
        types=[
            helper.make_tensor_type_proto(TensorProto.INT8, [2]),
            helper.make_sequence_type_proto(helper.make_tensor_type_proto(f32, None)),
        ],
    )
    # An empty string attribute and an empty list attribute need explicit types.
    node.attribute.append(helper.make_attribute("empty_s", "", attr_type=onnx.AttributeProto.STRING))
    node.attribute.append(helper.make_attribute("empty_ints", [], attr_type=onnx.AttributeProto.INTS))
    graph = helper.make_graph(
        [node, helper.make_node("Relu", ["y"], ["z"], name="after")],
        "custom_op",
        [helper.make_tensor_value_info("x", f32, [1])],
        [helper.make_tensor_value_info("z", f32, [1]), helper.make_tensor_value_info("aux", TensorProto.INT64, ["k"])],
    )
    return model(
        graph,
        opsets=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.example", 3)],
        doc="A node of an unknown domain with one attribute of every type.",
    )


def fp16_bf16(rng) -> onnx.ModelProto:
    f32 = TensorProto.FLOAT
    h_raw = numpy_helper.from_array(np.array([0.5, -1.25, 65504.0, 6e-8], np.float16), "h_raw")
    h_typed = helper.make_tensor("h_typed", TensorProto.FLOAT16, [4], [1.0, -0.0, 0.1, 3.0])
    bf = helper.make_tensor("bf", TensorProto.BFLOAT16, [2, 2], [1.0, -2.5, 3.140625, 1e30])
    q4 = helper.make_tensor("q4", TensorProto.INT4, [5], [-8, -1, 0, 3, 7])  # odd count: half a byte of padding
    u4 = helper.make_tensor("u4", TensorProto.UINT4, [3], [0, 9, 15])
    f8 = helper.make_tensor("f8", TensorProto.FLOAT8E4M3FN, [4], [1.0, -2.5, 448.0, 0.015625])
    f8b = helper.make_tensor("f8b", TensorProto.FLOAT8E5M2, [2], [0.5, -57344.0])
    nodes = [
        helper.make_node("Add", ["x16", "h_raw"], ["sum16"], name="add16"),
        helper.make_node("Mul", ["sum16", "h_typed"], ["y16"], name="mul16"),
        helper.make_node("Cast", ["bf"], ["y_bf16"], name="cast_bf16", to=f32),
        helper.make_node("Cast", ["q4"], ["y_int4"], name="cast_int4", to=f32),
        helper.make_node("Cast", ["u4"], ["y_uint4"], name="cast_uint4", to=f32),
        helper.make_node("Cast", ["f8"], ["y_f8e4m3"], name="cast_f8e4m3", to=f32),
        helper.make_node("Cast", ["f8b"], ["y_f8e5m2"], name="cast_f8e5m2", to=f32),
    ]
    graph = helper.make_graph(
        nodes,
        "fp16_bf16",
        [helper.make_tensor_value_info("x16", TensorProto.FLOAT16, [4])],
        [
            helper.make_tensor_value_info("y16", TensorProto.FLOAT16, [4]),
            helper.make_tensor_value_info("y_bf16", f32, [2, 2]),
            helper.make_tensor_value_info("y_int4", f32, [5]),
            helper.make_tensor_value_info("y_uint4", f32, [3]),
            helper.make_tensor_value_info("y_f8e4m3", f32, [4]),
            helper.make_tensor_value_info("y_f8e5m2", f32, [2]),
        ],
        initializer=[h_raw, h_typed, bf, q4, u4, f8, f8b],
    )
    return model(graph, doc="Initializers of 16-, 8- and 4-bit element types.")


def huge_dims() -> onnx.ModelProto:
    t = TensorProto()
    t.name = "huge"
    t.data_type = TensorProto.FLOAT
    t.dims.append(1 << 40)  # 4 TiB of float claimed, no data at all
    graph = helper.make_graph(
        [helper.make_node("Identity", ["huge"], ["y"], name="id")],
        "huge_dims",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 40])],
        initializer=[t],
    )
    return model(graph, doc="Hostile: an initializer claims dims [1 << 40] and has no data.")


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def run_in_ort(path: str, feeds: dict) -> None:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=here, help="directory to write models/ and bad/ into (default: testdata/)")
    ap.add_argument("--no-ort", action="store_true", help="skip running the models in onnxruntime")
    args = ap.parse_args()
    models_dir = os.path.join(args.out, "models")
    bad_dir = os.path.join(args.out, "bad")
    rng = np.random.default_rng(20240601)

    written: list[str] = []

    def save(rel_dir: str, name: str, m: onnx.ModelProto, check: bool = True, full_check: bool = True) -> str:
        path = os.path.join(rel_dir, name)
        write(path, m.SerializeToString())
        if check:
            onnx.checker.check_model(path, full_check=full_check)
        written.append(path)
        return path

    # --- models/ ---------------------------------------------------------
    cnn = tiny_cnn(rng)
    save(models_dir, "tiny_cnn.onnx", cnn)

    ext, blob = external_data(rng, "weights.bin")
    write(os.path.join(models_dir, "external_data", "weights.bin"), blob)
    written.append(os.path.join(models_dir, "external_data", "weights.bin"))
    save(os.path.join(models_dir, "external_data"), "model.onnx", ext)

    # Shape inference types a sparse initializer as sparse_tensor_type, which
    # no op accepts, so full_check (checker + strict shape inference) rejects
    # any model that uses one, although onnxruntime runs it (it densifies
    # sparse initializers on load). The plain checker passes.
    save(models_dir, "sparse_init.onnx", sparse_init(), full_check=False)
    save(models_dir, "if_loop.onnx", if_loop())
    save(models_dir, "local_function.onnx", local_function())
    # The checker accepts a node of an unregistered domain (it cannot know its
    # schema, so it checks only the node's structure), and full_check's shape
    # inference leaves the node's outputs untyped.
    save(models_dir, "custom_op.onnx", custom_op())
    save(models_dir, "fp16_bf16.onnx", fp16_bf16(rng))

    if not args.no_ort:
        x4 = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
        run_in_ort(os.path.join(models_dir, "tiny_cnn.onnx"), {"image": np.ones((2, 3, 8, 8), np.float32)})
        run_in_ort(os.path.join(models_dir, "external_data", "model.onnx"), {"x": x4})
        run_in_ort(os.path.join(models_dir, "sparse_init.onnx"), {"x": x4})
        run_in_ort(
            os.path.join(models_dir, "if_loop.onnx"),
            {"flag": np.array(True), "x": np.array([1, 2, 3], np.float32)},
        )
        run_in_ort(os.path.join(models_dir, "local_function.onnx"), {"x": x4[:, :3]})
        run_in_ort(os.path.join(models_dir, "fp16_bf16.onnx"), {"x16": np.array([1, 2, 3, 4], np.float16)})
        # custom_op.onnx cannot run: no runtime has com.example.FancyOp.

    # --- bad/ ------------------------------------------------------------
    data = cnn.SerializeToString()
    write(os.path.join(bad_dir, "truncated.onnx"), data[: len(data) // 2])
    written.append(os.path.join(bad_dir, "truncated.onnx"))

    garbage_rng = np.random.default_rng(7)
    while True:  # make sure the bytes really are no ModelProto
        garbage = garbage_rng.bytes(1024)
        try:
            onnx.ModelProto.FromString(garbage)
        except Exception:  # noqa: BLE001 - DecodeError, whichever protobuf backend
            break
    write(os.path.join(bad_dir, "garbage.onnx"), garbage)
    written.append(os.path.join(bad_dir, "garbage.onnx"))

    esc, esc_blob = external_data(np.random.default_rng(11), "../outside.bin")
    write(os.path.join(bad_dir, "outside.bin"), esc_blob)
    written.append(os.path.join(bad_dir, "outside.bin"))
    save(os.path.join(bad_dir, "escape_external"), "model.onnx", esc, check=False)

    save(bad_dir, "huge_dims.onnx", huge_dims(), check=False)

    for path in written:
        size = os.path.getsize(path)
        if size > 8192:
            print(f"make_examples: {path} is {size} bytes; examples must stay small", file=sys.stderr)
            return 1
        print(f"make_examples: {os.path.relpath(path, args.out)} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
