"""Load many files (or one big one) into a sharded Dataset without holding the table.

Record batches stream from the source files (:func:`.shards.iter_batches`) into a
:class:`.shards.ShardWriter`; the target column is checked and its classes counted batch by
batch. Every file's schema is checked before the first row is written, and a failure part
way removes what was written, so a bad input leaves nothing downstream.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import DataLoadError
from kfp_mlops.components.common.io import download_matching, is_many, save_dataset

log = logging.getLogger(__name__)

#: A single source file larger than this is written as shards ("auto").
SHARD_ABOVE_BYTES = 256 * 1024 * 1024
#: Distinct target values kept while counting classes (more: a regression target).
MAX_TRACKED_CLASSES = 1_000
OUTPUTS = ("auto", "file", "shards")


@dataclass(frozen=True)
class LoadSummary:
    """What a load wrote: the manifest (rows, shards, schema) and the class count."""

    manifest: shards.Manifest
    num_classes: int
    sharded: bool

    @property
    def rows(self) -> int:
        """Rows written."""
        return self.manifest.rows

    def metadata(self) -> dict[str, Any]:
        """Artifact metadata: rows, columns, shards and schema, so later steps do not scan."""
        return {
            "rows": self.rows,
            "columns": len(self.manifest.schema),
            "num_classes": self.num_classes,
            "format": "shards" if self.sharded else "parquet",
            "shards": len(self.manifest.shards) if self.sharded else 1,
            "schema": self.manifest.schema,
        }


class _TargetTracker:
    """Checks the target batch by batch and collects its distinct values (capped)."""

    def __init__(self, column: str, source: str) -> None:
        self.column, self.source = column, source
        self.values: set[Any] = set()
        self.numeric = True
        self.integral = True
        self.rows = 0

    def update(self, batch: pa.RecordBatch) -> None:
        target = batch.column(batch.schema.get_field_index(self.column))
        nulls = target.null_count
        if pa.types.is_floating(target.type):
            nulls += int(pc.sum(pc.is_nan(target)).as_py() or 0)
        if nulls:
            mask = (
                pc.or_kleene(pc.is_null(target), pc.is_nan(target))
                if pa.types.is_floating(target.type)
                else pc.is_null(target)
            )
            first = self.rows + int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0])
            raise DataLoadError(
                f"target column '{self.column}' of '{self.source}' has missing values "
                f"(first at row {first})",
                "drop unlabelled rows before training or fill them",
            )
        self.numeric = self.numeric and (
            pa.types.is_integer(target.type) or pa.types.is_floating(target.type)
        )
        if pa.types.is_floating(target.type) and self.integral:
            self.integral = bool(pc.all(pc.equal(pc.floor(target), target)).as_py())
        if len(self.values) <= MAX_TRACKED_CLASSES:
            self.values.update(pc.unique(target).to_pylist())
        self.rows += batch.num_rows

    def num_classes(self) -> int:
        """As :meth:`LoadResult.num_classes`: 0 for a continuous target."""
        from kfp_mlops.components.data.split_and_preprocess.fitting import MAX_INTEGER_CLASSES

        if self.numeric and (not self.integral or len(self.values) > MAX_INTEGER_CLASSES):
            return 0
        return len({str(v) for v in self.values})


def _source_files(source: str, file_format: str, client: Any, scratch: str) -> list[str]:
    if source.startswith("gs://"):
        files = download_matching(source, scratch, client=client)
    else:
        files = shards.resolve_files(source)
    if file_format != "auto":  # files named oddly: give the reader the stated format
        renamed = []
        for i, file in enumerate(files):
            link = Path(scratch, f"as-{i:05d}.{file_format}")
            link.symlink_to(Path(file).resolve())
            renamed.append(str(link))
        files = renamed
    return files


def load_streaming(
    source: str,
    out_path: str,
    file_format: str = "auto",
    target_column: str = "target",
    client: Any = None,
    rows_per_shard: int = shards.DEFAULT_ROWS_PER_SHARD,
    batch_rows: int = shards.DEFAULT_BATCH_ROWS,
) -> LoadSummary:
    """Stream ``source`` (file, glob, directory or ``gs://`` prefix/glob) into shards.

    Raises:
        DataLoadError: On no matching files, mixed schemas or an unreadable file (each
            named), a missing target column or unlabelled rows. Nothing is left at
            ``out_path`` then.
    """
    with tempfile.TemporaryDirectory(prefix="load-") as scratch:
        files = _source_files(source, file_format, client, scratch)
        schema = shards.unified_schema(files)
        if target_column not in schema.names:
            raise DataLoadError(
                f"target column '{target_column}' is missing from '{source}' "
                f"(columns: {', '.join(schema.names[:10])}{'...' if len(schema) > 10 else ''})",
                "set target_column to the label's column name",
            )
        tracker = _TargetTracker(target_column, source)
        with shards.ShardWriter(out_path, rows_per_shard=rows_per_shard) as writer:
            for batch in shards.iter_batches(files, batch_rows=batch_rows):
                tracker.update(batch)
                writer.write(batch)
            if writer.rows == 0:
                raise DataLoadError(
                    f"'{source}' has a header but no rows", "check the export that wrote it"
                )
    log.info("loaded %s: %d rows in %d shards", source, writer.rows, len(writer.shards))
    return LoadSummary(writer.manifest, tracker.num_classes(), sharded=True)  # type: ignore[arg-type]


def wants_shards(source: str, output: str) -> bool:
    """Whether ``load_to`` streams into shards: many files, a big file, or asked to."""
    if output not in OUTPUTS:
        from kfp_mlops.components.common.errors import ParameterError

        raise ParameterError(f"output '{output}' is not supported", f"use one of {OUTPUTS}")
    if output != "auto" or source.startswith("builtin:"):
        return output == "shards" and not source.startswith("builtin:")
    if is_many(source):
        return True
    path = Path(source)
    return (
        not source.startswith("gs://")
        and path.is_file()
        and path.stat().st_size > (SHARD_ABOVE_BYTES)
    )


def save_small(frame: Any, out_path: str, num_classes: int) -> LoadSummary:
    """Write an in-memory table as one Parquet file (today's layout) and summarise it."""
    save_dataset(frame, out_path)
    return LoadSummary(shards.read_manifest(out_path), num_classes, sharded=False)
