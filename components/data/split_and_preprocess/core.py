"""Train/validation/test split and a preprocessor fit on the training split only.

Classification splits are stratified on the label; regression splits on quantile bins of the
target, so each split sees the whole range. The preprocessor (and the task spec inside it)
is :mod:`.preprocessor`'s; this module splits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.task import LABEL, TASK_TYPES
from kfp_mlops.components.data.split_and_preprocess.fitting import (
    infer_task_type,
    numeric_target,
)
from kfp_mlops.components.data.split_and_preprocess.preprocessor import (
    MAX_CATEGORIES,
    Preprocessor,
)

__all__ = [
    "LABEL",
    "MAX_CATEGORIES",
    "Preprocessor",
    "SplitResult",
    "split_and_preprocess",
    "split_to",
]

log = logging.getLogger(__name__)
#: Quantile bins a regression target is stratified on (fewer when rows are scarce).
TARGET_BINS = 10


@dataclass
class SplitResult:
    """Processed splits, the fitted preprocessor, and the rows that could not be used."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    preprocessor: Preprocessor
    dropped_rows: int = 0
    imputed_values: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Row counts and shape, for metrics and artifact metadata."""
        return {
            "train_rows": len(self.train),
            "validation_rows": len(self.validation),
            "test_rows": len(self.test),
            "num_features": self.preprocessor.num_features,
            "num_classes": self.preprocessor.num_classes,
            "dropped_rows": self.dropped_rows,
            "imputed_values": sum(self.imputed_values.values()),
        }


def split_and_preprocess(
    frame: pd.DataFrame,
    target_column: str = "target",
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
    *,
    task_type: str = "auto",
    impute: bool = True,
    missing_indicator: bool = False,
    standardize_target: bool = True,
) -> SplitResult:
    """Split, then fit the preprocessor on train and apply it to all three splits.

    Args:
        frame: The raw table.
        target_column: The target column.
        validation_fraction: Share of rows for validation, in (0, 1).
        test_fraction: Share of rows for test, in (0, 1).
        seed: Seed of the split.
        task_type: ``auto``, ``binary``, ``multiclass`` or ``regression``.
        impute: Fill feature gaps with training medians / most frequent categories (else a
            gap is an error naming the columns).
        missing_indicator: Add a ``<column>__missing`` feature per column with gaps.
        standardize_target: Regression: train on the standardised target (the default).

    Raises:
        ParameterError: On fractions outside (0, 1) or summing to 0.9 or more, or an unknown
            task type.
        DataValidationError: On a missing target column, gaps with ``impute`` off, a class
            too small to stratify, or a single class.
    """
    from sklearn.model_selection import train_test_split

    _check_parameters(validation_fraction, test_fraction, task_type)
    if target_column not in frame.columns:
        raise DataValidationError(
            f"target column '{target_column}' is missing", "set target_column"
        )
    frame, dropped = _drop_unlabelled(frame, target_column)
    gaps = frame.drop(columns=[target_column]).isna().sum()
    gaps = gaps[gaps > 0]
    if len(gaps) and not impute:
        raise DataValidationError(
            "missing values in " + ", ".join(f"'{c}' ({n} rows)" for c, n in gaps.items()),
            "pass impute=True (training median / most frequent category, fit on train only) "
            "or drop them upstream",
        )
    kind = infer_task_type(frame[target_column]) if task_type == "auto" else task_type
    strata = _strata(frame[target_column], kind)
    rest, test = train_test_split(
        frame, test_size=test_fraction, stratify=strata, random_state=seed
    )
    rel_val = validation_fraction / (1.0 - test_fraction)
    train, validation = train_test_split(
        rest,
        test_size=rel_val,
        stratify=None if strata is None else strata.loc[rest.index],
        random_state=seed,
    )
    proc = Preprocessor.fit(
        train,
        target_column,
        task_type=kind,
        impute=impute,
        missing_indicator=missing_indicator,
        standardize_target=standardize_target,
    )
    result = SplitResult(
        proc.transform(train),
        proc.transform(validation),
        proc.transform(test),
        proc,
        dropped_rows=dropped,
        imputed_values={str(c): int(n) for c, n in gaps.items()},
    )
    if gaps.any():
        log.info("imputed gaps (fill values from the training split): %s", result.imputed_values)
    log.info("split %s (%s)", result.summary(), kind)
    return result


def _check_parameters(validation_fraction: float, test_fraction: float, task_type: str) -> None:
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 < value < 1.0:
            raise ParameterError(f"{name}={value} is outside (0, 1)", "use for example 0.15")
    if validation_fraction + test_fraction >= 0.9:
        raise ParameterError(
            f"validation_fraction + test_fraction = {validation_fraction + test_fraction:.2f} "
            "leaves too little for training",
            "keep their sum below 0.9 (0.15 + 0.15 is usual)",
        )
    if task_type != "auto" and task_type not in TASK_TYPES:
        raise ParameterError(
            f"task_type '{task_type}' is not supported", f"use auto or one of {TASK_TYPES}"
        )


def _drop_unlabelled(frame: pd.DataFrame, target_column: str) -> tuple[pd.DataFrame, int]:
    """Rows without a target cannot train or score: drop them, count them, name a few."""
    unlabelled = frame[target_column].isna()
    if not unlabelled.any():
        return frame, 0
    if unlabelled.all():
        raise DataValidationError(
            f"target column '{target_column}' has no values", "check the export of the labels"
        )
    rows = frame.index[unlabelled]
    log.warning(
        "dropped %d rows without a '%s' value (first rows: %s)",
        len(rows),
        target_column,
        ", ".join(map(str, rows[:5])),
    )
    return frame[~unlabelled], len(rows)


def _strata(target: pd.Series, kind: str) -> pd.Series | None:
    """What to stratify on: the classes, or quantile bins of a regression target.

    Raises:
        DataValidationError: On a single class or a class too small to stratify.
    """
    if kind == "regression":
        numbers = numeric_target(target, str(target.name))
        bins = min(TARGET_BINS, len(target) // 20)
        if bins < 2:
            return None
        return pd.qcut(numbers, q=bins, labels=False, duplicates="drop").astype(str)
    labels = target.astype(str)
    counts = labels.value_counts()
    if len(counts) < 2:
        raise DataValidationError(
            f"target column '{target.name}' has a single class '{counts.index[0]}'",
            "a classifier needs at least two classes",
        )
    smallest = int(counts.min())
    if smallest < 3:
        raise DataValidationError(
            f"class '{counts.idxmin()}' has only {smallest} rows: "
            "too few to stratify into 3 splits",
            "collect more rows of that class or drop it",
        )
    return labels


def split_to(
    dataset_path: str,
    outputs: dict[str, str],
    *,
    shard_above_rows: int = 1_000_000,
    rows_per_shard: int = 1_000_000,
    **options: Any,
) -> tuple[dict[str, int], Preprocessor, dict[str, int]]:
    """The component's entry point: split the Dataset at ``dataset_path`` into ``outputs``.

    A sharded input, or one with more than ``shard_above_rows`` rows (from the Parquet
    footer; 0 turns this off), is split by :func:`.streaming.split_streaming` into sharded
    outputs; a smaller single file as today, in memory and stratified, into single files.

    Args:
        dataset_path: The raw Dataset (a Parquet file or a sharded directory).
        outputs: Paths of the ``train``, ``validation`` and ``test`` artifacts.
        shard_above_rows: Row count above which a single file is streamed too.
        rows_per_shard: Rows per output shard when streaming.
        **options: The keyword arguments of :func:`split_and_preprocess`.

    Returns:
        The summary (:meth:`SplitResult.summary`), the preprocessor and rows per split.
    """
    from kfp_mlops.components.common import shards
    from kfp_mlops.components.common.io import load_dataset_artifact, save_dataset
    from kfp_mlops.components.data.split_and_preprocess.streaming import split_streaming

    streaming = shards.is_sharded(dataset_path) or (
        shard_above_rows > 0 and shards.read_manifest(dataset_path).rows > shard_above_rows
    )
    if streaming:
        result = split_streaming(dataset_path, outputs, rows_per_shard=rows_per_shard, **options)
        rows = {name: m.rows for name, m in result.manifests.items()}
        return result.summary(), result.preprocessor, rows
    memory = split_and_preprocess(load_dataset_artifact(dataset_path), **options)
    frames = {"train": memory.train, "validation": memory.validation, "test": memory.test}
    for name, frame in frames.items():
        save_dataset(frame, outputs[name])
    return memory.summary(), memory.preprocessor, {n: len(f) for n, f in frames.items()}
