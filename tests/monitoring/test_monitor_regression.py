"""monitor_model on a regression champion: RMSE/MAE against the baseline, prediction drift.

The champion is a small Keras regressor on scikit-learn's diabetes set with a standardised
target, so every error figure must come back in the target's own units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.monitoring.monitor_model.baselines import parse_baseline
from kfp_mlops.components.monitoring.monitor_model.core import monitor, run_monitoring


@dataclass
class Regressor:
    model_dir: Path
    preprocessor_path: Path
    model: Any
    preprocessor: Any
    reference: pd.DataFrame


@pytest.fixture(scope="module")
def regressor(tmp_path_factory) -> Regressor:
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    frame = load_diabetes(as_frame=True).frame
    split = split_and_preprocess(frame, standardize_target=True, seed=42)
    assert split.preprocessor.task_spec.target_scale > 1  # really standardised
    x = split.train.drop(columns="label").to_numpy("float32")
    inputs = tf.keras.Input((x.shape[1],))
    hidden = tf.keras.layers.Dense(16, activation="relu")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(hidden))
    model.compile(tf.keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, split.train["label"].to_numpy("float32"), epochs=60, batch_size=32, verbose=0)
    root = tmp_path_factory.mktemp("regressor")
    (root / "model").mkdir()
    model.save(root / "model" / "model.h5")
    split.preprocessor.save(str(root / "preprocessor.json"))
    return Regressor(
        root / "model",
        root / "preprocessor.json",
        load_keras(str(root / "model")),
        split.preprocessor,
        frame,
    )


def _errors(reg: Regressor, window: pd.DataFrame) -> tuple[float, float]:
    """RMSE and MAE in target units, computed here with scikit-learn."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    task = reg.preprocessor.task_spec
    raw = reg.model.predict(reg.preprocessor.transform_features(window), verbose=0)[:, 0]
    pred = raw * task.target_scale + task.target_mean
    y = window["target"].to_numpy("float64")
    return float(np.sqrt(mean_squared_error(y, pred))), float(mean_absolute_error(y, pred))


def _window(reg: Regressor, rows: int = 250, seed: int = 0) -> pd.DataFrame:
    return reg.reference.sample(rows, random_state=seed).reset_index(drop=True)


def _run(reg: Regressor, window: pd.DataFrame, baseline: dict | None, **kwargs: Any):
    kwargs.setdefault("latency_samples", 10)
    return monitor(window, reg.reference, reg.model, reg.preprocessor, baseline, **kwargs)


def test_errors_are_in_target_units_and_a_steady_window_is_ok(regressor):
    window = _window(regressor)
    rmse, mae = _errors(regressor, window)
    assert rmse > 20  # diabetes targets are 25-346: a standardised-unit RMSE would be ~0.8
    result = _run(regressor, window, {"rmse": rmse, "mae": mae})
    assert result.metrics["rmse"] == pytest.approx(rmse, rel=1e-4)
    assert result.metrics["mae"] == pytest.approx(mae, rel=1e-4)
    assert "r2" in result.metrics and result.labelled_rows == len(window)
    assert [c.name for c in result.checks] == ["rmse", "mae"]
    assert result.level == 0 and not result.prediction.drifted
    assert result.classes == [] and result.class_share == {}
    summary = result.summary()
    assert summary["rmse"] == pytest.approx(rmse, rel=1e-4)
    assert "accuracy" not in summary  # a regressor's history has its own figures


@pytest.mark.parametrize(
    ("factor", "level", "bound"), [(1.07, 1, "above 105%"), (1.2, 2, "above 110%")]
)
def test_rmse_worse_than_the_baseline_is_warning_then_critical(regressor, factor, level, bound):
    window = _window(regressor)
    rmse, mae = _errors(regressor, window)
    baseline = {"rmse": rmse / factor, "mae": mae}  # the window is `factor` x worse in RMSE
    result = _run(regressor, window, baseline, retrain_on="warning")
    (check,) = [c for c in result.checks if c.name == "rmse"]
    assert check.level == level and check.ratio == pytest.approx(factor, rel=1e-3)
    assert result.level == level and result.retrain
    assert any("rmse" in r and bound in r for r in result.reasons), result.reasons
    mae_check = next(c for c in result.checks if c.name == "mae")
    assert mae_check.level == 0


