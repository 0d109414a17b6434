"""Fixtures for the evaluation tests: a loopback MLflow server, processed splits, tiny models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Prepared:
    """Processed splits on disk (the split_and_preprocess contract)."""

    train: str
    test: str
    preprocessor: str
    num_features: int
    num_classes: int


def prepare(frame, base: Path) -> Prepared:
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(frame, seed=42)
    base.mkdir(parents=True, exist_ok=True)
    result.train.to_parquet(base / "train.parquet", index=False)
    result.test.to_parquet(base / "test.parquet", index=False)
    result.preprocessor.save(str(base / "preprocessor.json"))
    return Prepared(
        str(base / "train.parquet"),
        str(base / "test.parquet"),
        str(base / "preprocessor.json"),
        result.preprocessor.num_features,
        result.preprocessor.num_classes,
    )


def train_model_dir(data: Prepared, out: Path, epochs: int, zero: bool = False) -> str:
    """Train build_model's MLP for a few epochs and save it as a Model directory."""
    from kfp_mlops.components.common.artifacts import load_xy
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.model import build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    model = build_model(data.num_features, data.num_classes)
    if zero:
        # Constant output: always the first class, a deterministic weak model.
        model.set_weights([w * 0.0 for w in model.get_weights()])
    else:
        x, y, _ = load_xy(data.train)
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), loss=loss_name(data.num_classes))
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.h5"))
    return str(out)


@pytest.fixture(scope="session")
def bc_data(breast_cancer, tmp_path_factory) -> Prepared:
    """Breast-cancer splits (binary; test has 86 rows)."""
    return prepare(breast_cancer, tmp_path_factory.mktemp("bc"))


@pytest.fixture(scope="session")
def digits_data(digits, tmp_path_factory) -> Prepared:
    """Digits splits (10 classes)."""
    return prepare(digits, tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="session")
def good_model(bc_data, tmp_path_factory) -> str:
    """A trained binary model directory (test accuracy ~0.97)."""
    return train_model_dir(bc_data, tmp_path_factory.mktemp("good"), epochs=15)


@pytest.fixture(scope="session")
def weak_model(bc_data, tmp_path_factory) -> str:
    """An all-zero-weights binary model: predicts the first class for every row."""
    return train_model_dir(bc_data, tmp_path_factory.mktemp("weak"), epochs=0, zero=True)


@pytest.fixture(scope="session")
def good_model_tflite(good_model, tmp_path_factory) -> str:
    """The good model with a model.tflite beside model.h5."""
    import shutil

    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    out = tmp_path_factory.mktemp("tflite") / "model"
    shutil.copytree(good_model, out)
    converter = tf.lite.TFLiteConverter.from_keras_model(load_keras(good_model))
    (out / "model.tflite").write_bytes(converter.convert())
    return str(out)


@pytest.fixture
def fresh_name(request) -> str:
    """A registered model name unique to the test (the server is shared by the session)."""
    return f"eval-{request.node.name}-{os.getpid()}".replace("[", "-").replace("]", "")[:100]
