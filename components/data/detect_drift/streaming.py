"""Drift between two datasets larger than memory: the same bins, PSI exactly, KS from sketches.

:func:`feature_drift_streaming` reads both sides in record batches (files or shards):

1. one pass per side: NaN counts, finite ranges and the reference's distinct values (up to
   ``bins``) per numeric column, category counts per categorical column;
2. the reference's quantile cut points, exact (:class:`~.sketches.RankSelector`: equal to
   ``numpy.quantile`` on the whole column), in two or three passes over the reference;
3. one pass per side counting the bins, so the PSI equals the in-memory one, plus a
   fine histogram (:data:`KS_BINS` bins over both sides' range) from which the KS
   statistic is read (exact up to the mass of one fine bin; the p-value is scipy's
   asymptotic one). Up to :data:`~.core.KS_EXACT_MAX` rows per side the KS test runs on
   the values themselves, as in memory.

The verdicts (PSI above the threshold) are those of :func:`.core.feature_drift` on the
same data. Memory: one batch, the per-column histograms, and a systematic sample of at most
:data:`SAMPLE_ROWS` rows per side for the report's plots.

Raw image Datasets (a binary ``image`` column) go to :func:`.images.image_drift` instead,
which decodes them a chunk at a time into small feature tables, whatever their size.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.data import sketches
from kfp_mlops.components.data.detect_drift import core, images
from kfp_mlops.components.data.detect_drift.binning import MISSING, NUMERIC, psi_from_counts
from kfp_mlops.components.data.detect_drift.checks import (
    check_not_empty,
    check_params,
    comparable_columns,
)

log = logging.getLogger(__name__)

KS_BINS = 16_384
#: Rows per record batch read.
BATCH_ROWS = 65_536
SAMPLE_ROWS = 100_000


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)


class _Side:
    """Pass-one statistics of one side."""

    def __init__(self, path: str, numeric: list[str], categorical: list[str], bins: int):
        self.path, self.numeric, self.categorical, self.bins = path, numeric, categorical, bins
        self.nans = dict.fromkeys(numeric, 0)
        self.limits = {c: [np.inf, -np.inf, 0, 0] for c in numeric}  # min, max, -inf, +inf
        self.distinct: dict[str, set[float]] = {c: set() for c in numeric}
        self.counts: dict[str, Counter[Any]] = {c: Counter() for c in categorical}
        self.rows = 0

    def frames(self, columns: list[str]) -> Iterator[pd.DataFrame]:
        yield from shards.iter_frames(self.path, columns=columns, batch_rows=BATCH_ROWS)

    def profile(self) -> None:
        for frame in self.frames(self.numeric + self.categorical):
            self.rows += len(frame)
            for c in self.numeric:
                values = _floats(frame, c)
                nan = np.isnan(values)
                self.nans[c] += int(nan.sum())
                values = values[~nan]
                finite = values[np.isfinite(values)]
                lim = self.limits[c]
                if len(finite):
                    lim[0], lim[1] = min(lim[0], finite.min()), max(lim[1], finite.max())
                lim[2] += int(np.count_nonzero(values == -np.inf))
                lim[3] += int(np.count_nonzero(values == np.inf))
                seen = self.distinct[c]
                if len(seen) <= self.bins:  # past that the bins come from quantiles
                    unique = np.unique(values)
                    seen.update(unique[: self.bins + 1].tolist())
            for c in self.categorical:
                for key, n in frame[c].value_counts(dropna=False).items():
                    self.counts[c][MISSING if _isna(key) else str(key)] += int(n)

    def valid(self, column: str) -> int:
        return self.rows - self.nans[column]


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cuts(ref: _Side, bins: int) -> dict[str, np.ndarray]:
    """The reference's cut points per numeric column, as :func:`.binning.numeric_counts`."""
    cuts: dict[str, np.ndarray] = {}
    qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    ranks, stats = {}, {}
    for c in ref.numeric:
        n = ref.valid(c)
        if n == 0:
            cuts[c] = np.empty(0)
        elif len(ref.distinct[c]) <= bins:
            cuts[c] = np.asarray(sorted(ref.distinct[c]), dtype=np.float64)
        else:
            low, high, neg, pos = ref.limits[c]
            stats[c] = (n - neg - pos, low, high, neg)
            ranks[c] = sketches.quantile_ranks(n, qs)
    selector = sketches.RankSelector(ranks, stats)

    def batches(columns: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for frame in ref.frames(columns):
            out = {}
            for c in columns:
                values = _floats(frame, c)
                out[c] = values[~np.isnan(values)]
            yield out

    sketches.run_passes(selector, batches)
    for c in ranks:
        found = selector.values[c]
        cuts[c] = np.unique(sketches.quantiles_from(ref.valid(c), qs, found.__getitem__))
    return {c: v[np.isfinite(v)] for c, v in cuts.items()}


class _Counts:
    """Pass-three counts of one side: drift bins, fine KS histogram, a plot sample."""

    def __init__(self, side: _Side, cuts: dict[str, np.ndarray], grid: dict[str, tuple]):
        self.side, self.cuts, self.grid = side, cuts, grid
        self.bins = {c: np.zeros(len(cuts[c]) + 1, dtype=np.int64) for c in cuts}
        self.fine = {c: np.zeros(KS_BINS, dtype=np.int64) for c in cuts}
        self.small: dict[str, list[np.ndarray]] = {c: [] for c in cuts}
        self.sample: list[pd.DataFrame] = []

    def run(self, keep_values: bool) -> None:
        step = max(self.side.rows // SAMPLE_ROWS, 1)
        start = 0
        for frame in shards.iter_frames(self.side.path, batch_rows=BATCH_ROWS):
            offset = (-start) % step
            self.sample.append(frame.iloc[offset::step].copy())  # a view would pin the batch
            start += len(frame)
            for c in self.cuts:
                values = _floats(frame, c)
                values = values[~np.isnan(values)]
                self.bins[c] += np.bincount(
                    np.searchsorted(self.cuts[c], values, side="left"),
                    minlength=len(self.cuts[c]) + 1,
                )
                lo, hi = self.grid[c]
                index = sketches._bin_index(np.clip(values, lo, hi), lo, hi, KS_BINS)
                self.fine[c] += np.bincount(index, minlength=KS_BINS)
                if keep_values:
                    self.small[c].append(values)


def _ks(c: str, ref: _Counts, cur: _Counts, exact: bool) -> tuple[float | None, float | None]:
    from scipy import stats

    n, m = int(ref.fine[c].sum()), int(cur.fine[c].sum())
    if not n or not m:
        return None, None
    if exact:
        ks = stats.ks_2samp(np.concatenate(ref.small[c]), np.concatenate(cur.small[c]))
        return float(ks.statistic), float(ks.pvalue)
    d = float(np.abs(np.cumsum(ref.fine[c]) / n - np.cumsum(cur.fine[c]) / m).max())
    big, small = max(n, m), min(n, m)
    return d, float(stats.distributions.kstwo.sf(d, np.round(big * small / (big + small))))


def _numeric_record(
    c: str, ref: _Counts, cur: _Counts, threshold: float, epsilon: float, exact: bool
) -> core.FeatureDrift:
    ref_counts, cur_counts = ref.bins[c], cur.bins[c]
    n_ref_nan, n_cur_nan = ref.side.nans[c], cur.side.nans[c]
    if n_ref_nan or n_cur_nan:
        ref_counts = np.append(ref_counts, n_ref_nan)
        cur_counts = np.append(cur_counts, n_cur_nan)
    ks_stat, ks_p = _ks(c, ref, cur, exact)
    value = psi_from_counts(ref_counts, cur_counts, epsilon)
    return core.FeatureDrift(c, NUMERIC, value, ks_stat, ks_p, None, bool(value > threshold))


def _categorical_record(
    c: str, ref: _Side, cur: _Side, threshold: float, epsilon: float
) -> core.FeatureDrift:
    from scipy import stats

    labels = list(dict.fromkeys([*ref.counts[c], *cur.counts[c]]))
    ref_counts = np.asarray([ref.counts[c].get(k, 0) for k in labels], dtype=np.int64)
    cur_counts = np.asarray([cur.counts[c].get(k, 0) for k in labels], dtype=np.int64)
    chi2 = (
        float(stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))[1])
        if len(labels) > 1
        else 1.0
    )
    value = psi_from_counts(ref_counts, cur_counts, epsilon)
    return core.FeatureDrift(c, "categorical", value, None, None, chi2, bool(value > threshold))


