"""prune_model and quantize_model on a regression model: the gate on the relative RMSE change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kfp_mlops.components.optimization.common import OptimizationGateError
from kfp_mlops.components.optimization.prune_model.core import prune
from kfp_mlops.components.optimization.quality import Quality, is_regression, rmse, rmse_gate
from kfp_mlops.components.optimization.quantize_model.core import quantize


def test_float_labels_mean_regression_and_rmse_is_the_shared_one():
    assert is_regression(np.zeros(3, dtype="float32"))
    assert not is_regression(np.zeros(3, dtype="int64"))
    labels = np.array([1.0, 2.0, 3.0], dtype="float32")
    assert rmse(np.array([[1.0], [2.0], [5.0]]), labels) == pytest.approx(math.sqrt(4 / 3))
    quality = Quality(regression=True)
    assert (quality.metric, quality.change_key) == ("rmse", "rmse_change_pct")


def test_rmse_gate_passes_a_small_change_and_names_a_large_one():
    assert rmse_gate(1.0, 1.015, 2.0, "fail", "pruned model").blessed
    assert rmse_gate(1.0, 0.9, 2.0, "fail", "pruned model").change == pytest.approx(-10.0)
    with pytest.raises(OptimizationGateError) as err:
        rmse_gate(0.5, 0.55, 2.0, "fail", "int8 TFLite model")
    assert "made the test RMSE 10.00% worse (0.5 -> 0.55)" in str(err.value)
    assert "max_rmse_increase_pct=2.0%" in str(err.value)
    assert "raise max_rmse_increase_pct" in err.value.fix
    marked = rmse_gate(0.5, 0.55, 2.0, "mark", "int8 TFLite model")
    assert not marked.blessed and marked.metadata["rmse_change_pct"] == pytest.approx(10.0)
    assert "10.00% worse" in marked.metadata["gate_reason"]


def _check_regression_metrics(m: dict[str, float]) -> None:
    assert "accuracy" not in m and "accuracy_change_pp" not in m
    assert m["rmse_change_pct"] == pytest.approx(
        (m["rmse"] - m["baseline_rmse"]) / m["baseline_rmse"] * 100, rel=1e-6
    )
    assert 0.3 < m["baseline_rmse"] < 1.0  # standardised target: a fitted model beats 1.0


@pytest.mark.slow
def test_prune_a_regressor_whose_rmse_barely_moves_passes(
    regression_model, regression_splits, tmp_path
):
    s = regression_splits
    result = prune(
        regression_model, s.train, s.validation, s.test, str(tmp_path / "p"),
        final_sparsity=0.05, epochs=2, learning_rate=1e-6, latency_runs=5,
    )  # fmt: skip
    m = result.metrics
    _check_regression_metrics(m)
    assert abs(m["rmse_change_pct"]) < 2.0 and result.blessed
    assert abs(m["tflite_rmse"] - m["rmse"]) < 1e-3
    assert "final_val_rmse" in m and abs(m["sparsity"] - 0.05) <= 0.02


@pytest.mark.slow
def test_prune_a_regressor_too_far_fails_naming_the_rmse_change(
    regression_model, regression_splits, tmp_path
):
    s = regression_splits
    args = (regression_model, s.train, s.validation, s.test)
    kwargs = {"final_sparsity": 0.9, "epochs": 2, "learning_rate": 1e-6, "latency_runs": 5}
    with pytest.raises(
        OptimizationGateError, match=r"pruned model made the test RMSE [\d.]+% worse"
    ):
        prune(*args, str(tmp_path / "fail"), **kwargs)
    marked = prune(*args, str(tmp_path / "mark"), gate_mode="mark", **kwargs)
    assert not marked.blessed and marked.metrics["rmse_change_pct"] > 2.0


@pytest.mark.slow
def test_quantize_a_regressor_float16_passes_and_int8_calibrates(
    regression_model, regression_splits, tmp_path
):
    s = regression_splits
    args = (regression_model, s.train, s.validation, s.test)
    half = quantize(*args, str(tmp_path / "f16"), mode="float16", latency_runs=5)
    _check_regression_metrics(half.metrics)
    assert abs(half.metrics["rmse_change_pct"]) < 0.5 and half.blessed
    int8 = quantize(*args, str(tmp_path / "int8"), mode="int8", gate_mode="mark", latency_runs=5)
    _check_regression_metrics(int8.metrics)
    assert int8.metadata["representative_rows"] == 100
    assert int8.blessed == (int8.metrics["rmse_change_pct"] <= 2.0)
    assert (tmp_path / "int8" / "model.tflite").exists()


@pytest.mark.slow
def test_quantize_a_regressor_with_bad_calibration_fails_naming_the_rmse_change(
    regression_model, regression_splits, tmp_path
):
    # Calibration rows squeezed to 1/1000 of their range clip every real input in int8.
    squeezed = regression_splits.frames["train"].copy()
    features = [c for c in squeezed.columns if c != "label"]
    squeezed[features] = squeezed[features] * np.float32(1e-3)
    train = tmp_path / "squeezed.parquet"
    squeezed.to_parquet(train, index=False)
    s = regression_splits
    with pytest.raises(OptimizationGateError, match=r"int8 TFLite model made the test RMSE"):
        quantize(regression_model, str(train), s.validation, s.test, str(tmp_path / "q"),
                 latency_runs=5)  # fmt: skip
