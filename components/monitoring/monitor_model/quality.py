"""Data quality of the recent window, and the champion's age.

Figures (each with a threshold parameter of ``monitor_model``):

- **missing values**: the share of missing cells per feature column and over all feature
  cells (the label column is left out: labels arrive late, and unlabelled rows are normal);
- **duplicates**: rows that repeat an earlier row exactly (every column but the latency one);
- **freshness**: the age of the newest record, when a timestamp column is named;
- **volume**: the row count against an expected number of rows;
- **model age**: days since the champion was created, when its creation time is known.

Rows with a missing or non-finite feature are *incomplete*: they are counted here and left
out of every check that runs the model (predictions, quality, prediction drift, latency),
instead of stopping the run. When the preprocessor imputes missing values, the server
scores such rows too, so only non-finite ones are left out (missing values still count).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from kfp_mlops.components.common.errors import DataValidationError, ParameterError

#: Metadata keys of a Model artifact that may hold its creation time, in lookup order
#: (``creation_timestamp`` is MLflow's model-version field, in epoch milliseconds).
CREATED_KEYS = ("created_at", "creation_time", "creation_timestamp")


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds of the data-quality and age findings (``monitor_model`` parameters).

    Raises:
        ParameterError: On a ratio outside [0, 1] or a non-positive age or tolerance.
    """

    max_missing_ratio: float = 0.1
    max_duplicate_ratio: float = 0.05
    max_data_age_hours: float = 24.0
    volume_tolerance: float = 0.5
    max_model_age_days: float = 7.0

    def __post_init__(self) -> None:
        for name in ("max_missing_ratio", "max_duplicate_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(
                    f"{name}={getattr(self, name)!r} is not a fraction in [0, 1]",
                    f"use e.g. {name}=0.1 (a share of rows or cells, not a percentage)",
                )
        for name in ("max_data_age_hours", "volume_tolerance", "max_model_age_days"):
            if not getattr(self, name) > 0:  # also rejects NaN
                raise ParameterError(
                    f"{name}={getattr(self, name)!r} must be positive",
                    "use the defaults (24 hours, 0.5, 7 days) or larger values",
                )