def _kinds(
    reference: str, current: str, exclude: Sequence[str], categorical: Sequence[str] | None
) -> tuple[dict[str, str], list[str]]:
    """Column kinds from the two schemas (no rows read), checked as in memory."""
    empty = [
        shards.file_schema(shards.resolve_files(p)[0]).empty_table().to_pandas()
        for p in (reference, current)
    ]
    return comparable_columns(empty[0], empty[1], exclude, categorical)


def feature_drift_streaming(
    reference: str,
    current: str,
    threshold: float = 0.1,
    *,
    bins: int = 10,
    epsilon: float = 1e-4,
    exclude: Sequence[str] = ("target",),
    categorical: Sequence[str] | None = None,
    image_components: int = images.DEFAULT_COMPONENTS,
) -> tuple[core.DriftResult, pd.DataFrame, pd.DataFrame]:
    """:func:`.core.feature_drift` on two datasets (files or shards), batch by batch.

    Raw image Datasets are compared on their image features (:func:`.images.image_drift`).

    Returns:
        The result, and a systematic sample of each side (every column, at most about
        :data:`SAMPLE_ROWS` rows) for the report's plots and for prediction drift; for
        images, the two image feature tables instead.

    Raises:
        As :func:`.core.feature_drift`.
    """
    check_params(threshold, bins, epsilon)
    if images.is_image_dataset(reference) or images.is_image_dataset(current):
        opts = {"bins": bins, "epsilon": epsilon, "components": image_components}
        return images.image_drift(reference, current, threshold, **opts)
    ref_rows, cur_rows = shards.read_manifest(reference).rows, shards.read_manifest(current).rows
    check_not_empty(ref_rows, cur_rows)
    kinds, skipped = _kinds(reference, current, exclude, categorical)
    numeric = [c for c, k in kinds.items() if k == NUMERIC]
    cats = [c for c, k in kinds.items() if k != NUMERIC]
    ref, cur = _Side(reference, numeric, cats, bins), _Side(current, numeric, cats, bins)
    ref.profile()
    cur.profile()
    cuts = _cuts(ref, bins)
    grid = {}
    for c in numeric:
        lo = min(ref.limits[c][0], cur.limits[c][0])
        hi = max(ref.limits[c][1], cur.limits[c][1])
        grid[c] = (lo, hi) if np.isfinite(lo) else (0.0, 0.0)
    exact = max(ref.rows, cur.rows) <= core.KS_EXACT_MAX
    counts = [_Counts(side, cuts, grid) for side in (ref, cur)]
    for count in counts:
        count.run(keep_values=exact)
    records = [
        _numeric_record(c, *counts, threshold, epsilon, exact)
        if kinds[c] == NUMERIC
        else _categorical_record(c, ref, cur, threshold, epsilon)
        for c in kinds
    ]
    result = core.summarise(records, threshold, ref.rows, cur.rows, skipped)
    samples = [pd.concat(c.sample, ignore_index=True) for c in counts]
    return result, samples[0], samples[1]


