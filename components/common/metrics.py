"""Computations every step must do the same way: latency percentiles, probabilities, metrics.

Evaluation, monitoring, optimization and the deployment smoke test import these, so the
numbers a gate compares (a champion's baseline, a canary's p95, an optimized model's p50)
are computed by one implementation. Only numpy is imported at module level: the trainer env
imports this module through ``training/model.py``; scikit-learn is imported where it is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kfp_mlops.components.common.errors import ParameterError

#: The latency percentiles every report and gate uses.
PERCENTILES = (50, 95, 99)
#: ``linear`` interpolates between samples (numpy's default); ``nearest_rank`` returns an
#: observed sample (the smallest with at least q% of samples at or below it).
PERCENTILE_METHODS = {"linear": "linear", "nearest_rank": "inverted_cdf"}
#: ROC curves are downsampled to about this many points (KFP's UI draws every point).
MAX_ROC_POINTS = 200

# --------------------------------------------------------------------------- latency


def latency_percentiles(
    samples: Sequence[float] | np.ndarray, *, to_ms: float = 1.0, method: str = "linear"
) -> dict[str, float]:
    """p50, p95 and p99 of latency samples, in milliseconds.

    Args:
        samples: Durations in any unit; ``to_ms`` converts them (1000.0 for seconds, 1e-6
            for nanoseconds, 1.0 for milliseconds).
        to_ms: Factor from the samples' unit to milliseconds.
        method: ``linear`` or ``nearest_rank`` (see :data:`PERCENTILE_METHODS`).

    Returns:
        ``{"p50": ..., "p95": ..., "p99": ...}`` in ms.

    Raises:
        ParameterError: If there are no finite samples or the method is unknown.
    """
    if method not in PERCENTILE_METHODS:
        raise ParameterError(
            f"percentile method '{method}' is not supported",
            f"use one of {sorted(PERCENTILE_METHODS)}",
        )
    ms = np.asarray(samples, dtype="float64").reshape(-1) * to_ms
    ms = ms[np.isfinite(ms)]
    if len(ms) == 0:
        raise ParameterError(
            "no latency samples to take percentiles of", "time at least one call first"
        )
    values = np.percentile(ms, PERCENTILES, method=PERCENTILE_METHODS[method])
    return {f"p{q}": float(v) for q, v in zip(PERCENTILES, values, strict=True)}


# --------------------------------------------------------------------------- probabilities


def to_proba(raw: np.ndarray, num_classes: int) -> np.ndarray:
    """Model outputs -> probabilities of shape (n, num_classes), rows summing to 1.

    A single sigmoid unit becomes ``[1 - p, p]``. Negative outputs are clipped to 0 and rows
    renormalised (quantized models' rows can miss 1 slightly); all-zero rows become uniform.

    Raises:
        ParameterError: If the model's output width does not match ``num_classes``.
    """
    out = np.asarray(raw, dtype="float64")
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    if out.shape[1] == 1:
        p = np.clip(out[:, 0], 0.0, 1.0)
        out = np.column_stack([1.0 - p, p])
    if out.shape[1] != num_classes:
        raise ParameterError(
            f"the model outputs {out.shape[1]} probabilities per row but the preprocessor "
            f"has {num_classes} classes",
            "use the model with the preprocessor of the same pipeline run",
        )
    out = np.clip(out, 0.0, None)
    sums = out.sum(axis=1, keepdims=True)
    return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), 1.0 / num_classes)


# --------------------------------------------------------------------------- metrics


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int
) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of predicted labels.

    Two classes: binary scores of class index 1 (the positive class). More: macro averages
    over the classes present in ``y_true`` or ``y_pred`` (a class absent from both has no
    precision or recall to average; scikit-learn's default).
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype="int64")
    y_pred = np.asarray(y_pred, dtype="int64")
    binary = num_classes == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        labels=[0, 1] if binary else None,
        average="binary" if binary else "macro",
        zero_division=0,
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


@dataclass
class ModelMetrics:
    """Quality of one model on one test split.

    Attributes:
        scalars: accuracy, precision, recall, f1, roc_auc, log_loss (NaN where undefined).
        classes: Class names; index = encoded label.
        confusion_matrix: Rows = true class, columns = predicted class.
        roc: Binary only: ``fpr``, ``tpr`` and finite ``thresholds`` lists.
        notes: Why a metric is NaN, if one is.
    """

    scalars: dict[str, float]
    classes: list[str]
    confusion_matrix: list[list[int]]
    roc: dict[str, list[float]] | None = None
    notes: list[str] = field(default_factory=list)


def roc_points(
    y_true: np.ndarray, score: np.ndarray, max_points: int = MAX_ROC_POINTS
) -> dict[str, list[float]]:
    """Binary ROC curve with finite thresholds, at most about ``max_points`` points.

    scikit-learn's first threshold is ``inf`` (nothing predicted positive); it is clipped to
    1.0 because KFP metadata must be JSON numbers. Downsampling keeps the first and last point.
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y_true, score, drop_intermediate=True)
    thr = np.where(np.isfinite(thr), thr, 1.0)
    thr = np.clip(thr, 0.0, 1.0)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
    return {
        "fpr": [float(v) for v in fpr],
        "tpr": [float(v) for v in tpr],
        "thresholds": [float(v) for v in thr],
    }


