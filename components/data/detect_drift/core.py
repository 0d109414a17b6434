"""Data drift between a reference table and a current window: PSI, KS and chi-square.

A feature *drifts* when its Population Stability Index exceeds ``threshold`` (0.1 by default,
as in the runbook: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major shift). The KS test
(numeric) and chi-square test (categorical) p-values are reported beside it; with large
windows they flag even negligible shifts, so they inform rather than decide.

Numeric features are binned at the reference's quantiles (right-closed bins, the outer two
open-ended so current values outside the reference range are counted); a numeric feature
with at most ``bins`` distinct reference values gets one bin per value. Categorical features
(object, string, category or bool dtype, or listed in ``categorical``) get one bin per
category seen in either window. Missing values get their own bin, so a spike of NaNs is
drift too. Everything is vectorised (sort + ``searchsorted``) so a million-row window takes
seconds.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from kfp_mlops.components.common.errors import DataValidationError, ParameterError

log = logging.getLogger(__name__)

NUMERIC = "numeric"
CATEGORICAL = "categorical"
#: Above this many rows in either sample the KS p-value uses the asymptotic distribution
#: (the exact one is O(n*m)).
KS_EXACT_MAX = 10_000
_MISSING = "<missing>"
#: Up to this many cut points, bins are counted by comparisons rather than searchsorted.
_COMPARE_MAX_CUTS = 32


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics of one feature (``None`` where a test does not apply)."""

    feature: str
    kind: str
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_pvalue: float | None
    drifted: bool


