"""The model in a Model directory as the model server runs it, and predictions on a split."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import (
    ModelMetrics,
    compute_metrics,
    regression_metrics,
    to_proba,
)
from kfp_mlops.components.common.model_dir import BACKENDS, resolve_backend
from kfp_mlops.components.common.task import TaskSpec

#: Formats evaluate_model can serve a model in (the model directory's backends).
SERVING_FORMATS = BACKENDS
#: Rows per call when predicting the whole test split.
PREDICT_CHUNK = 4096

Predictor = Callable[[np.ndarray], np.ndarray]


def resolve_format(model_dir: str, serving_format: str) -> str:
    """``auto`` -> ``tflite`` if the Model directory has ``model.tflite``, else ``keras``.

    The choice is the model directory's own (:func:`~kfp_mlops.components.common.model_dir.
    resolve_backend`), so evaluation times the file the server will serve.

    Raises:
        ParameterError: On an unknown format, or a directory without the file it needs.
    """
    if serving_format not in SERVING_FORMATS:
        raise ParameterError(
            f"serving_format '{serving_format}' is not supported", f"use one of {SERVING_FORMATS}"
        )
    return resolve_backend(model_dir, serving_format)[0]


def load_predictor(model_dir: str, serving_format: str = "auto") -> tuple[Predictor, str]:
    """The model in a Model directory as the model server runs it, and the format chosen.

    Both formats run through :mod:`kfp_mlops.components.common.inference`, the code the server
    calls, so the latency gate times what users get.
    """
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.inference import KerasModel, TFLiteModel

    fmt, path = resolve_backend(model_dir, resolve_format(model_dir, serving_format))
    if fmt == "tflite":
        return TFLiteModel(path), fmt
    return KerasModel(load_keras(model_dir)), fmt


def predict_all(predict_fn: Predictor, features: np.ndarray) -> np.ndarray:
    """Raw outputs for every row, in chunks."""
    parts = [
        np.asarray(predict_fn(features[i : i + PREDICT_CHUNK]))
        for i in range(0, len(features), PREDICT_CHUNK)
    ]
    return np.concatenate(parts)


def score(raw: np.ndarray, labels: np.ndarray, task: TaskSpec) -> tuple[ModelMetrics, np.ndarray]:
    """Metrics of raw model outputs against the labels, and the predictions they were taken on.

    Classification: probabilities and class metrics. Regression: the outputs are decoded
    with ``task`` (the model's own target standardisation) into the target's units, and
    ``labels`` must already be in those units.

    Returns:
        The metrics, and the predictions (probabilities, or decoded targets) for the plots.
    """
    if task.is_classification:
        proba = to_proba(raw, task.num_classes)
        return compute_metrics(labels, proba, task.classes), proba
    out = np.asarray(raw, dtype="float64")
    if out.ndim == 2 and out.shape[1] != 1:
        raise ParameterError(
            f"the model outputs {out.shape[1]} values per row but the task is regression",
            "use the model with the preprocessor of the same pipeline run",
        )
    predictions = np.asarray(task.decode_target(out.reshape(-1)), dtype="float64")
    return regression_metrics(labels, predictions), predictions
