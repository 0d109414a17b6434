"""Writing sharded datasets: :class:`ShardWriter` rolls bounded Parquet shards.

Re-exported by :mod:`kfp_mlops.components.common.shards`. pyarrow and pandas only.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kfp_mlops.components.common.shard_format import (
    DEFAULT_ROW_GROUP_ROWS,
    DEFAULT_ROWS_PER_SHARD,
    MANIFEST,
    Manifest,
    ShardError,
    schema_json,
)


class ShardWriter:
    """Write a sharded dataset from frames or record batches, one bounded shard at a time.

    Use as a context manager; the manifest is written on a clean exit. On an exception the
    partly written directory is removed, so nothing half-written reaches a later step::

        with ShardWriter(out_dir, rows_per_shard=1_000_000) as writer:
            for frame in frames:
                writer.write(frame)
        manifest = writer.manifest

    Args:
        path: Output directory (created; must not hold another dataset's files).
        rows_per_shard: Upper bound of rows per Parquet file.
        row_group_rows: Rows per Parquet row group (what a rank or a batch reads at once).
        schema: Fixed schema; else the first batch's (later batches are cast to it).
    """

    def __init__(
        self,
        path: str | Path,
        rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        schema: pa.Schema | None = None,
    ) -> None:
        if rows_per_shard < 1 or row_group_rows < 1:
            raise ValueError("rows_per_shard and row_group_rows must be positive")
        self.root = Path(path)
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = min(row_group_rows, rows_per_shard)
        self.schema = schema
        self.shards: list[dict[str, Any]] = []
        self.manifest: Manifest | None = None
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_shard = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        if self.root.is_file():
            self.root.unlink()  # KFP may pre-create the artifact path as an empty file
        self.root.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def rows(self) -> int:
        """Rows written so far (buffered rows included)."""
        return sum(s["rows"] for s in self.shards) + self._pending_rows

    def _as_batch(self, data: pd.DataFrame | pa.RecordBatch | pa.Table) -> pa.Table:
        if isinstance(data, pd.DataFrame):
            table = pa.Table.from_pandas(data, preserve_index=False)
        elif isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        else:
            table = data
        if self.schema is None:
            self.schema = table.schema.remove_metadata()
        if table.schema.names != self.schema.names:
            raise ShardError(
                f"a batch has columns {table.schema.names[:10]}, the dataset "
                f"{self.schema.names[:10]}",
                "write every batch with the same columns",
            )
        if not table.schema.equals(self.schema, check_metadata=False):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowException, ValueError) as exc:
                col = next(
                    f.name
                    for f, g in zip(table.schema, self.schema, strict=True)
                    if f.type != g.type
                )
                raise ShardError(
                    f"column '{col}' is {table.schema.field(col).type} in a later batch but "
                    f"{self.schema.field(col).type} in the first: {exc}",
                    "give the column one type in every input file",
                ) from exc
        return table

    def write(self, data: pd.DataFrame | pa.RecordBatch | pa.Table) -> None:
        """Append rows; full row groups are flushed, full shards closed."""
        table = self._as_batch(data)
        for batch in table.to_batches():
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        while self._pending_rows >= self.row_group_rows or (final and self._pending_rows):
            room = self.rows_per_shard - self._rows_in_shard
            take = min(self.row_group_rows, room, self._pending_rows)
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            head, rest = table.slice(0, take), table.slice(take)
            self._pending = rest.combine_chunks().to_batches() if rest.num_rows else []
            self._pending_rows = rest.num_rows
            if self._writer is None:
                name = f"part-{len(self.shards):05d}.parquet"
                self._writer = pq.ParquetWriter(self.root / name, self.schema)
                self.shards.append({"file": name, "rows": 0})
            self._writer.write_table(head, row_group_size=take)
            self._rows_in_shard += take
            self.shards[-1]["rows"] += take
            if self._rows_in_shard >= self.rows_per_shard:
                self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._rows_in_shard = 0

    def close(self) -> Manifest:
        """Flush, close the last shard and write ``_dataset.json``; return the manifest."""
        if self.manifest is not None:
            return self.manifest
        self._flush(final=True)
        self._close_shard()
        if self.schema is None:
            raise ShardError("no rows were written", "check that the input has rows")
        if not self.shards:  # a schema but no rows: one empty shard keeps the schema
            pq.write_table(self.schema.empty_table(), self.root / "part-00000.parquet")
            self.shards.append({"file": "part-00000.parquet", "rows": 0})
        self.manifest = Manifest(
            str(self.root),
            sum(s["rows"] for s in self.shards),
            self.shards,
            schema_json(self.schema),
        )
        (self.root / MANIFEST).write_text(json.dumps(self.manifest.to_dict(), indent=1))
        return self.manifest

    def abort(self) -> None:
        """Drop everything written: a failed write leaves no dataset behind."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        shutil.rmtree(self.root, ignore_errors=True)


def write_frame(
    frame: pd.DataFrame | Iterable[pd.DataFrame],
    path: str | Path,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
) -> Manifest:
    """Write a frame (or an iterable of frames) as a sharded dataset."""
    frames = [frame] if isinstance(frame, pd.DataFrame) else frame
    with ShardWriter(path, rows_per_shard=rows_per_shard, row_group_rows=row_group_rows) as w:
        for part in frames:
            w.write(part)
    return w.manifest  # type: ignore[return-value]
