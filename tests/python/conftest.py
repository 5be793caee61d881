"""Fixtures of the Python package's tests: the repository, the committed test models, the
release CLI beside the wheel (MODELC_CLI) and the generated ResNet-50 (MODELC_TESTDATA).
`cargo xtask python-tests` sets both and runs this suite on the installed wheel."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _required_env(name: str) -> pathlib.Path:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `cargo xtask python-tests`")
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    return _required_env("MODELC_CLI")


@pytest.fixture(scope="session")
def testdata() -> pathlib.Path:
    return _required_env("MODELC_TESTDATA")


@pytest.fixture(scope="session")
def tiny_cnn() -> pathlib.Path:
    return ROOT / "testdata/models/tiny_cnn.onnx"
