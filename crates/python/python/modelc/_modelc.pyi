"""Types of modelc's extension module (re-exported by ``modelc``)."""

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypedDict, Union

import numpy as np

__version__: str

Source = Union[str, "os.PathLike[str]", bytes, "Model", Any]
"""A path, serialized model bytes, an ``onnx.ModelProto`` or a ``Model``."""

Dims = Sequence[Union[int, str]]

class ValueInfo(TypedDict):
    name: str
    dtype: Optional[str]
    shape: Optional[List[Union[int, str, None]]]

class NodeInfo(TypedDict):
    name: str
    op: str
    domain: str
    inputs: List[str]
    outputs: List[str]
    attrs: Dict[str, Any]
    layout: Optional[str]

class OutputDifference(TypedDict):
    name: str
    max_abs: float
    max_rel: float
    cosine: float
    within: bool
    note: str

class Report(TypedDict):
    ok: bool
    inputs: str
    rtol: float
    atol: float
    outputs: List[OutputDifference]

class ModelcError(Exception): ...
class ReadError(ModelcError): ...
class WriteError(ModelcError): ...
class OptionError(ModelcError): ...
class TransformError(ModelcError): ...
class RunError(ModelcError): ...

class Model:
    @property
    def format(self) -> str: ...
    @property
    def inputs(self) -> List[ValueInfo]: ...
    @property
    def outputs(self) -> List[ValueInfo]: ...
    @property
    def nodes(self) -> List[NodeInfo]: ...
    @property
    def constants(self) -> Dict[str, np.ndarray]: ...
    def text(self, full: bool = False) -> str: ...
    def inspect(self) -> Dict[str, Any]: ...
    def to_onnx_bytes(self) -> bytes: ...
    def save(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        keep_io_layout: bool = False,
        external_data: str = "auto",
    ) -> None: ...
    def optimize(
        self,
        level: int = 2,
        passes: Optional[Union[str, Sequence[str]]] = None,
        input_shapes: Optional[Mapping[str, Dims]] = None,
        dims: Optional[Mapping[str, int]] = None,
        opset: Optional[int] = None,
    ) -> "Model": ...
    def quantize(
        self,
        mode: str = "int8",
        calibration: Optional[Iterable[Mapping[str, np.ndarray]]] = None,
        eval: Optional[Iterable[Mapping[str, np.ndarray]]] = None,
        max_error: Optional[float] = None,
        format: str = "onnx",
        **options: Any,
    ) -> Tuple["Model", Dict[str, Any]]: ...
    def run(self, inputs: Mapping[str, Any]) -> Dict[str, np.ndarray]: ...

def load(source: Source, format: Optional[str] = None) -> Model: ...
def convert(
    src: Union[str, "os.PathLike[str]"],
    dst: Union[str, "os.PathLike[str]"],
    *,
    level: int = 0,
    opset: Optional[int] = None,
    keep_io_layout: bool = False,
    external_data: str = "auto",
    input_shapes: Optional[Mapping[str, Dims]] = None,
    dims: Optional[Mapping[str, int]] = None,
    input_types: Optional[Mapping[str, str]] = None,
    **options: Any,
) -> None: ...
def verify(
    a: Source,
    b: Source,
    inputs: Optional[Mapping[str, Any]] = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
    dims: Optional[Mapping[str, int]] = None,
) -> Report: ...
class Placement(TypedDict):
    node: str
    op: str
    accelerator: bool
    reason: Optional[str]

class CheckReport(TypedDict):
    ok: bool
    summary: str
    target: str
    fallback: str
    nodes: List[Placement]
    accelerated: int
    total: int
    partitions: int

def targets() -> List[Dict[str, Any]]: ...
def check(
    source: Source,
    target: str = "cpu",
    target_file: Optional[Union[str, "os.PathLike[str]"]] = None,
    input_shapes: Optional[Mapping[str, Dims]] = None,
    dims: Optional[Mapping[str, int]] = None,
) -> CheckReport: ...
def compress(
    src: Union[str, "os.PathLike[str]"],
    dst: Union[str, "os.PathLike[str]"],
    **options: Any,
) -> Dict[str, Any]: ...
def main(argv: List[str]) -> int: ...
def passes() -> List[Tuple[str, str]]: ...
