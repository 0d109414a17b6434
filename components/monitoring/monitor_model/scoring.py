"""Running the served model on the reference and the window's complete rows, and scoring it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.common.metrics import classification_metrics, regression_metrics
from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
from kfp_mlops.components.monitoring.monitor_model.checks import features
from kfp_mlops.components.monitoring.monitor_model.served import (
    ServedModel,
    predict_raw,
    probabilities,
)


@dataclass
class Scores:
    """What running the model gave: probabilities, metrics and predicted class shares.

    For a regression model ``proba_*`` are the predictions (1-D, in the target's units) and
    there are no classes or shares.
    """

    proba_ref: np.ndarray
    proba_cur: np.ndarray
    metrics: dict[str, float]
    labelled: int
    classes: list[str]
    class_share: dict[str, list[float]]


def score(
    served: ServedModel,
    preprocessor: Preprocessor,
    reference: pd.DataFrame,
    x_all: np.ndarray,
    complete: np.ndarray,
    labels: tuple[np.ndarray, np.ndarray] | None,
    num_classes: int,
) -> Scores:
    """Run the model on the reference and on the window's complete rows, and score it."""
    if not complete.any():
        raise DataValidationError(
            f"every one of the {len(complete)} rows of the recent window has a missing or "
            "non-finite feature: the model cannot be checked on it",
            "fix the logging/ETL that dropped the values (the run's data-quality figures "
            "need at least one complete row)",
        )
    x_ref = features(preprocessor, reference, "reference")
    if not preprocessor.task_spec.is_classification:
        return _score_regression(served, preprocessor, x_ref, x_all[complete], complete, labels)
    proba_cur = probabilities(served, x_all[complete], num_classes)
    proba_ref = probabilities(served, x_ref, num_classes)
    pred_cur, pred_ref = proba_cur.argmax(axis=1), proba_ref.argmax(axis=1)
    metrics: dict[str, float] = {}
    labelled = 0
    if labels is not None:
        mask, codes = labels
        scored = mask[complete]  # labelled among the complete rows
        labelled = int(scored.sum())
        if labelled:
            metrics = classification_metrics(codes[complete[mask]], pred_cur[scored], num_classes)
    shares_ref = np.bincount(pred_ref, minlength=num_classes) / len(pred_ref)
    shares_cur = np.bincount(pred_cur, minlength=num_classes) / len(pred_cur)
    return Scores(
        proba_ref,
        proba_cur,
        metrics,
        labelled,
        list(preprocessor.classes),
        {"reference": shares_ref.tolist(), "current": shares_cur.tolist()},
    )


def _score_regression(
    served: ServedModel,
    preprocessor: Preprocessor,
    x_ref: np.ndarray,
    x_cur: np.ndarray,
    complete: np.ndarray,
    labels: tuple[np.ndarray, np.ndarray] | None,
) -> Scores:
    """A regressor's predictions in the target's units (a standardised target is undone)."""
    pred_cur = np.asarray(preprocessor.decode_labels(predict_raw(served, x_cur)[:, 0]))
    pred_ref = np.asarray(preprocessor.decode_labels(predict_raw(served, x_ref)[:, 0]))
    metrics: dict[str, float] = {}
    labelled = 0
    if labels is not None:
        mask, targets = labels
        scored = mask[complete]
        labelled = int(scored.sum())
        if labelled:
            result = regression_metrics(targets[complete[mask]], pred_cur[scored])
            metrics = {k: v for k, v in result.scalars.items() if np.isfinite(v)}
    return Scores(pred_ref, pred_cur, metrics, labelled, [], {})
