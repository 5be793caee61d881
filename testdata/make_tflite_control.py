"""Builds TFLite models with control flow in testdata/tflite/control/ with TensorFlow's converter:
the IF and WHILE forms TensorFlow itself writes, which tests/tflite_control_flow.py imports
to ONNX and runs in onnxruntime against LiteRT on the same file.

Not run by CI (TensorFlow is large); run it by hand when the models need to change:

    python3 -m venv target/tfenv
    target/tfenv/bin/pip install tensorflow-cpu==2.21.0
    target/tfenv/bin/python testdata/make_tflite_control.py

Models (weights random with fixed seeds, nothing downloaded):
  tf_while.tflite       tf.while_loop: x = tanh(x @ W + b) while i < n and sum(x) < 100
                        (n an int32 input)
  tf_cond.tflite        tf.cond on a computed predicate, each branch its own ops
  keras_rnn_lstm.tflite keras.layers.RNN(LSTMCell(8)) over 5 steps: TensorFlow keeps this
                        as a WHILE loop (no fused LSTM kernel), returning the sequence and the
                        last state
Each NAME.tflite comes with NAME.inputs.npz (its inputs by signature name).
"""

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tflite", "control")


def convert(fn, specs) -> bytes:
    concrete = fn.get_concrete_function(*specs)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    return conv.convert()


def tf_while():
    rng = np.random.default_rng(0)
    w = tf.constant((rng.standard_normal((6, 6)) * 0.5).astype(np.float32))
    b = tf.constant((rng.standard_normal((6,)) * 0.1).astype(np.float32))

    @tf.function
    def f(x, n):
        def cond(i, y):
            return tf.logical_and(i < n, tf.reduce_sum(y) < 100.0)

        def body(i, y):
            return i + 1, tf.tanh(tf.matmul(y, w) + b) * 2.0 + y

        _, y = tf.while_loop(cond, body, (tf.constant(0), x))
        return {"y": y}

    model = convert(f, [tf.TensorSpec((1, 6), tf.float32, name="x"), tf.TensorSpec((), tf.int32, name="n")])
    inputs = {"x": rng.standard_normal((1, 6)).astype(np.float32), "n": np.array(4, np.int32)}
    return model, inputs


def tf_cond():
    @tf.function
    def f(x):
        y = tf.cond(tf.reduce_mean(x) > 0.0,
                    lambda: tf.nn.softmax(x * 3.0),
                    lambda: tf.sigmoid(x) - 0.5)
        return {"y": y}

    model = convert(f, [tf.TensorSpec((2, 5), tf.float32, name="x")])
    rng = np.random.default_rng(1)
    inputs = {"x": np.abs(rng.standard_normal((2, 5))).astype(np.float32)}
    return model, inputs


def keras_rnn_lstm():
    tf.keras.utils.set_random_seed(2)
    x = tf.keras.Input((5, 4), batch_size=1, name="x")
    y, h, c = tf.keras.layers.RNN(tf.keras.layers.LSTMCell(8), return_sequences=True,
                                  return_state=True)(x)
    m = tf.keras.Model(x, {"y": y, "h": h, "c": c})

    @tf.function
    def f(x):
        return m(x)

    model = convert(f, [tf.TensorSpec((1, 5, 4), tf.float32, name="x")])
    rng = np.random.default_rng(2)
    return model, {"x": rng.standard_normal((1, 5, 4)).astype(np.float32)}


def main():
    for name, make in [("tf_while", tf_while), ("tf_cond", tf_cond), ("keras_rnn_lstm", keras_rnn_lstm)]:
        model, inputs = make()
        path = os.path.join(OUT, f"{name}.tflite")
        with open(path, "wb") as f:
            f.write(model)
        np.savez(os.path.join(OUT, f"{name}.inputs.npz"), **inputs)
        print(f"{path}: {len(model)} bytes")


if __name__ == "__main__":
    main()
