"""`.pt2` models: torchvision CNNs, a transformer encoder and an LSTM exported with
`torch.export.export` (dynamic batch where the model allows, `Dim("batch")`), saved with
`torch.export.save`, converted by modelc to ONNX (run in onnxruntime) and to TFLite (run in
LiteRT), beside `torch.onnx.export(dynamo=True)` on the same ExportedProgram; every result is
compared with torch's eager output (1e-4 of the output range, tests/aten_suite.compare) on
inputs of a batch size other than the one exported with, so the dynamic dim is exercised.

    python tests/pt2_models.py --modelc target/debug/modelc [--out DIR] [--only a,b]

Prints one line per model and tool, then `pt2 models: pt2->ONNX N of M, pt2->TFLite N of M,
torch.onnx.export(dynamo) N of M`; writes OUT/report.json. Exits 1 when modelc crashes or
writes an ONNX file onnxruntime refuses or a result that differs from torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aten_suite as A  # noqa: E402


def models():
    """name -> (module, example inputs, run inputs, dynamic_shapes or None)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=64)
    out = {}
    for name, ctor in [("resnet18", torchvision.models.resnet18),
                       ("mobilenet_v2", torchvision.models.mobilenet_v2),
                       ("efficientnet_b0", torchvision.models.efficientnet_b0)]:
        torch.manual_seed(0)
        m = ctor().eval()
        out[name] = (m, (torch.randn(2, 3, 64, 64),), (torch.randn(3, 3, 64, 64),), {"x": {0: batch}})

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
            self.enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

        def forward(self, x):
            return self.enc(x)

    torch.manual_seed(0)
    out["transformer_encoder"] = (Encoder().eval(), (torch.randn(2, 10, 64),), (torch.randn(3, 10, 64),),
                                  {"x": {0: batch}})

    class Lstm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(16, 32, num_layers=2, batch_first=True)
            self.fc = torch.nn.Linear(32, 4)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])

    torch.manual_seed(0)
    out["lstm"] = (Lstm().eval(), (torch.randn(2, 7, 16),), (torch.randn(3, 7, 16),), {"x": {0: batch}})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modelc", required=True)
    ap.add_argument("--out", default=os.path.join(A.ROOT, "target", "pt2-models"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    os.makedirs(a.out, exist_ok=True)
    modelc = os.path.abspath(a.modelc)
    only = set(a.only.split(",")) if a.only else None
    report = {}
    for name, (m, example, xs, dyn) in models().items():
        if only and name not in only:
            continue
        rec = {}
        with torch.no_grad():
            refs = A.outputs_of(m(*xs))
            try:
                ep = torch.export.export(m, example, dynamic_shapes=dyn)
            except Exception as e:  # noqa: BLE001 - a model torch.export cannot take with a dynamic batch
                print(f"{name}: dynamic batch refused by torch.export ({str(e).splitlines()[0][:120]}); static")
                ep = torch.export.export(m, xs)
        pt2 = os.path.join(a.out, f"{name}.pt2")
        torch.export.save(ep, pt2)
        # TFLite keeps torch's NCHW at the inputs and outputs, so the same inputs feed it.
        for tool, ext, run, flags in [("pt2_onnx", "onnx", A.ort_run, ()),
                                      ("pt2_tflite", "tflite", A.litert_run, ("--keep-io-layout",))]:
            dst = os.path.join(a.out, f"{name}.{ext}")
            t0 = time.time()
            r = A.run_modelc(modelc, pt2, dst, *flags) or A.judge(run(dst, list(xs)), refs)
            rec[tool] = list(r) + [round(time.time() - t0, 2)]
        dst = os.path.join(a.out, f"{name}.dynamo.onnx")
        t0 = time.time()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(ep, example, dst, dynamo=True, verbose=False, optimize=True)
            r = A.judge(A.ort_run(dst, list(xs)), refs)
        except Exception as e:  # noqa: BLE001 - the exporter declining
            r = ("refused", str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__)
        rec["dynamo_onnx"] = list(r) + [round(time.time() - t0, 2)]
        report[name] = rec
        print(f"{name:22s} " + "  ".join(f"{A.TOOL_TITLES.get(t, t)}:{v[0]} {v[1][:100]}".strip()
                                         for t, v in rec.items()), flush=True)
    A.TOOL_TITLES.update({"pt2_onnx": "pt2->ONNX", "pt2_tflite": "pt2->TFLite",
                          "dynamo_onnx": "torch.onnx.export(dynamo)"})
    tools = ("pt2_onnx", "pt2_tflite", "dynamo_onnx")
    line = ", ".join(f"{A.TOOL_TITLES[t]} {sum(r[t][0] == 'pass' for r in report.values())} of {len(report)}"
                     for t in tools)
    print(f"pt2 models: {line}")
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    bad = [f"{n}: {t} {r[t][0]}: {r[t][1]}" for n, r in report.items() for t in ("pt2_onnx",)
           if r[t][0] in ("crash", "invalid", "wrong")]
    bad += [f"{n}: pt2_tflite {r['pt2_tflite'][0]}: {r['pt2_tflite'][1]}" for n, r in report.items()
            if r["pt2_tflite"][0] == "crash"]
    for b in bad:
        print(f"FAIL {b}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
