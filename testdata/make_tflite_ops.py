"""Builds the TFLite op suite in testdata/tflite/ops/: single-op and small-pattern models made
with TensorFlow's own converter over TFLite's builtin operators, each in the variants the
converter supports: `float`, `int8` (full integer, int8 inputs and outputs) and `int16x8`
(int16 activations, int8 weights, int16 inputs and outputs).

Run by `cargo xtask tflite-suite --regenerate` with the pinned TensorFlow environment
(xtask/requirements-tflite-suite.txt, installed into target/tfenv); the files are committed, so
CI needs only LiteRT and onnxruntime (tests/tflite_op_suite.py).

Each NAME.tflite comes with NAME.npz holding its inputs (`input0`, `input1`, ...), drawn with
fixed seeds (weights too) and, for quantized inputs, quantized with the input's parameters.
A variant the converter refuses is left out and listed on stderr.
"""

import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tflite", "ops")
RNG = np.random.default_rng(12)


def w(*shape, scale=0.5):
    """A seeded random weight."""
    return tf.constant(RNG.standard_normal(shape).astype(np.float32) * scale)


# name -> (function, [input shape, ...], options). Options: `positive` draws inputs in
# [0.1, 2] (log, sqrt, ...); `variants` narrows the variants tried; `int_inputs` marks inputs
# (by index) that are int32 indices in [0, high).
IMG = (1, 8, 8, 4)
VEC = (2, 16)
OPS = {}


def op(name, shapes, variants=("float", "int8", "int16x8"), positive=False, int_inputs=None):
    def register(fn):
        OPS[name] = (fn, shapes, dict(variants=variants, positive=positive, int_inputs=int_inputs or {}))
        return fn

    return register


# ---- elementwise unary ----
for _name, _fn, _pos in [
    ("abs", tf.abs, False),
    ("neg", tf.negative, False),
    ("exp", tf.exp, False),
    ("log", tf.math.log, True),
    ("sqrt", tf.sqrt, True),
    ("rsqrt", tf.math.rsqrt, True),
    ("square", tf.square, False),
    ("sin", tf.sin, False),
    ("cos", tf.cos, False),
    ("tanh", tf.tanh, False),
    ("logistic", tf.sigmoid, False),
    ("relu", tf.nn.relu, False),
    ("relu6", tf.nn.relu6, False),
    ("relu_n1_to_1", lambda x: tf.clip_by_value(x, -1.0, 1.0), False),
    ("leaky_relu", lambda x: tf.nn.leaky_relu(x, 0.2), False),
    ("elu", tf.nn.elu, False),
    ("hard_swish", lambda x: x * tf.nn.relu6(x + 3.0) / 6.0, False),
    ("gelu", lambda x: tf.nn.gelu(x, approximate=False), False),
    ("gelu_tanh", lambda x: tf.nn.gelu(x, approximate=True), False),
    ("floor", tf.floor, False),
    ("ceil", tf.math.ceil, False),
    ("round", tf.round, False),
    ("sign", tf.sign, False),
    ("softmax", tf.nn.softmax, False),
    ("log_softmax", tf.nn.log_softmax, False),
    ("l2_normalization", lambda x: tf.math.l2_normalize(x, axis=-1), False),
    ("prelu", lambda x: tf.maximum(x, 0.0) + tf.constant(np.linspace(-0.5, 0.5, 16, dtype=np.float32)) * tf.minimum(x, 0.0), False),
    ("cast_int32", lambda x: tf.cast(tf.cast(x * 4.0, tf.int32), tf.float32), False),
]:
    op(_name, [VEC], positive=_pos)((lambda f: lambda x: f(x))(_fn))

# ---- elementwise binary ----
for _name, _fn in [
    ("add", tf.add),
    ("sub", tf.subtract),
    ("mul", tf.multiply),
    ("div", lambda a, b: a / (tf.abs(b) + 0.5)),
    ("maximum", tf.maximum),
    ("minimum", tf.minimum),
    ("squared_difference", tf.math.squared_difference),
    ("floor_div", lambda a, b: tf.math.floordiv(a, tf.abs(b) + 0.5)),
    ("floor_mod", lambda a, b: tf.math.floormod(a, tf.abs(b) + 0.5)),
    ("pow", lambda a, b: tf.pow(tf.abs(a) + 0.5, b)),
    ("greater", lambda a, b: tf.cast(a > b, tf.float32)),
    ("less_equal", lambda a, b: tf.cast(a <= b, tf.float32)),
    ("equal", lambda a, b: tf.cast(tf.round(a) == tf.round(b), tf.float32)),
    ("select", lambda a, b: tf.where(a > 0.0, a, b)),
]:
    op(_name, [VEC, VEC])((lambda f: lambda a, b: f(a, b))(_fn))

