"""The checks of a monitoring run: labels, quality vs the baseline, latency, feature matrix.

Metrics and latency percentiles are :mod:`kfp_mlops.components.common.metrics`'s, as in
evaluation, so the recent window is scored as the champion's baseline was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.common.metrics import latency_percentiles
from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
from kfp_mlops.components.monitoring.monitor_model.baselines import LOWER_IS_BETTER, METRICS

log = logging.getLogger(__name__)

#: Level names by number (the ``level`` metric).
LEVELS = ("ok", "warning", "critical")
LATENCY_COLUMN = "latency_ms"
MAX_LATENCY_SAMPLES = 10_000


@dataclass(frozen=True)
class MetricCheck:
    """One quality metric compared with its baseline."""

    name: str
    value: float
    baseline: float
    ratio: float
    level: int

    @property
    def level_name(self) -> str:
        """``ok``, ``warning`` or ``critical``."""
        return LEVELS[self.level]


def compare_with_baseline(
    values: Mapping[str, float],
    baseline: Mapping[str, float],
    warning_ratio: float = 0.95,
    critical_ratio: float = 0.90,
) -> list[MetricCheck]:
    """Level of each metric that has a baseline.

    A score (accuracy, F1, ...) is at level 2 (critical) below ``critical_ratio x baseline``
    and 1 (warning) below ``warning_ratio x baseline``. An error (RMSE, MAE) mirrors that: 2
    above ``(2 - critical_ratio) x baseline`` and 1 above ``(2 - warning_ratio) x baseline``,
    so the runbook's 0.95 / 0.90 mean 5% / 10% worse either way. Else 0.
    """
    checks = []
    for name in METRICS:
        if name not in values or name not in baseline:
            continue
        value, base = float(values[name]), float(baseline[name])
        if name in LOWER_IS_BETTER:
            critical, warning = (
                value > (2 - critical_ratio) * base,
                value > (2 - warning_ratio) * base,
            )
        else:
            critical, warning = value < critical_ratio * base, value < warning_ratio * base
        level = 2 if critical else 1 if warning else 0
        checks.append(MetricCheck(name, value, base, value / base, level))
    return checks


def limit_text(check: MetricCheck, ratio: float) -> str:
    """The bound a check crossed, as its finding says it (``below 95%``, ``above 105%``)."""
    if check.name in LOWER_IS_BETTER:
        return f"above {2 - ratio:.0%}"
    return f"below {ratio:.0%}"


def latency_from_log(frame: pd.DataFrame, column: str = LATENCY_COLUMN) -> dict[str, Any] | None:
    """Percentiles of a logged latency column (ms); ``None`` if absent or without values.

    Raises:
        DataValidationError: If the column is not numeric.
    """
    if not column or column not in frame.columns:
        return None
    values = frame[column]
    if not ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
        raise DataValidationError(
            f"latency column '{column}' is {values.dtype}, not numeric milliseconds",
            "log latency as a number of milliseconds, or set latency_column to another column",
        )
    finite = values.to_numpy(dtype="float64")
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        log.warning("latency column '%s' has no values: measuring instead", column)
        return None
    return _percentiles(finite, "log")


def measure_latency(
    predict: Callable[[np.ndarray], Any], features: np.ndarray, samples: int = 100
) -> dict[str, Any]:
    """Time ``samples`` single-row predictions (cycling through ``features``), in ms.

    Args:
        predict: The served model's call (:class:`~.inference.KerasModel` or
            :class:`~.inference.TFLiteModel`): the code path the server runs per request.
        features: Feature rows to cycle through.
        samples: Calls to time.

    A few unrecorded calls first warm the model up, as a running server would be.
    """
    samples = min(int(samples), MAX_LATENCY_SAMPLES)
    rows = np.asarray(features, dtype="float32")
    for i in range(min(3, len(rows))):
        predict(rows[i : i + 1])
    times = np.empty(samples)
    for i in range(samples):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        predict(row)
        times[i] = (time.perf_counter() - start) * 1000.0
    return _percentiles(times, "measured")


def check_labels(
    current: pd.DataFrame, reference: pd.DataFrame, preprocessor: Preprocessor
) -> tuple[np.ndarray, np.ndarray] | None:
    """Encoded labels of the labelled recent rows, checked against the reference's.

    Returns:
        ``(row_mask, codes)``, or ``None`` when the window has no labels. A regression
        model's "codes" are the targets in their own units (float64).

    Raises:
        DataValidationError: If the labels have another type than the reference's (e.g.
            ints vs class names), values that are not classes of the model, or (regression)
            targets that are not finite numbers.
    """
    target = preprocessor.target_column
    if target not in current.columns:
        return None
    mask = current[target].notna().to_numpy()
    if not mask.any():
        return None
    labels = current.loc[mask, target]
    if not preprocessor.task_spec.is_classification:
        return mask, _regression_targets(labels, target)
    kind = _value_kind(labels)
    classes = list(preprocessor.classes)
    if target in reference.columns:
        ref_kind = _value_kind(reference[target].dropna())
        if kind != ref_kind:
            raise DataValidationError(
                f"labels in '{target}' are {kind} ({labels.dtype}, e.g. "
                f"{labels.head(3).tolist()}) in the recent window but {ref_kind} "
                f"({reference[target].dtype}) in the reference, whose classes are {classes}",
                "log the original class values as in the training data (not encoded or "
                "re-typed ones), or cast the column upstream",
            )
    text = _label_text(labels, classes)
    unknown = sorted(set(text) - {str(c) for c in classes})
    if unknown:
        raise DataValidationError(
            f"labels {unknown[:5]} in '{target}' of the recent window are not classes of the "
            f"model ({classes})",
            "fix the labelling or join that produced them; if the classes are real, retrain "
            "on data that contains them (monitoring does not retrain on unknown labels)",
        )
    return mask, preprocessor.encode_labels(text)


def _regression_targets(labels: pd.Series, target: str) -> np.ndarray:
    """A regression window's targets as float64, refused unless every one is a finite number."""
    if not ptypes.is_numeric_dtype(labels) or ptypes.is_bool_dtype(labels):
        raise DataValidationError(
            f"the regression target '{target}' of the recent window is {labels.dtype} "
            f"(e.g. {labels.head(3).tolist()}), not numeric",
            "log the target as a number in the units the model was trained on",
        )
    values = labels.to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        raise DataValidationError(
            f"the regression target '{target}' has {int((~np.isfinite(values)).sum())} "
            "infinite values in the recent window",
            "fix the labelling that produced them (missing targets may be left empty)",
        )
    return values


