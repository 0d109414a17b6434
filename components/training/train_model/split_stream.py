"""Processed splits read by metadata and in bounded batches: one Parquet file or a shard directory.

A thin layer over the shared sharded-dataset contract (:mod:`kfp_mlops.components.common.shards`
and :func:`~kfp_mlops.components.common.artifacts.check_split`) for training and evaluation:

- :func:`describe` and :func:`label_range` read the manifest and Parquet footers only (the
  label range from row-group statistics), so the launcher checks a split of any size
  without loading it;
- :func:`rank_parts` is a rank's contiguous, balanced slice of rows
  (:func:`~kfp_mlops.components.common.shards.files_for_rank`) cut at row-group boundaries,
  so a rank can visit its row groups in a shuffled order;
- :func:`iter_chunks` streams (features, labels) in chunks of exactly ``chunk_rows`` rows.

Imports only numpy, pandas and pyarrow: the trainer env (TensorFlow 2.15) loads it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.artifacts import (
    LABEL,
    SplitError,
    check_split,
    check_split_schema,
)

#: Rows a single-file split may have and still be read whole into memory (the fast path).
IN_MEMORY_MAX_ROWS = 1_000_000
#: Rows per record batch read from Parquet.
READ_ROWS = 8192

_FIX = "pass the Datasets written by split_and_preprocess (a Parquet file or a shard directory)"


@dataclass
class SplitInfo:
    """What the metadata says about a split: rows and files, nothing scanned."""

    path: str
    rows: int
    files: list[str]
    sharded: bool

    @property
    def streaming(self) -> bool:
        """Whether to stream it: a directory, or too many rows for the in-memory path."""
        return self.sharded or self.rows > IN_MEMORY_MAX_ROWS


def describe(path: str, name: str = "split") -> SplitInfo:
    """Rows and files of a split from its manifest or Parquet footers (no rows read).

    Raises:
        SplitError: If the split is missing or unreadable (the file named).
    """
    if not Path(path).exists():
        raise SplitError(f"the {name} set '{path}' does not exist", "check the upstream output")
    try:
        manifest = shards.read_manifest(path)
        # Every shard's footer, not only the manifest: a shard replaced with other columns
        # (or not Parquet at all) is named here, before any worker starts.
        shards.unified_schema(manifest.files)
    except shards.ShardError as exc:
        raise SplitError(f"cannot read the {name} set: {exc.problem}", _FIX) from exc
    return SplitInfo(str(path), manifest.rows, manifest.files, Path(path).is_dir())


def check(
    info: SplitInfo, name: str, feature_names: Sequence[str] = (), regression: bool = False
) -> list[str]:
    """The split contract from the schema alone; the feature columns in model-input order."""
    return check_split_schema(info.path, name, feature_names, regression)


def label_range(info: SplitInfo) -> tuple[float, float, int]:
    """Smallest and largest label and the null count, from row-group statistics.

    A row group without statistics has its label column streamed (one column, in
    batches), so this stays cheap for files written by pyarrow and correct for others.

    Raises:
        SplitError: If a file cannot be read.
    """
    low, high, nulls = np.inf, -np.inf, 0
    for file in info.files:
        try:
            source = pq.ParquetFile(file)
        except OSError as exc:
            raise SplitError(f"cannot read '{file}' as Parquet: {exc}", _FIX) from exc
        meta = source.metadata
        index = meta.schema.names.index(LABEL)
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if stats is not None and stats.has_min_max and stats.has_null_count:
                low, high = min(low, float(stats.min)), max(high, float(stats.max))
                nulls += int(stats.null_count)
                continue
            labels = source.read_row_group(group, columns=[LABEL]).column(0)
            values = labels.to_numpy(zero_copy_only=False).astype("float64")
            nulls += int(np.isnan(values).sum())
            if np.isfinite(values).any():
                low, high = min(low, float(np.nanmin(values))), max(high, float(np.nanmax(values)))
    return low, high, nulls


def rank_parts(info: SplitInfo, rank: int, size: int) -> list[shards.Part]:
    """This rank's rows (:func:`shards.files_for_rank`), cut at the row-group boundaries.

    The ranks' parts are disjoint, cover the split and differ by at most one row; cutting
    them per row group gives a rank units it can visit in a shuffled order.
    """
    pieces: list[shards.Part] = []
    for part in shards.files_for_rank(info.path, rank, size):
        first = 0
        meta = pq.ParquetFile(part.file).metadata
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            lo, hi = max(part.start, first), min(part.stop, first + rows)
            if lo < hi:
                pieces.append(shards.Part(part.file, lo, hi))
            first += rows
    return pieces


def iter_chunks(
    info: SplitInfo,
    features: Sequence[str],
    regression: bool = False,
    chunk_rows: int = 4096,
    parts: list[shards.Part] | None = None,
    name: str = "split",
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Float32 features and labels in order, in chunks of exactly ``chunk_rows`` (last shorter).

    Labels are int64 class codes or float64 regression targets.

    Each batch is checked against the split contract as it is read (missing labels,
    non-finite targets), so a bad row anywhere fails with the same :class:`SplitError`.

    Args:
        info: The split.
        features: Model-input columns.
        regression: Float targets (else int64 class codes).
        chunk_rows: Rows per chunk.
        parts: Only these rows (:func:`rank_parts`), else the whole split.
        name: How messages call the split.
    """
    rest: tuple[np.ndarray, np.ndarray] | None = None
    for batch_x, batch_y in _batches(info, features, regression, chunk_rows, parts, name):
        x, y = batch_x, batch_y
        if rest is not None:
            x, y = np.concatenate([rest[0], x]), np.concatenate([rest[1], y])
        full = len(y) // chunk_rows * chunk_rows
        for start in range(0, full, chunk_rows):
            yield x[start : start + chunk_rows], y[start : start + chunk_rows]
        rest = (x[full:], y[full:])
    if rest is not None and len(rest[1]):
        yield rest


def _batches(
    info: SplitInfo,
    features: Sequence[str],
    regression: bool,
    chunk_rows: int,
    parts: list[shards.Part] | None,
    name: str,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Record batches as (float32 features, labels), each checked against the contract.

    Labels keep the split's precision: int64 class codes, float64 targets (evaluation
    decodes them exactly as the in-memory path does).
    """
    columns = [*features, LABEL]
    read_rows = max(READ_ROWS, chunk_rows)
    try:
        batches = (
            shards.iter_parts(parts, columns=columns, batch_rows=read_rows)
            if parts is not None
            else shards.iter_batches(info.path, columns=columns, batch_rows=read_rows)
        )
        for batch in batches:
            frame = batch.to_pandas()
            check_split(frame, name, features, regression)
            labels = frame[LABEL].to_numpy("float64" if regression else "int64")
            yield frame[list(features)].to_numpy(dtype="float32"), labels
    except shards.ShardError as exc:
        raise SplitError(f"cannot read the {name} set: {exc.problem}", _FIX) from exc
