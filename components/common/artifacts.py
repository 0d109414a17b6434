"""The processed split: one owner for its label column, loading, checks and class count.

``split_and_preprocess`` writes three Parquet splits: float feature columns and an int64
:data:`~kfp_mlops.components.common.task.LABEL` column. A split is one Parquet file or a
sharded directory (:mod:`.shards`, for data larger than memory). Training (launcher and
workers), tuning, optimization, evaluation and monitoring read them through this module, so
a malformed split raises the same :class:`SplitError` with the same words everywhere.

Only pandas, numpy and pyarrow are imported (the trainer env imports this module too);
Keras model files are found through :mod:`.model_dir`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import DataLoadError, ParameterError
from kfp_mlops.components.common.model_dir import KERAS_FILE
from kfp_mlops.components.common.task import LABEL

__all__ = [
    "KERAS_FILE",
    "LABEL",
    "Split",
    "SplitError",
    "check_split",
    "check_split_schema",
    "class_count",
    "iter_xy",
    "keras_file",
    "load_keras",
    "load_xy",
    "num_classes_of",
    "read_split",
    "split_rows",
]

_FIX = "pass the Datasets written by split_and_preprocess (float features + int label)"


class SplitError(DataLoadError):
    """A processed split is missing, unreadable or breaks the split contract."""


@dataclass
class Split:
    """A processed split as arrays."""

    x: np.ndarray
    y: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.y)


def _exists(path: str, name: str) -> None:
    if not Path(path).exists():
        raise SplitError(
            f"the {name} set '{path}' does not exist", "check the upstream task's output"
        )


def read_split(path: str, name: str = "split", regression: bool = False) -> pd.DataFrame:
    """Read a local processed split (Parquet file or shards) and check it with :func:`check_split`.

    Materialises the split; steps that must stay within bounded memory use :func:`iter_xy`.

    Raises:
        SplitError: If the file is missing, unreadable or breaks the contract.
    """
    _exists(path, name)
    try:
        frame = shards.read_table(path) if Path(path).is_dir() else pd.read_parquet(path)
    except shards.ShardError as exc:
        raise SplitError(f"cannot read the {name} set: {exc.problem}", _FIX) from exc
    except Exception as exc:  # pyarrow raises several types; name the file in one message
        raise SplitError(f"cannot read the {name} set '{path}' as Parquet: {exc}", _FIX) from exc
    check_split(frame, name, regression=regression)
    return frame


def _check_columns(frame: pd.DataFrame, name: str, feature_names: Sequence[str]) -> list[str]:
    """Label present, features present and numeric; the feature names in order."""
    if LABEL not in frame.columns:
        raise SplitError(
            f"the {name} set has no '{LABEL}' column (columns: {list(frame.columns)[:10]})", _FIX
        )
    names = list(feature_names) or [c for c in frame.columns if c != LABEL]
    if not names:
        raise SplitError(f"the {name} set has no feature columns", "check the preprocessing step")
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise SplitError(
            f"the {name} set lacks feature columns {missing[:10]}",
            "split train, validation and test from the same preprocessed table",
        )
    non_numeric = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise SplitError(
            f"feature columns {non_numeric[:10]} of the {name} set are not numeric",
            "encode them with split_and_preprocess before training",
        )
    return names


def check_split(
    frame: pd.DataFrame,
    name: str = "split",
    feature_names: Sequence[str] = (),
    regression: bool = False,
) -> list[str]:
    """Check a processed split; return its feature columns in model-input order.

    Args:
        frame: The split.
        name: How messages call it (``training``, ``validation``, ``test``...).
        feature_names: Columns the model needs (empty: every column but the label).
        regression: Labels are float targets (else int class codes).

    Raises:
        SplitError: On no rows, no label column, missing or non-numeric features, or labels
            that are not integers.
    """
    if len(frame) == 0:
        raise SplitError(
            f"the {name} set has no rows", "check the split fractions and the upstream data"
        )
    names = _check_columns(frame, name, feature_names)
    labels = frame[LABEL]
    if regression:
        if not pd.api.types.is_float_dtype(labels) or not np.isfinite(labels.to_numpy()).all():
            raise SplitError(
                f"the {name} regression targets are not finite floats (dtype {labels.dtype})",
                "write the splits with split_and_preprocess (task_type='regression')",
            )
        return names
    if labels.isna().any() or not pd.api.types.is_integer_dtype(labels):
        raise SplitError(
            f"the {name} labels are not integers (dtype {labels.dtype})",
            "encode the classes as 0..num_classes-1 (split_and_preprocess does this)",
        )
    return names


def split_rows(path: str, name: str = "split") -> int:
    """Rows of a processed split, from its manifest or Parquet footer (no scan).

    Raises:
        SplitError: If the split is missing or unreadable.
    """
    _exists(path, name)
    try:
        return shards.read_manifest(path).rows
    except shards.ShardError as exc:
        raise SplitError(f"cannot read the {name} set: {exc.problem}", _FIX) from exc


def check_split_schema(
    path: str, name: str = "split", feature_names: Sequence[str] = (), regression: bool = False
) -> list[str]:
    """:func:`check_split` from the schema alone (manifest or footer): no rows are read.

    What needs the values (missing labels, finite targets) is checked per batch by
    :func:`iter_xy`. Returns the feature columns in model-input order.

    Raises:
        SplitError: On no rows, no label column, or missing or non-numeric features.
    """
    _exists(path, name)
    try:
        manifest = shards.read_manifest(path)
    except shards.ShardError as exc:
        raise SplitError(f"cannot read the {name} set: {exc.problem}", _FIX) from exc
    if manifest.rows == 0:
        raise SplitError(
            f"the {name} set has no rows", "check the split fractions and the upstream data"
        )
    # An empty frame of the split's dtypes, from the first file's footer.
    empty = shards.file_schema(manifest.files[0]).empty_table().to_pandas()
    names = _check_columns(empty, name, feature_names)
    kind = empty[LABEL].dtype
    if regression and not pd.api.types.is_float_dtype(kind):
        raise SplitError(
            f"the {name} regression targets are not floats (dtype {kind})",
            "write the splits with split_and_preprocess (task_type='regression')",
        )
    if not regression and not pd.api.types.is_integer_dtype(kind):
        raise SplitError(
            f"the {name} labels are not integers (dtype {kind})",
            "encode the classes as 0..num_classes-1 (split_and_preprocess does this)",
        )
    return names


def iter_xy(
    path: str,
    name: str = "split",
    feature_names: Sequence[str] = (),
    batch_rows: int = shards.DEFAULT_BATCH_ROWS,
    regression: bool = False,
    parts: list[shards.Part] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream a processed split as (float32 features, labels) batches, each checked.

    Args:
        path: The split (file or shards).
        name: How messages call it.
        feature_names: Model-input columns (default: the schema's, label excluded).
        batch_rows: Rows per batch at most.
        regression: Labels are float targets (else int64 class codes).
        parts: Read only these rows (:func:`shards.files_for_rank`), else all.

    Raises:
        SplitError: If the split breaks the contract (checked on every batch).
    """
    names = check_split_schema(path, name, feature_names, regression)
    columns = [*names, LABEL]
    try:
        batches = (
            shards.iter_parts(parts, columns=columns, batch_rows=batch_rows)
            if parts is not None
            else shards.iter_batches(path, columns=columns, batch_rows=batch_rows)
        )
        for batch in batches:
            frame = batch.to_pandas()
            check_split(frame, name, names, regression)
            y = frame[LABEL].to_numpy(dtype="float32" if regression else "int64")
            yield frame[names].to_numpy(dtype="float32"), y
    except shards.ShardError as exc:
        raise SplitError(f"cannot read the {name} set: {exc.problem}", _FIX) from exc