@dataclass
class DriftResult:
    """Per-feature drift records and the overall decision."""

    features: list[FeatureDrift]
    drift_detected: bool
    share_drifted: float
    threshold: float
    reference_rows: int = 0
    current_rows: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, most drifted first."""
        return [f.feature for f in self.ranked() if f.drifted]

    @property
    def max_psi(self) -> float:
        """The largest PSI over all features (0.0 if there are none)."""
        return max((f.psi for f in self.features), default=0.0)

    def ranked(self) -> list[FeatureDrift]:
        """Features with drifted ones first, then by decreasing PSI."""
        return sorted(self.features, key=lambda f: (not f.drifted, -f.psi))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as ``None``)."""
        return {
            "drift_detected": self.drift_detected,
            "share_drifted": self.share_drifted,
            "threshold": self.threshold,
            "max_psi": self.max_psi,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drifted_features": self.drifted_features,
            "skipped": list(self.skipped),
            "features": [{k: _json_number(v) for k, v in asdict(f).items()} for f in self.ranked()],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON (strict: no NaN literals)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def write_html(
        self,
        path: str,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        max_plots: int = 20,
    ) -> None:
        """Write a self-contained HTML report: summary table and one plot per feature.

        Args:
            path: Where to write the HTML file.
            reference: The reference table the result was computed from.
            current: The current table the result was computed from.
            max_plots: At most this many feature plots, drifted features first.
        """
        from kfp_mlops.components.common import report

        ranked = self.ranked()
        verdict = report.status(not self.drift_detected, "no drift", "drift detected")
        body = [
            f"<p>{verdict}: {len(self.drifted_features)} of {len(ranked)} features drifted "
            f"(share {self.share_drifted:.2%}; PSI threshold {self.threshold:g}); "
            f"reference {self.reference_rows:,} rows, current {self.current_rows:,} rows.</p>",
            "<h2>Features</h2>",
            report.table(
                ["feature", "kind", "PSI", "KS statistic", "KS p-value", "chi2 p-value", "status"],
                (
                    [
                        f.feature,
                        f.kind,
                        report.fmt(f.psi, fixed=True),
                        report.fmt(f.ks_statistic, fixed=True),
                        report.fmt(f.ks_pvalue, fixed=True),
                        report.fmt(f.chi2_pvalue, fixed=True),
                        report.status(not f.drifted, "stable", "drifted"),
                    ]
                    for f in ranked
                ),
                raw_columns=[6],
            ),
        ]
        if self.skipped:
            body.append(f"<p>Not compared (unsupported dtype): {report.escape(self.skipped)}</p>")
        plotted = ranked[: max(max_plots, 0)]
        if plotted:
            body.append("<h2>Reference vs current</h2><div class='grid'>")
            for f in plotted:
                fig = _plot_feature(f, reference[f.feature], current[f.feature])
                body.append(report.figure_png(fig))
            body.append("</div>")
        if len(ranked) > len(plotted):
            body.append(f"<p>{len(ranked) - len(plotted)} more features not plotted.</p>")
        report.write(path, "Data drift report", "".join(body))
        log.info("drift report written to %s (%d plots)", path, len(plotted))


def psi(
    reference: Any,
    current: Any,
    bins: int = 10,
    epsilon: float = 1e-4,
    categorical: bool | None = None,
) -> float:
    """Population Stability Index of one feature: ``sum((c - r) * ln(c / r))``.

    Args:
        reference: Reference values (array-like or Series).
        current: Current values.
        bins: Number of reference-quantile bins for numeric values.
        epsilon: Proportion used in place of an empty bin's 0 (keeps the log finite).
        categorical: Treat the values as categories; ``None`` decides from the dtype.

    Returns:
        The PSI (0 for identical distributions).

    Raises:
        ParameterError: If ``bins`` < 2 or ``epsilon`` <= 0.
        DataValidationError: If either sample is empty.
    """
    _check_params(threshold=1.0, bins=bins, epsilon=epsilon)
    ref, cur = _to_series(reference), _to_series(current)
    if categorical is None:
        categorical = _kind(ref) == CATEGORICAL or _kind(cur) == CATEGORICAL
    for name, s in (("reference", ref), ("current", cur)):
        if len(s) == 0:
            raise DataValidationError(f"the {name} sample is empty", "pass at least one value")
    if categorical:
        ref_counts, cur_counts, _ = _category_counts(ref, cur)
    else:
        ref_counts, cur_counts, _, _ = _numeric_counts(_as_float(ref), _as_float(cur), bins)
    return _psi_from_counts(ref_counts, cur_counts, epsilon)


def prediction_drift(
    reference_predictions: Any,
    current_predictions: Any,
    threshold: float = 0.1,
    bins: int = 10,
    epsilon: float = 1e-4,
) -> FeatureDrift:
    """Drift of a model's outputs: PSI over predicted classes or probability scores.

    Class labels (integers, strings, bools) are compared as categories; float scores with
    quantile bins. A 2-D ``(n, k)`` probability matrix uses the positive-class column when
    ``k == 2`` and otherwise the class column with the largest PSI.

    Args:
        reference_predictions: Predictions on the reference window.
        current_predictions: Predictions on the current window.
        threshold: PSI above which the predictions count as drifted.
        bins: Quantile bins for scores.
        epsilon: Proportion used for empty bins.

    Returns:
        A :class:`FeatureDrift` named ``prediction``.
    """
    _check_params(threshold, bins, epsilon)
    ref, cur = np.asarray(reference_predictions), np.asarray(current_predictions)
    if ref.ndim != cur.ndim or (ref.ndim == 2 and ref.shape[1] != cur.shape[1]):
        raise DataValidationError(
            f"reference predictions have shape {ref.shape} but current ones {cur.shape}",
            "pass predictions of the same model: both labels or both (n, classes) probabilities",
        )
    opts = {"threshold": threshold, "bins": bins, "epsilon": epsilon}
    if ref.ndim == 2 and ref.shape[1] == 1:
        ref, cur = ref[:, 0], cur[:, 0]
    if ref.ndim == 1:
        # Labels (ints, strings, bools) are categories; only float scores get quantile bins.
        is_score = ref.dtype.kind == "f" and cur.dtype.kind == "f"
        kind = NUMERIC if is_score else CATEGORICAL
        return _feature_drift(
            name="prediction", ref=pd.Series(ref), cur=pd.Series(cur), kind=kind, **opts
        )
    columns = [1] if ref.shape[1] == 2 else range(ref.shape[1])
    records = [
        _feature_drift(
            name="prediction",
            ref=pd.Series(ref[:, j]),
            cur=pd.Series(cur[:, j]),
            kind=NUMERIC,
            **opts,
        )
        for j in columns
    ]
    return max(records, key=lambda r: r.psi)


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    threshold: float = 0.1,
    *,
    bins: int = 10,
    epsilon: float = 1e-4,
    exclude: Sequence[str] = ("target",),
    categorical: Sequence[str] | None = None,
) -> DriftResult:
    """Compare every reference feature's distribution with the current window's.

    Args:
        reference: The reference table (e.g. the training data).
        current: The current window (e.g. recent serving traffic).
        threshold: A feature drifts when its PSI is above this (> 0).
        bins: Quantile bins for numeric features (>= 2).
        epsilon: Proportion used for empty bins (> 0).
        exclude: Columns not compared (the label); absent ones are ignored.
        categorical: Columns to treat as categories even if numeric (e.g. integer codes).

    Returns:
        The per-feature records, ``drift_detected`` and ``share_drifted``.

    Raises:
        ParameterError: If ``threshold`` <= 0, ``bins`` < 2 or ``epsilon`` <= 0.
        DataValidationError: If a window is empty, the current window lacks reference
            columns, or a column is numeric in one window and text in the other.
    """
    _check_params(threshold, bins, epsilon)
    if len(reference) == 0:
        raise DataValidationError(
            "the reference dataset is empty", "point the reference input at the training data"
        )
    if len(current) == 0:
        raise DataValidationError(
            "the current window is empty (0 rows)",
            "widen the current window or check the query/export that produced it",
        )
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
        ref_kind, cur_kind = _kind(reference[c]), _kind(current[c])
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

    records = [
        _feature_drift(
            name=c,
            ref=reference[c],
            cur=current[c],
            kind=kind,
            threshold=threshold,
            bins=bins,
            epsilon=epsilon,
        )
        for c, kind in kinds.items()
    ]
    n_drifted = sum(r.drifted for r in records)
    result = DriftResult(
        features=records,
        drift_detected=n_drifted > 0,
        share_drifted=n_drifted / len(records),
        threshold=float(threshold),
        reference_rows=len(reference),
        current_rows=len(current),
        skipped=skipped,
    )
    log.info(
        "drift: %d/%d features drifted (threshold %g, max PSI %.4f): %s",
        n_drifted,
        len(records),
        threshold,
        result.max_psi,
        result.drifted_features,
    )
    return result


