"""The on-disk format of sharded datasets: manifest, file discovery and schema checks.

Imported through :mod:`kfp_mlops.components.common.shards` (which documents the layout);
kept apart so the writer and the readers share one definition. pyarrow only.
"""

from __future__ import annotations

import glob as globlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kfp_mlops.components.common.errors import DataLoadError

FORMAT = "kfp-mlops-shards/1"
MANIFEST = "_dataset.json"
DEFAULT_ROWS_PER_SHARD = 1_000_000
DEFAULT_ROW_GROUP_ROWS = 65_536
DEFAULT_BATCH_ROWS = 65_536
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".gz": "csv", ".txt": "csv"}


class ShardError(DataLoadError):
    """A sharded dataset (or a set of files read as one) is missing, unreadable or mixed."""


@dataclass(frozen=True)
class Manifest:
    """What ``_dataset.json`` records: rows, shards and schema of a dataset.

    Attributes:
        root: The dataset directory (or the single file).
        rows: Rows in all shards.
        shards: ``{"file": name relative to root, "rows": n}`` in read order.
        schema: ``{"name": column, "type": arrow type string}`` in column order.
    """

    root: str
    rows: int
    shards: list[dict[str, Any]]
    schema: list[dict[str, str]]

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return [c["name"] for c in self.schema]

    @property
    def files(self) -> list[str]:
        """Absolute paths of the shards in read order."""
        root = Path(self.root)
        if root.is_file():
            return [str(root)]
        return [str(root / s["file"]) for s in self.shards]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written as ``_dataset.json`` (and into artifact metadata)."""
        return {"format": FORMAT, "rows": self.rows, "shards": self.shards, "schema": self.schema}


@dataclass(frozen=True)
class Part:
    """Rows ``start..stop`` (file-local, stop exclusive) of one Parquet file."""

    file: str
    start: int
    stop: int

    @property
    def rows(self) -> int:
        """Rows in this part."""
        return self.stop - self.start


def is_sharded(path: str | Path) -> bool:
    """True if ``path`` is a directory holding a ``_dataset.json`` manifest."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    """The manifest's ``schema`` entry: name and arrow type string per column."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def format_of(path: str) -> str:
    """``csv`` or ``parquet`` from a file's suffix (Parquet when it says nothing)."""
    suffix = Path(path).suffix.lower()
    return _SUFFIXES.get(suffix, "parquet")


def resolve_files(path: str | Path) -> list[str]:
    """The data files ``path`` stands for, in read order.

    A sharded directory gives its manifest's shards; a plain directory its ``*.parquet``
    and ``*.csv`` files (sorted, hidden and ``_`` files skipped); a glob its sorted matches;
    a file itself.

    Raises:
        ShardError: If nothing matches, or a manifest lists a missing shard.
    """
    text = str(path)
    if is_sharded(text):
        manifest = _load_manifest_json(text)
        files = [str(Path(text) / s["file"]) for s in manifest["shards"]]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise ShardError(
                f"shard '{missing[0]}' listed in {Path(text) / MANIFEST} is missing",
                "rewrite the dataset (load_dataset) or restore the shard",
            )
        return files
    if Path(text).is_dir():
        files = sorted(
            str(p)
            for p in Path(text).iterdir()
            if p.is_file() and not p.name.startswith(("_", ".")) and p.suffix.lower() in _SUFFIXES
        )
        if not files:
            raise ShardError(
                f"directory '{text}' holds no .parquet or .csv files",
                "point at a directory of data files, a glob such as data/*.parquet, or a file",
            )
        return files
    if globlib.has_magic(text):
        files = sorted(f for f in globlib.glob(text) if Path(f).is_file())
        if not files:
            raise ShardError(
                f"the glob '{text}' matches no files",
                "check the pattern and the directory (it is read inside the pod)",
            )
        return files
    if not Path(text).exists():
        raise ShardError(f"'{text}' does not exist", "check the path (it is read inside the pod)")
    return [text]