def features(preprocessor: Preprocessor, frame: pd.DataFrame, name: str) -> np.ndarray:
    """Transformed features; non-finite values (missing, inf) are bad data, not drift."""
    x = preprocessor.transform_features(frame)
    bad = ~np.isfinite(x)
    if bad.any():
        counts = bad.sum(axis=0)
        cols = [
            f"'{preprocessor.feature_names[j]}' ({int(counts[j])} rows)"
            for j in np.flatnonzero(counts)
        ]
        raise DataValidationError(
            f"the {name} has missing or infinite values in {', '.join(cols[:10])}",
            "fix the logging/ETL that produced them; monitoring stops rather than decide on "
            "incomplete rows",
        )
    return x


def _value_kind(values: pd.Series) -> str:
    """``numeric``, ``bool`` or ``text`` (or ``mixed (...)``) for a label column."""
    inferred = ptypes.infer_dtype(values, skipna=True)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "numeric"
    if inferred == "boolean":
        return "bool"
    if inferred in ("string", "empty"):
        return "text"
    return f"mixed ({inferred})"


def _label_text(labels: pd.Series, classes: Sequence[str]) -> pd.Series:
    """Labels spelled as the preprocessor's classes (a 1.0 from an int column with gaps is 1)."""
    text = labels.astype(str)
    if ptypes.is_float_dtype(labels) and not text.isin([str(c) for c in classes]).all():
        values = labels.to_numpy(dtype="float64")
        if np.all(np.isfinite(values) & (values == np.round(values))):
            text = pd.Series(values.astype("int64").astype(str), index=labels.index)
    return text


def _percentiles(values: np.ndarray, source: str) -> dict[str, Any]:
    return {"source": source, "samples": len(values), **latency_percentiles(values)}
