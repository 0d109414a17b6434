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

Raw image Datasets (a binary ``image`` column) are compared on per-image channel statistics
and a PCA embedding of the pixels fitted on the reference; see :mod:`.images`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.cpus import cpu_count
from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.common.images import is_image_frame
from kfp_mlops.components.data.detect_drift.binning import (
    CATEGORICAL,
    NUMERIC,
    as_float,
    category_counts,
    kind_of,
    numeric_counts,
    psi_from_counts,
    to_series,
)
from kfp_mlops.components.data.detect_drift.checks import (
    check_not_empty,
)
from kfp_mlops.components.data.detect_drift.checks import (
    check_params as _check_params,
)
from kfp_mlops.components.data.detect_drift.checks import (
    comparable_columns as _comparable_columns,
)

log = logging.getLogger(__name__)

#: Above this many rows in either sample the KS p-value uses the asymptotic distribution
#: (the exact one is O(n*m)).
KS_EXACT_MAX = 10_000
#: Principal components of the pixels compared for raw image Datasets (see :mod:`.images`).
IMAGE_COMPONENTS = 8


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
        """Write the self-contained HTML report (see :func:`report.write_html`).

        Raw image frames are turned into the feature tables the result compared.
        """
        from kfp_mlops.components.data.detect_drift import report

        if is_image_frame(reference) or is_image_frame(current):
            from kfp_mlops.components.data.detect_drift import images

            k = sum(f.feature.startswith(images.PCA_PREFIX) for f in self.features)
            tables = images.image_features(reference, current, components=k)
            reference, current = tables.reference, tables.current
        report.write_html(self, path, reference, current, max_plots)


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
    ref, cur = to_series(reference), to_series(current)
    if categorical is None:
        categorical = kind_of(ref) == CATEGORICAL or kind_of(cur) == CATEGORICAL
    for name, s in (("reference", ref), ("current", cur)):
        if len(s) == 0:
            raise DataValidationError(f"the {name} sample is empty", "pass at least one value")
    if categorical:
        ref_counts, cur_counts, _ = category_counts(ref, cur)
    else:
        ref_counts, cur_counts, _, _ = numeric_counts(as_float(ref), as_float(cur), bins)
    return psi_from_counts(ref_counts, cur_counts, epsilon)


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
    image_components: int = IMAGE_COMPONENTS,
) -> DriftResult:
    """Compare every reference feature's distribution with the current window's.

    Raw image Datasets (see :mod:`.images`) are compared on per-image channel statistics
    and ``image_components`` principal components of the pixels, fitted on the reference.

    Args:
        reference: The reference table (e.g. the training data).
        current: The current window (e.g. recent serving traffic).
        threshold: A feature drifts when its PSI is above this (> 0).
        bins: Quantile bins for numeric features (>= 2).
        epsilon: Proportion used for empty bins (> 0).
        exclude: Columns not compared (the label); absent ones are ignored.
        categorical: Columns to treat as categories even if numeric (e.g. integer codes).
        image_components: For raw image Datasets: principal components of the pixels
            compared (``exclude`` and ``categorical`` do not apply to images).

    Returns:
        The per-feature records, ``drift_detected`` and ``share_drifted``.

    Raises:
        ParameterError: If ``threshold`` <= 0, ``bins`` < 2 or ``epsilon`` <= 0.
        DataValidationError: If a window is empty, the current window lacks reference
            columns, or a column is numeric in one window and text in the other.
        ImageDecodeError: For images, naming files that do not decode or whose shape is
            not the reference's majority shape.
    """
    _check_params(threshold, bins, epsilon)
    if is_image_frame(reference) or is_image_frame(current):
        from kfp_mlops.components.data.detect_drift.images import image_drift

        opts = {"bins": bins, "epsilon": epsilon, "components": image_components}
        return image_drift(reference, current, threshold, **opts)[0]
    check_not_empty(len(reference), len(current))
    kinds, skipped = _comparable_columns(reference, current, exclude, categorical)
    import scipy.stats  # noqa: F401 - once, before the threads need it

    def one(item: tuple[str, str]) -> FeatureDrift:
        name, kind = item
        return _feature_drift(
            name=name,
            ref=reference[name],
            cur=current[name],
            kind=kind,
            threshold=threshold,
            bins=bins,
            epsilon=epsilon,
        )

    # Sorting and searching (numpy, scipy's KS) release the GIL: features run on every core.
    with ThreadPoolExecutor(max_workers=_workers(len(kinds))) as pool:
        records = list(pool.map(one, kinds.items()))
    return summarise(records, threshold, len(reference), len(current), skipped)


def _workers(tasks: int) -> int:
    """Threads for ``tasks`` features: the CPUs this process may run on, at most 8."""
    return max(1, min(tasks, cpu_count(), 8))


def summarise(
    records: list[FeatureDrift],
    threshold: float,
    reference_rows: int,
    current_rows: int,
    skipped: list[str],
) -> DriftResult:
    """The overall decision from per-feature records (logged)."""
    n_drifted = sum(r.drifted for r in records)
    result = DriftResult(
        features=records,
        drift_detected=n_drifted > 0,
        share_drifted=n_drifted / len(records),
        threshold=float(threshold),
        reference_rows=reference_rows,
        current_rows=current_rows,
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
        ref_counts, cur_counts, ref_v, cur_v = numeric_counts(as_float(ref), as_float(cur), bins)
        if len(ref_v) and len(cur_v):
            method = "asymp" if max(len(ref_v), len(cur_v)) > KS_EXACT_MAX else "auto"
            ks = stats.ks_2samp(ref_v, cur_v, method=method)
            ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
    else:
        ref_counts, cur_counts, _ = category_counts(ref, cur)
        if len(ref_counts) > 1:
            chi2_p = float(stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))[1])
        else:
            chi2_p = 1.0  # a single category on both sides: nothing can differ
    value = psi_from_counts(ref_counts, cur_counts, epsilon)
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