def _load_manifest_json(root: str) -> dict[str, Any]:
    file = Path(root) / MANIFEST
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ShardError(
            f"cannot read the manifest '{file}': {exc}", "rewrite the dataset"
        ) from exc
    if data.get("format") != FORMAT:
        raise ShardError(
            f"'{file}' has format {data.get('format')!r}, not {FORMAT!r}",
            "rewrite the dataset with this version's load_dataset",
        )
    return data


def file_schema(file: str) -> pa.Schema:
    """The schema of one Parquet file (footer only) or CSV file (first block).

    Raises:
        ShardError: Naming the file, if it cannot be read.
    """
    try:
        if format_of(file) == "parquet":
            return pq.read_schema(file)
        with pacsv.open_csv(file) as reader:
            return reader.schema
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ShardError(
            f"cannot read shard '{file}' as {format_of(file)}: {exc}",
            "remove or rewrite that file (each shard must be a readable Parquet/CSV file)",
        ) from exc


def _merge_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The common type of one column across shards, or None if they conflict."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(t(a) for t in numeric) and any(t(b) for t in numeric):
        # A CSV shard with a missing value reads as double where its siblings read int64.
        return pa.float64()
    if pa.types.is_string(a) and pa.types.is_large_string(b):
        return b
    if pa.types.is_large_string(a) and pa.types.is_string(b):
        return a
    return None


def unified_schema(files: list[str]) -> pa.Schema:
    """One schema for all ``files``; int/float and null columns are promoted.

    Raises:
        ShardError: Naming the file and the column when names or types differ.
    """
    schema = file_schema(files[0])
    for file in files[1:]:
        other = file_schema(file)
        if other.names != schema.names:
            extra = [n for n in other.names if n not in schema.names]
            lost = [n for n in schema.names if n not in other.names]
            what = (
                f"has extra column '{extra[0]}'"
                if extra
                else f"lacks column '{lost[0]}'"
                if lost
                else "orders its columns differently"
            )
            raise ShardError(
                f"shard '{file}' {what} (first shard '{files[0]}' has {schema.names[:10]})",
                "give every shard the same columns, or load the odd file separately",
            )
        fields = []
        for mine, theirs in zip(schema, other, strict=True):
            merged = _merge_type(mine.type, theirs.type)
            if merged is None:
                raise ShardError(
                    f"column '{mine.name}' is {theirs.type} in shard '{file}' but {mine.type} "
                    f"in '{files[0]}'",
                    "write that column with one type in every shard",
                )
            fields.append(pa.field(mine.name, merged))
        schema = pa.schema(fields)
    return schema


def read_manifest(path: str | Path) -> Manifest:
    """Rows, shards and schema of a dataset, from its manifest or the Parquet footers.

    A sharded directory is not scanned. Plain Parquet files, directories and globs are read
    from their footers only; CSV files have to be counted (one streaming pass).

    Raises:
        ShardError: If the dataset is missing, unreadable or has mixed schemas.
    """
    text = str(path)
    if is_sharded(text):
        data = _load_manifest_json(text)
        return Manifest(text, int(data["rows"]), list(data["shards"]), list(data["schema"]))
    files = resolve_files(text)
    schema = unified_schema(files)
    shards = []
    for file in files:
        if format_of(file) == "parquet":
            rows = pq.ParquetFile(file).metadata.num_rows
        else:
            rows = _count_csv_rows(file)
        shards.append({"file": file, "rows": int(rows)})
    root = text if len(files) == 1 and files[0] == text else ""
    return Manifest(root, sum(s["rows"] for s in shards), shards, schema_json(schema))


def _count_csv_rows(file: str) -> int:
    try:
        with pacsv.open_csv(file) as reader:
            return sum(batch.num_rows for batch in reader)
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"cannot read shard '{file}' as csv: {exc}", "rewrite that file") from exc
