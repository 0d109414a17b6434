"""Sharded datasets: a directory of bounded Parquet shards plus a manifest.

One owner for the on-disk format every step agrees on::

    <dataset>/
      _dataset.json        {"format": "kfp-mlops-shards/1", "rows": N,
                            "shards": [{"file": "part-00000.parquet", "rows": n}, ...],
                            "schema": [{"name": "age", "type": "double"}, ...]}
      part-00000.parquet   at most ``rows_per_shard`` rows, in row groups
      part-00001.parquet
      ...

A single Parquet or CSV file stays valid wherever a dataset is read, and so do a plain
directory or a glob of such files: :func:`iter_batches` streams any of them as
:class:`pyarrow.RecordBatch` objects, so no step has to hold a whole table. The manifest
tells later steps rows, shards and schema without scanning.

The format and file discovery live in :mod:`.shard_format`, the writer in
:mod:`.shard_writer`; import everything from here. Only pyarrow and pandas are imported
(the trainer env imports this module too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from kfp_mlops.components.common.shard_format import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_ROW_GROUP_ROWS,
    DEFAULT_ROWS_PER_SHARD,
    FORMAT,
    MANIFEST,
    Manifest,
    Part,
    ShardError,
    file_schema,
    format_of,
    is_sharded,
    read_manifest,
    resolve_files,
    unified_schema,
)
from kfp_mlops.components.common.shard_writer import ShardWriter, write_frame

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_ROWS_PER_SHARD",
    "DEFAULT_ROW_GROUP_ROWS",
    "FORMAT",
    "MANIFEST",
    "Manifest",
    "Part",
    "ShardError",
    "ShardWriter",
    "file_schema",
    "files_for_rank",
    "is_sharded",
    "iter_batches",
    "iter_frames",
    "iter_parts",
    "read_manifest",
    "read_table",
    "resolve_files",
    "unified_schema",
    "write_frame",
]


def _file_batches(
    file: str, schema: pa.Schema, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Record batches of one file, cast to ``schema`` (restricted to ``columns``)."""
    wanted = pa.schema([schema.field(c) for c in columns]) if columns else schema
    try:
        if format_of(file) == "parquet":
            # pre_buffer would read whole column chunks ahead: 4x the memory of one batch.
            source = pq.ParquetFile(file, pre_buffer=False)
            batches = source.iter_batches(batch_size=batch_rows, columns=columns)
        else:
            options = pacsv.ConvertOptions(column_types=schema, include_columns=columns)
            batches = pads.dataset(
                file, format=pads.CsvFileFormat(convert_options=options)
            ).to_batches(batch_size=batch_rows)
        for batch in batches:
            if batch.schema == wanted:
                yield batch
            else:
                arrays = [batch.column(f.name).cast(f.type) for f in wanted]
                yield pa.RecordBatch.from_arrays(arrays, schema=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(
            f"cannot read shard '{file}': {exc}",
            "remove or rewrite that file (each shard must be a readable Parquet/CSV file)",
        ) from exc


def _check_columns(columns: list[str] | None, schema: pa.Schema, where: str) -> None:
    missing = [c for c in columns or () if c not in schema.names]
    if missing:
        raise ShardError(
            f"column '{missing[0]}' is not in {where} (columns: {schema.names[:10]})",
            "check the column name against the dataset's schema",
        )


def iter_batches(
    path: str | Path | list[str],
    columns: list[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Stream a dataset as record batches of at most ``batch_rows`` rows, in order.

    Args:
        path: A Parquet/CSV file, a sharded or plain directory, a glob, or a list of files.
        columns: Columns to read (all if None).
        batch_rows: Upper bound of rows per batch.

    Raises:
        ShardError: On no files, mixed schemas or an unreadable shard (each named).
    """
    files = list(path) if isinstance(path, list) else resolve_files(path)
    schema = unified_schema(files)
    _check_columns(columns, schema, str(path))
    for file in files:
        yield from _file_batches(file, schema, columns, batch_rows)


def iter_frames(
    path: str | Path | list[str],
    columns: list[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pd.DataFrame]:
    """:func:`iter_batches` as pandas frames (a fresh RangeIndex per batch)."""
    for batch in iter_batches(path, columns=columns, batch_rows=batch_rows):
        yield batch.to_pandas()


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Materialise a whole dataset (single file or shards) as one pandas frame.

    For small data and back-compatible callers; streaming steps use :func:`iter_batches`.
    """
    files = resolve_files(path)
    if len(files) == 1 and format_of(files[0]) == "parquet":
        try:
            return pd.read_parquet(files[0], columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise ShardError(f"cannot read '{files[0]}': {exc}", "rewrite that file") from exc
    batches = list(iter_batches(files, columns=columns))
    schema = batches[0].schema if batches else None
    table = pa.Table.from_batches(batches, schema=schema)
    return table.to_pandas()


def files_for_rank(path: str | Path, rank: int, size: int) -> list[Part]:
    """The rows one of ``size`` ranks reads: a contiguous, balanced slice of the dataset.

    Rank ``r`` gets global rows ``[r*N//size, (r+1)*N//size)`` mapped onto the shards, so
    every rank has the same number of rows (+-1, Horovod needs equal steps) whether there
    are more shards than ranks (whole shards) or fewer (row ranges inside a shard, read by
    row group). Parts of Parquet files are read with :func:`iter_parts`.

    Raises:
        ShardError: If ``rank`` is outside ``0..size-1`` or the dataset cannot be read.
    """
    if size < 1 or not 0 <= rank < size:
        raise ShardError(f"rank {rank} of {size} is not a valid rank", "use 0 <= rank < size")
    manifest = read_manifest(path)
    begin, end = rank * manifest.rows // size, (rank + 1) * manifest.rows // size
    parts = []
    offset = 0
    for file, shard in zip(manifest.files, manifest.shards, strict=True):
        rows = int(shard["rows"])
        lo, hi = max(begin, offset), min(end, offset + rows)
        if lo < hi:
            parts.append(Part(file, lo - offset, hi - offset))
        offset += rows
    return parts


def _part_batches(
    part: Part, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of one part: only the row groups overlapping it are read."""
    if format_of(part.file) != "parquet":  # CSV cannot seek: stream and skip
        seen = 0
        for batch in _file_batches(part.file, file_schema(part.file), columns, batch_rows):
            lo, hi = max(part.start - seen, 0), min(part.stop - seen, batch.num_rows)
            if lo < hi:
                yield batch.slice(lo, hi - lo)
            seen += batch.num_rows
        return
    try:
        source = pq.ParquetFile(part.file, pre_buffer=False)
        meta = source.metadata
        first = 0
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            lo, hi = max(part.start - first, 0), min(part.stop - first, rows)
            first += rows
            if lo >= hi:
                continue
            table = source.read_row_group(group, columns=columns).slice(lo, hi - lo)
            yield from table.to_batches(max_chunksize=batch_rows)
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"cannot read shard '{part.file}': {exc}", "rewrite that shard") from exc


def iter_parts(
    parts: list[Part], columns: list[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Stream the rows of :func:`files_for_rank`'s parts as record batches."""
    for part in parts:
        yield from _part_batches(part, columns, batch_rows)
