"""Builders shared by the explanation tests (evaluation and serving); no tests of their own.

Synthetic tasks whose answer is known: the target depends only on columns ``a`` and ``b``
(``c``, ``d``, ``e`` and the categorical ``color`` are noise), and an image task whose
label depends only on the top-left 2x2 patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

INFORMATIVE = {"a", "b"}
PATCH = (slice(0, 2), slice(0, 2))


def synthetic_table(kind: str, rows: int = 800, seed: int = 0) -> pd.DataFrame:
    """A table whose target depends only on ``a`` and ``b``.

    Binary: ``a + b > 0``; multiclass: ``a + b`` in three bands; regression:
    ``100 + 3a - 2b`` (a large offset, so target units are visible).
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=rows) for c in "abcde"})
    frame["color"] = rng.choice(["red", "green", "blue"], size=rows)
    s = frame["a"] + frame["b"]
    if kind == "binary":
        frame["target"] = np.where(s > 0, "yes", "no")
    elif kind == "multiclass":
        frame["target"] = np.select([s < -0.7, s > 0.7], ["lo", "hi"], "mid")
    else:
        frame["target"] = 100.0 + 3.0 * frame["a"] - 2.0 * frame["b"]
    return frame


@dataclass
class Task:
    """Processed splits, preprocessor and a trained Model directory."""

    train: str
    test: str
    preprocessor: str
    model_dir: str


def _fit(x: np.ndarray, y: np.ndarray, outputs: int, loss: str, epochs: int):
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    activation = {"binary_crossentropy": "sigmoid", "mse": None}.get(loss, "softmax")
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(x.shape[1],)),
            tf.keras.layers.Dense(32, activation="relu"),
            tf.keras.layers.Dense(outputs, activation=activation),
        ]
    )
    model.compile(tf.keras.optimizers.Adam(1e-2), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def build_task(kind: str, base: Path, epochs: int = 30) -> Task:
    """Split the synthetic table, train a small MLP on it, save the Model directory."""
    from kfp_mlops.components.common.artifacts import read_split
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(
        synthetic_table(kind), task_type="regression" if kind == "regression" else "auto"
    )
    base.mkdir(parents=True, exist_ok=True)
    result.train.to_parquet(base / "train.parquet", index=False)
    result.test.to_parquet(base / "test.parquet", index=False)
    result.preprocessor.save(str(base / "preprocessor.json"))
    frame = read_split(str(base / "train.parquet"), regression=kind == "regression")
    x = frame.drop(columns=["label"]).to_numpy("float32")
    y = frame["label"].to_numpy()
    loss, outputs = {
        "binary": ("binary_crossentropy", 1),
        "multiclass": ("sparse_categorical_crossentropy", 3),
        "regression": ("mse", 1),
    }[kind]
    model = _fit(x, y, outputs, loss, epochs)
    (base / "model").mkdir()
    model.save(str(base / "model" / "model.h5"))
    return Task(
        str(base / "train.parquet"),
        str(base / "test.parquet"),
        str(base / "preprocessor.json"),
        str(base / "model"),
    )


def build_image_task(base: Path, rows: int = 600, epochs: int = 30) -> Task:
    """8x8 one-channel images labelled by the mean of their top-left 2x2 patch."""
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    rng = np.random.default_rng(1)
    images = rng.uniform(size=(rows, 8, 8))
    label = np.where(images[:, PATCH[0], PATCH[1]].mean(axis=(1, 2)) > 0.5, "on", "off")
    frame = pd.DataFrame(images.reshape(rows, 64), columns=[f"p{i}" for i in range(64)])
    frame["target"] = label
    result = split_and_preprocess(frame)
    proc: Preprocessor = result.preprocessor
    proc.task = {**proc.task, "feature_kind": "image", "image_shape": [8, 8, 1]}
    base.mkdir(parents=True, exist_ok=True)
    proc.save(str(base / "preprocessor.json"))
    result.train.to_parquet(base / "train.parquet", index=False)
    result.test.to_parquet(base / "test.parquet", index=False)

    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    x = result.train.drop(columns=["label"]).to_numpy("float32").reshape(-1, 8, 8, 1)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(8, 8, 1)),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(tf.keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(x, result.train["label"].to_numpy(), epochs=epochs, batch_size=32, verbose=0)
    (base / "model").mkdir()
    model.save(str(base / "model" / "model.h5"))
    return Task(
        str(base / "train.parquet"),
        str(base / "test.parquet"),
        str(base / "preprocessor.json"),
        str(base / "model"),
    )