def test_better_than_the_baseline_is_ok(regressor):
    window = _window(regressor)
    rmse, mae = _errors(regressor, window)
    result = _run(regressor, window, {"rmse": rmse * 1.5, "mae": mae * 1.5})
    assert result.level == 0 and [c.level for c in result.checks] == [0, 0]


def test_shifted_inputs_drift_the_predictions(regressor):
    window = _window(regressor)
    shifted = window.assign(bmi=window["bmi"] + 3 * window["bmi"].std())
    shifted["s5"] = shifted["s5"] + 3 * shifted["s5"].std()
    result = _run(regressor, shifted, None)
    assert result.prediction.drifted and result.prediction.psi > 0.1
    assert "bmi" in result.drift.drifted_features


def test_bad_regression_input_is_named(regressor, champion):
    window = _window(regressor)
    with pytest.raises(DataValidationError, match=r"regression target 'target' .* not numeric"):
        _run(regressor, window.assign(target="high"), None)
    with pytest.raises(DataValidationError, match=r"1 infinite values"):
        _run(
            regressor, window.assign(target=window["target"].where(window.index != 3, np.inf)), None
        )
    with pytest.raises(ParameterError, match=r"regression one .* same training run"):
        monitor(window, regressor.reference, champion.model, regressor.preprocessor, None)
    with pytest.raises(ParameterError, match=r"rmse=-3.0, not a positive number"):
        parse_baseline({"rmse": -3.0})
    with pytest.raises(ParameterError, match=r"accuracy=52.0, not a number in \(0, 1\]"):
        parse_baseline({"accuracy": 52.0})
    assert parse_baseline({"test_rmse": 52.5, "test_mae": 41.0}) == {"rmse": 52.5, "mae": 41.0}


def test_files_report_and_pushgateway_carry_the_errors(regressor, tmp_path, pushgateway):
    from kfp_mlops.components.monitoring.monitor_model.pushgateway import BASELINE_GAUGE

    window = _window(regressor)
    rmse, mae = _errors(regressor, window)
    cur, ref = tmp_path / "current.parquet", tmp_path / "reference.parquet"
    window.to_parquet(cur, index=False)
    regressor.reference.to_parquet(ref, index=False)
    baseline = {"test_rmse": rmse / 1.2, "test_mae": mae}  # as evaluate_model names them
    result = run_monitoring(
        str(cur),
        str(ref),
        str(regressor.model_dir),
        str(regressor.preprocessor_path),
        baseline_json=json.dumps(baseline),
        report_path=str(tmp_path / "report.html"),
        result_path=str(tmp_path / "result.json"),
        pushgateway_url=pushgateway.url,
        latency_samples=10,
    )
    assert result.level == 2 and result.retrain  # critical is a default trigger
    html = (tmp_path / "report.html").read_text()
    assert (
        ">rmse<" in html and ">mae<" in html and ">r2<" in html and "Predicted classes" not in html
    )
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["rmse"] == pytest.approx(rmse, rel=1e-4)  # fleet_report reads this key
    assert [(c["metric"], c["level"]) for c in saved["checks"]] == [
        ("rmse", "critical"),
        ("mae", "ok"),
    ]
    series = pushgateway.series("kfp-mlops-monitoring")
    values = {name: value for (name, _), value in series.items()}
    assert values["model_monitor_rmse"] == pytest.approx(rmse, rel=1e-4)
    assert values["model_monitor_mae"] == pytest.approx(mae, rel=1e-4)
    assert values[BASELINE_GAUGE.format("rmse")] == pytest.approx(rmse / 1.2, rel=1e-6)
    assert "model_monitor_accuracy" not in values
