"""The cases of a format's two-way op table, shared by the runtime harnesses that check them
(tests/tflite_interop.py --table, tests/torchscript_export.py --table).

A manifest (JSON, written by the format crate's tests/table.rs from its table) lists one
case per row: `name`, the IR (= ONNX) `op` with its `attrs`, the input element types
`inputs`, the `output` type, the `shape` of every input, and the `file` modelc wrote from
a one-node graph of the op. Here: the ONNX form of the same op, seeded inputs inside the
op's domain, onnxruntime's output, and the comparison (float outputs within `TOLERANCE`
of the largest |reference|, others equal).
"""

from __future__ import annotations

import json

import numpy as np

TOLERANCE = 1e-4


def load(manifest: str) -> list[dict]:
    with open(manifest) as f:
        return json.load(f)


def inputs(case: dict) -> list[np.ndarray]:
    """Seeded inputs inside the op's domain: positive for Log / Sqrt / Pow's base, divisors
    away from zero, halves for Round (ties go to even), small integers for comparisons and
    Max / Min (so that some are equal), (-1, 1) for Asin / Acos / Atanh, at least 1 for
    Acosh, some NaNs for IsNaN and infinities for IsInf."""
    op, shape = case["op"], case["shape"]
    rng = np.random.default_rng(0)
    xs = []
    for i, d in enumerate(case["inputs"]):
        if d == "bool":
            xs.append(rng.random(shape) < 0.5)
            continue
        x = rng.standard_normal(shape) * 2
        if op in ("Log", "Sqrt") or (op == "Pow" and i == 0):
            x = np.abs(x) + 0.1
        elif op == "Div" and i == 1:
            x = np.sign(x) * (np.abs(x) + 0.5)
        elif op == "Round":
            x = rng.integers(-8, 9, shape) / 2
        elif op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Max", "Min"):
            x = rng.integers(-2, 3, shape).astype(np.float64)
        elif op in ("Asin", "Acos", "Atanh"):
            x = rng.uniform(-0.95, 0.95, shape)
        elif op == "Acosh":
            x = np.abs(x) + 1
        elif op == "IsNaN":
            x[rng.random(shape) < 0.3] = np.nan
        elif op == "IsInf":
            x[rng.random(shape) < 0.2] = np.inf
            x[rng.random(shape) < 0.2] = -np.inf
        xs.append(x.astype(d))
    return xs


def onnxruntime_output(case: dict, path: str, xs: list[np.ndarray]) -> np.ndarray:
    """Saves the one-node ONNX model of the case's op (opset 21) at `path` and runs it."""
    import onnx
    import onnxruntime as rt
    from onnx import helper

    names = [f"x{i}" for i in range(len(case["inputs"]))]

    def tp(d):
        return helper.np_dtype_to_tensor_dtype(np.dtype(d))

    ins = [helper.make_tensor_value_info(n, tp(d), case["shape"]) for n, d in zip(names, case["inputs"])]
    node = helper.make_node(case["op"], names, ["y"], **case["attrs"])
    g = helper.make_graph([node], case["name"], ins, [helper.make_tensor_value_info("y", tp(case["output"]), None)])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), path)
    s = rt.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, dict(zip(names, xs)))[0]


def compare(y: np.ndarray, ref: np.ndarray) -> tuple[bool, str]:
    if y.dtype != ref.dtype or y.shape != ref.shape:
        return False, f"{y.dtype}{list(y.shape)} vs onnxruntime's {ref.dtype}{list(ref.shape)}"
    if ref.dtype == np.bool_:
        wrong = int((y != ref).sum())
        return wrong == 0, f"{wrong} of {ref.size} differ"
    y64, ref64 = y.astype(np.float64), ref.astype(np.float64)
    err = float(np.abs(y64 - ref64).max() / max(np.abs(ref64).max(), 1e-12))
    return err <= TOLERANCE, f"rel err {err:.2e}"
