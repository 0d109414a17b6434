"""Load a table from a local path, a ``gs://`` URI or a built-in dataset.

Built-in sources ship with scikit-learn (no network): ``builtin:breast_cancer`` (binary),
``builtin:digits`` (10 classes), ``builtin:iris`` and ``builtin:wine`` (3 classes), and
``builtin:diabetes`` (regression: disease progression after one year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataLoadError, ParameterError
from kfp_mlops.components.common.io import read_table

BUILTIN_PREFIX = "builtin:"
BUILTINS = ("breast_cancer", "diabetes", "digits", "iris", "wine")
#: Built-ins whose target is a number to predict, not a class.
REGRESSION_BUILTINS = ("diabetes",)


@dataclass(frozen=True)
class LoadResult:
    """A loaded table and where it came from."""

    frame: pd.DataFrame
    source: str
    target_column: str

    @property
    def num_classes(self) -> int:
        """Distinct values of the target column (0 for a continuous regression target)."""
        from kfp_mlops.components.data.split_and_preprocess.fitting import infer_task_type

        if infer_task_type(self.frame[self.target_column]) == "regression":
            return 0
        return int(self.frame[self.target_column].nunique())


def snake_case(name: str) -> str:
    """``'mean radius'`` -> ``'mean_radius'``: names safe for GX, KServe V2 and TFLite."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()


def load_builtin(name: str, target_column: str = "target") -> pd.DataFrame:
    """Return a scikit-learn bundled dataset with snake_case columns and named classes."""
    from sklearn import datasets

    if name not in BUILTINS:
        raise ParameterError(
            f"unknown built-in dataset '{name}'",
            f"use one of {', '.join(BUILTIN_PREFIX + b for b in BUILTINS)}",
        )
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns=snake_case)
    target = frame.pop("target")
    if name not in ("digits", *REGRESSION_BUILTINS):
        # Class names make label encoding visible; digits' names are the digits themselves.
        target = target.map(dict(enumerate(bunch.target_names))).astype(str)
    frame[target_column] = target
    return frame


def load(
    source: str,
    file_format: str = "auto",
    target_column: str = "target",
    client: Any = None,
) -> LoadResult:
    """Load ``source`` and check that it has the target column.

    Args:
        source: ``builtin:<name>``, a local path or a ``gs://bucket/object`` URI (CSV or Parquet).
        file_format: ``auto`` (from the suffix), ``csv`` or ``parquet``.
        target_column: Column holding the label; it must exist and have no missing values.
        client: A google-cloud-storage client (tests pass one for the emulator).

    Raises:
        DataLoadError: If the source cannot be read or has no usable target column.
        ParameterError: If a parameter is invalid.
    """
    if not source:
        raise ParameterError("source is empty", "give builtin:breast_cancer, a path or a gs:// URI")
    if source.startswith(BUILTIN_PREFIX):
        frame = load_builtin(source[len(BUILTIN_PREFIX) :], target_column)
    else:
        frame = read_table(source, file_format=file_format, client=client)
    if target_column not in frame.columns:
        raise DataLoadError(
            f"target column '{target_column}' is missing from '{source}' "
            f"(columns: {', '.join(map(str, frame.columns[:10]))}"
            f"{'...' if frame.shape[1] > 10 else ''})",
            "set target_column to the label's column name",
        )
    missing = int(frame[target_column].isna().sum())
    if missing == len(frame):
        raise DataLoadError(
            f"target column '{target_column}' has no values",
            "check the export that wrote the labels",
        )
    if missing:
        raise DataLoadError(
            f"target column '{target_column}' has {missing} missing values "
            f"(first at row {int(frame[target_column].isna().to_numpy().argmax())})",
            "drop unlabelled rows before training or fill them",
        )
    return LoadResult(frame=frame, source=source, target_column=target_column)