# --- internals -------------------------------------------------------------------------


def _check_params(threshold: float, bins: int, epsilon: float) -> None:
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


def _kind(series: pd.Series) -> str | None:
    """``numeric``, ``categorical`` or ``None`` (not comparable, e.g. datetimes)."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return CATEGORICAL
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return NUMERIC
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        return CATEGORICAL
    return None


def _to_series(values: Any) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))


def _as_float(series: pd.Series) -> np.ndarray:
    """Float64 values; nullable integer/float NA become NaN."""
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_counts(
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
    if len(cuts) <= _COMPARE_MAX_CUTS:
        at_most = [np.count_nonzero(cur <= c) for c in cuts]
        cur_counts = np.diff(np.asarray(at_most, dtype=np.int64), prepend=0, append=len(cur))
    else:
        cur_counts = np.bincount(np.searchsorted(cuts, cur, side="left"), minlength=len(cuts) + 1)
    if n_ref_nan or n_cur_nan:
        ref_counts = np.append(ref_counts, n_ref_nan)
        cur_counts = np.append(cur_counts, n_cur_nan)
    return ref_counts, cur_counts, ref, cur


def _category_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Counts over the union of categories (NaN is a category); also returns the labels."""
    ref_vc = ref.value_counts(dropna=False)
    cur_vc = cur.value_counts(dropna=False)
    both = pd.concat([ref_vc, cur_vc], axis=1, keys=["ref", "cur"], sort=False).fillna(0)
    labels = [_MISSING if _isna(k) else str(k) for k in both.index]
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


def _psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float) -> float:
    p_ref = _proportions(ref_counts, epsilon)
    p_cur = _proportions(cur_counts, epsilon)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def _proportions(counts: np.ndarray, epsilon: float) -> np.ndarray:
    total = counts.sum()
    p = counts / total if total else np.zeros(len(counts))
    return np.where(counts == 0, epsilon, p)


def _feature_drift(
    *,
    name: str,
    ref: pd.Series,
    cur: pd.Series,
    kind: str,
    threshold: float,
    bins: int,
    epsilon: float,
) -> FeatureDrift:
    from scipy import stats

    ks_stat = ks_p = chi2_p = None
    if kind == NUMERIC:
        ref_counts, cur_counts, ref_v, cur_v = _numeric_counts(_as_float(ref), _as_float(cur), bins)
        if len(ref_v) and len(cur_v):
            method = "asymp" if max(len(ref_v), len(cur_v)) > KS_EXACT_MAX else "auto"
            ks = stats.ks_2samp(ref_v, cur_v, method=method)
            ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
    else:
        ref_counts, cur_counts, _ = _category_counts(ref, cur)
        if len(ref_counts) > 1:
            chi2_p = float(stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))[1])
        else:
            chi2_p = 1.0  # a single category on both sides: nothing can differ
    value = _psi_from_counts(ref_counts, cur_counts, epsilon)
    return FeatureDrift(
        feature=str(name),
        kind=kind,
        psi=value,
        ks_statistic=ks_stat,
        ks_pvalue=ks_p,
        chi2_pvalue=chi2_p,
        drifted=bool(value > threshold),
    )


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plot_feature(record: FeatureDrift, ref: pd.Series, cur: pd.Series) -> Any:
    """A small reference-vs-current figure: density histograms or category bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.6))
    if record.kind == NUMERIC:
        r, c = _as_float(ref), _as_float(cur)
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        both = np.concatenate([r[:: max(len(r) // 100_000, 1)], c[:: max(len(c) // 100_000, 1)]])
        if len(both):
            lo, hi = np.quantile(both, [0.005, 0.995])
            if not hi > lo:
                lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
            edges = np.linspace(lo, hi, 31)
            for values, label, color in ((r, "reference", "#1a73e8"), (c, "current", "#d93025")):
                if len(values):
                    ax.hist(
                        np.clip(values, lo, hi),
                        bins=edges,
                        density=True,
                        alpha=0.5,
                        label=label,
                        color=color,
                    )
    else:
        ref_counts, cur_counts, labels = _category_counts(ref, cur)
        p_ref = ref_counts / max(ref_counts.sum(), 1)
        p_cur = cur_counts / max(cur_counts.sum(), 1)
        top = np.argsort(-(p_ref + p_cur), kind="stable")[:15]
        x = np.arange(len(top))
        ax.bar(x - 0.2, p_ref[top], width=0.4, label="reference", color="#1a73e8")
        ax.bar(x + 0.2, p_cur[top], width=0.4, label="current", color="#d93025")
        ax.set_xticks(x, [labels[i][:12] for i in top], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share", fontsize=8)
    state = "DRIFTED" if record.drifted else "stable"
    ax.set_title(f"{record.feature} - PSI {record.psi:.3f} ({state})", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    return fig
