"""TFLite control flow and recurrent state, both directions, in the real runtimes.

    python tests/tflite_control_flow.py --modelc target/debug/modelc --out target/tflite-control \
        [--only NAMES]

Models (built here with onnx.helper, and by torch.onnx.export of a scripted loop):
  if_*      ONNX `If` (branches reading graph inputs and a constant of the main graph) ->
            TFLite IF with two subgraphs.
  loop_*    ONNX `Loop` (trip count and/or condition, carried values, the iteration number,
            values captured from the main graph, scan outputs) -> TFLite WHILE.
  lstm_state_*  an ONNX LSTM whose initial state is a graph input and whose Y_h / Y_c are
            outputs (streaming voice-activity / keyword models).
Each is checked three ways:
  ONNX -> TFLite          LiteRT on the .tflite vs onnxruntime on the .onnx, every output;
  TFLite -> ONNX          onnxruntime on the imported .onnx vs LiteRT on the .tflite;
  TFLite -> ONNX -> TFLite  LiteRT on the written-again .tflite vs LiteRT on the first.
TensorFlow-made files (testdata/make_tflite_control.py: tf.while_loop, tf.cond, a Keras
RNN(LSTMCell), which TensorFlow keeps as a WHILE loop): TFLite -> ONNX in onnxruntime vs
LiteRT, then back to TFLite (exact in LiteRT, or refused naming the node and the reason).
Refusals: a Loop whose body has an op without a TFLite form must be refused with a message
naming the Loop and that node.

Float: relative error max|y - ref| / max|ref| <= 1e-4 per output. Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

TOLERANCE = 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modelc_convert(modelc: str, src: str, dst: str) -> subprocess.CompletedProcess:
    return subprocess.run([modelc, "convert", src, dst], capture_output=True, text=True)


def convert(modelc: str, src: str, dst: str) -> None:
    r = modelc_convert(modelc, src, dst)
    if r.returncode != 0:
        raise RuntimeError(f"modelc convert {os.path.basename(src)} -> {os.path.basename(dst)}: {r.stderr.strip()}")


def ort_run(path: str, feeds: dict) -> dict:
    import onnxruntime as rt

    s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    want = {i.name for i in s.get_inputs()}
    ys = s.run(None, {k: v for k, v in feeds.items() if k in want})
    return dict(zip(names, ys))


def litert_run(path: str, feeds: dict) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    runner = it.get_signature_runner()
    want = set(runner.get_input_details())
    return {k: np.asarray(v) for k, v in runner(**{k: v for k, v in feeds.items() if k in want}).items()}


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    y, ref = np.asarray(y).astype(np.float64), np.asarray(ref).astype(np.float64)
    if y.size != ref.size:
        raise RuntimeError(f"output shape {y.shape} != {ref.shape}")
    y = y.reshape(ref.shape)
    if ref.size == 0:
        return 0.0
    return float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-12))


def compare(ys: dict, refs: dict) -> tuple[bool, str]:
    missing = sorted(set(refs) - set(ys))
    if missing:
        return False, f"outputs {missing} missing (got {sorted(ys)})"
    errs = {k: rel_err(ys[k], refs[k]) for k in refs}
    worst = max(errs.values())
    return worst <= TOLERANCE, ", ".join(f"{k} {e:.2e}" for k, e in errs.items())


def check(results: list, name: str, fn) -> None:
    try:
        ok, msg = fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
        ok, msg = False, f"error: {e}"
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg}", flush=True)


# ---------------------------------------------------------------------------- models

def save(graph, path: str, opset: int = 17) -> None:
    import onnx
    from onnx import helper

    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def const(name: str, arr: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(arr), name)


def if_model(path: str) -> dict:
    """y = c ? relu(x) * w + 1 : x - b ; also z = c ? x : -x (an output that is an input)."""
    from onnx import TensorProto as T, helper as h

    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    then = h.make_graph(
        [h.make_node("Relu", ["x"], ["r"]), h.make_node("Mul", ["r", "w"], ["m"]),
         h.make_node("Add", ["m", "one"], ["y_then"]), h.make_node("Identity", ["x"], ["z_then"])],
        "then", [], [h.make_tensor_value_info("y_then", T.FLOAT, [2, 3]),
                     h.make_tensor_value_info("z_then", T.FLOAT, [2, 3])],
        initializer=[const("one", np.float32(1.0))])
    els = h.make_graph(
        [h.make_node("Sub", ["x", "b"], ["y_else"]), h.make_node("Neg", ["x"], ["z_else"])],
        "else", [], [h.make_tensor_value_info("y_else", T.FLOAT, [2, 3]),
                     h.make_tensor_value_info("z_else", T.FLOAT, [2, 3])])
    g = h.make_graph(
        [h.make_node("If", ["c"], ["y", "z"], name="choose", then_branch=then, else_branch=els)],
        "if_model",
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3]), h.make_tensor_value_info("c", T.BOOL, []),
         h.make_tensor_value_info("b", T.FLOAT, [3])],
        [h.make_tensor_value_info("y", T.FLOAT, [2, 3]), h.make_tensor_value_info("z", T.FLOAT, [2, 3])],
        initializer=[const("w", w)])
    save(g, path)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    return [{"x": x, "c": np.array(True), "b": b}, {"x": x, "c": np.array(False), "b": b}]


def if_computed_model(path: str) -> dict:
    """The condition is computed (ReduceSum(x) > 0), the branches take a Softmax / Tanh."""
    from onnx import TensorProto as T, helper as h

    then = h.make_graph([h.make_node("Softmax", ["x"], ["a"], axis=-1)], "then", [],
                        [h.make_tensor_value_info("a", T.FLOAT, [4, 5])])
    els = h.make_graph([h.make_node("Tanh", ["x"], ["t"])], "else", [],
                       [h.make_tensor_value_info("t", T.FLOAT, [4, 5])])
    g = h.make_graph(
        [h.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         h.make_node("Greater", ["s", "zero"], ["c"]),
         h.make_node("If", ["c"], ["y"], name="branch", then_branch=then, else_branch=els)],
        "if_computed", [h.make_tensor_value_info("x", T.FLOAT, [4, 5])],
        [h.make_tensor_value_info("y", T.FLOAT, [4, 5])], initializer=[const("zero", np.float32(0))])
    save(g, path)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    return [{"x": np.abs(x)}, {"x": -np.abs(x)}]


def loop_model(path: str) -> dict:
    """for i < M while cond: s = s * 0.5 + x + float(i); cond = sum(s) < limit."""
    from onnx import TensorProto as T, helper as h

    body = h.make_graph(
        [h.make_node("Mul", ["s_in", "half"], ["s1"]), h.make_node("Add", ["s1", "x"], ["s2"]),
         h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT), h.make_node("Add", ["s2", "fi"], ["s_out"]),
         h.make_node("ReduceSum", ["s_out"], ["tot"], keepdims=0),
         h.make_node("Less", ["tot", "limit"], ["cond_out"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("s_in", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("s_out", T.FLOAT, [2, 3])],
        initializer=[const("half", np.float32(0.5))])
    g = h.make_graph(
        [h.make_node("Loop", ["M", "c0", "s0"], ["s"], name="iterate", body=body)],
        "loop_model",
        [h.make_tensor_value_info("M", T.INT64, []), h.make_tensor_value_info("c0", T.BOOL, []),
         h.make_tensor_value_info("s0", T.FLOAT, [2, 3]), h.make_tensor_value_info("x", T.FLOAT, [2, 3]),
         h.make_tensor_value_info("limit", T.FLOAT, [])],
        [h.make_tensor_value_info("s", T.FLOAT, [2, 3])])
    save(g, path)
    rng = np.random.default_rng(2)
    s0 = rng.standard_normal((2, 3)).astype(np.float32)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    feeds = {"s0": s0, "x": x, "c0": np.array(True)}
    return [dict(feeds, M=np.array(5, np.int64), limit=np.array(1e6, np.float32)),
            dict(feeds, M=np.array(50, np.int64), limit=np.array(40.0, np.float32)),
            dict(feeds, M=np.array(0, np.int64), limit=np.array(1e6, np.float32)),
            dict(feeds, M=np.array(5, np.int64), c0=np.array(False), limit=np.array(1e6, np.float32))]


def loop_for_model(path: str) -> dict:
    """A for loop (constant trip count, no condition input): h = tanh(h @ W + x)."""
    from onnx import TensorProto as T, helper as h

    rng = np.random.default_rng(3)
    w = (rng.standard_normal((4, 4)) * 0.5).astype(np.float32)
    body = h.make_graph(
        [h.make_node("MatMul", ["h_in", "W"], ["hw"]), h.make_node("Add", ["hw", "x"], ["pre"]),
         h.make_node("Tanh", ["pre"], ["h_out"]), h.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("h_in", T.FLOAT, [1, 4])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("h_out", T.FLOAT, [1, 4])])
    g = h.make_graph(
        [h.make_node("Loop", ["trip", "", "h0"], ["h"], name="recur", body=body)],
        "loop_for",
        [h.make_tensor_value_info("h0", T.FLOAT, [1, 4]), h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
        [h.make_tensor_value_info("h", T.FLOAT, [1, 4])],
        initializer=[const("trip", np.array(6, np.int64)), const("W", w)])
    save(g, path)
    return [{"h0": rng.standard_normal((1, 4)).astype(np.float32),
             "x": rng.standard_normal((1, 4)).astype(np.float32)}]


def loop_scan_model(path: str) -> dict:
    """A Loop with scan outputs (stacked per-iteration values): s += x * i, stacking s and
    s * 2 (TFLite: carried tensors grown by CONCATENATION)."""
    from onnx import TensorProto as T, helper as h

    body = h.make_graph(
        [h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT), h.make_node("Mul", ["x", "fi"], ["xi"]),
         h.make_node("Add", ["s_in", "xi"], ["s_out"]), h.make_node("Identity", ["s_out"], ["scan"]),
         h.make_node("Add", ["s_out", "s_out"], ["scan2"]),
         h.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("s_in", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("s_out", T.FLOAT, [2, 3]),
         h.make_tensor_value_info("scan", T.FLOAT, [2, 3]), h.make_tensor_value_info("scan2", T.FLOAT, [2, 3])])
    g = h.make_graph(
        [h.make_node("Loop", ["M", "", "x"], ["s", "stacked", "stacked2"], name="stacker", body=body)],
        "loop_scan",
        [h.make_tensor_value_info("M", T.INT64, []), h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("s", T.FLOAT, [2, 3]),
         h.make_tensor_value_info("stacked", T.FLOAT, [None, 2, 3]),
         h.make_tensor_value_info("stacked2", T.FLOAT, [None, 2, 3])])
    save(g, path)
    x = np.random.default_rng(8).standard_normal((2, 3)).astype(np.float32)
    # (Not M = 0: LiteRT's Python API cannot read back the empty stacked output, "Invalid
    # tensor size".)
    return [{"M": np.array(4, np.int64), "x": x}, {"M": np.array(1, np.int64), "x": x}]


def loop_unsupported_model(path: str) -> None:
    """A Loop whose body has an op without a TFLite form: refused, naming both nodes."""
    from onnx import TensorProto as T, helper as h

    body = h.make_graph(
        [h.make_node("Det", ["s_in"], ["d"], name="determinant"),
         h.make_node("Mul", ["s_in", "d"], ["s_out"]),
         h.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("s_in", T.FLOAT, [3, 3])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("s_out", T.FLOAT, [3, 3])])
    g = h.make_graph(
        [h.make_node("Loop", ["trip", "", "x"], ["s"], name="scaler", body=body)],
        "loop_unsupported", [h.make_tensor_value_info("x", T.FLOAT, [3, 3])],
        [h.make_tensor_value_info("s", T.FLOAT, [3, 3])],
        initializer=[const("trip", np.array(2, np.int64))])
    save(g, path)


def scripted_loop_model(path: str) -> dict:
    """torch.onnx.export of a scripted module whose forward has a data-dependent while loop."""
    import torch

    class Halve(torch.nn.Module):
        def forward(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            y = x
            i = 0
            while i < int(n):
                y = torch.sigmoid(y * 2.0 - 1.0)
                i += 1
            return y

    m = torch.jit.script(Halve())
    x = torch.randn(2, 5)
    n = torch.tensor(3)
    torch.onnx.export(m, (x, n), path, opset_version=17, dynamo=False,
                      input_names=["x", "n"], output_names=["y"])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5)).astype(np.float32)
    return [{"x": x, "n": np.array(3, np.int64)}, {"x": x, "n": np.array(0, np.int64)},
            {"x": x, "n": np.array(7, np.int64)}]


def lstm_state_torch_model(path: str) -> dict:
    """nn.LSTM with the state as inputs and the new state as outputs (streaming)."""
    import torch

    torch.manual_seed(0)

    class Stream(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16)

        def forward(self, x, h0, c0):
            y, (h, c) = self.lstm(x, (h0, c0))
            return y, h, c

    args = (torch.randn(4, 1, 8), torch.randn(1, 1, 16), torch.randn(1, 1, 16))
    torch.onnx.export(Stream().eval(), args, path, opset_version=17, dynamo=False,
                      input_names=["x", "h0", "c0"], output_names=["y", "hn", "cn"])
    rng = np.random.default_rng(5)
    return [{"x": rng.standard_normal((4, 1, 8)).astype(np.float32),
             "h0": rng.standard_normal((1, 1, 16)).astype(np.float32),
             "c0": rng.standard_normal((1, 1, 16)).astype(np.float32)}]


def lstm_state_vad_model(path: str) -> dict:
    """silero-vad style: one LSTMCell step, the state one [2, batch, hidden] input and one
    output (h and c stacked), the output a Sigmoid of a linear head."""
    import torch

    torch.manual_seed(1)

    class Vad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = torch.nn.LSTMCell(32, 24)
            self.head = torch.nn.Linear(24, 1)

        def forward(self, x, state):
            h, c = self.cell(x, (state[0], state[1]))
            return torch.sigmoid(self.head(h)), torch.stack([h, c])

    args = (torch.randn(1, 32), torch.zeros(2, 1, 24))
    torch.onnx.export(Vad().eval(), args, path, opset_version=17, dynamo=False,
                      input_names=["x", "state"], output_names=["prob", "new_state"])
    rng = np.random.default_rng(6)
    return [{"x": rng.standard_normal((1, 32)).astype(np.float32),
             "state": rng.standard_normal((2, 1, 24)).astype(np.float32)},
            {"x": rng.standard_normal((1, 32)).astype(np.float32),
             "state": np.zeros((2, 1, 24), np.float32)}]


def lstm_state_hand_model(path: str) -> dict:
    """A bidirectional ONNX LSTM with peepholes and clip, state in, Y / Y_h / Y_c out."""
    from onnx import TensorProto as T, helper as h

    seq, batch, inp, hid, d = 5, 2, 3, 4, 2
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((d, 4 * hid, inp)) * 0.7).astype(np.float32)
    r = (rng.standard_normal((d, 4 * hid, hid)) * 0.7).astype(np.float32)
    b = (rng.standard_normal((d, 8 * hid)) * 0.3).astype(np.float32)
    p = (rng.standard_normal((d, 3 * hid)) * 0.3).astype(np.float32)
    g = h.make_graph(
        [h.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0", "P"], ["y", "yh", "yc"],
                     name="bilstm", hidden_size=hid, direction="bidirectional", clip=1.5)],
        "lstm_hand",
        [h.make_tensor_value_info("x", T.FLOAT, [seq, batch, inp]),
         h.make_tensor_value_info("h0", T.FLOAT, [d, batch, hid]),
         h.make_tensor_value_info("c0", T.FLOAT, [d, batch, hid])],
        [h.make_tensor_value_info("y", T.FLOAT, [seq, d, batch, hid]),
         h.make_tensor_value_info("yh", T.FLOAT, [d, batch, hid]),
         h.make_tensor_value_info("yc", T.FLOAT, [d, batch, hid])],
        initializer=[const("W", w), const("R", r), const("B", b), const("P", p)])
    save(g, path)
    return [{"x": rng.standard_normal((seq, batch, inp)).astype(np.float32) * 2,
             "h0": rng.standard_normal((d, batch, hid)).astype(np.float32),
             "c0": rng.standard_normal((d, batch, hid)).astype(np.float32)}]


MODELS = {
    "if_inputs": if_model,
    "if_computed": if_computed_model,
    "loop_while": loop_model,
    "loop_for": loop_for_model,
    "loop_scripted": scripted_loop_model,
    "loop_scan": loop_scan_model,
    "lstm_state_torch": lstm_state_torch_model,
    "lstm_state_vad": lstm_state_vad_model,
    "lstm_state_hand": lstm_state_hand_model,
}


# ---------------------------------------------------------------------------- checks

def model_cases(modelc: str, out: str, results: list, only) -> None:
    for name, make in MODELS.items():
        if only and name not in only:
            continue
        src = os.path.join(out, f"{name}.onnx")
        tfl = os.path.join(out, f"{name}.tflite")
        back = os.path.join(out, f"{name}.from_tflite.onnx")
        again = os.path.join(out, f"{name}.again.tflite")
        try:
            feeds_list = make(src)
        except Exception as e:  # noqa: BLE001
            check(results, f"{name}: build", lambda e=e: (False, f"{e}"))
            continue

        def onnx_to_tflite():
            convert(modelc, src, tfl)
            msgs = []
            ok = True
            for feeds in feeds_list:
                good, msg = compare(litert_run(tfl, feeds), ort_run(src, feeds))
                ok &= good
                msgs.append(msg)
            return ok, " | ".join(msgs)

        check(results, f"{name}: ONNX -> TFLite (LiteRT vs onnxruntime)", onnx_to_tflite)
        if not os.path.exists(tfl):
            continue

        def tflite_to_onnx():
            convert(modelc, tfl, back)
            ok, msgs = True, []
            for feeds in feeds_list:
                good, msg = compare(ort_run(back, feeds), litert_run(tfl, feeds))
                ok &= good
                msgs.append(msg)
            return ok, " | ".join(msgs)

        check(results, f"{name}: TFLite -> ONNX (onnxruntime vs LiteRT)", tflite_to_onnx)
        if not os.path.exists(back):
            continue

        def onnx_to_tflite_again():
            convert(modelc, back, again)
            ok, msgs = True, []
            for feeds in feeds_list:
                good, msg = compare(litert_run(again, feeds), litert_run(tfl, feeds))
                ok &= good
                msgs.append(msg)
            return ok, " | ".join(msgs)

        check(results, f"{name}: TFLite -> ONNX -> TFLite (LiteRT vs LiteRT)", onnx_to_tflite_again)


TF_MADE = ["tf_while", "tf_cond", "keras_rnn_lstm"]


def litert_by_order(path: str, feeds: dict) -> list:
    """Outputs in order, for files without a signature (made from concrete functions)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]].astype(d["dtype"]))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def ort_by_order(path: str, feeds: dict) -> list:
    import onnxruntime as rt

    s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: feeds[i.name] for i in s.get_inputs()})


