"""Benchmark of detect_drift: 1M-row current window x 20 features vs a 100k-row reference.

Prints the wall time and peak memory of ``feature_drift`` against the targets (< 10 s,
< 2 GB), and the speed ratio of our vectorised PSI to a naive pandas implementation
(``pd.qcut``/``pd.cut`` + ``value_counts`` per feature) measured in the same run on the
same data. Then the same analysis next to Evidently's DataDriftPreset (see
:mod:`benchmarks.drift_peers`) on data where exactly five numeric columns shift: time and
peak memory of each in its own process, the verdicts, the ratio (target >= 20x faster).
``--quick`` uses 100k vs 10k rows and skips Evidently unless its env is already built. The
10M-row streaming case is ``bench_scale --full``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from benchmarks import drift_peers
from kfp_mlops.components.data.detect_drift.core import feature_drift, psi

TARGET_SECONDS = 10.0
TARGET_BYTES = 2 * 1024**3
N_FEATURES = 20
N_CATEGORICAL = 2  # of the 20: string columns, exercising the PSI/chi-square path
N_SHIFTED = 5  # numeric features whose current distribution moves


def make_data(
    n_ref: int, n_cur: int, seed: int = 0, shift_categorical: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables; a few features shifted so drift is found.

    ``shift_categorical=False`` leaves ``c0`` unshifted: only the five numeric columns
    x00-x04 move (the peer comparison's data).
    """
    rng = np.random.default_rng(seed)
    cats = np.array(["a", "b", "c", "d", "e"], dtype=object)
    ref, cur = {}, {}
    for j in range(N_FEATURES - N_CATEGORICAL):
        name = f"x{j:02d}"
        ref[name] = rng.normal(0.0, 1.0, n_ref)
        shift = 0.5 if j < N_SHIFTED else 0.0
        cur[name] = rng.normal(shift, 1.0, n_cur)
    for j in range(N_CATEGORICAL):
        name = f"c{j}"
        ref[name] = cats[rng.integers(0, 5, n_ref)]
        p = [0.4, 0.3, 0.1, 0.1, 0.1] if j == 0 and shift_categorical else [0.2] * 5
        cur[name] = rng.choice(cats, size=n_cur, p=p)
    ref["target"] = rng.integers(0, 2, n_ref)
    cur["target"] = rng.integers(0, 2, n_cur)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def naive_psi(ref: pd.Series, cur: pd.Series, bins: int = 10, epsilon: float = 1e-4) -> float:
    """The textbook pandas PSI: qcut edges on the reference, cut + value_counts on both."""
    _, edges = pd.qcut(ref, bins, retbins=True, duplicates="drop")
    edges[0], edges[-1] = -np.inf, np.inf
    p_ref = pd.cut(ref, edges).value_counts(normalize=True, sort=False)
    p_cur = pd.cut(cur, edges).value_counts(normalize=True, sort=False)
    p_ref = p_ref.where(p_ref > 0, epsilon)
    p_cur = p_cur.reindex(p_ref.index).fillna(0.0)
    p_cur = p_cur.where(p_cur > 0, epsilon)
    return float(((p_cur - p_ref) * np.log(p_cur / p_ref)).sum())


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k current vs 10k reference")
    args = parser.parse_args(argv)
    n_cur, n_ref = (100_000, 10_000) if args.quick else (1_000_000, 100_000)

    print(f"detect_drift benchmark: current {n_cur:,} x {N_FEATURES} vs reference {n_ref:,}")
    reference, current = make_data(n_ref, n_cur)
    import scipy.stats  # noqa: F401 - import once here so the timings below exclude it (~1 s)

    gc.collect()

    # 1) Wall time of the full analysis (PSI + KS/chi-square for all 20 features).
    rss_before = _maxrss_bytes()
    start = time.perf_counter()
    result = feature_drift(reference, current, exclude=("target",))
    wall = time.perf_counter() - start
    rss_delta = _maxrss_bytes() - rss_before

    # 2) Peak of Python/numpy allocations during a second run (tracemalloc slows it, so it
    #    is measured separately from the wall time).
    tracemalloc.start()
    feature_drift(reference, current, exclude=("target",))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(
        f"feature_drift wall time:            {wall:7.2f} s   (target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if wall < TARGET_SECONDS else 'NOT met'})"
    )
    print(
        f"peak extra memory (tracemalloc):    {traced_peak / 1024**2:7.1f} MiB "
        f"(target < 2 GB: {'met' if traced_peak < TARGET_BYTES else 'NOT met'})"
    )
    print(
        f"ru_maxrss growth during the call:   {rss_delta / 1024**2:7.1f} MiB "
        "(0 when the process peak was already higher, e.g. while building the data)"
    )
    print(f"process ru_maxrss (data included):  {_maxrss_bytes() / 1024**2:7.1f} MiB")
    print(
        f"drift detected: {result.drift_detected}; drifted: {result.drifted_features} "
        f"(expected x00-x{N_SHIFTED - 1:02d} and c0)"
    )

    # 3) Our PSI vs the naive pandas PSI on the numeric features, side by side.
    numeric = [c for c in reference.columns if c.startswith("x")]
    start = time.perf_counter()
    ours = [psi(reference[c], current[c]) for c in numeric]
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    naive = [naive_psi(reference[c], current[c]) for c in numeric]
    t_naive = time.perf_counter() - start
    diff = max(abs(a - b) for a, b in zip(ours, naive, strict=True))
    print(
        f"PSI over {len(numeric)} numeric features: ours {t_ours:.3f} s, naive pandas "
        f"{t_naive:.3f} s -> {t_naive / t_ours:.1f}x faster (max |PSI difference| {diff:.2e})"
    )

    # 4) Side by side with Evidently, each in its own process, on five shifted columns.
    del reference, current
    gc.collect()
    reference, current = make_data(n_ref, n_cur, seed=1, shift_categorical=False)
    expected = [f"x{j:02d}" for j in range(N_SHIFTED)]
    return 0 if drift_peers.compare(reference, current, expected, build=not args.quick) else 1


if __name__ == "__main__":
    raise SystemExit(main())
