"""modelc: convert, inspect, optimize, quantize, run and verify neural-network models.

ONNX, TFLite and TorchScript files are read into one graph IR and written back in any of
the three formats, by the same code as the ``modelc`` command line::

    import modelc

    modelc.convert("model.onnx", "model.tflite")          # = modelc convert model.onnx model.tflite
    model = modelc.load("model.onnx")                    # or bytes, or an onnx.ModelProto
    small = model.optimize(level=2)
    q, report = small.quantize(mode="int8", calibration=[{"x": x} for x in images])
    q.save("model-int8.onnx")
    print(modelc.verify(small, q)["outputs"])
    print(modelc.check("model-int8.tflite", target="ethos-u55-128")["summary"])

Errors are ``modelc.ModelcError`` subclasses whose message is the CLI's one-line message.
``python -m modelc ...`` runs the command line.
"""

from ._modelc import (
    ModelcError,
    Model,
    OptionError,
    ReadError,
    RunError,
    TransformError,
    WriteError,
    __version__,
    convert,
    load,
    main,
    passes,
    check,
    compress,
    targets,
    verify,
)

__all__ = [
    "Model",
    "ModelcError",
    "OptionError",
    "ReadError",
    "RunError",
    "TransformError",
    "WriteError",
    "__version__",
    "convert",
    "load",
    "main",
    "passes",
    "check",
    "compress",
    "targets",
    "verify",
]
