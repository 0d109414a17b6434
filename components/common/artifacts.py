"""Reading the library's own artifacts: processed splits and Keras Model directories.

A Model artifact written by ``train_model`` (and by the optimization components) is a
directory whose ``model.h5`` loads with ``tf.keras`` (tf-keras in the pipeline env); other
files beside it (history, metrics, SavedModel, TFLite) are described in each component's
README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.io import load_dataset_artifact

LABEL = "label"
KERAS_FILE = "model.h5"


def load_xy(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A processed split -> (float32 features, int64 labels, feature names).

    Raises:
        DataValidationError: If the split has no ``label`` column or no rows.
    """
    frame = load_dataset_artifact(path)
    if LABEL not in frame.columns:
        raise DataValidationError(
            f"'{path}' has no '{LABEL}' column",
            "pass a split written by split_and_preprocess, not the raw dataset",
        )
    if frame.empty:
        raise DataValidationError(f"'{path}' has no rows", "check the split fractions upstream")
    features = [c for c in frame.columns if c != LABEL]
    return (
        frame[features].to_numpy(dtype="float32"),
        frame[LABEL].to_numpy(dtype="int64"),
        features,
    )


def keras_file(model_path: str) -> Path:
    """The ``.h5``/``.keras`` file of a Model artifact (a directory or the file itself).

    Raises:
        ParameterError: If no Keras model file is there.
    """
    path = Path(model_path)
    if path.is_file() and path.suffix in (".h5", ".keras"):
        return path
    candidate = path / KERAS_FILE
    if candidate.exists():
        return candidate
    raise ParameterError(
        f"no Keras model at '{model_path}' (expected {KERAS_FILE} inside the Model artifact)",
        "pass the model output of train_model or of an optimization component",
    )


def load_keras(model_path: str) -> Any:
    """Load a Model artifact's Keras model (uncompiled) in the current env."""
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    file = keras_file(model_path)
    try:
        return tf.keras.models.load_model(str(file), compile=False)
    except (OSError, ValueError) as exc:
        raise ParameterError(
            f"'{file}' is not a loadable Keras model: {exc}",
            "pass a model saved by train_model (Keras 2 H5 format)",
        ) from exc


def num_classes_of(model: Any) -> int:
    """Classes a model predicts: one sigmoid unit means two."""
    width = int(model.outputs[0].shape[-1])
    return 2 if width == 1 else width