def compute_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> ModelMetrics:
    """:func:`classification_metrics` plus ROC AUC, log loss, confusion matrix (and ROC curve).

    Multiclass ROC AUC is one-vs-rest, macro-averaged; it is NaN (with a note) when the
    test split lacks a class.

    Args:
        y_true: Integer labels 0..n_classes-1.
        proba: Probabilities, shape (n, n_classes) (see :func:`to_proba`).
        classes: Class names, index = label.
    """
    from sklearn import metrics as skm

    y_true = np.asarray(y_true, dtype="int64")
    proba = np.asarray(proba, dtype="float64")
    n_classes = len(classes)
    if proba.ndim != 2 or proba.shape != (len(y_true), n_classes):
        raise ParameterError(
            f"probabilities have shape {proba.shape}, expected ({len(y_true)}, {n_classes})",
            "pass one probability per class for every test row",
        )
    # float32 models' rows miss 1 by ~1e-7, which log_loss warns about.
    proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    labels = list(range(n_classes))
    y_pred = proba.argmax(axis=1)
    scalars = classification_metrics(y_true, y_pred, n_classes)
    notes: list[str] = []
    present = np.unique(y_true)
    if len(present) < n_classes:
        # AUC needs every class in the test split; say so instead of crashing.
        scalars["roc_auc"] = math.nan
        missing = [classes[i] for i in labels if i not in set(present.tolist())]
        notes.append(f"roc_auc undefined: the test split has no rows of class(es) {missing}")
    elif n_classes == 2:
        scalars["roc_auc"] = float(skm.roc_auc_score(y_true, proba[:, 1]))
    else:
        scalars["roc_auc"] = float(
            skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
        )
    scalars["log_loss"] = float(skm.log_loss(y_true, proba, labels=labels))
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    roc = roc_points(y_true, proba[:, 1]) if n_classes == 2 and len(present) == 2 else None
    return ModelMetrics(
        scalars=scalars,
        classes=[str(c) for c in classes],
        confusion_matrix=[[int(v) for v in row] for row in matrix],
        roc=roc,
        notes=notes,
    )


# --------------------------------------------------------------------------- regression

#: MAPE is skipped when some |y| is at most this share of the largest |y| (or exactly 0):
#: dividing by a near-zero target makes one row dominate the mean.
MAPE_ZERO_SHARE = 1e-6
#: Regression metrics and whether higher is better (the champion comparison reads these).
REGRESSION_DIRECTIONS = {"rmse": False, "mae": False, "r2": True, "mape": False}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> ModelMetrics:
    """RMSE, MAE, R2 and MAPE (percent, where defined) of predictions in the target's units.

    MAPE is NaN with a note when some target is ~0 (see :data:`MAPE_ZERO_SHARE`); R2 is NaN
    with a note when the targets are constant. ``classes`` and ``confusion_matrix`` are empty.

    Raises:
        ParameterError: If the arrays differ in length, are empty or hold non-finite values.
    """
    y_true = np.asarray(y_true, dtype="float64").reshape(-1)
    y_pred = np.asarray(y_pred, dtype="float64")
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    if y_pred.shape != y_true.shape or len(y_true) == 0:
        raise ParameterError(
            f"predictions have shape {y_pred.shape}, the targets {y_true.shape}",
            "pass one prediction per test row from a single-output regression model",
        )
    if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
        raise ParameterError(
            "the targets or predictions hold NaN or infinite values",
            "check the model's output layer and the test split",
        )
    errors = y_pred - y_true
    scalars = {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
    }
    notes: list[str] = []
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    if total > 0:
        scalars["r2"] = 1.0 - float(np.sum(errors**2)) / total
    else:
        scalars["r2"] = math.nan
        notes.append("r2 undefined: every test target has the same value")
    magnitude = np.abs(y_true)
    if magnitude.min() <= MAPE_ZERO_SHARE * magnitude.max() or magnitude.max() == 0:
        scalars["mape"] = math.nan
        notes.append(
            f"mape skipped: some targets are ~0 (smallest |y| {magnitude.min():.3g}), "
            "so the percentage error is not defined"
        )
    else:
        scalars["mape"] = float(np.mean(np.abs(errors) / magnitude) * 100.0)
    return ModelMetrics(scalars=scalars, classes=[], confusion_matrix=[], notes=notes)
