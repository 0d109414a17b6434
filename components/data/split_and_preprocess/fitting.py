"""What fitting the preprocessor decides: the task type, the task spec, fill values.

Plain functions on pandas Series, kept apart from :mod:`.preprocessor`'s transforms.
:func:`fit_frame` fits on an in-memory frame; :mod:`.streaming_fit` gathers the same
statistics batch by batch; both end in :func:`finish`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.task import TaskSpec

#: A numeric target with at most this many distinct integer values is read as classes.
MAX_INTEGER_CLASSES = 20
#: Categorical columns with more distinct values than this are rejected: one-hot would explode.
MAX_CATEGORIES = 100
INDICATOR_SUFFIX = "__missing"


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
    kind: str,
    target: str,
    proc: Any,
    values: pd.Series | None,
    standardize: bool,
    moments: tuple[float, float] | None = None,
) -> TaskSpec:
    """The task spec of a fitted preprocessor ``proc`` for task ``kind``.

    A regression target's mean and standard deviation come from ``values`` or, when
    streaming, from ``moments``.

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
    if moments is None:
        numbers = numeric_target(values, target)  # type: ignore[arg-type]
        moments = (float(numbers.mean()), float(numbers.std(ddof=0)))
    mean, scale = (moments[0], moments[1] or 1.0) if standardize else (0.0, 1.0)
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


def check_categories(column: str, distinct: int) -> None:
    """Reject a text column with more than :data:`MAX_CATEGORIES` distinct values."""
    if distinct > MAX_CATEGORIES:
        raise DataValidationError(
            f"column '{column}' is not numeric and has {distinct} distinct values",
            "convert it to numbers, drop it, or bucket it into fewer categories",
        )


def fit_frame(
    cls: Any,
    frame: pd.DataFrame,
    target_column: str,
    *,
    task_type: str = "auto",
    impute: bool = False,
    missing_indicator: bool = False,
    standardize_target: bool = False,
) -> Any:
    """:meth:`Preprocessor.fit` on an in-memory training frame (``cls`` is the class)."""
    from kfp_mlops.components.common.images import is_image_frame

    if is_image_frame(frame):
        return fit_images(cls, frame, target_column, task_type, standardize_target)
    features = frame.drop(columns=[target_column])
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    categorical = [c for c in features.columns if c not in numeric]
    for col in categorical:
        check_categories(col, features[col].nunique())
    kind = infer_task_type(frame[target_column]) if task_type == "auto" else task_type
    classes = (
        []
        if kind == "regression"
        else sorted(frame[target_column].astype(str).unique().tolist(), key=natural_key)
    )
    proc = start(cls, target_column, classes, numeric, categorical, impute)
    if impute:
        proc.fill_numeric = [finite_or_zero(features[c].median()) for c in numeric]
        proc.fill_categorical = [most_frequent(features[c]) for c in categorical]
        if missing_indicator:
            proc.indicator_columns = [c for c in numeric + categorical if features[c].isna().any()]
    filled = proc._filled(features)
    if numeric:
        values = filled[numeric].to_numpy(dtype="float64")
        proc.mean = values.mean(axis=0).tolist()
        proc.scale = [float(s) if s > 0 else 1.0 for s in values.std(axis=0)]
    proc.categories = [sorted(filled[c].astype(str).unique().tolist()) for c in categorical]
    return finish(proc, kind, frame[target_column], standardize_target)


def start(
    cls: Any,
    target_column: str,
    classes: list[str],
    numeric: list[str],
    categorical: list[str],
    impute: bool,
) -> Any:
    """A preprocessor with its columns and classes; statistics are filled in by the caller."""
    return cls(
        target_column=target_column,
        classes=classes,
        numeric_columns=numeric,
        categorical_columns=categorical,
        impute=impute,
        # A placeholder that skips the classification default; the real spec is set by finish.
        task={"task_type": "regression", "target_column": target_column},
    )


def finish(
    proc: Any,
    kind: str,
    target: pd.Series | None,
    standardize_target: bool,
    moments: tuple[float, float] | None = None,
) -> Any:
    """Feature names and the task spec, once the statistics are set; returns ``proc``."""
    pairs = zip(proc.categorical_columns, proc.categories, strict=True)
    proc.feature_names = (
        list(proc.numeric_columns)
        + [f"{c}={v}" for c, cats in pairs for v in cats]
        + [f"{c}{INDICATOR_SUFFIX}" for c in proc.indicator_columns]
    )
    spec = task_spec_for(kind, proc.target_column, proc, target, standardize_target, moments)
    proc.task = spec.to_json()
    proc._spec = spec
    return proc


def fit_images(
    cls: Any, frame: pd.DataFrame, target_column: str, task_type: str, standardize: bool
) -> Any:
    """Fit on a raw image Dataset: the image shape (the most common one) and the task.

    Pixels are scaled by 1/255 (no statistics to learn); a file of another shape fails the
    transform naming it (validation reports such files first).
    """
    from dataclasses import replace

    from kfp_mlops.components.common import images

    names = frame.get(images.FILE_COLUMN, pd.Series(range(len(frame)))).astype(str).tolist()
    sample = [
        images.inspect(data, name)
        for data, name in zip(frame[images.IMAGE_COLUMN][:256], names[:256], strict=False)
    ]
    shape = images.majority_shape(sample)
    kind = infer_task_type(frame[target_column]) if task_type == "auto" else task_type
    classes = (
        []
        if kind == "regression"
        else sorted(frame[target_column].astype(str).unique().tolist(), key=natural_key)
    )
    proc = start(cls, target_column, classes, [], [], False)
    proc.image_column = images.IMAGE_COLUMN
    proc.feature_names = images.pixel_names(shape)
    spec = task_spec_for(kind, target_column, proc, frame[target_column], standardize)
    spec = replace(spec, feature_kind="image", image_shape=shape)
    proc.task = spec.to_json()
    proc._spec = spec
    return proc