op("add_broadcast", [IMG, (1, 1, 1, 4)])(lambda a, b: a + b)
op("mul_const", [VEC])(lambda x: x * w(16))


# ---- shapes and data movement ----
op("reshape", [IMG])(lambda x: tf.reshape(x, (1, 16, 16)))
op("transpose", [IMG])(lambda x: tf.transpose(x, (0, 3, 1, 2)))
op("concat", [IMG, IMG])(lambda a, b: tf.concat([a, b], axis=3))
op("pack", [VEC, VEC])(lambda a, b: tf.stack([a, b], axis=1))
op("unpack", [(3, 2, 8)])(lambda x: tf.unstack(x, axis=0)[1])
op("split", [IMG])(lambda x: tf.split(x, 2, axis=3)[1])
op("split_v", [IMG])(lambda x: tf.split(x, [1, 3], axis=3)[1])
op("pad", [IMG])(lambda x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]))
op("padv2", [IMG])(lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=0.5))
op("mirror_pad", [IMG])(lambda x: tf.pad(x, [[0, 0], [2, 2], [1, 1], [0, 0]], mode="REFLECT"))
op("mirror_pad_symmetric", [IMG])(lambda x: tf.pad(x, [[0, 0], [2, 2], [1, 1], [0, 0]], mode="SYMMETRIC"))
op("tile", [VEC])(lambda x: tf.tile(x, [2, 3]))
op("broadcast_to", [(1, 16)])(lambda x: tf.broadcast_to(x, (3, 16)))
op("expand_dims", [VEC])(lambda x: tf.expand_dims(x, 1) * 2.0)
op("squeeze", [(2, 1, 16)])(lambda x: tf.squeeze(x, 1) * 2.0)
op("space_to_depth", [IMG])(lambda x: tf.nn.space_to_depth(x, 2))
op("depth_to_space", [IMG])(lambda x: tf.nn.depth_to_space(x, 2))
op("space_to_batch_nd", [IMG])(lambda x: tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]))
op("batch_to_space_nd", [(4, 4, 4, 4)])(lambda x: tf.compat.v1.batch_to_space_nd(x, [2, 2], [[0, 0], [0, 0]]))
op("gather", [(6, 16)])(lambda x: tf.gather(x, [4, 0, 2], axis=0))
op("gather_axis1", [(2, 16)])(lambda x: tf.gather(x, [3, 15, 0, 7], axis=1))
op("gather_nd", [(4, 5, 3)])(lambda x: tf.gather_nd(x, [[1, 2], [3, 0]]))
op("strided_slice", [IMG])(lambda x: x[:, 1:7:2, ::-1, 1:3])
op("strided_slice_shrink", [IMG])(lambda x: x[:, 2, :, :])
op("slice", [IMG])(lambda x: tf.slice(x, [0, 1, 2, 0], [1, 4, 5, 3]))
op("reverse_v2", [IMG])(lambda x: tf.reverse(x, [1]))
op("space_to_batch_nd_padded", [(1, 6, 6, 2)])(
    lambda x: tf.space_to_batch_nd(x, [2, 2], [[1, 1], [0, 2]]))
op("batch_to_space_nd_cropped", [(4, 4, 4, 2)])(
    lambda x: tf.compat.v1.batch_to_space_nd(x, [2, 2], [[1, 0], [0, 2]]))
op("embedding_lookup", [(2, 5)], variants=("float",), int_inputs={0: 10})(
    lambda i: tf.gather(w(10, 8), i))


# ---- reductions ----
op("mean", [IMG])(lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True))
op("sum", [IMG])(lambda x: tf.reduce_sum(x, axis=[3]))
op("reduce_max", [IMG])(lambda x: tf.reduce_max(x, axis=[1]))
op("reduce_min", [IMG])(lambda x: tf.reduce_min(x, axis=[2], keepdims=True))
op("reduce_prod", [VEC])(lambda x: tf.reduce_prod(x, axis=[1]))
op("arg_max", [VEC])(lambda x: tf.argmax(x, axis=1, output_type=tf.int32))
op("arg_min", [VEC])(lambda x: tf.argmin(x, axis=1, output_type=tf.int32))
op("cumsum", [VEC])(lambda x: tf.cumsum(x, axis=1))
op("topk_v2", [VEC])(lambda x: tf.math.top_k(x, 4).values)


