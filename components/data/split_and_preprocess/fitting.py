"""What fitting the preprocessor decides: the task type, the task spec, fill values.

Plain functions on pandas Series, kept apart from :mod:`.preprocessor`'s transforms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.task import TaskSpec

#: A numeric target with at most this many distinct integer values is read as classes.
MAX_INTEGER_CLASSES = 20


def infer_task_type(target: pd.Series) -> str:
    """``binary``/``multiclass`` for labels, ``regression`` for a continuous numeric target."""
    values = target.dropna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        integral = bool(np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0))
        if not integral or values.nunique() > MAX_INTEGER_CLASSES:
            return "regression"
    return "binary" if values.astype(str).nunique() == 2 else "multiclass"


def numeric_target(values: pd.Series, target: str) -> pd.Series:
    """A regression target as numbers.

    Raises:
        DataValidationError: Naming the first value that is not a number.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise DataValidationError(
            f"the regression target '{target}' has non-numeric values "
            f"(first: {values[bad].iloc[0]!r})",
            "clean the target column or use a classification task_type",
        )
    return numbers


def task_spec_for(
    kind: str, target: str, proc: Any, values: pd.Series, standardize: bool
) -> TaskSpec:
    """The task spec of a fitted preprocessor ``proc`` for task ``kind``.

    Raises:
        ParameterError: If a classification kind does not fit the number of classes.
        DataValidationError: If a regression target has non-numeric values.
    """
    if kind != "regression":
        spec = TaskSpec.for_classes(target, proc.classes, proc.feature_names)
        if kind != spec.task_type:
            raise ParameterError(
                f"task_type '{kind}' does not fit {len(proc.classes)} classes",
                f"use task_type='{spec.task_type}' or 'auto'",
            )
        return spec
    numbers = numeric_target(values, target)
    mean, scale = (
        (float(numbers.mean()), float(numbers.std(ddof=0) or 1.0)) if standardize else (0.0, 1.0)
    )
    return TaskSpec(
        "regression", target, feature_names=proc.feature_names, target_mean=mean, target_scale=scale
    )


def finite_or_zero(value: Any) -> float:
    """A median, or 0.0 for a column with no value at all in training."""
    return float(value) if pd.notna(value) else 0.0


def most_frequent(column: pd.Series) -> str:
    """The most frequent value as a string (``"missing"`` for an all-empty column)."""
    counts = column.dropna().astype(str).value_counts()
    return str(counts.index[0]) if len(counts) else "missing"


def natural_key(value: str) -> tuple[int, float | str]:
    """Sort numeric class names numerically ('2' < '10'), others alphabetically."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)
