"""The modelc Python package, installed from its wheel, on real models: every function,
with outputs compared against onnxruntime, LiteRT and torch (never against numbers modelc
made itself), errors against the CLI's messages, and the package's speed bounds."""

import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import modelc


def ort_run(path_or_bytes, feeds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes),
        opts,
        providers=["CPUExecutionProvider"],
    )
    return sess.run(None, feeds)


def litert_run(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def close(got, want, rel=1e-4):
    """Within `rel` of the reference's range (the interop suites' tolerance)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(float(np.abs(want).max()), 1e-6)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.abs(got - want).max())
    assert err <= rel * scale, f"max abs error {err:.3e} over {rel:.0e} of {scale:.3e}"


def image(shape=(1, 3, 8, 8), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- the README's example, verbatim ----------------------------------------------------


def readme_python_example(root):
    text = (root / "README.md").read_text()
    section = text.split("## Using it from Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README: no ```python block in the Python section"
    return blocks[0]


def test_readme_example_runs_as_written(root, tiny_cnn, tmp_path, monkeypatch):
    shutil.copy(tiny_cnn, tmp_path / "model.onnx")
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_python_example(root), "README.md", "exec"), {})
    # What it wrote runs in the real runtimes like the original.
    x = image()
    want = ort_run(tmp_path / "model.onnx", {"image": x})[0]
    close(litert_run(tmp_path / "model.tflite", x.transpose(0, 2, 3, 1)), want)
    # int8, calibrated on uniform [0, 1) inputs, on one more such input.
    x = np.random.default_rng(5).random((1, 3, 8, 8), dtype=np.float32)
    want = ort_run(tmp_path / "model.onnx", {"image": x})[0]
    q = ort_run(tmp_path / "model-int8.onnx", {"image": x})[0]
    assert np.abs(q - want).max() < 0.02, np.abs(q - want).max()
    # The NPU model is all int8 and runs in LiteRT.
    from ai_edge_litert.interpreter import Interpreter

    npu = Interpreter(model_path=str(tmp_path / "model-npu.tflite"))
    npu.allocate_tensors()
    assert npu.get_input_details()[0]["dtype"] == np.int8


# --- load, graph access, text, inspect -------------------------------------------------


def test_graph_access_matches_onnx(tiny_cnn):
    proto = onnx.load(str(tiny_cnn))
    model = modelc.load(tiny_cnn)
    assert model.format == "ONNX"
    assert model.inputs == [{"name": "image", "dtype": "float32", "shape": ["N", 3, 8, 8]}]
    assert [o["name"] for o in model.outputs] == [o.name for o in proto.graph.output]
    assert [n["op"] for n in model.nodes] == [n.op_type for n in proto.graph.node]
    for ours, theirs in zip(model.nodes, proto.graph.node):
        assert ours["inputs"] == list(theirs.input)
        assert ours["outputs"] == list(theirs.output)
        for a in theirs.attribute:
            want = onnx.helper.get_attribute_value(a)
            got = ours["attrs"][a.name]
            assert got == (want.decode() if isinstance(want, bytes) else want) or np.allclose(got, want)
    conv = next(n for n in model.nodes if n["op"] == "Conv")
    assert conv["layout"] == "NCHW" and conv["domain"] == ""
    consts = model.constants
    for init in proto.graph.initializer:
        np.testing.assert_array_equal(consts[init.name], onnx.numpy_helper.to_array(init))


def test_constants_view_the_models_memory(testdata):
    # ResNet-50's weights are memory-mapped from the file: the arrays point into the map
    # (the same address every time, no owned copy) and cannot be written.
    model = modelc.load(testdata / "resnet50.onnx")
    a = model.constants
    b = model.constants
    name = max(a, key=lambda k: a[k].nbytes)
    assert a[name].nbytes > 1_000_000
    assert not a[name].flags.owndata and not a[name].flags.writeable
    assert a[name].__array_interface__["data"][0] == b[name].__array_interface__["data"][0]
    with pytest.raises(ValueError):
        a[name][...] = 0
    proto = onnx.load(str(testdata / "resnet50.onnx"))
    init = next(i for i in proto.graph.initializer if i.name == name)
    np.testing.assert_array_equal(a[name], onnx.numpy_helper.to_array(init))


def test_text_and_inspect_are_the_clis(tiny_cnn, cli):
    model = modelc.load(tiny_cnn)
    dump = subprocess.run([cli, "dump", tiny_cnn], capture_output=True, text=True, check=True)
    assert model.text() == dump.stdout
    inspect = subprocess.run(
        [cli, "inspect", "--json", tiny_cnn], capture_output=True, text=True, check=True
    )
    import json

    assert model.inspect() == json.loads(inspect.stdout)
    assert "const f32" in model.text(full=True) and len(model.text(full=True)) > len(dump.stdout)


def test_onnx_bytes_and_modelproto_round_trip(tiny_cnn):
    proto = onnx.load(str(tiny_cnn))
    x = image()
    want = ort_run(tiny_cnn, {"image": x})[0]
    for source in (proto, proto.SerializeToString(), tiny_cnn.read_bytes()):
        model = modelc.load(source)
        data = model.to_onnx_bytes()
        onnx.checker.check_model(onnx.load_from_string(data))
        np.testing.assert_array_equal(ort_run(data, {"image": x})[0], want)


def test_load_tflite_and_torchscript_bytes(root):
    data = (root / "testdata/tflite/small_cnn_float.tflite").read_bytes()
    model = modelc.load(data)
    assert model.format == "TFLite"
    x = np.load(root / "testdata/tflite/small_cnn_float.input.npy")
    got = model.run({model.inputs[0]["name"]: x})
    close(next(iter(got.values())), np.load(root / "testdata/tflite/small_cnn_float.output.npy"))
    pt = (root / "testdata/torchscript/resblock_traced/model.pt").read_bytes()
    assert modelc.load(pt, format="torchscript").format == "TorchScript"


# --- run --------------------------------------------------------------------------------


def test_run_matches_onnxruntime_and_returns_views(testdata):
    model = modelc.load(testdata / "resnet50.onnx")
    name = model.inputs[0]["name"]
    x = image((1, 3, 224, 224))
    out = model.run({name: x})
    (want,) = ort_run(testdata / "resnet50.onnx", {name: x})
    got = out[model.outputs[0]["name"]]
    close(got, want)
    # A view of the interpreter's result, not a copy: numpy does not own it.
    assert not got.flags.owndata and not got.flags.writeable
    assert got.base is not None


@pytest.mark.parametrize("case", ["resblock_traced", "cnn_bn_scripted", "lstm_traced"])
def test_run_matches_torch(root, case):
    d = root / "testdata/torchscript" / case
    model = modelc.load(d / "model.pt")
    x = np.load(d / "input_0.npy")
    got = model.run({model.inputs[0]["name"]: x})
    close(list(got.values())[0], np.load(d / "output_0.npy"))


def test_run_matches_litert_int8(root):
    model = modelc.load(root / "testdata/tflite/mobilenet_v2_int8.tflite")
    x = np.load(root / "testdata/tflite/mobilenet_v2_int8.input.npy")
    want = np.load(root / "testdata/tflite/mobilenet_v2_int8.output.npy")
    got = list(model.run({model.inputs[0]["name"]: x}).values())[0]
    assert got.dtype == np.int8 and got.shape == want.shape
    # LiteRT's integer kernels round differently: one quantization step at most.
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


# --- convert, optimize, save ------------------------------------------------------------


def test_convert_takes_the_clis_options(tiny_cnn, tmp_path):
    x = image()
    want = ort_run(tiny_cnn, {"image": x})[0]
    out = tmp_path / "m.tflite"
    modelc.convert(tiny_cnn, out, keep_io_layout=True, input_shapes={"image": [1, 3, 8, 8]})
    close(litert_run(out, x), want)  # NCHW kept at the boundary
    onnx_out = tmp_path / "m13.onnx"
    modelc.convert(str(tiny_cnn), str(onnx_out), opset=13, level=2)
    proto = onnx.load(str(onnx_out))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [13]
    close(ort_run(onnx_out, {"image": x})[0], want)


def test_torchscript_to_onnx_matches_torch(root, tmp_path):
    d = root / "testdata/torchscript/resblock_traced"
    modelc.convert(d / "model.pt", tmp_path / "m.onnx")
    x = np.load(d / "input_0.npy")
    sess_in = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].name
    close(ort_run(tmp_path / "m.onnx", {sess_in: x})[0], np.load(d / "output_0.npy"))


def test_optimize_and_save(testdata, tmp_path):
    model = modelc.load(testdata / "resnet50.onnx")
    name = model.inputs[0]["name"]
    opt = model.optimize(level=2, input_shapes={name: [1, 3, 224, 224]})
    assert len(opt.nodes) <= len(model.nodes)
    assert opt.inputs[0]["shape"] == [1, 3, 224, 224]
    opt.save(tmp_path / "opt.onnx", external_data="always")
    assert (tmp_path / "opt.onnx.data").stat().st_size > 90_000_000
    x = image((1, 3, 224, 224))
    close(ort_run(tmp_path / "opt.onnx", {name: x})[0], ort_run(testdata / "resnet50.onnx", {name: x})[0])
    fixed = model.optimize(passes=["identity", "dce"])
    assert len(fixed.nodes) == len(model.nodes)


# --- quantize ---------------------------------------------------------------------------


def test_quantize_with_numpy_calibration_runs_in_onnxruntime(testdata, tmp_path):
    model = modelc.load(testdata / "resnet50.onnx")
    name = model.inputs[0]["name"]
    rng = np.random.default_rng(1)
    calibration = [{name: rng.standard_normal((1, 3, 224, 224), dtype=np.float32)} for _ in range(4)]
    q, report = model.quantize(mode="int8", calibration=calibration, method="minmax")
    assert report["calibration_inputs"] == 4
    path = tmp_path / "q.onnx"
    q.save(path)
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert path.stat().st_size < (testdata / "resnet50.onnx").stat().st_size / 3
    x = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
    (want,) = ort_run(testdata / "resnet50.onnx", {name: x})
    (got,) = ort_run(path, {name: x})
    cos = float(np.dot(got.ravel(), want.ravel()) / np.linalg.norm(got) / np.linalg.norm(want))
    assert cos > 0.98, cos
    # A batch in one array is as many samples.
    _, report = model.quantize(calibration=[{name: np.concatenate([c[name] for c in calibration])}], mode="fp16")
    assert report is not None


def test_quantize_refuses_bad_calibration(tiny_cnn):
    model = modelc.load(tiny_cnn)
    with pytest.raises(modelc.OptionError, match=r"calibration\[0\]: the model has no input `x`"):
        model.quantize(calibration=[{"x": image()}])
    with pytest.raises(modelc.OptionError, match=r"calibration\[1\]: no array for input `image`"):
        model.quantize(calibration=[{"image": image()}, {}])
    with pytest.raises(modelc.OptionError, match="static int8 needs calibration"):
        model.quantize(mode="int8")
    with pytest.raises(modelc.OptionError, match="unknown --mode `int3`"):
        model.quantize(mode="int3", calibration=[{"image": image()}])
    with pytest.raises(modelc.OptionError, match="--no-such-option"):
        model.quantize(calibration=[{"image": image()}], no_such_option=1)


# --- targets and check -----------------------------------------------------------------


def test_targets_and_check_are_the_clis(tiny_cnn, tmp_path, cli):
    import json

    listed = json.loads(
        subprocess.run([cli, "targets", "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert modelc.targets() == listed
    names = [t["target"]["name"] for t in modelc.targets()]
    assert {"cpu", "ethos-u55-128", "tflm"} <= set(names)
    # A float model on an integer-only NPU: the same placements as `modelc check --json`
    # (exit 1: not everything lands), judged on the .tflite modelc writes for it.
    float_tflite = tmp_path / "float.tflite"
    modelc.convert(tiny_cnn, float_tflite, dims={"N": 1})
    done = subprocess.run(
        [cli, "check", float_tflite, "--target", "ethos-u55-128", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    report = modelc.check(float_tflite, target="ethos-u55-128")
    want = json.loads(done.stdout)
    assert not report["ok"] and report["accelerated"] < report["total"]
    assert {k: report[k] for k in want} == want
    # The model in memory is judged like its file.
    in_memory = modelc.check(modelc.load(float_tflite), target="ethos-u55-128")
    assert in_memory["nodes"] == report["nodes"]
    assert modelc.check(tiny_cnn, target="cpu")["ok"]
    with pytest.raises(modelc.OptionError, match="no-such-npu"):
        modelc.check(tiny_cnn, target="no-such-npu")


def test_quantize_for_a_target_lands_on_it(tiny_cnn, tmp_path, cli):
    # `target=` lowers as `modelc quantize --target` does: int8 inputs and outputs, so the
    # whole model lands on the NPU; checked by the CLI on the written file, and run in LiteRT.
    model = modelc.load(tiny_cnn)
    rng = np.random.default_rng(3)
    calibration = [{"image": rng.random((1, 3, 8, 8), dtype=np.float32)} for _ in range(8)]
    q, _ = model.quantize(
        calibration=calibration, format="tflite", target="ethos-u55-128", dims={"N": 1}
    )
    path = tmp_path / "npu.tflite"
    q.save(path)
    subprocess.run([cli, "check", path, "--target", "ethos-u55-128"], check=True, capture_output=True)
    assert modelc.check(path, target="ethos-u55-128")["ok"]
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    x = rng.random((1, 3, 8, 8), dtype=np.float32)
    s, z = inp["quantization"]
    interp.set_tensor(inp["index"], np.clip(np.round(x.transpose(0, 2, 3, 1) / s) + z, -128, 127).astype(np.int8))
    interp.invoke()
    s, z = out["quantization"]
    got = (interp.get_tensor(out["index"]).astype(np.float32) - z) * s
    (want,) = ort_run(tiny_cnn, {"image": x})
    assert np.abs(got.reshape(want.shape) - want).max() < 0.05, np.abs(got.reshape(want.shape) - want).max()
    with pytest.raises(modelc.OptionError, match="no-such-npu"):
        model.quantize(calibration=calibration, target="no-such-npu")


# --- compress ---------------------------------------------------------------------------


def low_rank_mlp(path):
    """x[1, 64] -> MatMul by a rank-4 (plus 1e-4 noise) 64x64 weight -> Relu: a layer a
    truncated SVD shrinks, as trained projections often are."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((64, 4)) @ rng.standard_normal((4, 64)) / 4).astype(np.float32)
    w += 1e-4 * rng.standard_normal((64, 64)).astype(np.float32)
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("MatMul", ["x", "w"], ["y"]), h.make_node("Relu", ["y"], ["out"])],
        "mlp",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [h.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 64])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), str(path))