# ---- neural network layers ----
op("conv_2d", [IMG])(lambda x: tf.nn.conv2d(x, w(3, 3, 4, 6), 1, "SAME") + w(6))
op("conv_2d_relu_stride2_valid", [IMG])(
    lambda x: tf.nn.relu(tf.nn.conv2d(x, w(3, 3, 4, 5), 2, "VALID") + w(5)))
op("conv_2d_dilated", [IMG])(lambda x: tf.nn.conv2d(x, w(3, 3, 4, 4), 1, "SAME", dilations=2))
op("depthwise_conv_2d", [IMG])(
    lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, w(3, 3, 4, 2), [1, 1, 1, 1], "SAME") + w(8)))
op("transpose_conv", [IMG])(
    lambda x: tf.nn.conv2d_transpose(x, w(3, 3, 5, 4), (1, 16, 16, 5), 2, "SAME"))
op("fully_connected", [VEC])(lambda x: tf.matmul(x, w(16, 10)) + w(10))
op("fully_connected_relu", [VEC])(lambda x: tf.nn.relu(tf.matmul(x, w(16, 10)) + w(10)))
op("batch_matmul", [(2, 4, 8), (2, 8, 3)])(lambda a, b: tf.matmul(a, b))
op("max_pool_2d", [IMG])(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"))
op("average_pool_2d", [IMG])(lambda x: tf.nn.avg_pool2d(x, 3, 1, "SAME"))
op("resize_bilinear", [IMG])(lambda x: tf.compat.v1.image.resize_bilinear(x, (16, 12)))
op("resize_bilinear_half_pixel", [IMG])(
    lambda x: tf.compat.v1.image.resize_bilinear(x, (16, 12), half_pixel_centers=True))
op("resize_bilinear_align_corners", [IMG])(
    lambda x: tf.compat.v1.image.resize_bilinear(x, (15, 15), align_corners=True))
op("resize_nearest_neighbor", [IMG])(lambda x: tf.compat.v1.image.resize_nearest_neighbor(x, (16, 16)))
op("resize_nearest_half_pixel", [IMG])(
    lambda x: tf.compat.v1.image.resize_nearest_neighbor(x, (12, 16), half_pixel_centers=True))
op("local_response_normalization", [IMG], variants=("float",))(
    lambda x: tf.nn.local_response_normalization(x, 2, 1.0, 0.5, 0.75))


# ---- small patterns ----
@op("pattern_conv_bn_relu", [IMG])
def _conv_bn_relu(x):
    y = tf.nn.conv2d(x, w(3, 3, 4, 8), 1, "SAME")
    y = tf.nn.batch_normalization(y, w(8), tf.abs(w(8)) + 0.5, w(8), w(8), 1e-3)
    return tf.nn.relu(y)


@op("pattern_residual", [IMG])
def _residual(x):
    y = tf.nn.relu(tf.nn.conv2d(x, w(3, 3, 4, 4), 1, "SAME"))
    return tf.nn.relu(x + tf.nn.conv2d(y, w(1, 1, 4, 4), 1, "SAME"))


@op("pattern_layer_norm", [(2, 5, 16)])
def _layer_norm(x):
    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + 1e-5) * w(16) + w(16)


@op("pattern_attention", [(1, 6, 16)])
def _attention(x):
    q, k, v = tf.matmul(x, w(16, 16)), tf.matmul(x, w(16, 16)), tf.matmul(x, w(16, 16))
    a = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / 4.0)
    return tf.matmul(a, v)


@op("pattern_mlp_softmax", [VEC])
def _mlp(x):
    h = tf.nn.relu(tf.matmul(x, w(16, 12)) + w(12))
    return tf.nn.softmax(tf.matmul(h, w(12, 5)) + w(5))


@op("pattern_global_pool_dense", [IMG])
def _gap_dense(x):
    y = tf.nn.relu6(tf.nn.conv2d(x, w(1, 1, 4, 8), 1, "SAME"))
    return tf.matmul(tf.reduce_mean(y, axis=[1, 2]), w(8, 3))


@op("pattern_squeeze_excite", [IMG])
def _se(x):
    s = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    s = tf.sigmoid(tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(s, w(1, 1, 4, 2), 1, "SAME")), w(1, 1, 2, 4), 1, "SAME"))
    return x * s


def keras_lstm(**kw):
    tf.keras.utils.set_random_seed(5)
    layer = tf.keras.layers.LSTM(6, return_sequences=True, **kw)
    layer.build((1, 5, 4))
    return lambda x: layer(x)


op("lstm", [(1, 5, 4)], variants=("float",))(keras_lstm())


