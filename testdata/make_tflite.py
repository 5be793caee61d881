"""Builds the TFLite test models in testdata/tflite/ with TensorFlow/Keras and stores, for
each, the input and the reference output computed by LiteRT (`ai_edge_litert`).

Not run by CI (TensorFlow is large); run it by hand when the models need to change:

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0
    /tmp/tfenv/bin/python testdata/make_tflite.py

Models (weights random with fixed seeds, nothing downloaded):
  small_cnn_{float,fp16,dynamic,int8,int16x8}.tflite  conv/depthwise/pool/add/concat/dense/softmax
  mobilenet_v2_{float,int8}.tflite                    Keras MobileNetV2, alpha 0.35, 96x96, 10 classes
Each NAME.tflite comes with NAME.input.npy and NAME.output.npy (first input / first output).
"""

import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tflite")


def small_cnn():
    tf.keras.utils.set_random_seed(1)
    x = tf.keras.Input((16, 16, 3), batch_size=1, name="image")
    a = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    b = tf.keras.layers.DepthwiseConv2D(3, padding="same")(a)
    b = tf.keras.layers.ReLU(6.0)(b)
    c = tf.keras.layers.Add()([a, b])
    c = tf.keras.layers.MaxPooling2D(2)(c)
    d = tf.keras.layers.Conv2D(12, 3, strides=2, padding="valid", activation="tanh")(c)
    e = tf.keras.layers.Conv2D(4, 1, activation="sigmoid")(d)
    f = tf.keras.layers.Concatenate()([d, e])
    f = tf.keras.layers.AveragePooling2D(2, padding="same")(f)
    g = tf.keras.layers.GlobalAveragePooling2D()(f)
    g = tf.keras.layers.Dense(10)(g)
    y = tf.keras.layers.Softmax(name="probs")(g)
    return tf.keras.Model(x, y)


def mobilenet():
    tf.keras.utils.set_random_seed(2)
    return tf.keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )


def representative(shape, seed):
    rng = np.random.default_rng(seed)

    def gen():
        for _ in range(16):
            yield [rng.standard_normal((1, *shape), dtype=np.float32)]

    return gen


def convert(model, variant, shape):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative(shape, 3)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif variant == "int16x8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative(shape, 3)
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    return conv.convert()


def reference(name, blob, shape):
    interp = Interpreter(model_content=blob)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    x = np.random.default_rng(7).standard_normal((1, *shape), dtype=np.float32)
    if inp["dtype"] != np.float32:
        scale, zp = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale) + zp, info.min, info.max).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(out["index"])
    np.save(os.path.join(OUT, f"{name}.input.npy"), x)
    np.save(os.path.join(OUT, f"{name}.output.npy"), y)


def main():
    os.makedirs(OUT, exist_ok=True)
    jobs = [("small_cnn", small_cnn, (16, 16, 3), ["float", "fp16", "dynamic", "int8", "int16x8"]),
            ("mobilenet_v2", mobilenet, (96, 96, 3), ["float", "int8"])]
    for base, make, shape, variants in jobs:
        model = make()
        for v in variants:
            name = f"{base}_{v}"
            blob = convert(model, v, shape)
            with open(os.path.join(OUT, f"{name}.tflite"), "wb") as f:
                f.write(blob)
            reference(name, blob, shape)
            print(f"{name}.tflite: {len(blob)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
