# Fusion passes on real models: exports torch models (seeded, weights=None), runs
# `modelc optimize -O2`, checks which patterns were fused and that onnxruntime gives the
# original's outputs on the optimized model (1e-4 relative).
# Usage: python tests/fuse_models.py MODELC_BINARY OUT_DIR (crates/modelc/tests/fuse_models.rs runs it).
import collections, math, os, subprocess, sys
import numpy as np, onnx, onnx.version_converter, onnxruntime as ort, torch, torchvision

modelc, out_dir = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
failures = []

def ops(path):
    return collections.Counter(n.op_type for n in onnx.load(path).graph.node)

def run(path, feeds):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)

def export(name, model, args, opset, training=torch.onnx.TrainingMode.EVAL, folding=True):
    src = os.path.join(out_dir, f"{name}.onnx")
    torch.onnx.export(model.eval(), args, src, dynamo=False, opset_version=opset,
                      training=training, do_constant_folding=folding)
    return src

def verify(name, src, args, expect):
    dst = os.path.join(out_dir, f"{name}.opt.onnx")
    r = subprocess.run([modelc, "optimize", "-O2", src, dst], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{name}: modelc optimize failed: {r.stderr.strip()}")
        return None
    before, after = ops(src), ops(dst)
    print(f"{name}: {sum(before.values())} -> {sum(after.values())} nodes; "
          f"before {dict(sorted(before.items()))}; after {dict(sorted(after.items()))}")
    for op, want in expect.items():
        if after.get(op, 0) != want:
            failures.append(f"{name}: {after.get(op, 0)} {op} after optimize, expected {want}")
    feeds = {i.name: a.numpy() for i, a in zip(onnx.load(src).graph.input, args)}
    for i, (a, b) in enumerate(zip(run(src, feeds), run(dst, feeds))):
        err = np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-3))
        if not np.allclose(b, a, rtol=1e-4, atol=1e-5):
            failures.append(f"{name}: output {i} differs from onnxruntime on the original "
                            f"(max relative {err:.3g})")
    return before, after

def check(name, model, args, opset, expect, **kw):
    return verify(name, export(name, model, args, opset, **kw), args, expect)

def opset23(name, src, args, expect):
    """torch's exporter stops at opset 20: onnx's version converter lifts the export to 23,
    where Attention (and RMSNormalization) exist."""
    m = onnx.version_converter.convert_version(onnx.load(src), 23)
    dst = os.path.join(out_dir, f"{name}.onnx")
    onnx.save(m, dst)
    return verify(name, dst, args, expect)

# ResNet-18 with its BatchNormalization nodes kept by the exporter (TrainingMode.PRESERVE
# on an eval model writes inference BN; the default export folds them itself).
resnet = torchvision.models.resnet18(weights=None)
image = torch.randn(1, 3, 224, 224)
with torch.no_grad():
    for m in resnet.modules():  # non-trivial statistics, so a wrong fold would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
b, a = check("resnet18_bn", resnet, (image,), 17,
             {"BatchNormalization": 0, "Conv": 20, "Gemm": 1},
             training=torch.onnx.TrainingMode.PRESERVE, folding=False) or ({}, {})
# Untouched initialization: every BN has the same statistics, which duplicate-constant
# sharing merges before the fusions run; they must fold all the same.
check("resnet18_bn_init", torchvision.models.resnet18(weights=None), (image,), 17,
      {"BatchNormalization": 0, "Conv": 20},
      training=torch.onnx.TrainingMode.PRESERVE, folding=False)
if b and b.get("BatchNormalization", 0) != 20:
    failures.append(f"resnet18_bn: export has {b.get('BatchNormalization', 0)} BN, expected 20")

# A transformer block written by hand, as BERT/GPT-2/LLaMA code does: LayerNorm and RMSNorm
# from reductions, GELU in erf and tanh forms, attention from MatMul/Softmax/MatMul.
class HandLayerNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = torch.nn.Parameter(torch.rand(d) + 0.5)
        self.b = torch.nn.Parameter(torch.rand(d) - 0.5)
    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        s = (x - u).pow(2).mean(-1, keepdim=True)
        return self.w * ((x - u) / torch.sqrt(s + 1e-12)) + self.b

class HandRMSNorm(torch.nn.Module):  # as LLaMA code writes it
    def __init__(self, d):
        super().__init__()
        self.w = torch.nn.Parameter(torch.rand(d) + 0.5)
    def forward(self, x):
        return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

