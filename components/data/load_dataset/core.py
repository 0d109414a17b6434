"""Load a table from a local path, a ``gs://`` URI or a built-in dataset.

Built-in sources ship with scikit-learn (no network): ``builtin:breast_cancer`` (binary),
``builtin:digits`` (10 classes), ``builtin:iris`` and ``builtin:wine`` (3 classes), and
``builtin:diabetes`` (regression: disease progression after one year), and
``builtin:digits_images`` (the digits as 8x8 PNGs). A folder of class subfolders holding PNG
or JPEG files (local or ``gs://``) loads as a raw image Dataset (:mod:`.images`).
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
            f"use one of {', '.join(BUILTIN_PREFIX + b for b in (*BUILTINS, 'digits_images'))}",
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
        source: ``builtin:<name>``, a local path or a ``gs://bucket/object`` URI (CSV or
            Parquet), or an image folder (``<root>/<class>/<file>.png``, local or ``gs://``).
        file_format: ``auto`` (from the suffix; a folder of class subfolders of images is
            ``images``), ``csv``, ``parquet`` or ``images``.
        target_column: Column holding the label; it must exist and have no missing values.
        client: A google-cloud-storage client (tests pass one for the emulator).

    Raises:
        DataLoadError: If the source cannot be read or has no usable target column.
        ParameterError: If a parameter is invalid.
    """
    if not source:
        raise ParameterError("source is empty", "give builtin:breast_cancer, a path or a gs:// URI")
    from kfp_mlops.components.data.load_dataset import images

    if source == BUILTIN_PREFIX + "digits_images":
        frame = images.digits_images(target_column)
    elif source.startswith(BUILTIN_PREFIX):
        frame = load_builtin(source[len(BUILTIN_PREFIX) :], target_column)
    elif file_format == "images" or (
        file_format == "auto" and images.is_image_folder(source, client)
    ):
        frame = images.read_folder(source, target_column, client)
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


def load_to(
    source: str,
    out_path: str,
    file_format: str = "auto",
    target_column: str = "target",
    client: Any = None,
    output: str = "auto",
    rows_per_shard: int = 1_000_000,
) -> Any:
    """Load ``source`` into the Dataset at ``out_path``: one Parquet file or shards.

    Args:
        source: As :func:`load`, plus a glob, a directory or a ``gs://`` prefix (ending in
            ``/``) or glob naming many files.
        out_path: The Dataset artifact's path.
        file_format: ``auto`` (from the suffix), ``csv`` or ``parquet``.
        target_column: The label column.
        client: A google-cloud-storage client (tests pass one for the emulator).
        output: ``auto`` (shards for many files or a file over 256 MB, else one file),
            ``file`` or ``shards``.
        rows_per_shard: Rows per shard when sharding.

    Returns:
        A :class:`~.streaming.LoadSummary` (manifest, class count).

    Raises:
        DataLoadError: As :func:`load`, and for a glob or prefix matching nothing, shards
            with different schemas or an unreadable shard (named). Nothing is written then.
    """
    from kfp_mlops.components.data.load_dataset import streaming

    if not source:
        raise ParameterError("source is empty", "give builtin:breast_cancer, a path or a gs:// URI")
    from kfp_mlops.components.data.load_dataset.images import is_image_folder

    folder = file_format == "images" or (
        file_format == "auto"
        and not source.startswith(BUILTIN_PREFIX)
        and is_image_folder(source, client)
    )
    if not folder and streaming.wants_shards(source, output):
        return streaming.load_streaming(
            source,
            out_path,
            file_format=file_format,
            target_column=target_column,
            client=client,
            rows_per_shard=rows_per_shard,
        )
    fmt = "images" if folder else file_format  # probed once: load() need not list it again
    result = load(source, file_format=fmt, target_column=target_column, client=client)
    return streaming.save_small(result.frame, out_path, result.num_classes)