def fused_lstm():
    """A Keras 2 (tf_keras) LSTM converted from the Keras model: the converter fuses it into
    UNIDIRECTIONAL_SEQUENCE_LSTM (Keras 3's LSTM becomes a WHILE loop, the `lstm` model)."""
    import tf_keras

    tf_keras.utils.set_random_seed(6)
    x = tf_keras.Input((5, 4), batch_size=1, name="input0")
    return tf_keras.Model(x, tf_keras.layers.LSTM(6, return_sequences=True)(x))


KERAS = {"lstm_fused": (fused_lstm, [(1, 5, 4)])}


def with_cell_clip(blob, clip):
    """The model with every UNIDIRECTIONAL_SEQUENCE_LSTM's cell_clip set (Keras has no way to
    ask for it), rewritten with TensorFlow's schema classes."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    n = 0
    lstm = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    for sg in model.subgraphs:
        for o in sg.operators:
            code = model.operatorCodes[o.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == lstm:
                o.builtinOptions.cellClip = clip
                n += 1
    assert n, "no UNIDIRECTIONAL_SEQUENCE_LSTM to clip"
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def make_inputs(shapes, opts):
    xs = []
    for i, s in enumerate(shapes):
        if i in opts["int_inputs"]:
            xs.append(RNG.integers(0, opts["int_inputs"][i], s).astype(np.int32))
        elif opts["positive"]:
            xs.append(RNG.uniform(0.1, 2.0, s).astype(np.float32))
        else:
            xs.append(RNG.standard_normal(s).astype(np.float32))
    return xs


def convert(fn, shapes, opts, variant):
    specs = [
        tf.TensorSpec(s, tf.int32 if i in opts["int_inputs"] else tf.float32, name=f"input{i}")
        for i, s in enumerate(shapes)
    ]
    tfn = tf.function(fn, input_signature=specs, autograph=False)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([tfn.get_concrete_function()])
    if variant != "float":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: (make_inputs(shapes, opts) for _ in range(32))
        if variant == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            io = tf.int8
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            io = tf.int16
        conv.inference_input_type = io
        conv.inference_output_type = io
    return conv.convert()


def quantized_inputs(blob, xs):
    """The inputs as the model takes them: quantized with each input's own parameters."""
    interp = tf.lite.Interpreter(model_content=blob)
    out = {}
    for i, (d, x) in enumerate(zip(interp.get_input_details(), xs)):
        if d["dtype"] != x.dtype and x.dtype == np.float32:
            scale, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            x = np.clip(np.round(x / scale) + zp, info.min, info.max).astype(d["dtype"])
        out[f"input{i}"] = x
    # LiteRT must run it: a file its own runtime rejects is no test.
    for d, x in zip(interp.get_input_details(), out.values()):
        interp.resize_tensor_input(d["index"], x.shape)
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), out.values()):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return out


def main():
    only = sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    refused = []
    total = 0
    for name, (fn, shapes, opts) in OPS.items():
        if only and name not in only:
            continue
        xs = make_inputs(shapes, opts)
        for variant in opts["variants"]:
            full = f"{name}.{variant}"
            try:
                blob = convert(fn, shapes, opts, variant)
                inputs = quantized_inputs(blob, xs)
            except Exception as e:  # the converter's refusals are many kinds of exception
                refused.append(f"{full}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__}")
                continue
            with open(os.path.join(OUT, f"{full}.tflite"), "wb") as f:
                f.write(blob)
            np.savez(os.path.join(OUT, f"{full}.npz"), **inputs)
            total += len(blob)
    for name, (make, shapes) in KERAS.items():
        if only and name not in only:
            continue
        blob = tf.lite.TFLiteConverter.from_keras_model(make()).convert()
        xs = make_inputs(shapes, dict(positive=False, int_inputs={}))
        for full, b in [(f"{name}.float", blob), (f"{name}_cell_clip.float", with_cell_clip(blob, 0.05))]:
            inputs = quantized_inputs(b, xs)
            with open(os.path.join(OUT, f"{full}.tflite"), "wb") as f:
                f.write(b)
            np.savez(os.path.join(OUT, f"{full}.npz"), **inputs)
            total += len(b)
    print(f"make_tflite_ops: wrote {sum(1 for f in os.listdir(OUT) if f.endswith('.tflite'))} models "
          f"({total} bytes of .tflite) into {OUT}", file=sys.stderr)
    for r in refused:
        print(f"  not made (converter refused): {r}", file=sys.stderr)


if __name__ == "__main__":
    main()
