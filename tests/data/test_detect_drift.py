"""Tests of detect_drift: PSI/KS/chi-square core, errors, HTML report, and the KFP wrapper."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.detect_drift.core import (
    DriftResult,
    feature_drift,
    prediction_drift,
    psi,
)

SHIFTED = ["mean_radius", "mean_texture", "worst_area"]
RESCALED = ["mean_smoothness", "worst_symmetry"]


def drifted_copy(df: pd.DataFrame) -> pd.DataFrame:
    """Breast cancer with three features shifted by one std and two rescaled (x2)."""
    out = df.copy()
    for c in SHIFTED:
        out[c] = out[c] + out[c].std()
    for c in RESCALED:
        out[c] = out[c] * 2.0
    return out


def test_identical_data_has_no_drift(breast_cancer):
    result = feature_drift(breast_cancer, breast_cancer.copy())
    assert not result.drift_detected
    assert result.share_drifted == 0.0
    assert len(result.features) == breast_cancer.shape[1] - 1  # target excluded
    assert all(f.psi == pytest.approx(0.0, abs=1e-12) for f in result.features)
    assert all(f.ks_pvalue == pytest.approx(1.0) for f in result.features)


def test_shifted_and_rescaled_features_drift_others_do_not(breast_cancer):
    result = feature_drift(breast_cancer, drifted_copy(breast_cancer))
    assert result.drift_detected
    assert set(result.drifted_features) == set(SHIFTED + RESCALED)
    assert result.share_drifted == pytest.approx(5 / 30)
    by_name = {f.feature: f for f in result.features}
    for c in SHIFTED + RESCALED:
        assert by_name[c].psi > 0.1
        assert by_name[c].ks_pvalue < 1e-6
        assert by_name[c].kind == "numeric" and by_name[c].chi2_pvalue is None
    assert by_name["mean_perimeter"].psi == pytest.approx(0.0, abs=1e-12)
    assert result.ranked()[0].drifted


def test_psi_matches_hand_computed_value():
    # Reference 1..100 with bins=2 cuts at the median 50.5 -> 50/50; current puts 25 values
    # at or below it and 75 above (26 of them beyond the reference max, still counted).
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    current = np.r_[np.arange(1, 26), np.arange(51, 126)]
    assert psi(np.arange(1, 101), current, bins=2) == pytest.approx(expected)
    assert psi(["a"] * 50 + ["b"] * 50, ["a"] * 25 + ["b"] * 75) == pytest.approx(expected)
    assert psi(np.arange(100.0), np.arange(100.0)) == 0.0


def test_values_outside_reference_range_land_in_outer_bins():
    ref = np.linspace(0.0, 1.0, 1000)
    assert psi(ref, ref + 10.0) > 5.0  # all current values above the reference max
    assert psi(ref, ref - 10.0) > 5.0


def test_empty_bins_use_epsilon_and_stay_finite():
    value = psi(["a"] * 100, ["a"] * 50 + ["b"] * 50, epsilon=1e-4)
    expected = (0.5 - 1.0) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert math.isfinite(value)
    assert value == pytest.approx(expected)
    # Numeric: every current value in one reference bin, the other bins empty.
    assert math.isfinite(psi(np.arange(100.0), np.zeros(50)))


def test_discrete_numeric_feature_gets_one_bin_per_value():
    # 95% zeros: decile cuts would all be 1 and merge 0 with 1.
    ref = np.r_[np.zeros(95), np.ones(5)]
    cur = np.r_[np.zeros(50), np.ones(50)]
    expected = (0.5 - 0.95) * math.log(0.5 / 0.95) + (0.5 - 0.05) * math.log(0.5 / 0.05)
    assert psi(ref, cur) == pytest.approx(expected)


def test_missing_values_have_their_own_bin():
    ref = pd.DataFrame({"x": np.arange(200.0)})
    cur = ref.copy()
    cur.loc[:99, "x"] = np.nan
    record = feature_drift(ref, cur, exclude=()).features[0]
    assert record.drifted and math.isfinite(record.psi)
    assert record.ks_pvalue is not None and math.isfinite(record.ks_pvalue)


def test_categorical_drift_with_unseen_category():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue"], 1000, p=[0.5, 0.3, 0.2]),
            "size": pd.Categorical(rng.choice(["s", "m"], 1000)),
            "x": rng.normal(size=1000),
        }
    )
    cur = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue", "purple"], 1000, p=[0.3, 0.3, 0.2, 0.2]),
            "size": pd.Categorical(rng.choice(["s", "m"], 1000)),
            "x": rng.normal(size=1000),
        }
    )
    result = feature_drift(ref, cur)
    by_name = {f.feature: f for f in result.features}
    color = by_name["color"]
    assert color.kind == "categorical"
    assert color.drifted and color.psi > 1.0  # 'purple' is unseen in the reference
    assert color.chi2_pvalue < 1e-10 and color.ks_pvalue is None
    assert not by_name["size"].drifted and by_name["size"].chi2_pvalue > 0.001
    assert not by_name["x"].drifted
    assert result.drifted_features == ["color"]


def test_listed_categorical_numeric_codes():
    ref = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3] * 50})
    cur = pd.DataFrame({"code": [1, 1, 1, 1, 2, 3] * 50})
    record = feature_drift(ref, cur, categorical=["code"], exclude=()).features[0]
    assert record.kind == "categorical" and record.chi2_pvalue is not None
    assert record.drifted


def test_missing_columns_are_listed(breast_cancer):
    cur = breast_cancer.drop(columns=["mean_radius", "worst_area"])
    with pytest.raises(
        DataValidationError, match=r"lacks 2 reference column.*mean_radius.*worst_area"
    ):
        feature_drift(breast_cancer, cur)


def test_numeric_vs_text_column_is_rejected(breast_cancer):
    cur = breast_cancer.copy()
    cur["mean_radius"] = cur["mean_radius"].astype(str)
    with pytest.raises(DataValidationError, match=r"'mean_radius' \(numeric in reference") as err:
        feature_drift(breast_cancer, cur)
    assert "cast" in err.value.fix


def test_empty_windows_are_rejected(breast_cancer):
    with pytest.raises(DataValidationError, match="current window is empty") as err:
        feature_drift(breast_cancer, breast_cancer.iloc[:0])
    assert err.value.fix
    with pytest.raises(DataValidationError, match="reference dataset is empty"):
        feature_drift(breast_cancer.iloc[:0], breast_cancer)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0.0}, "threshold must be > 0"),
        ({"threshold": -0.1}, "threshold must be > 0"),
        ({"bins": 1}, "bins must be an integer >= 2"),
        ({"epsilon": 0.0}, "epsilon must be > 0"),
    ],
)
def test_bad_parameters_are_rejected(breast_cancer, kwargs, match):
    with pytest.raises(ParameterError, match=match) as err:
        feature_drift(breast_cancer, breast_cancer, **kwargs)
    assert err.value.fix


def test_target_excluded_and_only_target_rejected(breast_cancer):
    result = feature_drift(breast_cancer, breast_cancer, exclude=("target",))
    assert "target" not in {f.feature for f in result.features}
    with pytest.raises(DataValidationError, match="no feature columns"):
        feature_drift(breast_cancer[["target"]], breast_cancer[["target"]])


def test_to_json_round_trips(breast_cancer):
    result = feature_drift(breast_cancer, drifted_copy(breast_cancer))
    data = json.loads(result.to_json())
    assert data["drift_detected"] is True
    assert set(data["drifted_features"]) == set(SHIFTED + RESCALED)
    assert len(data["features"]) == 30
    first = data["features"][0]
    assert set(first) == {
        "feature",
        "kind",
        "psi",
        "ks_statistic",
        "ks_pvalue",
        "chi2_pvalue",
        "drifted",
    }
    assert first["drifted"] is True and first["chi2_pvalue"] is None


def test_html_report_has_one_plot_per_feature(tmp_path, breast_cancer):
    ref = breast_cancer.iloc[:, :6].copy()
    ref["grade"] = np.where(breast_cancer["mean_radius"] > 14, "high", "low")
    cur = drifted_copy(breast_cancer).iloc[:, :6].copy()
    cur["grade"] = "high"
    result = feature_drift(ref, cur)
    path = tmp_path / "report.html"
    result.write_html(str(path), ref, cur)
    html = path.read_text(encoding="utf-8")
    assert html.count("<img") == 7
    assert html.count("data:image/png;base64,") == 7
    assert "drift detected" in html and "mean_radius" in html and "grade" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    # max_plots limits the plots and says so.
    result.write_html(str(path), ref, cur, max_plots=2)
    html = path.read_text(encoding="utf-8")
    assert html.count("<img") == 2 and "5 more features not plotted" in html


def test_prediction_drift_class_labels():
    ref = np.array([0] * 70 + [1] * 30)
    same = prediction_drift(ref, ref.copy())
    assert same.psi == 0.0 and not same.drifted and same.kind == "categorical"
    flipped = prediction_drift(ref, np.array([0] * 30 + [1] * 70))
    assert flipped.drifted and flipped.chi2_pvalue < 1e-6
    expected = 2 * 0.4 * math.log(0.7 / 0.3)
    assert flipped.psi == pytest.approx(expected)
    labels = prediction_drift(["cat", "dog"] * 50, ["cat"] * 90 + ["bird"] * 10)
    assert labels.drifted


def test_prediction_drift_probabilities():
    rng = np.random.default_rng(1)
    p = rng.beta(2, 5, 5000)
    assert not prediction_drift(p, rng.beta(2, 5, 5000)).drifted
    moved = prediction_drift(p, rng.beta(5, 2, 5000))
    assert moved.drifted and moved.kind == "numeric" and moved.ks_pvalue < 1e-10
    # (n, 2) matrix: the positive-class column is compared.
    two = prediction_drift(np.c_[1 - p, p], np.c_[1 - p, p])
    assert two.psi == 0.0
    # (n, k) matrix: the most drifted class column decides.
    probs = rng.dirichlet([1, 1, 1], 3000)
    skewed = rng.dirichlet([8, 1, 1], 3000)
    assert prediction_drift(probs, skewed).drifted
    with pytest.raises(DataValidationError, match="shape"):
        prediction_drift(probs, p)


def test_result_dataclass_fields(breast_cancer):
    result = feature_drift(breast_cancer, drifted_copy(breast_cancer), threshold=0.25)
    assert isinstance(result, DriftResult)
    assert result.threshold == 0.25
    assert result.max_psi == max(f.psi for f in result.features)
    assert all(f.drifted == (f.psi > 0.25) for f in result.features)


@pytest.mark.slow
def test_component_runs_in_kfp_local(kfp_local, tmp_path, breast_cancer):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Dataset, Metrics

    from kfp_mlops.components.data.detect_drift.component import detect_drift

    ref_path, cur_path = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    breast_cancer.to_parquet(ref_path, index=False)
    drifted_copy(breast_cancer).to_parquet(cur_path, index=False)

    class Outputs(NamedTuple):
        drift: bool
        metrics: Metrics

    @dsl.pipeline(name="drift-test")
    def pipe() -> Outputs:
        ref = dsl.importer(artifact_uri=str(ref_path), artifact_class=Dataset)
        cur = dsl.importer(artifact_uri=str(cur_path), artifact_class=Dataset)
        task = detect_drift(
            reference=ref.output, current=cur.output, threshold=0.1, target_column="target"
        )
        return Outputs(drift=task.outputs["Output"], metrics=task.outputs["metrics"])

    run = pipe()
    assert run.outputs["drift"] is True
    metrics = run.outputs["metrics"]
    assert metrics.metadata["drifted_features"] == 5
    assert metrics.metadata["psi_mean_radius"] > 0.1
    on_disk = json.loads(open(metrics.path, encoding="utf-8").read())
    assert on_disk["drifted_features"] == 5
