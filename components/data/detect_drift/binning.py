"""Binning of one feature's two samples: kinds, counts per bin, PSI from the counts.

Numeric features are binned at the reference's quantiles (right-closed bins, the outer two
open-ended); a numeric feature with at most ``bins`` distinct reference values gets one bin
per value. Categorical ones get one bin per category seen in either sample. Missing values
get their own bin. Everything is vectorised (sort + ``searchsorted``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

NUMERIC = "numeric"
CATEGORICAL = "categorical"
#: The label of the missing-value category.
MISSING = "<missing>"
#: Up to this many cut points, bins are counted by comparisons rather than searchsorted.
COMPARE_MAX_CUTS = 32


def kind_of(series: pd.Series) -> str | None:
    """``numeric``, ``categorical`` or ``None`` (not comparable, e.g. datetimes)."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return CATEGORICAL
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return NUMERIC
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        return CATEGORICAL
    return None


def to_series(values: Any) -> pd.Series:
    """Array-likes as a Series (a Series as it is)."""
    return values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))


def as_float(series: pd.Series) -> np.ndarray:
    """Float64 values; nullable integer/float NA become NaN."""
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def numeric_counts(
    ref: np.ndarray, cur: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin counts on reference-quantile cut points.

    Returns:
        Reference counts, current counts (the last count is the missing-value bin when
        either side has NaNs) and the two samples without NaNs (for the KS test).
    """
    ref_nan, cur_nan = np.isnan(ref), np.isnan(cur)
    n_ref_nan, n_cur_nan = int(ref_nan.sum()), int(cur_nan.sum())
    if n_ref_nan:
        ref = ref[~ref_nan]
    if n_cur_nan:
        cur = cur[~cur_nan]
    # Only the (smaller) reference is sorted: for its distinct values and quantiles.
    ref_s = np.sort(ref)
    if len(ref_s) == 0:
        cuts = np.empty(0)
    else:
        distinct = ref_s[np.concatenate(([True], ref_s[1:] != ref_s[:-1]))]
        if len(distinct) <= bins:
            # Discrete feature: one bin per reference value (quantiles would merge them).
            cuts = distinct
        else:
            cuts = np.unique(np.quantile(ref_s, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        cuts = cuts[np.isfinite(cuts)]
    # Right-closed bins (-inf, c0], (c0, c1], ..., (c_last, +inf), so values outside the
    # reference range land in the outer bins. No per-row Python: counts of "<= cut" give
    # the bins; for few cuts one vectorised comparison per cut beats a binary search per row.
    ref_counts = np.diff(np.searchsorted(ref_s, cuts, side="right"), prepend=0, append=len(ref_s))
    if len(cuts) <= COMPARE_MAX_CUTS:
        at_most = [np.count_nonzero(cur <= c) for c in cuts]
        cur_counts = np.diff(np.asarray(at_most, dtype=np.int64), prepend=0, append=len(cur))
    else:
        cur_counts = np.bincount(np.searchsorted(cuts, cur, side="left"), minlength=len(cuts) + 1)
    if n_ref_nan or n_cur_nan:
        ref_counts = np.append(ref_counts, n_ref_nan)
        cur_counts = np.append(cur_counts, n_cur_nan)
    return ref_counts, cur_counts, ref, cur


def category_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Counts over the union of categories (NaN is a category); also returns the labels."""
    ref_vc = ref.value_counts(dropna=False)
    cur_vc = cur.value_counts(dropna=False)
    both = pd.concat([ref_vc, cur_vc], axis=1, keys=["ref", "cur"], sort=False).fillna(0)
    labels = [MISSING if _isna(k) else str(k) for k in both.index]
    return (
        both["ref"].to_numpy(dtype=np.int64),
        both["cur"].to_numpy(dtype=np.int64),
        labels,
    )


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float) -> float:
    """PSI ``sum((c - r) * ln(c / r))`` of two count vectors over the same bins."""
    p_ref = proportions(ref_counts, epsilon)
    p_cur = proportions(cur_counts, epsilon)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def proportions(counts: np.ndarray, epsilon: float) -> np.ndarray:
    """Counts as shares; an empty bin gets ``epsilon`` so the PSI's log stays finite."""
    total = counts.sum()
    p = counts / total if total else np.zeros(len(counts))
    return np.where(counts == 0, epsilon, p)
