"""Fixtures of the optimization tests: processed breast-cancer splits and a trained model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest


@dataclass
class Splits:
    """Paths of the processed splits (Parquet with a ``label`` column)."""

    train: str
    validation: str
    test: str
    frames: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def splits(breast_cancer: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Splits:
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(breast_cancer, target_column="target", seed=42)
    folder = tmp_path_factory.mktemp("splits")
    frames = {"train": result.train, "validation": result.validation, "test": result.test}
    paths = {}
    for name, frame in frames.items():
        paths[name] = str(folder / f"{name}.parquet")
        frame.to_parquet(paths[name], index=False)
    return Splits(paths["train"], paths["validation"], paths["test"], frames)


@pytest.fixture(scope="session")
def trained_model(splits: Splits, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Model artifact directory with model.h5: a 128-64 MLP trained for a few seconds."""
    from kfp_mlops.components.common.artifacts import KERAS_FILE, load_xy
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.model import ModelConfig, build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    x, y, _ = load_xy(splits.train)
    model = build_model(x.shape[1], 2, ModelConfig(hidden_units=[128, 64], dropout=0.1))
    model.compile(tf.keras.optimizers.Adam(1e-3), loss=loss_name(2), metrics=["accuracy"])
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("model")
    model.save(str(folder / KERAS_FILE), include_optimizer=False)
    return str(folder)


@pytest.fixture
def not_a_model(tmp_path: Path) -> str:
    """A Model artifact directory whose model.h5 holds random bytes."""
    import numpy as np

    (tmp_path / "model.h5").write_bytes(np.random.default_rng(0).bytes(2048))
    return str(tmp_path)


@pytest.fixture
def unread_splits(tmp_path: Path) -> tuple[str, str, str]:
    """Split paths that are never read: for inputs rejected before the data is loaded."""
    return tuple(str(tmp_path / f"{name}.parquet") for name in ("train", "validation", "test"))


@pytest.fixture(scope="session")
def regression_splits(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    """Diabetes splits with a standardised float32 target (the regression split contract)."""
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(load_diabetes(as_frame=True).frame, standardize_target=True)
    folder = tmp_path_factory.mktemp("regression_splits")
    frames = {"train": result.train, "validation": result.validation, "test": result.test}
    for name, frame in frames.items():
        assert frame["label"].dtype == "float32"
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return Splits(*(str(folder / f"{n}.parquet") for n in frames), frames)


@pytest.fixture(scope="session")
def regression_model(regression_splits: Splits, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Model directory with a 32-16 MSE regressor fitted on the diabetes splits."""
    from kfp_mlops.components.common.artifacts import KERAS_FILE
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    train = regression_splits.frames["train"]
    x = train.drop(columns="label").to_numpy("float32")
    inputs = tf.keras.Input((x.shape[1],), name="features")
    hidden = tf.keras.layers.Dense(32, activation="relu", name="dense_0")(inputs)
    hidden = tf.keras.layers.Dense(16, activation="relu", name="dense_1")(hidden)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1, name="prediction")(hidden))
    model.compile(tf.keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, train["label"].to_numpy(), epochs=40, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("regression_model")
    model.save(str(folder / KERAS_FILE), include_optimizer=False)
    return str(folder)
