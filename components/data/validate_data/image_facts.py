"""The per-file facts table an image Dataset is validated on (see :mod:`.images`).

Each file of a raw image Dataset is decoded once into one row (``file``, ``decodes``,
``height``, ``width``, ``channels``, ``mean``, ``error``, the target, ``class_share``);
Datasets are read in batches of :data:`BATCH_ROWS` images, so a sharded one never has to
fit in memory as bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from kfp_mlops.components.common import images as image_files
from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import DataLoadError, ParameterError

FILE = image_files.FILE_COLUMN
SHAPE_COLUMNS = ("height", "width", "channels")
SHARE_COLUMN = "class_share"
#: Images decoded per batch when reading a Dataset (bounds the bytes held in memory).
BATCH_ROWS = 4096


def is_image_dataset(path: str | None) -> bool:
    """Whether a Dataset artifact (file or shards) is a raw image Dataset (footer only)."""
    if not path or not Path(path).exists():
        return False
    import pyarrow as pa

    try:
        schema = shards.file_schema(shards.resolve_files(path)[0])
    except shards.ShardError:  # unreadable: the table path reports it as before
        return False
    if image_files.IMAGE_COLUMN not in schema.names:
        return False
    kind = schema.field(image_files.IMAGE_COLUMN).type
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def facts_table(frame: pd.DataFrame, target_column: str = "target") -> pd.DataFrame:
    """A raw image frame -> one row of facts per file (see the module docstring).

    Every column but ``image`` is kept; ``class_share`` is added when ``target_column`` is
    there. A frame that already is a facts table is returned as is.

    Raises:
        ParameterError: If ``frame`` is neither a raw image frame nor a facts table.
    """
    if not image_files.is_image_frame(frame):
        if {FILE, "decodes", *SHAPE_COLUMNS} <= set(frame.columns):
            return frame.reset_index(drop=True)
        raise ParameterError(
            f"the table is not a raw image Dataset (columns: {', '.join(map(str, frame.columns))})",
            f"pass the Dataset load_dataset writes from an image folder "
            f"('{FILE}', '{image_files.IMAGE_COLUMN}' and the target)",
        )
    names = (
        frame[FILE].astype(str)
        if FILE in frame.columns
        else pd.Series(range(len(frame))).astype(str)
    )
    facts = [
        image_files.inspect(data, name)
        for data, name in zip(frame[image_files.IMAGE_COLUMN], names, strict=True)
    ]
    nan = math.nan
    out = pd.DataFrame(
        {
            FILE: [f.file for f in facts],
            "decodes": [f.decodes for f in facts],
            **{
                c: [float(getattr(f, c)) if f.decodes else nan for f in facts]
                for c in SHAPE_COLUMNS
            },
            "mean": [f.mean for f in facts],
            "error": [f.error for f in facts],
        }
    )
    for column in frame.columns:
        if column not in (FILE, image_files.IMAGE_COLUMN):
            out[column] = frame[column].to_numpy()
    return _with_share(out, target_column)


def _with_share(facts: pd.DataFrame, target_column: str) -> pd.DataFrame:
    if target_column in facts.columns and len(facts):
        shares = facts[target_column].map(facts[target_column].value_counts(normalize=True))
        facts[SHARE_COLUMN] = shares.astype("float64")
    return facts


def read_facts(path: str, target_column: str = "target") -> pd.DataFrame:
    """The facts table of a raw image Dataset (one file or shards), decoded batch by batch.

    Raises:
        DataLoadError: If the path does not exist.
        ParameterError: If the Dataset is not a raw image Dataset.
    """
    if not Path(path).exists():
        raise DataLoadError(
            f"dataset artifact '{path}' does not exist", "check the upstream task's output"
        )
    parts = [
        facts_table(frame, target_column="")
        for frame in shards.iter_frames(path, batch_rows=BATCH_ROWS)
    ]
    if not parts:
        parts = [facts_table(shards.read_table(path), target_column="")]
    facts = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return _with_share(facts, target_column)