class HandBlock(torch.nn.Module):
    def __init__(self, d=64, heads=4):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = HandLayerNorm(d), HandLayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.fc1, self.fc2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)
        self.fc3 = torch.nn.Linear(d, d)
        self.rms = HandRMSNorm(d)
    def forward(self, x):
        n, t, d = x.shape
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(d, dim=-1)
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.proj(y)
        h = self.fc1(self.ln2(x))
        h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))
        x = x + self.fc2(h)
        g = self.fc3(x)
        x = x + 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * torch.pow(g, 3))))
        return self.rms(x)

tokens = torch.randn(2, 10, 64)
block = HandBlock()
src = export("hand_block_opset20", block, (tokens,), 20)
verify("hand_block_opset20", src, (tokens,),
       {"LayerNormalization": 2, "Gelu": 2, "Erf": 0, "Tanh": 0, "Softmax": 1,
        "RMSNormalization": 0, "ReduceMean": 1})
opset23("hand_block_opset23", src, (tokens,),
        {"LayerNormalization": 2, "Gelu": 2, "Attention": 1, "Softmax": 0,
         "RMSNormalization": 1, "ReduceMean": 0})
# Opset 17 has LayerNormalization but no Gelu: the GELUs stay decomposed.
check("hand_block_opset17", HandBlock(), (tokens,), 17,
      {"LayerNormalization": 2, "Gelu": 0, "Erf": 1, "Tanh": 1})

# torch's own modules: nn.TransformerEncoder (exported with fused LayerNormalization) and
# nn.MultiheadAttention; optimize must keep them correct.
layer = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True, activation="gelu")
enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
check("transformer_encoder", enc, (tokens,), 17, {"LayerNormalization": 4})
mha = torch.nn.MultiheadAttention(64, 4, batch_first=True)
class Mha(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = mha
    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]
src = export("multihead_attention", Mha(), (tokens,), 17)
verify("multihead_attention", src, (tokens,), {"Softmax": 1})
opset23("multihead_attention_opset23", src, (tokens,), {"Attention": 1, "Softmax": 0})

# ONNX's own function bodies: the node suite's `*_expanded` cases of the ops these passes
# produce are the decomposed forms spelled by the ONNX spec itself. Each must keep its
# outputs through -O2; the GELU and RMSNorm bodies must fuse back into one op. (float32
# cases only: the 1e-4 tolerance is below float16's resolution.)
import warnings
warnings.simplefilter("ignore")
from onnx.backend.test.case import node as node_cases

so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
fused_cases, checked, not_run = collections.Counter(), 0, 0
for case in node_cases.collect_testcases():
    name = case.name
    if "_expanded" not in name or "16" in name:
        continue
    family = next((k for k in ("gelu", "layer_norm", "rms_norm", "attention") if k in name), None)
    if family is None or not case.data_sets:
        continue
    src = os.path.join(out_dir, f"{name}.onnx")
    dst = os.path.join(out_dir, f"{name}.opt.onnx")
    onnx.save(case.model, src)
    r = subprocess.run([modelc, "optimize", "-O2", src, dst], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{name}: modelc optimize failed: {r.stderr.strip()}")
        continue
    inputs = case.data_sets[0][0]
    try:
        s0 = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        feeds = {i.name: x for i, x in zip(s0.get_inputs(), inputs)}
        want = s0.run(None, feeds)
    except Exception:  # onnxruntime lacks the case's ops: nothing to compare against
        not_run += 1
        continue
    try:
        got = ort.InferenceSession(dst, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    except Exception as e:
        failures.append(f"{name}: onnxruntime rejects the optimized model: {str(e)[:300]}")
        continue
    checked += 1
    for i, (a, b) in enumerate(zip(want, got)):
        if not np.allclose(b, a, rtol=1e-4, atol=1e-5, equal_nan=True):
            failures.append(f"{name}: output {i} differs from onnxruntime on the original")
    after = ops(dst)
    for op in ("Gelu", "LayerNormalization", "RMSNormalization", "Attention"):
        if after.get(op, 0) > ops(src).get(op, 0):
            fused_cases[op] += 1
print(f"node_suite_expanded: {checked} cases checked ({not_run} not run by onnxruntime); "
      f"fused: {dict(sorted(fused_cases.items()))}")
if checked < 100:
    failures.append(f"node_suite_expanded: only {checked} cases checked")
for op, want in (("Gelu", 4), ("RMSNormalization", 7)):
    if fused_cases[op] != want:
        failures.append(f"node_suite_expanded: {fused_cases[op]} cases fused to {op}, expected {want}")

for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
