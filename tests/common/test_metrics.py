"""Tests of the shared computations: latency percentiles, probabilities, classification metrics."""

import math

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import (
    classification_metrics,
    compute_metrics,
    latency_percentiles,
    regression_metrics,
    roc_points,
    to_proba,
)

# --------------------------------------------------------------------------- latency


def test_linear_percentiles_interpolate_between_samples():
    # 1..101 ms: the q-th percentile of 101 evenly spaced values is exactly q + 1.
    got = latency_percentiles(np.arange(1.0, 102.0))
    assert got == {"p50": 51.0, "p95": 96.0, "p99": 100.0}


def test_units_are_converted_to_milliseconds():
    seconds = latency_percentiles([0.001, 0.002, 0.003], to_ms=1000.0)
    nanoseconds = latency_percentiles([1e6, 2e6, 3e6], to_ms=1e-6)
    assert seconds == pytest.approx(nanoseconds)
    assert seconds["p50"] == pytest.approx(2.0)


def test_nearest_rank_returns_an_observed_sample():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 8.0, 7.0, 9.0]
    got = latency_percentiles(samples, method="nearest_rank")
    # Nearest rank: the ceil(q/100 * n)-th smallest sample (n = 10).
    ordered = sorted(samples)
    assert got == {f"p{q}": ordered[math.ceil(q / 100 * 10) - 1] for q in (50, 95, 99)}
    assert got["p50"] == 5.0 and got["p99"] == 10.0


def test_non_finite_samples_are_ignored_and_none_left_is_an_error():
    assert latency_percentiles([1.0, math.nan, 3.0, math.inf])["p50"] == 2.0
    with pytest.raises(ParameterError, match="no latency samples"):
        latency_percentiles([])
    with pytest.raises(ParameterError, match="nearest_rank"):
        latency_percentiles([1.0], method="median")


# --------------------------------------------------------------------------- probabilities


def test_to_proba_expands_a_sigmoid_and_rejects_a_width_mismatch():
    proba = to_proba(np.array([[0.2], [0.9]]), 2)
    assert np.allclose(proba, [[0.8, 0.2], [0.1, 0.9]])
    assert np.allclose(to_proba(np.array([0.2, 0.9]), 2), proba)  # a flat vector too
    renormalised = to_proba(np.array([[0.5, 0.3, 0.1]]), 3)
    assert renormalised.sum() == pytest.approx(1.0)
    assert np.allclose(to_proba(np.zeros((1, 4)), 4), 0.25)  # all-zero row: uniform
    with pytest.raises(ParameterError, match="3 classes"):
        to_proba(np.array([[0.5, 0.5]]), 3)


# --------------------------------------------------------------------------- metrics


def test_binary_label_metrics_on_a_hand_checked_example():
    # One TP (row 3), one FP (row 1), one FN (row 2), one TN (row 0).
    got = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2)
    assert got == {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_multiclass_label_metrics_are_macro_averaged():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 1])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2, 2])
    got = classification_metrics(y_true, y_pred, 3)
    # Per class (tp, fp, fn): 0 (1,1,1), 1 (2,1,1), 2 (2,1,1).
    precision = np.mean([1 / 2, 2 / 3, 2 / 3])
    recall = np.mean([1 / 2, 2 / 3, 2 / 3])
    assert got["accuracy"] == pytest.approx(5 / 8)
    assert got["precision"] == pytest.approx(precision)
    assert got["recall"] == pytest.approx(recall)
    assert got["f1"] == pytest.approx(np.mean([1 / 2, 2 / 3, 2 / 3]))


def test_a_class_absent_from_labels_and_predictions_is_not_averaged():
    got = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 1]), 3)
    assert got["precision"] == got["recall"] == got["f1"] == 1.0


def test_binary_metrics_of_a_window_with_only_negatives():
    got = classification_metrics(np.array([0, 0]), np.array([0, 0]), 2)
    assert got["accuracy"] == 1.0
    assert got["precision"] == got["recall"] == 0.0  # no positives: zero_division=0