def class_count(labels: dict[str, np.ndarray], num_classes: int = 0) -> int:
    """The class count of classification splits: given, or ``max(label) + 1``; checked.

    Args:
        labels: Label arrays by split name (the first is the training split).
        num_classes: Expected count (the task spec's); 0 infers it.

    Raises:
        SplitError: On labels outside ``0..num_classes-1`` or fewer than two classes.
    """
    if num_classes and num_classes < 2:
        raise SplitError(f"num_classes is {num_classes}", "a classifier needs at least 2 classes")
    lowest = int(min(y.min() for y in labels.values()))
    highest = int(max(y.max() for y in labels.values()))
    classes = num_classes or highest + 1
    if lowest < 0 or highest >= classes:
        raise SplitError(
            f"labels span {lowest}..{highest} but must lie in 0..{classes - 1} "
            f"(num_classes={classes})",
            "encode the classes as 0..num_classes-1, or fix num_classes",
        )
    first = next(iter(labels))
    distinct = len(np.unique(labels[first]))
    if classes < 2 or distinct < 2:
        raise SplitError(
            f"the {first} labels have {distinct} distinct class(es)",
            f"a classifier needs at least two classes in the {first} data",
        )
    return classes


def load_xy(path: str, name: str = "split") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A local processed split -> (float32 features, int64 labels, feature names).

    Raises:
        SplitError: If the split is missing, unreadable or breaks the contract.
    """
    frame = read_split(path, name)
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
    """Classes a classifier predicts: one sigmoid unit means two."""
    width = int(model.outputs[0].shape[-1])
    return 2 if width == 1 else width