def drift_between(
    reference: str,
    current: str,
    threshold: float = 0.1,
    *,
    stream_above_rows: int = 1_000_000,
    **options: Any,
) -> tuple[core.DriftResult, pd.DataFrame, pd.DataFrame]:
    """The component's entry point: in memory for small single files, else streaming.

    Raw image Datasets (any size) are decoded a chunk at a time into feature tables
    (:func:`.images.image_drift`); the frames returned are then those tables.

    Returns:
        The result and the frames the report plots (whole tables or samples).
    """
    from kfp_mlops.components.common.io import load_dataset_artifact

    if images.is_image_dataset(reference) or images.is_image_dataset(current):
        return images.image_drift(reference, current, threshold, **images.drift_options(options))
    if wants_streaming((reference, current), stream_above_rows):
        return feature_drift_streaming(reference, current, threshold, **options)
    ref, cur = load_dataset_artifact(reference), load_dataset_artifact(current)
    return core.feature_drift(ref, cur, threshold, **options), ref, cur


def wants_streaming(paths: Sequence[str], above_rows: int = 1_000_000) -> bool:
    """Whether any dataset is sharded or has more than ``above_rows`` rows (footer only)."""
    if any(shards.is_sharded(p) for p in paths):
        return True
    return above_rows > 0 and max(shards.read_manifest(p).rows for p in paths) > above_rows
