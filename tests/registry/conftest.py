"""Fixtures for the registry tests: a loopback MLflow server and Model directories."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend; yields its URL."""
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield url
    finally:
        stop_mlflow_server(process)


@pytest.fixture
def fresh_name(request) -> str:
    """A registered model name unique to the test (the server is shared by the session)."""
    return f"reg-{request.node.name}-{os.getpid()}".replace("[", "-").replace("]", "")[:100]


@pytest.fixture
def make_model_dir(tmp_path):
    """Write a Model directory whose model.h5 holds ``content`` (the registry never parses it)."""

    def make(content: bytes, name: str = "model", tflite: bool = False) -> str:
        path = tmp_path / name
        (path / "saved_model").mkdir(parents=True)
        (path / "model.h5").write_bytes(content)
        (path / "saved_model" / "saved_model.pb").write_bytes(b"pb-" + content)
        if tflite:
            (path / "model.tflite").write_bytes(b"tfl-" + content)
        return str(path)

    return make


EVALUATION = {
    "blessed": True,
    "reasons": ["PASS: accuracy 0.9700 >= min_accuracy 0.9500"],
    "failures": [],
    "metrics": {"accuracy": 0.97, "f1": 0.96, "latency_single_p95_ms": 1.5, "roc_auc": None},
    "serving_format": "keras",
    "rows": 86,
    "classes": ["benign", "malignant"],
    "champion": None,
}


@pytest.fixture
def evaluation() -> dict:
    """An evaluate_model evaluation_json that blesses the model."""
    return {**EVALUATION, "metrics": dict(EVALUATION["metrics"])}