def test_compress_is_the_clis_and_runs_in_onnxruntime(tmp_path, cli):
    import json

    src = tmp_path / "mlp.onnx"
    low_rank_mlp(src)
    options = dict(rank_energy=0.999, calibration_random=4, max_error=0.001)
    report = modelc.compress(src, tmp_path / "small.onnx", **options)
    assert report["factorized"] and report["factorized"][0]["rank"] <= 8, report["factorized"]
    assert report["weight_bytes_after"] < report["weight_bytes_before"] / 3
    done = subprocess.run(
        [cli, "compress", src, tmp_path / "cli.onnx", "--rank-energy", "0.999",
         "--calibration-random", "4", "--max-error", "0.001", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert report == json.loads(done.stdout)
    x = image((1, 64), seed=3)
    (want,) = ort_run(src, {"x": x})
    (got,) = ort_run(tmp_path / "small.onnx", {"x": x})
    cos = float(np.dot(got.ravel(), want.ravel()) / np.linalg.norm(got) / np.linalg.norm(want))
    assert cos > 0.999, cos
    # A budget nothing meets: the CLI's message, no file.
    with pytest.raises(modelc.ModelcError, match="exceeds --max-error"):
        modelc.compress(src, tmp_path / "no.onnx", rank_energy=0.5, calibration_random=4, max_error=1e-9)
    assert not (tmp_path / "no.onnx").exists()
    with pytest.raises(modelc.OptionError, match="--no-such-option"):
        modelc.compress(src, tmp_path / "no.onnx", no_such_option=1)


# --- verify -----------------------------------------------------------------------------


def test_verify(tiny_cnn, tmp_path):
    modelc.convert(tiny_cnn, tmp_path / "m.tflite", input_shapes={"image": [1, 3, 8, 8]})
    report = modelc.verify(tiny_cnn, tmp_path / "m.tflite", dims={"N": 1})
    assert report["ok"] and "transposed" in report["inputs"]
    assert report["outputs"][0]["name"] == "probs" and report["outputs"][0]["cosine"] > 0.9999
    q, _ = modelc.load(tiny_cnn).quantize(mode="fp16", dims={"N": 1})
    report = modelc.verify(tiny_cnn, q, inputs={"image": image()}, rtol=0, atol=1e-9)
    assert not report["ok"] and 0 < report["outputs"][0]["max_abs"] < 0.01


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["truncated.onnx", "garbage.onnx", "huge_dims.onnx", "escape_external/model.onnx"])
def test_errors_carry_the_clis_line(root, cli, bad, tmp_path):
    path = root / "testdata/bad" / bad
    proc = subprocess.run([cli, "convert", path, tmp_path / "o.onnx"], capture_output=True, text=True)
    assert proc.returncode == 1
    line = proc.stderr.strip().removeprefix("modelc: error: ")
    with pytest.raises(modelc.ReadError) as e:
        modelc.convert(path, tmp_path / "o.onnx")
    assert str(e.value) == line
    assert isinstance(e.value, modelc.ModelcError)
    assert not (tmp_path / "o.onnx").exists()


def test_error_kinds(tiny_cnn, tmp_path):
    with pytest.raises(modelc.WriteError, match="cannot tell the format"):
        modelc.convert(tiny_cnn, tmp_path / "m.xyz")
    with pytest.raises(modelc.WriteError, match="refusing to overwrite"):
        modelc.convert(tiny_cnn, tiny_cnn)
    with pytest.raises(modelc.OptionError, match="--bogus"):
        modelc.convert(tiny_cnn, tmp_path / "m.onnx", bogus=True)
    with pytest.raises(modelc.TransformError):
        modelc.load(tiny_cnn).optimize(passes="no-such-pass")
    with pytest.raises(modelc.RunError):
        modelc.load(tiny_cnn).run({"image": np.zeros((1, 2, 8, 8), np.float32)})
    with pytest.raises(modelc.ReadError):
        modelc.load(b"not a model")


# --- CLI, docs, typing ------------------------------------------------------------------


def test_python_m_modelc_is_the_cli(cli, tiny_cnn):
    ours = subprocess.run([sys.executable, "-m", "modelc", "inspect", tiny_cnn], capture_output=True, text=True)
    theirs = subprocess.run([cli, "inspect", tiny_cnn], capture_output=True, text=True)
    assert (ours.returncode, ours.stdout) == (0, theirs.stdout)
    bad = subprocess.run([sys.executable, "-m", "modelc", "inspect", "missing.onnx"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("modelc: error: missing.onnx")
    assert modelc.main(["modelc", "--version"]) == 0


def test_help_explains_with_examples():
    import pydoc

    text = pydoc.render_doc(modelc.convert, renderer=pydoc.plaintext)
    for word in ("keep_io_layout", "input_shapes", "level", ">>> modelc.convert("):
        assert word in text
    for f in (modelc.load, modelc.verify, modelc.Model.quantize, modelc.Model.optimize, modelc.Model.run, modelc.Model.save):
        assert ">>>" in f.__doc__, f


def test_stub_covers_the_module():
    stub = pathlib.Path(modelc.__file__).with_name("_modelc.pyi").read_text()
    assert pathlib.Path(modelc.__file__).with_name("py.typed").exists()
    for name in modelc.__all__:
        assert re.search(rf"\b{name}\b", stub), name
    for name in dir(modelc.Model):
        if not name.startswith("_"):
            assert f"def {name}(" in stub, name


# --- speed --------------------------------------------------------------------------------


def test_import_is_under_100ms():
    code = "import time; t = time.perf_counter(); import modelc; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(5)]
    print(f"\nimport modelc: median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms")
    assert statistics.median(times) < 0.1


def test_gil_is_released_during_conversion(testdata, tmp_path):
    ticks = 0
    done = threading.Event()

    def work():
        modelc.convert(testdata / "resnet50.onnx", tmp_path / "r.tflite")
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    assert ticks > 20, ticks


def test_resnet50_conversion_time_is_the_clis(testdata, cli, tmp_path):
    src = testdata / "resnet50.onnx"
    cli_times, py_times = [], []
    for i in range(5):
        out = tmp_path / f"c{i}.tflite"
        t = time.perf_counter()
        subprocess.run([cli, "convert", src, out], check=True)
        cli_times.append(time.perf_counter() - t)
        out.unlink()
        out = tmp_path / f"p{i}.tflite"
        t = time.perf_counter()
        modelc.convert(src, out)
        py_times.append(time.perf_counter() - t)
        out.unlink()
    c, p = statistics.median(cli_times), statistics.median(py_times)
    print(f"\nResNet-50 .onnx -> .tflite: CLI median {c:.3f} s, Python median {p:.3f} s ({p / c:.2f}x), 5 runs each")
    assert p <= 1.10 * c
