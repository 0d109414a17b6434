"""Split and preprocess a dataset larger than memory: hashed split, streaming fit, shards.

Each row goes to train, validation or test by a hash of its row number and the seed
(splitmix64), so the split is deterministic, needs no global shuffle and holds nothing in
memory; with many rows the split fractions and the class shares of each split come out as
asked (a stratified split needs the whole table, this does not). The preprocessor is fit
on the training rows by :mod:`.streaming_fit`, then one more pass transforms every batch
and writes three sharded datasets (:mod:`kfp_mlops.components.common.shards`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor
from kfp_mlops.components.data.split_and_preprocess.streaming_fit import Profile, fit_streaming

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


def assign_splits(
    rows: np.ndarray, seed: int, validation_fraction: float, test_fraction: float
) -> np.ndarray:
    """0 (train), 1 (validation) or 2 (test) for each row number, from a seeded hash."""
    with np.errstate(over="ignore"):
        keys = rows.astype(np.uint64) ^ _splitmix64(np.asarray([seed], dtype=np.uint64))
    u = (_splitmix64(keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.where(u < test_fraction, 2, np.where(u < test_fraction + validation_fraction, 1, 0))


@dataclass
class StreamingSplit:
    """What :func:`split_streaming` wrote: manifests per split and the fitted preprocessor."""

    manifests: dict[str, shards.Manifest]
    preprocessor: Preprocessor
    dropped_rows: int = 0
    imputed_values: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """The same keys as :meth:`.core.SplitResult.summary`."""
        return {
            "train_rows": self.manifests["train"].rows,
            "validation_rows": self.manifests["validation"].rows,
            "test_rows": self.manifests["test"].rows,
            "num_features": self.preprocessor.num_features,
            "num_classes": self.preprocessor.num_classes,
            "dropped_rows": self.dropped_rows,
            "imputed_values": sum(self.imputed_values.values()),
        }


class _Source:
    """Batches of the input with their split codes; unlabelled rows counted and dropped."""

    def __init__(self, path: str, target: str, seed: int, fractions: tuple[float, float]):
        self.path, self.target, self.seed, self.fractions = path, target, seed, fractions
        self.batch_rows = shards.DEFAULT_BATCH_ROWS
        self.dropped = 0

    def batches(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """(labelled rows, their split codes) per batch; counts dropped rows."""
        start = 0
        self.dropped = 0
        for frame in shards.iter_frames(self.path, batch_rows=self.batch_rows):
            codes = assign_splits(np.arange(start, start + len(frame)), self.seed, *self.fractions)
            start += len(frame)
            labelled = frame[self.target].notna().to_numpy()
            self.dropped += int((~labelled).sum())
            yield frame[labelled].reset_index(drop=True), codes[labelled]

    def train_and_labelled(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """(training rows, all labelled rows) per batch: what the fit reads."""
        for frame, codes in self.batches():
            yield frame[codes == 0], frame


def split_streaming(
    path: str,
    outputs: dict[str, str],
    target_column: str = "target",
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
    *,
    task_type: str = "auto",
    impute: bool = True,
    missing_indicator: bool = False,
    standardize_target: bool = True,
    rows_per_shard: int = shards.DEFAULT_ROWS_PER_SHARD,
) -> StreamingSplit:
    """Split ``path`` (file or shards) into sharded ``outputs`` (train/validation/test dirs).

    Arguments and errors as :func:`.core.split_and_preprocess`; the split is a seeded hash
    of the row number (not stratified) and the splits are written as shards.
    """
    from kfp_mlops.components.data.split_and_preprocess.core import _check_parameters

    _check_parameters(validation_fraction, test_fraction, task_type)
    manifest = shards.read_manifest(path)
    if target_column not in manifest.columns:
        raise DataValidationError(
            f"target column '{target_column}' is missing", "set target_column"
        )
    dtypes = shards.file_schema(manifest.files[0]).empty_table().to_pandas().dtypes
    source = _Source(path, target_column, seed, (validation_fraction, test_fraction))
    profile = Profile(manifest.columns, dtypes, target_column)
    for train, labelled in source.train_and_labelled():
        profile.update(train, labelled)
    _check_profile(profile, target_column, impute, source.dropped)
    kind = profile.task_type() if task_type == "auto" else task_type
    profile.check_classes(kind)
    proc = fit_streaming(
        Preprocessor,
        profile,
        source.train_and_labelled,
        task_type=task_type,
        impute=impute,
        missing_indicator=missing_indicator,
        standardize_target=standardize_target,
    )
    manifests = _write_splits(source, proc, outputs, rows_per_shard)
    gaps = {c: n for c, n in profile.gaps.items() if n}
    result = StreamingSplit(manifests, proc, source.dropped, gaps)
    if source.dropped:
        log.warning("dropped %d rows without a '%s' value", source.dropped, target_column)
    log.info("streaming split %s (%s)", result.summary(), kind)
    return result


def _check_profile(profile: Profile, target: str, impute: bool, dropped: int) -> None:
    if profile.rows == 0:
        raise DataValidationError(
            f"target column '{target}' has no values" if dropped else "the dataset has no rows",
            "check the export of the labels",
        )
    gaps = {c: n for c, n in profile.gaps.items() if n}
    if gaps and not impute:
        raise DataValidationError(
            "missing values in " + ", ".join(f"'{c}' ({n} rows)" for c, n in gaps.items()),
            "pass impute=True (training median / most frequent category, fit on train only) "
            "or drop them upstream",
        )
    if profile.train_rows == 0:
        raise DataValidationError(
            f"no row of {profile.rows} fell into the training split",
            "lower validation_fraction and test_fraction, or load more rows",
        )


def _write_splits(
    source: _Source, proc: Preprocessor, outputs: dict[str, str], rows_per_shard: int
) -> dict[str, Any]:
    """The last pass: transform every batch and append it to its split's shards."""
    writers = {
        name: shards.ShardWriter(outputs[name], rows_per_shard=rows_per_shard) for name in SPLITS
    }
    try:
        for frame, codes in source.batches():
            for code, name in enumerate(SPLITS):
                part = frame[codes == code]
                if len(part):
                    writers[name].write(proc.transform(part))
        empty = [name for name in SPLITS if writers[name].rows == 0]
        if empty:
            raise DataValidationError(
                f"the {empty[0]} split got no rows", "raise its fraction or load more rows"
            )
        return {name: writer.close() for name, writer in writers.items()}
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
