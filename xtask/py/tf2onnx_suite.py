"""Converts every .tflite of a directory with tf2onnx, in one process (TensorFlow loads once):

    python xtask/py/tf2onnx_suite.py SRC_DIR OUT_DIR

What `python -m tf2onnx.convert --tflite SRC/x.tflite --output OUT/x.onnx --opset 18` does, per
file; a failure leaves OUT/x.err with the error (and no OUT/x.onnx). Run by `cargo xtask
tflite-suite` with target/tfenv's Python, as the peer tests/tflite_op_suite.py scores.
"""

import glob
import logging
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tf2onnx  # noqa: E402
from tf2onnx import convert  # noqa: E402

OPSET = 18


def main() -> int:
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    logging.disable(logging.WARNING)
    files = sorted(glob.glob(os.path.join(src, "*.tflite")))
    ok = 0
    for path in files:
        name = os.path.basename(path)[: -len(".tflite")]
        dst, err = os.path.join(out, f"{name}.onnx"), os.path.join(out, f"{name}.err")
        for stale in (dst, err):
            if os.path.exists(stale):
                os.remove(stale)
        try:
            convert.from_tflite(path, opset=OPSET, output_path=dst)
            ok += 1
        except Exception:  # tf2onnx raises many kinds; each is this file's failure
            if os.path.exists(dst):
                os.remove(dst)
            with open(err, "w") as f:
                f.write(traceback.format_exc())
    print(f"tf2onnx {tf2onnx.__version__}: converted {ok} of {len(files)} files (opset {OPSET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
