"""modelc check against Arm's Vela compiler, node by node.

For each model (small hand-made TFLite files, each made to break one documented Ethos-U
constraint or to pass, plus the committed TFLite test models and any given with --model),
runs `vela --show-cpu-operations` (ethos-u-vela 5.2.0, installed by `cargo xtask
targets-env`) and `modelc check --target T --json`, and compares where each operator lands
(matched by its first output tensor's name, which Vela prints for every CPU and NPU
operator):

- modelc must never place an operator on the NPU that Vela puts on the CPU (fatal);
- for the hand-made models, each case also says which operator must fall back and which
  must stay on the NPU, and both tools must agree with that;
- an operator modelc sends to the CPU that Vela runs on the NPU is counted and printed
  (modelc is more cautious than the compiler there), and fails the run for hand-made models.

Run: PYTHONPATH=target/targets-site target/pyenv/bin/python tests/targets_vendor.py \
        --modelc target/debug/modelc [--out DIR] [--model FILE ...]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import flatbuffers
import numpy as np
from ethosu.vela import tflite as fb  # Vela's own flatbuffers bindings of the TFLite schema
from ethosu.vela.tflite import BuiltinOperator as BO
from ethosu.vela.tflite import BuiltinOptions as BOPT
from ethosu.vela.tflite import TensorType as TT

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["ethos-u55-128", "ethos-u65-256"]
NP_TYPE = {TT.TensorType.INT8: np.int8, TT.TensorType.INT16: np.int16, TT.TensorType.INT32: np.int32,
           TT.TensorType.FLOAT32: np.float32, TT.TensorType.UINT8: np.uint8, TT.TensorType.INT64: np.int64}


def mod(name):
    __import__(f"ethosu.vela.tflite.{name}")
    return getattr(fb, name)


class Net:
    """A one-subgraph TFLite model built tensor by tensor, operator by operator."""

    def __init__(self):
        self.tensors = []  # dicts
        self.buffers = [None]
        self.ops = []
        self.codes = []

    def tensor(self, name, shape, dtype=TT.TensorType.INT8, data=None, scale=0.05, zp=0, axis=None,
               signature=None):
        buf = 0
        if data is not None:
            self.buffers.append(np.asarray(data, dtype=NP_TYPE[dtype]).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append(dict(name=name, shape=list(shape), dtype=dtype, buffer=buf, scale=scale,
                                 zp=zp, axis=axis, signature=signature))
        return len(self.tensors) - 1

    def const(self, name, values, dtype, **kw):
        values = np.asarray(values)
        return self.tensor(name, values.shape, dtype, data=values, **kw)

    def op(self, code, inputs, outputs, options=None):
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), inputs, outputs, options))

    def build(self, inputs, outputs):
        b = flatbuffers.Builder(1024)

        def vec(start, items, kind):
            start(b, len(items))
            for x in reversed(items):
                getattr(b, kind)(x)
            return b.EndVector()

        def table(name, **fields):
            m = mod(name)
            getattr(m, f"{name}Start")(b)
            for k, v in fields.items():
                getattr(m, f"{name}Add{k}")(b, v)
            return getattr(m, f"{name}End")(b)

        bufs = []
        for data in self.buffers:
            if data is None:
                bufs.append(table("Buffer"))
            else:
                b.StartVector(1, len(data), 16)
                for x in reversed(data):
                    b.PrependUint8(x)
                d = b.EndVector()
                bufs.append(table("Buffer", Data=d))
        tens = []
        for t in self.tensors:
            name = b.CreateString(t["name"])
            shape = vec(mod("Tensor").TensorStartShapeVector, t["shape"], "PrependInt32")
            sig = None
            if t["signature"] is not None:
                sig = vec(mod("Tensor").TensorStartShapeSignatureVector, t["signature"], "PrependInt32")
            q = None
            if t["scale"] is not None and t["dtype"] != TT.TensorType.FLOAT32:
                scales = t["scale"] if isinstance(t["scale"], list) else [t["scale"]]
                zps = t["zp"] if isinstance(t["zp"], list) else [t["zp"]] * len(scales)
                sv = vec(mod("QuantizationParameters").QuantizationParametersStartScaleVector, scales, "PrependFloat32")
                zv = vec(mod("QuantizationParameters").QuantizationParametersStartZeroPointVector, zps, "PrependInt64")
                q = table("QuantizationParameters", Scale=sv, ZeroPoint=zv, QuantizedDimension=t["axis"] or 0)
            fields = dict(Shape=shape, Type=t["dtype"], Buffer=t["buffer"], Name=name)
            if q is not None:
                fields["Quantization"] = q
            if sig is not None:
                fields["ShapeSignature"] = sig
            tens.append(table("Tensor", **fields))
        ops = []
        for code, ins, outs, options in self.ops:
            iv = vec(mod("Operator").OperatorStartInputsVector, ins, "PrependInt32")
            ov = vec(mod("Operator").OperatorStartOutputsVector, outs, "PrependInt32")
            fields = dict(OpcodeIndex=code, Inputs=iv, Outputs=ov)
            if options is not None:
                kind, name, opts = options
                fields["BuiltinOptionsType"] = kind
                fields["BuiltinOptions"] = table(name, **opts)
            ops.append(table("Operator", **fields))
        codes = [table("OperatorCode", DeprecatedBuiltinCode=min(c, 127), BuiltinCode=c, Version=1)
                 for c in self.codes]
        sg = table("SubGraph",
                   Tensors=vec(mod("SubGraph").SubGraphStartTensorsVector, tens, "PrependUOffsetTRelative"),
                   Inputs=vec(mod("SubGraph").SubGraphStartInputsVector, inputs, "PrependInt32"),
                   Outputs=vec(mod("SubGraph").SubGraphStartOutputsVector, outputs, "PrependInt32"),
                   Operators=vec(mod("SubGraph").SubGraphStartOperatorsVector, ops, "PrependUOffsetTRelative"))
        model = table("Model", Version=3,
                      OperatorCodes=vec(mod("Model").ModelStartOperatorCodesVector, codes, "PrependUOffsetTRelative"),
                      Subgraphs=vec(mod("Model").ModelStartSubgraphsVector, [sg], "PrependUOffsetTRelative"),
                      Buffers=vec(mod("Model").ModelStartBuffersVector, bufs, "PrependUOffsetTRelative"))
        b.Finish(model, file_identifier=b"TFL3")
        return bytes(b.Output())


# ------------------------------------------------------------------ hand-made cases

I8, I16, I32, F32 = TT.TensorType.INT8, TT.TensorType.INT16, TT.TensorType.INT32, TT.TensorType.FLOAT32
rng = np.random.default_rng(0)


def conv_opts(kind="Conv2D", stride=(1, 1), padding=0, dilation=(1, 1), **extra):
    name = f"{kind}Options"
    fields = dict(Padding=padding, StrideH=stride[0], StrideW=stride[1],
                  DilationHFactor=dilation[0], DilationWFactor=dilation[1], **extra)
    enum = {"Conv2D": BOPT.BuiltinOptions.Conv2DOptions,
            "DepthwiseConv2D": BOPT.BuiltinOptions.DepthwiseConv2DOptions}[kind]
    return (enum, name, fields)


def conv(stride=(1, 1), padding=0, depthwise=False, weight_type=I8, bias_const=True, hw=16):
    n = Net()
    c = 8
    x = n.tensor("x", [1, hw, hw, c])
    if depthwise:
        w = n.const("w", rng.integers(-127, 127, (1, 3, 3, c)), weight_type, scale=[0.01] * c, zp=[0] * c, axis=3)
    else:
        w = n.const("w", rng.integers(-127, 127, (c, 3, 3, c)), weight_type, scale=[0.01] * c, zp=[0] * c, axis=0)
    if bias_const:
        bias = n.const("b", np.zeros(c), I32, scale=[0.0005] * c, zp=[0] * c)
    else:
        bias = n.tensor("b", [c], I32, scale=0.0005)
    oh = -(-hw // stride[0]) if padding == 0 else (hw - 3) // stride[0] + 1
    ow = -(-hw // stride[1]) if padding == 0 else (hw - 3) // stride[1] + 1
    y = n.tensor("y", [1, oh, ow, c])
    if depthwise:
        n.op(BO.BuiltinOperator.DEPTHWISE_CONV_2D, [x, w, bias], [y],
             conv_opts("DepthwiseConv2D", stride, padding, DepthMultiplier=1))
    else:
        n.op(BO.BuiltinOperator.CONV_2D, [x, w, bias], [y], conv_opts("Conv2D", stride, padding))
    ins = [x] if bias_const else [x, bias]
    return n.build(ins, [y])


def pool(kind, k, padding, stride=(1, 1), hw=16, c=4):
    """Padding 0 is SAME, 1 VALID (the schema's enum)."""
    n = Net()
    h, w = max(hw, k[0]), max(hw, k[1])
    x = n.tensor("x", [1, h, w, c])
    if padding == 0:
        oh, ow = -(-h // stride[0]), -(-w // stride[1])
    else:
        oh, ow = (h - k[0]) // stride[0] + 1, (w - k[1]) // stride[1] + 1
    y = n.tensor("y", [1, oh, ow, c])
    code = {"avg": BO.BuiltinOperator.AVERAGE_POOL_2D, "max": BO.BuiltinOperator.MAX_POOL_2D}[kind]
    n.op(code, [x], [y], (BOPT.BuiltinOptions.Pool2DOptions, "Pool2DOptions",
                          dict(Padding=padding, StrideH=stride[0], StrideW=stride[1],
                               FilterHeight=k[0], FilterWidth=k[1])))
    return n.build([x], [y])


def elementwise(code, shape, dtype=I8, scales=(0.05, 0.05, 0.05), options=None):
    n = Net()
    a = n.tensor("a", shape, dtype, scale=scales[0])
    b = n.tensor("b", shape, dtype, scale=scales[1])
    y = n.tensor("y", shape, dtype, scale=scales[2])
    n.op(code, [a, b], [y], options)
    return n.build([a, b], [y])


def unary(code, shape, dtype=I8, out_dtype=None, options=None):
    n = Net()
    x = n.tensor("x", shape, dtype)
    y = n.tensor("y", shape, out_dtype or dtype, scale=1 / 256 if code == BO.BuiltinOperator.SOFTMAX else 0.05,
                 zp=-128 if code == BO.BuiltinOperator.SOFTMAX and (out_dtype or dtype) == I8 else 0)
    n.op(code, [x], [y], options)
    return n.build([x], [y])


def mean(shape, axes):
    n = Net()
    x = n.tensor("x", shape)
    a = n.const("axes", axes, I32, scale=None)
    out = [1 if i in axes else d for i, d in enumerate(shape)]
    y = n.tensor("y", out)
    n.op(BO.BuiltinOperator.MEAN, [x, a], [y], (BOPT.BuiltinOptions.ReducerOptions, "ReducerOptions",
                                                dict(KeepDims=True)))
    return n.build([x], [y])


def arg_max(shape, axis):
    n = Net()
    x = n.tensor("x", shape)
    a = n.const("axis", [axis], I32, scale=None)
    out = [d for i, d in enumerate(shape) if i != axis]
    y = n.tensor("y", out, I32, scale=None)
    n.op(BO.BuiltinOperator.ARG_MAX, [x, a], [y], (BOPT.BuiltinOptions.ArgMaxOptions, "ArgMaxOptions",
                                                   dict(OutputType=I32)))
    return n.build([x], [y])


def pad():
    n = Net()
    x = n.tensor("x", [1, 8, 8, 4])
    p = n.const("p", [[0, 0], [1, 1], [1, 1], [0, 0]], I32, scale=None)
    y = n.tensor("y", [1, 10, 10, 4])
    n.op(BO.BuiltinOperator.PAD, [x, p], [y])
    return n.build([x], [y])


def dequantize():
    n = Net()
    x = n.tensor("x", [1, 8, 8, 4])
    y = n.tensor("y", [1, 8, 8, 4], F32, scale=None)
    n.op(BO.BuiltinOperator.DEQUANTIZE, [x], [y])
    return n.build([x], [y])


ADD = BO.BuiltinOperator.ADD
add_opts = (BOPT.BuiltinOptions.AddOptions, "AddOptions", dict())
max_ = BO.BuiltinOperator.MAXIMUM

# name -> (model bytes, True if the operator `y` must run on the NPU)
CASES = {
    "conv_pass": (lambda: conv(), True),
    "conv_stride4_valid_pass": (lambda: conv(stride=(4, 4), padding=1), True),
    # Vela compiles stride 4 with SAME padding (the document says > 3 needs VALID), not 5.
    "conv_stride4_same_pass": (lambda: conv(stride=(4, 4), padding=0), True),
    "conv_stride5_same": (lambda: conv(stride=(5, 5), padding=0), False),
    "conv_int16_weights": (lambda: conv(weight_type=I16), False),
    "conv_bias_not_const": (lambda: conv(bias_const=False), False),
    "depthwise_pass": (lambda: conv(depthwise=True), True),
    "depthwise_stride4": (lambda: conv(stride=(4, 4), padding=1, depthwise=True), False),
    "avgpool_9x9_valid_pass": (lambda: pool("avg", (9, 9), 1), True),
    "avgpool_9x9_same": (lambda: pool("avg", (9, 9), 0), False),
    "maxpool_3x3_stride2_pass": (lambda: pool("max", (3, 3), 0, stride=(2, 2)), True),
    "maxpool_kernel_h257": (lambda: pool("max", (257, 1), 1), False),
    "add_pass": (lambda: elementwise(ADD, [1, 8, 8, 4], options=add_opts), True),
    "add_float": (lambda: elementwise(ADD, [1, 8, 8, 4], dtype=F32, options=add_opts), False),
    # Vela runs element-wise ops of rank 5 and 6 on the NPU: no rank limit in the target.
    "add_rank5_pass": (lambda: elementwise(ADD, [1, 2, 4, 4, 4], options=add_opts), True),
    "add_rank6_pass": (lambda: elementwise(ADD, [1, 2, 2, 4, 4, 4], options=add_opts), True),
    "maximum_pass": (lambda: elementwise(max_, [1, 8, 8, 4]), True),
    "maximum_mixed_quant": (lambda: elementwise(max_, [1, 8, 8, 4], scales=(0.05, 0.1, 0.05)), False),
    "elu_int16": (lambda: unary(BO.BuiltinOperator.ELU, [1, 8, 8, 4], dtype=I16), False),
    "elu_int8_pass": (lambda: unary(BO.BuiltinOperator.ELU, [1, 8, 8, 4]), True),
    "softmax_pass": (lambda: unary(BO.BuiltinOperator.SOFTMAX, [1, 4, 4, 10], options=(
        BOPT.BuiltinOptions.SoftmaxOptions, "SoftmaxOptions", dict(Beta=1.0))), True),
    "softmax_hw_65536_pass": (lambda: unary(BO.BuiltinOperator.SOFTMAX, [1, 256, 256, 2], options=(
        BOPT.BuiltinOptions.SoftmaxOptions, "SoftmaxOptions", dict(Beta=1.0))), True),
    "softmax_hw_262144": (lambda: unary(BO.BuiltinOperator.SOFTMAX, [1, 512, 512, 2], options=(
        BOPT.BuiltinOptions.SoftmaxOptions, "SoftmaxOptions", dict(Beta=1.0))), False),
    "mean_pass": (lambda: mean([1, 8, 8, 16], [1, 2]), True),
    "mean_batch2": (lambda: mean([2, 8, 8, 16], [1, 2]), False),
    "mean_axis_4096_pass": (lambda: mean([1, 4096, 1, 4], [1]), True),
    "mean_axis_5000": (lambda: mean([1, 5000, 1, 4], [1]), False),
    "argmax_depth_pass": (lambda: arg_max([1, 4, 4, 16], 3), True),
    "argmax_axis1": (lambda: arg_max([1, 4, 4, 16], 1), False),
    "argmax_depth_128": (lambda: arg_max([1, 4, 4, 128], 3), False),
    "pad_pass": (lambda: pad(), True),
    "dequantize": (lambda: dequantize(), False),
}

# ------------------------------------------------------------------ the two judges

LINE = re.compile(r"^\s+(CPU|NPU): (\S+) = (.*) \(outputs \[")


def vela(model, target, out):
    """({output name: {"CPU", "NPU"}}, CPU operator count), Vela's output. Vela 5.2.0's
    per-operator listing crashes on some models (a KeyError in stats_writer for an ARG_MAX):
    then the compile is repeated without it and only the count is known."""
    def run(listing):
        proc = subprocess.run([sys.executable, "-m", "ethosu.vela", "--accelerator-config", target,
                               *(["--show-cpu-operations"] if listing else []),
                               "--output-dir", str(out), str(model)],
                              capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr
    code, text = run(True)
    if code != 0:
        code, text = run(False)
    if code != 0:
        return None, text
    placed = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            placed.setdefault(m.group(3), set()).add(m.group(1))
    cpu = re.search(r"CPU operators = (\d+)", text)
    return (placed, int(cpu.group(1)) if cpu else None), text


def modelc_check(modelc, model, target):
    proc = subprocess.run([modelc, "check", str(model), "--target", target, "--json"],
                          capture_output=True, text=True, timeout=600)
    if not proc.stdout.strip():
        return None, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def compare(name, model, target, modelc, out, expect_npu):
    """Returns (errors, cautious) for one model on one target."""
    errors, cautious = [], []
    verdict, vtext = vela(model, target, out)
    report, merr = modelc_check(modelc, model, target)
    if report is None:
        return [f"{name}: modelc check failed: {merr.strip()}"], []
    if verdict is None:
        return [f"{name}: vela failed: {vtext.strip().splitlines()[-1:]}"], []
    placed, vela_cpu = verdict
    ours = {n["node"]: n for n in report["nodes"]}
    for node, n in ours.items():
        where = placed.get(node)
        if n["accelerator"] and where and "CPU" in where:
            errors.append(f"{name}: `{node}` ({n['op']}): modelc says NPU, Vela puts it on the CPU")
        if not n["accelerator"] and where == {"NPU"}:
            cautious.append(f"{name}: `{node}` ({n['op']}): modelc says CPU ({n['reason']}), Vela runs it on the NPU")
    unmatched_cpu = [k for k, v in placed.items() if "CPU" in v and k not in ours]
    if unmatched_cpu and report["accelerated"] == report["total"]:
        errors.append(f"{name}: Vela puts {unmatched_cpu} on the CPU, modelc says all on the NPU")
    fallback = report["total"] - report["accelerated"]
    if vela_cpu is not None and vela_cpu > 0 and fallback == 0:
        errors.append(f"{name}: Vela reports CPU operators = {vela_cpu}, modelc none")
    if expect_npu is not None:
        y = ours.get("y")
        vy = placed.get("y")
        if vy is None and vela_cpu is not None and len(ours) == 1:
            vy = {"CPU"} if vela_cpu else {"NPU"}  # a one-operator model: the count says
        vy = vy or set()
        if y is None:
            errors.append(f"{name}: modelc reports no operator `y`")
        elif y["accelerator"] != expect_npu:
            errors.append(f"{name}: modelc places `y` on the {'NPU' if y['accelerator'] else 'CPU'} "
                          f"({y.get('reason')}), the case expects the {'NPU' if expect_npu else 'CPU'}")
        if expect_npu and vy != {"NPU"}:
            errors.append(f"{name}: the case expects Vela to run `y` on the NPU, it says {sorted(vy)}")
        if not expect_npu and "CPU" not in vy:
            errors.append(f"{name}: the case expects Vela to put `y` on the CPU, it says {sorted(vy)}")
    return errors, cautious, report, vela_cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=str(ROOT / "target/targets-vendor"))
    ap.add_argument("--model", action="append", default=[], help="more .tflite models to compare")
    ap.add_argument("--targets", default=",".join(TARGETS))
    args = ap.parse_args()
    out = Path(args.out)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    models = []
    for name, (make, expect) in CASES.items():
        p = out / "cases" / f"{name}.tflite"
        p.write_bytes(make())
        models.append((name, p, expect))
    for p in sorted((ROOT / "testdata/tflite").glob("*.tflite")) + [Path(m) for m in args.model]:
        models.append((p.stem, p, None))
    errors, cautious, rows = [], [], []
    for target in args.targets.split(","):
        for name, p, expect in models:
            with tempfile.TemporaryDirectory() as tmp:
                res = compare(name, p, target, args.modelc, tmp, expect)
            if len(res) == 2:
                errors += [f"[{target}] {e}" for e in res[0]]
                rows.append((target, name, "-", "-", "error"))
                continue
            e, c, report, vela_cpu = res
            errors += [f"[{target}] {x}" for x in e]
            cautious += [f"[{target}] {x}" for x in c]
            rows.append((target, name, f"{report['accelerated']}/{report['total']}",
                         "?" if vela_cpu is None else str(vela_cpu), "FAIL" if e else "ok"))
    print(f"{'target':<14} {'model':<28} {'modelc NPU':>10} {'Vela CPU ops':>12}  verdict")
    for r in rows:
        print(f"{r[0]:<14} {r[1]:<28} {r[2]:>10} {r[3]:>12}  {r[4]}")
    for c in cautious:
        print("cautious:", c)
    for e in errors:
        print("DISAGREE:", e)
    summary = {"models": len(models), "targets": args.targets.split(","), "errors": errors, "cautious": cautious,
               "rows": rows}
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    print(f"targets vendor: {len(rows) - sum(1 for r in rows if r[4] != 'ok')} of {len(rows)} model x target "
          f"pairs agree with Vela; {len(cautious)} ops where modelc is more cautious")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
