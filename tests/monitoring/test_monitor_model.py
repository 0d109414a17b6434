"""Tests of monitor_model: quality levels, drift, latency, decision, outputs, the KFP wrapper."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.metrics import classification_metrics
from kfp_mlops.components.monitoring.monitor_model.baselines import (
    parse_baseline,
    parse_history,
    parse_retrain_on,
    read_baseline_artifact,
)
from kfp_mlops.components.monitoring.monitor_model.checks import (
    compare_with_baseline,
    latency_from_log,
)
from kfp_mlops.components.monitoring.monitor_model.core import monitor, run_monitoring
from tests.monitoring.helpers import (
    RESCALED,
    SHIFTED,
    drifted,
    flip_labels,
    recent_window,
    run,
    write_inputs,
)

# --- decisions ---------------------------------------------------------------------------


def test_no_drift_and_good_metrics_do_not_retrain(champion):
    result = run(champion, recent_window(champion.reference))
    assert result.retrain is False
    assert result.reasons == []
    assert result.level == 0
    assert not result.drift.drift_detected
    assert result.drift.max_psi < 0.1
    assert not result.prediction.drifted
    assert result.labelled_rows == result.rows == 300
    for name, value in result.metrics.items():
        assert value >= 0.95 * champion.baseline[name], name
    assert {c.name for c in result.checks} == {"accuracy", "precision", "recall", "f1"}
    assert result.latency["source"] == "measured"
    assert result.latency["samples"] == 20
    assert 0 < result.latency["p50"] <= result.latency["p95"] <= result.latency["p99"]
    summary = result.summary()
    assert summary["retrain"] is False and summary["level"] == 0
    assert summary["accuracy"] == pytest.approx(result.metrics["accuracy"])


def test_drifted_features_trigger_retraining_and_are_named(champion):
    result = run(champion, drifted(recent_window(champion.reference)))
    assert result.retrain is True
    assert set(SHIFTED + RESCALED) <= set(result.drift.drifted_features)
    drift_reason = next(r for r in result.reasons if r.startswith("feature drift"))
    for feature in SHIFTED + RESCALED:
        assert feature in drift_reason
    untouched = {f.feature: f for f in result.drift.features}["mean_perimeter"]
    assert not untouched.drifted


def test_flipped_labels_are_critical_and_trigger_retraining(champion):
    result = run(champion, flip_labels(recent_window(champion.reference)))
    assert not result.drift.drift_detected  # same features: only quality changed
    assert result.level == 2 and result.level_name == "critical"
    assert result.retrain is True
    accuracy = next(c for c in result.checks if c.name == "accuracy")
    assert accuracy.ratio < 0.9 and accuracy.level_name == "critical"
    assert any(r.startswith("accuracy") and "critical" in r for r in result.reasons)


@pytest.mark.parametrize("retrain_on", ["drift", "", "none"])
def test_retrain_on_excludes_quality_findings(champion, retrain_on):
    result = run(champion, flip_labels(recent_window(champion.reference)), retrain_on=retrain_on)
    assert result.level == 2
    assert result.retrain is False and result.reasons == []
    assert any("critical" in a for a in result.alerts)


def test_warning_retrains_only_when_asked(champion):
    window = flip_labels(recent_window(champion.reference), share=0.1)
    measured = run(champion, window, baseline={}, latency_samples=0).metrics["accuracy"]
    strict = {"accuracy": measured / 0.93}  # the window is at 93 % of this baseline
    lenient = run(champion, window, baseline=strict, retrain_on="critical")
    eager = run(champion, window, baseline=strict, retrain_on="warning")
    assert lenient.level == eager.level == 1
    assert lenient.retrain is False and eager.retrain is True
    assert any("warning" in r for r in eager.reasons)


def test_without_labels_quality_is_skipped_but_drift_still_decides(champion):
    window = drifted(recent_window(champion.reference)).drop(columns=["target"])
    result = run(champion, window)
    assert result.metrics == {} and result.checks == [] and result.labelled_rows == 0
    assert result.retrain is True
    assert any("no labels" in a for a in result.alerts)
    assert result.summary()["accuracy"] is None


def test_partially_labelled_window_scores_labelled_rows_only(champion):
    window = recent_window(champion.reference)
    window.loc[:99, "target"] = None
    result = run(champion, window)
    assert result.labelled_rows == 200 and result.rows == 300
    assert 0.0 < result.metrics["accuracy"] <= 1.0


def test_prediction_drift_alone_is_a_reason(champion):
    # Only malignant rows: the score distribution shifts (features drift too); with
    # retrain_on=prediction_drift that finding alone may be a reason.
    window = recent_window(champion.reference)
    window = window[window["target"] == "malignant"].reset_index(drop=True)
    result = run(champion, window, retrain_on="prediction_drift")
    assert result.prediction.drifted and result.prediction.psi > 0.1
    assert result.retrain is True
    assert len(result.reasons) == 1 and result.reasons[0].startswith("prediction drift")


# --- pieces ------------------------------------------------------------------------------


def test_levels_follow_the_runbook():
    baseline = {"accuracy": 0.90, "f1": 0.80, "recall": 0.80}
    checks = {
        c.name: c
        for c in compare_with_baseline({"accuracy": 0.86, "f1": 0.71, "recall": 0.75}, baseline)
    }
    assert checks["accuracy"].level == 0  # 95.6 % of baseline
    assert checks["recall"].level == 1  # 93.75 %
    assert checks["f1"].level == 2  # 88.75 %
    assert checks["f1"].ratio == pytest.approx(0.71 / 0.80)
    assert compare_with_baseline({"f1": 0.7201}, baseline)[0].level_name == "warning"
    assert compare_with_baseline({"f1": 0.7601}, baseline)[0].level_name == "ok"


def test_multiclass_metrics_are_macro_averaged():
    from sklearn.metrics import f1_score, precision_score

    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 1])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2, 2])
    got = classification_metrics(y_true, y_pred, num_classes=3)
    assert got["f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert got["precision"] == pytest.approx(precision_score(y_true, y_pred, average="macro"))
    assert got["accuracy"] == pytest.approx(5 / 8)


def test_logged_latency_is_preferred(champion):
    window = recent_window(champion.reference)
    window["latency_ms"] = np.linspace(1.0, 100.0, len(window))
    result = run(champion, window)
    assert result.latency["source"] == "log"
    assert result.latency["p50"] == pytest.approx(np.percentile(window["latency_ms"], 50))
    assert result.latency["p99"] == pytest.approx(np.percentile(window["latency_ms"], 99))
    assert "latency_ms" not in {f.feature for f in result.drift.features}


def test_latency_column_must_be_numeric():
    frame = pd.DataFrame({"latency_ms": ["12ms", "13ms"]})
    with pytest.raises(DataValidationError, match="latency column 'latency_ms' is"):
        latency_from_log(frame)
    assert latency_from_log(pd.DataFrame({"latency_ms": [np.nan]})) is None


def test_baseline_parsing_accepts_prefixed_keys_and_ignores_others():
    got = parse_baseline('{"test_accuracy": 0.97, "f1": 0.96, "val_f1": 0.5, "loss": 0.1}')
    assert got == {"accuracy": 0.97, "f1": 0.96}
    assert parse_baseline("") == {}
    assert parse_baseline({"val_recall": 0.9}) == {"recall": 0.9}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"accuracy": 0.97,', "not valid JSON"),
        ("[0.97]", "must be a JSON object"),
        ('{"accuracy": 97}', r"accuracy=97, not a number in \(0, 1\]"),
        ('{"accuracy": "0.97"}', "not a number"),
        ('{"auc": 0.99}', r"none of the metrics .*'auc'"),
    ],
)
def test_malformed_baseline_is_a_clear_error(text, match):
    with pytest.raises(ParameterError, match=match) as info:
        parse_baseline(text)
    assert info.value.fix  # every error says how to fix it


def test_baseline_artifact_from_file_dir_or_metadata(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "metrics.json").write_text(json.dumps({"val_accuracy": 0.95, "loss": 0.2}))
    assert read_baseline_artifact(str(model_dir)) == {"accuracy": 0.95}
    assert read_baseline_artifact(str(tmp_path / "absent"), {"f1": 0.9, "name": "x"}) == {"f1": 0.9}
    with pytest.raises(ParameterError, match="no JSON file and no metric metadata"):
        read_baseline_artifact(str(tmp_path / "absent"), {})


def test_retrain_on_and_history_parameters():
    assert parse_retrain_on("drift, Critical,drift") == ["drift", "critical"]
    with pytest.raises(ParameterError, match=r"unknown findings \['drfit'\]"):
        parse_retrain_on("drfit,critical")
    assert parse_history("") == []
    with pytest.raises(ParameterError, match="not valid JSON"):
        parse_history("[{")
    with pytest.raises(ParameterError, match="JSON list of objects"):
        parse_history('{"accuracy": 1}')


# --- bad input: clear error, no decision -------------------------------------------------


def _missing_columns(w):
    return w.drop(columns=["mean_radius", "worst_area"])


def _retyped_column(w):
    return w.assign(mean_texture=w["mean_texture"].astype(str))


def _int_labels(w):
    return w.assign(target=(w["target"] == "malignant").astype("int64"))


def _unknown_class(w):
    out = w.copy()
    out.loc[:4, "target"] = "unclear"
    return out


def _processed(w):
    return w.rename(columns={"target": "label"})


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_missing_columns, r"lacks 2 reference column\(s\): \['mean_radius', 'worst_area'\]"),
        (_retyped_column, "'mean_texture' \\(numeric in reference, categorical in current\\)"),
        (lambda w: w.iloc[:0], "empty"),
        (_int_labels, "labels in 'target' are numeric .* but text"),
        (_unknown_class, r"labels \['unclear'\] in 'target' .* not classes of the model"),
        (_processed, "looks like a processed split"),
    ],
)
def test_bad_recent_window_is_a_clear_error(champion, make, match):
    window = make(recent_window(champion.reference, rows=100))
    with pytest.raises(DataValidationError, match=match) as info:
        run(champion, window)
    assert info.value.fix


def test_model_and_preprocessor_must_match(champion):
    other = dataclasses.replace(champion.preprocessor, classes=["a", "b", "c"], task={})
    with pytest.raises(ParameterError, match="predicts 2 classes .* 3 classes"):
        monitor(recent_window(champion.reference), champion.reference, champion.model, other)


# --- outputs -----------------------------------------------------------------------------


def test_run_writes_report_result_and_history(champion, tmp_path):
    cur, ref = write_inputs(champion, tmp_path, drifted(recent_window(champion.reference)))
    earlier = [
        {"timestamp": "2024-01-01T00:00:00+00:00", "accuracy": 0.97, "f1": 0.96,
         "prediction_psi": 0.01, "max_psi": 0.02, "retrain": False},
        {"timestamp": "2024-01-01T01:00:00+00:00", "accuracy": 0.96, "f1": 0.95,
         "prediction_psi": 0.03, "max_psi": 0.05, "retrain": False},
    ]  # fmt: skip
    out = tmp_path / "out"
    result = run_monitoring(
        cur,
        ref,
        str(champion.model_dir),
        str(champion.preprocessor_path),
        baseline_json=json.dumps(champion.baseline),
        history_json=json.dumps(earlier),
        report_path=str(out / "report.html"),
        result_path=str(out / "result.json"),
        history_path=str(out / "history.json"),
        latency_samples=10,
    )
    assert result.retrain is True
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Reasons to retrain" in html and "mean_radius" in html
    assert "Trend (3 runs)" in html
    assert html.count("data:image/png;base64,") == 3  # PSI bars, quality bars, trend
    stored = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert stored["retrain"] is True and stored["reasons"] == result.reasons
    assert stored["feature_drift"]["drifted_features"] == result.drift.drifted_features
    assert {c["metric"] for c in stored["checks"]} == {"accuracy", "precision", "recall", "f1"}
    written = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(result.history))
    assert len(written) == 3 and written[:2] == earlier and written[2]["retrain"] is True


def test_history_uri_accumulates_runs_and_wins_over_history_json(champion, tmp_path):
    cur, ref = write_inputs(champion, tmp_path, recent_window(champion.reference))
    store = tmp_path / "store" / "history.json"
    common = dict(
        current_path=cur,
        reference_path=ref,
        model_path=str(champion.model_dir),
        preprocessor_path=str(champion.preprocessor_path),
        history_uri=str(store),
        history_json=json.dumps([{"accuracy": 0.5}]),  # seed, used while the store is empty
        latency_samples=0,
    )
    run_monitoring(**common)
    assert len(json.loads(store.read_text())) == 2
    result = run_monitoring(**common)
    history = result.history
    assert len(history) == 3 and history[0] == {"accuracy": 0.5}
    assert json.loads(store.read_text()) == json.loads(json.dumps(history))
    assert result.latency is None


def test_history_uri_on_gcs(champion, tmp_path, gcs_emulator):
    cur, ref = write_inputs(champion, tmp_path, recent_window(champion.reference, rows=200))
    uri = "gs://kfp-mlops-test/monitoring/history.json"
    for _ in range(2):
        run_monitoring(
            cur,
            ref,
            str(champion.model_dir),
            str(champion.preprocessor_path),
            history_uri=uri,
            latency_samples=0,
        )
    blob = gcs_emulator.bucket("kfp-mlops-test").blob("monitoring/history.json")
    assert len(json.loads(blob.download_as_bytes())) == 2


def test_baseline_json_and_artifact_are_exclusive(champion, tmp_path):
    with pytest.raises(ParameterError, match="both baseline_json and a baseline artifact"):
        run_monitoring(
            "unused",
            "unused",
            str(champion.model_dir),
            str(champion.preprocessor_path),
            baseline_json='{"accuracy": 0.9}',
            baseline_path=str(tmp_path),
        )


# --- KFP wrapper -------------------------------------------------------------------------


@pytest.mark.slow
def test_component_runs_in_kfp_local(kfp_local, champion, tmp_path):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import HTML, Artifact, Dataset, Metrics, Model

    from kfp_mlops.components.monitoring.monitor_model.component import monitor_model

    cur, ref = write_inputs(champion, tmp_path, drifted(recent_window(champion.reference)))

    class Outputs(NamedTuple):
        retrain: bool
        metrics: Metrics
        report: HTML
        history: Artifact

    @dsl.pipeline(name="monitoring-test")
    def pipe() -> Outputs:
        current = dsl.importer(artifact_uri=cur, artifact_class=Dataset)
        reference = dsl.importer(artifact_uri=ref, artifact_class=Dataset)
        model = dsl.importer(artifact_uri=str(champion.model_dir), artifact_class=Model)
        proc = dsl.importer(artifact_uri=str(champion.preprocessor_path), artifact_class=Model)
        task = monitor_model(
            current=current.output,
            reference=reference.output,
            model=model.output,
            preprocessor=proc.output,
            baseline_json=json.dumps(champion.baseline),
            history_json=json.dumps([{"accuracy": 0.97, "f1": 0.96}]),
            latency_samples=10,
        )
        return Outputs(
            retrain=task.outputs["Output"],
            metrics=task.outputs["metrics"],
            report=task.outputs["report"],
            history=task.outputs["history"],
        )

    outputs = pipe().outputs
    assert outputs["retrain"] is True
    metrics = outputs["metrics"].metadata
    assert metrics["retrain"] == 1.0 and metrics["drifted_features"] >= 5
    assert {"accuracy", "f1", "prediction_psi", "latency_p99_ms", "level"} <= set(metrics)
    assert any("mean_radius" in r for r in metrics["reasons"])
    html = open(outputs["report"].path, encoding="utf-8").read()
    assert "Trend (2 runs)" in html
    history = json.loads(open(outputs["history"].path, encoding="utf-8").read())
    assert len(history) == 2 and history[-1]["retrain"] is True
