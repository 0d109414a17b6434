"""Checks of drift inputs: parameters, empty windows, which columns are comparable.

Shared by the in-memory (:mod:`.core`) and streaming (:mod:`.streaming`) paths; the column
checks read only dtypes, so the streaming path runs them on the schemas' empty frames.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.detect_drift.binning import CATEGORICAL, kind_of

log = logging.getLogger("kfp_mlops.components.data.detect_drift.core")


def check_not_empty(reference_rows: int, current_rows: int) -> None:
    """Raise :class:`DataValidationError` for an empty reference or current window."""
    if reference_rows == 0:
        raise DataValidationError(
            "the reference dataset is empty", "point the reference input at the training data"
        )
    if current_rows == 0:
        raise DataValidationError(
            "the current window is empty (0 rows)",
            "widen the current window or check the query/export that produced it",
        )


def check_params(threshold: float, bins: int, epsilon: float) -> None:
    """Raise :class:`ParameterError` for a threshold <= 0, bins < 2 or epsilon <= 0."""
    if not threshold > 0:  # also rejects NaN
        raise ParameterError(
            f"threshold must be > 0, got {threshold}",
            "use a PSI threshold such as 0.1 (moderate shift) or 0.25 (major shift)",
        )
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ParameterError(f"bins must be an integer >= 2, got {bins!r}", "use bins=10 (deciles)")
    if not epsilon > 0:
        raise ParameterError(
            f"epsilon must be > 0, got {epsilon}", "use a small value such as 1e-4"
        )


def comparable_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    exclude: Sequence[str],
    categorical: Sequence[str] | None,
) -> tuple[dict[str, str], list[str]]:
    """The kind of every reference column to compare, and the columns skipped for their dtype.

    Raises:
        DataValidationError: If the current window lacks reference columns, a column's
            kind differs between the windows, or nothing is left to compare.
    """
    excluded = set(exclude)
    columns = [c for c in reference.columns if c not in excluded]
    missing = [c for c in columns if c not in current.columns]
    if missing:
        raise DataValidationError(
            f"the current window lacks {len(missing)} reference column(s): {missing}",
            "send the same features as the reference, or add them to `exclude`",
        )
    if not columns:
        raise DataValidationError(
            f"the reference has no feature columns besides the excluded ones {sorted(excluded)}",
            "check the reference dataset and the excluded/target column",
        )
    listed = set(categorical or ())
    kinds: dict[str, str] = {}
    skipped: list[str] = []
    mismatched: list[str] = []
    for c in columns:
        ref_kind, cur_kind = kind_of(reference[c]), kind_of(current[c])
        if ref_kind is None:
            skipped.append(c)
        elif cur_kind != ref_kind:
            mismatched.append(
                f"'{c}' ({ref_kind} in reference, {cur_kind or current[c].dtype} in current)"
            )
        else:
            kinds[c] = CATEGORICAL if c in listed else ref_kind
    if mismatched:
        raise DataValidationError(
            f"column types differ between the windows: {', '.join(mismatched)}",
            "cast the current column to the reference type upstream (numeric text usually means "
            "a parsing problem), or list it in `categorical` after casting both to strings",
        )
    if skipped:
        log.warning("not compared (unsupported dtype, e.g. datetime): %s", skipped)
    if not kinds:
        raise DataValidationError(
            f"no comparable feature columns (skipped for their dtype: {skipped})",
            "convert datetime-like columns to numbers or categories before drift detection",
        )
    extra = [c for c in current.columns if c not in set(reference.columns) | excluded]
    if extra:
        log.info("current-only columns not compared: %s", extra)
    return kinds, skipped