def test_compute_metrics_on_hand_checked_binary_example():
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.6, 0.4, 0.9])
    result = compute_metrics(y, np.column_stack([1 - p1, p1]), ["neg", "pos"])
    s = result.scalars
    assert (s["accuracy"], s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5, 0.5)
    # 3 of the 4 (positive, negative) pairs are ranked correctly (0.4 < 0.6 is not).
    assert s["roc_auc"] == pytest.approx(0.75)
    assert s["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.4)) / 2)
    assert result.confusion_matrix == [[1, 1], [1, 1]]
    assert result.classes == ["neg", "pos"]
    roc = result.roc
    assert roc is not None
    assert all(math.isfinite(t) and 0.0 <= t <= 1.0 for t in roc["thresholds"])
    assert roc["thresholds"][0] == 1.0  # scikit-learn's inf, clipped
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)


def test_compute_metrics_multiclass_digits_agree_with_the_confusion_matrix():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=500).fit(x_train, y_train)
    result = compute_metrics(y_test, clf.predict_proba(x_test), [str(i) for i in range(10)])

    matrix = np.array(result.confusion_matrix)
    assert matrix.shape == (10, 10)
    assert matrix.sum() == len(y_test)
    assert result.scalars["accuracy"] == pytest.approx(np.trace(matrix) / len(y_test))
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    assert result.scalars["f1"] == pytest.approx(np.mean(2 * tp / (2 * tp + fp + fn)))
    assert result.scalars["precision"] == pytest.approx(np.mean(tp / (tp + fp)))
    assert result.scalars["recall"] == pytest.approx(np.mean(tp / (tp + fn)))
    assert 0.95 < result.scalars["roc_auc"] <= 1.0
    assert result.roc is None  # one ROC curve only for binary problems


def test_missing_class_in_test_split_gives_nan_auc_and_a_note():
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    result = compute_metrics(np.array([0, 1]), proba, ["a", "b", "c"])
    assert math.isnan(result.scalars["roc_auc"])
    assert "'c'" in result.notes[0]
    assert result.scalars["accuracy"] == 1.0


def test_compute_metrics_rejects_probabilities_of_the_wrong_shape():
    with pytest.raises(ParameterError, match=r"expected \(2, 3\)"):
        compute_metrics(np.array([0, 1]), np.ones((2, 2)) / 2, ["a", "b", "c"])


def test_roc_curve_is_downsampled_with_finite_thresholds():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    score = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    roc = roc_points(y, score, max_points=200)
    assert 2 < len(roc["fpr"]) <= 200
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"])
    assert all(math.isfinite(t) for t in roc["thresholds"])
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert roc["fpr"] == sorted(roc["fpr"])


# --------------------------------------------------------------------------- regression


def test_regression_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    y = rng.uniform(50, 300, 200)
    pred = y + rng.normal(0, 20, 200)
    got = regression_metrics(y, pred.reshape(-1, 1))
    assert got.scalars["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, pred)))
    assert got.scalars["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got.scalars["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert got.scalars["mape"] == pytest.approx(100 * skm.mean_absolute_percentage_error(y, pred))
    assert got.notes == [] and got.classes == [] and got.confusion_matrix == []


def test_mape_is_skipped_with_a_note_when_a_target_is_zero():
    got = regression_metrics(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 2.5]))
    assert math.isnan(got.scalars["mape"])
    assert "mape skipped" in got.notes[0]
    assert got.scalars["rmse"] == pytest.approx(math.sqrt(0.5 / 3))


def test_r2_is_undefined_for_constant_targets():
    got = regression_metrics(np.array([3.0, 3.0]), np.array([2.0, 4.0]))
    assert math.isnan(got.scalars["r2"]) and "r2 undefined" in got.notes[0]
    assert got.scalars["mae"] == 1.0


@pytest.mark.parametrize(
    ("y", "pred", "match"),
    [
        (np.ones(3), np.ones(2), "predictions have shape"),
        (np.ones(2), np.ones((2, 2)), "predictions have shape"),
        (np.ones(2), np.array([1.0, np.nan]), "NaN or infinite"),
    ],
)
def test_regression_metrics_refuse_mismatched_or_broken_inputs(y, pred, match):
    with pytest.raises(ParameterError, match=match):
        regression_metrics(y, pred)
