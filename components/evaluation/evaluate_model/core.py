"""Evaluate a model on the test split, time it as it will be served, and decide if it ships.

The entry point :func:`evaluate` wires the parts to files and the registry:

- metrics: :mod:`kfp_mlops.components.common.metrics` (shared with monitoring);
- :mod:`.predictors`: the model as the server runs it; :mod:`.latency`: its timing;
- :mod:`.gate`: thresholds and the verdict; :mod:`.champion`: the registered champion on
  the same rows; :mod:`.summary`: the result object and its JSON; :mod:`.report`: Markdown.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import compute_metrics, to_proba
from kfp_mlops.components.evaluation.evaluate_model.champion import evaluate_champion
from kfp_mlops.components.evaluation.evaluate_model.gate import (
    Thresholds,
    check_compare_metric,
    gate,
)
from kfp_mlops.components.evaluation.evaluate_model.latency import measure_latency
from kfp_mlops.components.evaluation.evaluate_model.predictors import (
    load_predictor,
    predict_all,
)
from kfp_mlops.components.evaluation.evaluate_model.summary import EvaluationResult

__all__ = ["EvaluationResult", "Thresholds", "evaluate", "write_json"]

log = logging.getLogger(__name__)


def load_test(test_path: str, preprocessor_path: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """Features, labels and preprocessor of a processed test split, checked to match.

    Raises:
        ParameterError: If the split's width is not the preprocessor's.
    """
    from kfp_mlops.components.common.artifacts import load_xy
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    features, labels, _ = load_xy(test_path)
    preprocessor = Preprocessor.load(preprocessor_path)
    if features.shape[1] != preprocessor.num_features:
        raise ParameterError(
            f"the test split has {features.shape[1]} features, the preprocessor "
            f"{preprocessor.num_features}",
            "pass the test split and preprocessor of the same split_and_preprocess run",
        )
    return features, labels, preprocessor


def evaluate(
    test_path: str,
    model_dir: str,
    preprocessor_path: str,
    thresholds: Thresholds | None = None,
    *,
    serving_format: str = "auto",
    repetitions: int = 200,
    batch_size: int = 256,
    batch_repetitions: int = 20,
    tracking_uri: str = "",
    registered_model_name: str = "",
    compare_metric: str = "accuracy",
    min_improvement: float = 0.0,
) -> EvaluationResult:
    """Evaluate a Model directory on a processed test split and apply the release gate.

    Args:
        test_path: Processed test split (Parquet with a ``label`` column).
        model_dir: Model artifact directory (``model.h5``, optionally ``model.tflite``).
        preprocessor_path: The preprocessor JSON of the same pipeline run (class names).
        thresholds: Release thresholds; runbook defaults if None.
        serving_format: keras, tflite or auto (tflite if ``model.tflite`` is present).
        repetitions: Timed single-row calls.
        batch_size: Rows per timed batch call.
        batch_repetitions: Timed batch calls.
        tracking_uri: MLflow server; with ``registered_model_name``, the challenger is
            compared with ``models:/<name>@champion`` on the same rows.
        registered_model_name: Registered model to compare with.
        compare_metric: Metric compared with the champion (higher is better).
        min_improvement: Required gain over the champion (0: ties are blessed).

    Raises:
        RegistryError: If ``tracking_uri`` is given but the registry is unreachable.
    """
    from kfp_mlops.components.registry import common as registry

    thresholds = thresholds or Thresholds()
    check_compare_metric(compare_metric)
    compare = bool(tracking_uri.strip() and registered_model_name.strip())
    if compare:
        # Before any expensive work: an unreachable registry must not mean "no champion".
        registry.check_registry(tracking_uri)
    features, labels, preprocessor = load_test(test_path, preprocessor_path)
    predict_fn, fmt = load_predictor(model_dir, serving_format)
    raw = predict_all(predict_fn, features)
    metrics = compute_metrics(labels, to_proba(raw, preprocessor.num_classes), preprocessor.classes)
    latency = measure_latency(
        predict_fn,
        features,
        repetitions=repetitions,
        batch_size=batch_size,
        batch_repetitions=batch_repetitions,
    )
    champion = (
        evaluate_champion(tracking_uri, registered_model_name, features, labels, preprocessor)
        if compare
        else None
    )
    decision = gate(
        {**metrics.scalars, **latency},
        thresholds,
        champion["metrics"] if champion else None,
        compare_metric=compare_metric,
        min_improvement=min_improvement,
        champion_version=champion["version"] if champion else None,
        no_champion_reason=(
            f"no champion yet for '{registered_model_name}' at {tracking_uri}"
            if compare
            else "no champion yet (no comparison: tracking_uri or registered_model_name empty)"
        ),
    )
    log.info("evaluation of %s: %s", model_dir, "; ".join(decision.reasons))
    return EvaluationResult(
        metrics=metrics,
        latency=latency,
        decision=decision,
        thresholds=thresholds,
        serving_format=fmt,
        rows=len(labels),
        champion=champion,
        compare_metric=compare_metric,
        min_improvement=min_improvement,
    )


def write_json(result: EvaluationResult, path: str) -> None:
    """Write ``result.to_json()`` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_json(), f, indent=1, allow_nan=False)
