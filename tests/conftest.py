"""Shared fixtures: paths of the two envs, a kfp.local runner, bundled datasets."""

from __future__ import annotations

import builtins
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

#: The longest test files (minutes each), run first: under ``pytest -n --dist loadfile
#: --no-loadscope-reorder`` they start at once on their own workers instead of last (xdist's
#: default reorder would put files with many short tests first), which would lengthen the run.
LONGEST_FIRST = (
    "tests/pipelines/test_local_pipelines.py",
    "tests/pipelines/test_sharded_pipeline.py",
    "tests/pipelines/test_regression_pipeline.py",
    "tests/pipelines/test_staging_pipeline.py",
    "tests/evaluation/test_explain_model.py",
    "tests/pipelines/test_rollback_pipeline.py",
    "tests/pipelines/test_fleet.py",
    "tests/training/test_train_model.py",
    "tests/deployment/test_integration_test.py",
    "tests/optimization/test_distill_local.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move :data:`LONGEST_FIRST` to the front; every other test keeps its order."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def trainer_python() -> str:
    """The trainer env's interpreter (TensorFlow 2.15.1 + Horovod), as `make install` builds it."""
    path = os.environ.get("KFP_MLOPS_TRAINER_PYTHON") or str(
        ROOT / ".venv-trainer" / "bin" / "python"
    )
    if not Path(path).exists():
        pytest.fail(f"trainer env missing at {path}: run `make install-trainer`")
    return path


@pytest.fixture
def kfp_local(tmp_path: Path):
    """kfp.local with a SubprocessRunner in this interpreter; yields the pipeline root."""
    from kfp import local

    pipeline_root = tmp_path / "local_outputs"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    yield pipeline_root


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    """The bundled binary dataset (569 rows, 30 features, string classes)."""
    from kfp_mlops.components.data.load_dataset.core import load_builtin

    return load_builtin("breast_cancer")


@pytest.fixture(scope="session")
def digits() -> pd.DataFrame:
    """The bundled 10-class dataset (1797 rows, 64 features)."""
    from kfp_mlops.components.data.load_dataset.core import load_builtin

    return load_builtin("digits")


def have_trainer_env() -> bool:
    """Whether the trainer env exists (tests marked `trainer` need it)."""
    return (ROOT / ".venv-trainer" / "bin" / "horovodrun").exists() or shutil.which(
        "horovodrun"
    ) is not None


__all__ = ["ROOT", "have_trainer_env", "sys"]


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator():
    """A real GCS emulator (gcp-storage-emulator) on loopback; yields a storage client.

    STORAGE_EMULATOR_HOST is set for the session so code under test that builds its own
    client (kfp_mlops.components.common.io.gcs_client) talks to it too.
    """
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="kfp-mlops-test")
    server.start()
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    from kfp_mlops.components.common.io import gcs_client

    try:
        yield gcs_client()
    finally:
        server.stop()
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture(autouse=True)
def _print_restored():
    """Put back ``builtins.print`` after every test.

    kfp.local swaps ``builtins.print`` for an indenting closure per task, and interleaved
    ParallelFor tasks leave one behind (a later test's SHAP then fell back to permutation
    importance). ``run_local`` guards against that itself (``local_runner.print_kept``, tested
    in test_local_progress); this covers the tests that drive kfp.local directly.
    """
    original = builtins.print
    yield
    builtins.print = original
