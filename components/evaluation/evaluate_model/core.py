"""Evaluate a model on the test split, time it as it will be served, and decide if it ships.

The entry point :func:`evaluate` wires the parts to files and the registry:

- metrics: :mod:`kfp_mlops.components.common.metrics` (shared with monitoring);
- :mod:`.predictors`: the model as the server runs it; :mod:`.batches`: the test split
  (a file or shards) predicted chunk by chunk; :mod:`.latency`: its timing;
- :mod:`.gate`: thresholds and the verdict; :mod:`.champion`: the registered champion on
  the same rows; :mod:`.summary`: the result object and its JSON; :mod:`.report`: Markdown
  and HTML (with predicted-vs-actual and residual plots for regression).

The task (classification or regression) is the preprocessor's task spec: regression is
scored in the target's own units (labels and predictions decoded with
``TaskSpec.decode_target``), gated on ``max_rmse`` and compared with the champion on the
task's primary metric in its direction.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.evaluation.evaluate_model.batches import open_test, predict_test
from kfp_mlops.components.evaluation.evaluate_model.champion import load_champion
from kfp_mlops.components.evaluation.evaluate_model.gate import (
    Thresholds,
    check_compare_metric,
    gate,
)
from kfp_mlops.components.evaluation.evaluate_model.latency import measure_latency
from kfp_mlops.components.evaluation.evaluate_model.predictors import load_predictor, score
from kfp_mlops.components.evaluation.evaluate_model.summary import EvaluationResult

__all__ = ["EvaluationResult", "Thresholds", "evaluate", "write_json"]

log = logging.getLogger(__name__)


def load_test(test_path: str, preprocessor_path: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """Features, labels and preprocessor of a processed test split, checked to match.

    Regression labels are returned in the target's own units (the split may hold the
    standardised target).

    Raises:
        ParameterError: If the split's width is not the preprocessor's.
        SplitError: If the split breaks the contract for the preprocessor's task.
    """
    from kfp_mlops.components.common.artifacts import LABEL, read_split
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    preprocessor = Preprocessor.load(preprocessor_path)
    task = preprocessor.task_spec
    frame = read_split(test_path, "test", regression=not task.is_classification)
    features = frame[[c for c in frame.columns if c != LABEL]].to_numpy(dtype="float32")
    if task.is_classification:
        labels = frame[LABEL].to_numpy(dtype="int64")
    else:
        labels = np.asarray(task.decode_target(frame[LABEL].to_numpy("float64")), "float64")
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
        test_path: Processed test split (Parquet file or shard directory with a ``label``
            column); predicted in batches, so only outputs and labels are held.
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
        compare_metric: Metric compared with the champion; for regression a classification
            metric (the default ``accuracy``) means the task's primary metric (RMSE).
        min_improvement: Required gain over the champion (0: ties are blessed).

    Raises:
        RegistryError: If ``tracking_uri`` is given but the registry is unreachable.
    """
    from kfp_mlops.components.registry import common as registry

    thresholds = thresholds or Thresholds()
    # Checked before any expensive work, against the task's own metric names.
    compare_metric = check_compare_metric(compare_metric, TaskSpec.load(preprocessor_path))[0]
    compare = bool(tracking_uri.strip() and registered_model_name.strip())
    if compare:
        # Before any expensive work: an unreachable registry must not mean "no champion".
        registry.check_registry(tracking_uri)
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    preprocessor = Preprocessor.load(preprocessor_path)
    task = preprocessor.task_spec
    test = open_test(test_path, preprocessor)  # schema and width: no rows read yet
    predict_fn, fmt = load_predictor(model_dir, serving_format)
    champ = load_champion(tracking_uri, registered_model_name, preprocessor) if compare else None
    predictors = {"model": predict_fn, **({"champion": champ.predict} if champ else {})}
    # One pass in batches; the latency timing reuses the leading rows it would have used.
    passed = predict_test(test, predictors, sample_rows=max(repetitions + 10, batch_size))
    labels = passed.labels
    metrics, predictions = score(passed.raw["model"], labels, task)
    latency = measure_latency(
        predict_fn,
        passed.sample,
        repetitions=repetitions,
        batch_size=batch_size,
        batch_repetitions=batch_repetitions,
    )
    champion = champ.result(passed.raw["champion"], labels) if champ else None
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
        task=task,
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
        task_type=task.task_type,
        targets=None if task.is_classification else labels,
        predictions=None if task.is_classification else predictions,
    )


def write_json(result: EvaluationResult, path: str) -> None:
    """Write ``result.to_json()`` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_json(), f, indent=1, allow_nan=False)
