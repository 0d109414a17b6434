"""Streaming drift: the same bins, PSI and verdicts as in memory, on files or shards."""

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data import sketches
from kfp_mlops.components.data.detect_drift.core import feature_drift
from kfp_mlops.components.data.detect_drift.streaming import (
    drift_between,
    feature_drift_streaming,
)


def _window(rows: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "smooth": rng.normal(shift, 1.0, rows),
            "skewed": rng.lognormal(0.0, 1.0 + shift, rows),
            "steps": rng.integers(0, 5, rows).astype(float),  # discrete: one bin per value
            "city": rng.choice(["a", "b", "c"], rows, p=[0.6 - shift / 4, 0.3, 0.1 + shift / 4]),
            "target": rng.integers(0, 2, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.02 + shift / 10, "smooth"] = np.nan
    frame.loc[: rows // 50, "skewed"] = np.inf
    return frame


@pytest.mark.parametrize("rows", [3_000, 40_000])  # exact KS below 10k rows, sketch above
def test_streaming_matches_in_memory(tmp_path, rows):
    ref, cur = _window(rows), _window(rows, shift=0.4, seed=1)
    shards.write_frame(ref, tmp_path / "ref", rows_per_shard=rows // 3 + 1, row_group_rows=999)
    cur.to_parquet(tmp_path / "cur.parquet", index=False)
    memory = feature_drift(ref, cur, exclude=("target",))
    streamed, ref_sample, _ = feature_drift_streaming(
        str(tmp_path / "ref"), str(tmp_path / "cur.parquet"), exclude=("target",)
    )
    assert streamed.drifted_features == memory.drifted_features
    assert streamed.drift_detected and streamed.current_rows == rows
    by_name = {f.feature: f for f in memory.features}
    for record in streamed.features:
        expected = by_name[record.feature]
        assert record.psi == pytest.approx(expected.psi, rel=1e-9, abs=1e-12), record.feature
        assert record.kind == expected.kind and record.drifted == expected.drifted
        if record.ks_statistic is not None:
            tolerance = 1e-12 if rows <= 10_000 else 2e-3  # one fine bin of mass at most
            assert record.ks_statistic == pytest.approx(expected.ks_statistic, abs=tolerance)
        if record.chi2_pvalue is not None:
            assert record.chi2_pvalue == pytest.approx(expected.chi2_pvalue, rel=1e-9)
    assert len(ref_sample) <= rows
    assert list(ref_sample.columns) == ["smooth", "skewed", "steps", "city", "target"]


def test_no_drift_on_the_same_distribution(tmp_path):
    shards.write_frame(_window(20_000, seed=3), tmp_path / "ref", rows_per_shard=6_000)
    shards.write_frame(_window(20_000, seed=4), tmp_path / "cur", rows_per_shard=7_000)
    result, _, _ = drift_between(str(tmp_path / "ref"), str(tmp_path / "cur"))
    assert not result.drift_detected and result.max_psi < 0.01


def test_small_single_files_stay_in_memory(tmp_path):
    ref, cur = _window(500), _window(500, shift=1.0)
    ref.to_parquet(tmp_path / "r.parquet")
    cur.to_parquet(tmp_path / "c.parquet")
    result, ref_frame, _ = drift_between(str(tmp_path / "r.parquet"), str(tmp_path / "c.parquet"))
    assert len(ref_frame) == 500 and result.drift_detected  # the whole table, as before


def test_streaming_bad_inputs(tmp_path):
    shards.write_frame(_window(100), tmp_path / "ref")
    shards.write_frame(_window(100).drop(columns=["city"]), tmp_path / "cur")
    with pytest.raises(DataValidationError, match=r"lacks 1 reference column\(s\): \['city'\]"):
        feature_drift_streaming(str(tmp_path / "ref"), str(tmp_path / "cur"))
    shards.write_frame(_window(0), tmp_path / "empty")
    with pytest.raises(DataValidationError, match="current window is empty"):
        feature_drift_streaming(str(tmp_path / "ref"), str(tmp_path / "empty"))
    with pytest.raises(ParameterError, match="bins must be an integer >= 2"):
        feature_drift_streaming(str(tmp_path / "ref"), str(tmp_path / "ref"), bins=1)


def test_quantile_sketch_equals_numpy_with_ties_and_many_passes(monkeypatch):
    monkeypatch.setattr(sketches, "LIMIT", 300)  # force several refinement passes
    rng = np.random.default_rng(5)
    values = np.concatenate([np.zeros(5_000), rng.normal(size=20_001), [np.inf, -np.inf]])
    qs = np.linspace(0, 1, 11)[1:-1]
    n = len(values)
    finite = values[np.isfinite(values)]
    ranks = {"v": sketches.quantile_ranks(n, qs) + sketches.median_ranks(n)}
    selector = sketches.RankSelector(ranks, {"v": (len(finite), finite.min(), finite.max(), 1)})
    passes = []

    def read(columns):
        passes.append(columns)
        for start in range(0, n, 4_000):
            yield {"v": values[start : start + 4_000]}

    sketches.run_passes(selector, read)
    assert len(passes) >= 3
    found = selector.values["v"]
    np.testing.assert_array_equal(
        sketches.quantiles_from(n, qs, found.__getitem__), np.quantile(values, qs)
    )
    assert sketches.median_of(selector.result("v", sketches.median_ranks(n))) == np.median(values)