@dataclass
class DataQuality:
    """Data-quality figures of one window (see the module docstring)."""

    rows: int
    missing_by_column: dict[str, float]
    missing_ratio: float
    incomplete_rows: int
    rows_with_missing: int
    duplicate_rows: int
    timestamp_column: str = ""
    newest_record: str | None = None
    data_age_hours: float | None = None
    expected_rows: int = 0
    model_created_at: str | None = None
    model_age_days: float | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def duplicate_ratio(self) -> float:
        """Share of rows that repeat an earlier row."""
        return self.duplicate_rows / self.rows if self.rows else 0.0

    @property
    def max_column_missing_ratio(self) -> float:
        """The worst column's missing share."""
        return max(self.missing_by_column.values(), default=0.0)

    def summary(self) -> dict[str, Any]:
        """The flat figures for the history, KFP Metrics and the Pushgateway."""
        return {
            "missing_ratio": self.missing_ratio,
            "max_column_missing_ratio": self.max_column_missing_ratio,
            "rows_with_missing": self.rows_with_missing,
            "incomplete_rows": self.incomplete_rows,
            "duplicate_rows": self.duplicate_rows,
            "duplicate_ratio": self.duplicate_ratio,
            "data_age_hours": self.data_age_hours,
            "expected_rows": self.expected_rows or None,
            "model_age_days": self.model_age_days,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        return {
            **self.summary(),
            "rows": self.rows,
            "missing_by_column": dict(self.missing_by_column),
            "timestamp_column": self.timestamp_column,
            "newest_record": self.newest_record,
            "model_created_at": self.model_created_at,
            "thresholds": dict(self.thresholds),
        }


def complete_rows(
    frame: pd.DataFrame, columns: Sequence[str], x: np.ndarray, imputes: bool = False
) -> np.ndarray:
    """Rows the model checks can use (``x``: the transformed features).

    A row must have finite features; unless the preprocessor ``imputes`` missing values (as
    the server then does for every request), every raw feature must also be present.
    """
    finite = np.isfinite(x).all(axis=1)
    if imputes:
        return finite
    return finite & frame[list(columns)].notna().all(axis=1).to_numpy()


def assess(
    current: pd.DataFrame,
    columns: Sequence[str],
    complete: np.ndarray,
    *,
    latency_column: str = "",
    timestamp_column: str = "",
    expected_rows: int = 0,
    model_created_at: datetime | None = None,
    now: datetime | None = None,
) -> DataQuality:
    """The data-quality figures of ``current``.

    Args:
        current: The recent window (raw rows).
        columns: The model's raw feature columns (missing values are counted over these).
        complete: :func:`complete_rows` of the window.
        latency_column: Left out of the duplicate comparison (it is measured per request).
        timestamp_column: Column of record times for the freshness figure; empty: none.
        expected_rows: Rows the window should hold; 0: volume not checked.
        model_created_at: When the champion was created (:func:`model_created`); None: unknown.
        now: The time to measure ages against (default: now, UTC).

    Raises:
        DataValidationError: If ``timestamp_column`` is missing or holds no readable times.
    """
    now = now or datetime.now(timezone.utc)
    rows = len(current)
    missing = current[list(columns)].isna()
    by_column = {c: float(missing[c].mean()) if rows else 0.0 for c in columns}
    cells = rows * len(columns)
    compared = [c for c in current.columns if c != latency_column]
    quality = DataQuality(
        rows=rows,
        missing_by_column=by_column,
        missing_ratio=float(missing.to_numpy().sum() / cells) if cells else 0.0,
        incomplete_rows=int((~complete).sum()),
        rows_with_missing=int(missing.any(axis=1).sum()),
        duplicate_rows=int(current.duplicated(subset=compared, keep="first").sum()),
        timestamp_column=timestamp_column,
        expected_rows=int(expected_rows),
    )
    if timestamp_column:
        newest = _newest(current, timestamp_column)
        quality.newest_record = newest.isoformat()
        quality.data_age_hours = (now - newest).total_seconds() / 3600.0
    if model_created_at is not None:
        quality.model_created_at = model_created_at.isoformat()
        quality.model_age_days = (now - model_created_at).total_seconds() / 86400.0
    return quality


def model_created(value: Any, origin: str = "model_created_at") -> datetime | None:
    """A creation time as an aware UTC datetime: ISO 8601 text, or epoch seconds/milliseconds.

    Empty or None means unknown. Numbers above 1e11 are taken as milliseconds (MLflow's
    ``creation_timestamp``); naive times as UTC.

    Raises:
        ParameterError: If the value is neither.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    fix = "give an ISO 8601 time such as 2026-01-31T12:00:00Z, or epoch seconds"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise ParameterError(f"{origin}={value!r} is not a time", fix)
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    try:
        stamp = pd.Timestamp(str(value).strip())
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{origin}={value!r} is not a time", fix) from exc
    if stamp is pd.NaT:
        raise ParameterError(f"{origin}={value!r} is not a time", fix)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").to_pydatetime()


def created_from_metadata(metadata: Mapping[str, Any] | None) -> datetime | None:
    """The creation time in a Model artifact's metadata (:data:`CREATED_KEYS`), if any."""
    for key in CREATED_KEYS:
        if (metadata or {}).get(key) not in (None, ""):
            return model_created(metadata[key], f"the model's metadata {key}")
    return None


def _newest(frame: pd.DataFrame, column: str) -> datetime:
    """The newest time in ``column`` (datetimes, ISO text or epoch seconds), as UTC."""
    if column not in frame.columns:
        raise DataValidationError(
            f"timestamp_column '{column}' is not a column of the recent window "
            f"(columns: {list(frame.columns)[:10]})",
            "name the column that holds each record's time, or leave timestamp_column empty",
        )
    values = frame[column]
    if ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values):
        times = pd.to_datetime(values, unit="s", utc=True, errors="coerce")
    else:
        times = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    unreadable = times.isna() & values.notna()
    if unreadable.any() or times.notna().sum() == 0:
        first = values[unreadable].head(1).tolist() if unreadable.any() else "no values"
        raise DataValidationError(
            f"timestamp_column '{column}' has {int(unreadable.sum())} unreadable times "
            f"(first: {first})",
            "log record times as datetimes, ISO 8601 text or epoch seconds",
        )
    return times.max().to_pydatetime()