def tf_made(modelc: str, out: str, results: list, only) -> None:
    """TFLite files TensorFlow's converter wrote (testdata/make_tflite_control.py): IF and
    WHILE as TensorFlow forms them (a Keras RNN(LSTMCell) is a WHILE with TensorList
    updates as run-time SLICEs)."""
    for name in TF_MADE:
        if only and name not in only:
            continue
        src = os.path.join(ROOT, "testdata", "tflite", "control", f"{name}.tflite")
        feeds = dict(np.load(os.path.join(ROOT, "testdata", "tflite", "control", f"{name}.inputs.npz")))
        onx = os.path.join(out, f"{name}.onnx")
        again = os.path.join(out, f"{name}.again.tflite")
        if os.path.exists(again):
            os.remove(again)

        def by_order(ys, refs):
            errs = [rel_err(y, r) for y, r in zip(ys, refs)]
            ok = len(ys) == len(refs) and max(errs) <= TOLERANCE
            return ok, ", ".join(f"{e:.2e}" for e in errs)

        def to_onnx():
            convert(modelc, src, onx)
            return by_order(ort_by_order(onx, feeds), litert_by_order(src, feeds))

        check(results, f"{name} (TensorFlow-made): TFLite -> ONNX (onnxruntime vs LiteRT)", to_onnx)

        def back():
            # Exact in LiteRT, or refused with the node and the reason (the Keras RNN's
            # run-time Slices need TFLite's run-time shape tensors); never a wrong file.
            r = modelc_convert(modelc, onx, again)
            if r.returncode != 0:
                msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
                named = "no TFLite form:" in msg and "(" in msg and not os.path.exists(again)
                return named, f"refused: {msg[-200:]}"
            return by_order(litert_by_order(again, feeds), litert_by_order(src, feeds))

        check(results, f"{name} (TensorFlow-made): TFLite -> ONNX -> TFLite (LiteRT vs LiteRT)", back)


def refusals(modelc: str, out: str, results: list, only) -> None:
    if only and "loop_unsupported" not in only:
        return
    src = os.path.join(out, "loop_unsupported.onnx")
    dst = os.path.join(out, "loop_unsupported.tflite")

    def refused():
        loop_unsupported_model(src)
        if os.path.exists(dst):
            os.remove(dst)
        r = modelc_convert(modelc, src, dst)
        msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        ok = (r.returncode != 0 and "scaler" in msg and "determinant" in msg
              and not os.path.exists(dst))
        return ok, msg

    check(results, "loop_unsupported: refused for TFLite, naming the Loop and the body node", refused)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    results: list = []
    model_cases(a.modelc, a.out, results, a.only)
    tf_made(a.modelc, a.out, results, a.only)
    refusals(a.modelc, a.out, results, a.only)
    print(f"tflite control flow: {sum(results)} of {len(results)} passed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
