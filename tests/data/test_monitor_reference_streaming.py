"""monitor_model's reference: a sharded one is streamed for drift and sampled for the rest."""

import numpy as np
import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.data.detect_drift.core import feature_drift
from kfp_mlops.components.monitoring.monitor_model.reference import reference_and_drift


def _frame(rows, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1, rows),
            "b": rng.choice(["x", "y"], rows),
            "latency_ms": rng.exponential(5, rows),
            "target": rng.choice(["yes", "no"], rows),
        }
    )


def test_sharded_reference_gives_the_in_memory_drift_and_a_sample(tmp_path):
    reference, current = _frame(30_000), _frame(2_000, shift=0.5, seed=1)
    shards.write_frame(reference, tmp_path / "ref", rows_per_shard=8_000)
    current.to_parquet(tmp_path / "cur.parquet", index=False)
    options = {"drift_threshold": 0.1, "bins": 10}
    sample, drift = reference_and_drift(
        str(tmp_path / "ref"), str(tmp_path / "cur.parquet"), "target", options
    )
    expected = feature_drift(reference, current, exclude=("target", "latency_ms"))
    assert drift is not None and drift.drifted_features == expected.drifted_features == ["a"]
    assert [f.feature for f in drift.features] == ["a", "b"]  # latency and label left out
    for got, want in zip(drift.features, expected.features, strict=True):
        assert abs(got.psi - want.psi) < 1e-12
    assert drift.reference_rows == 30_000 and list(sample.columns) == list(reference.columns)
    assert 0 < len(sample) <= 30_000


def test_small_single_file_reference_is_read_whole(tmp_path):
    reference = _frame(500)
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    frame, drift = reference_and_drift(str(tmp_path / "ref.parquet"), "", "target", {})
    assert drift is None
    pd.testing.assert_frame_equal(frame, reference)


def test_sharded_current_window_streams_the_drift_too(tmp_path):
    reference, current = _frame(3_000), _frame(12_000, shift=0.5, seed=2)
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    shards.write_frame(current, tmp_path / "cur", rows_per_shard=5_000)
    sample, drift = reference_and_drift(
        str(tmp_path / "ref.parquet"), str(tmp_path / "cur"), "target", {"bins": 10}
    )
    expected = feature_drift(reference, current, exclude=("target", "latency_ms"))
    assert drift is not None and drift.current_rows == 12_000
    assert drift.drifted_features == expected.drifted_features == ["a"]
    for got, want in zip(drift.features, expected.features, strict=True):
        assert abs(got.psi - want.psi) < 1e-12
    assert len(sample) == 3_000  # a small reference is its own sample
