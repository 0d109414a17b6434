"""monitor_model's data-quality figures: missing values, duplicates, freshness, volume, age."""

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.monitoring.monitor_model.quality import model_created
from tests.monitoring.conftest import Champion
from tests.monitoring.helpers import recent_window, run, run_on_files

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def with_missing(window: pd.DataFrame, column: str, share: float) -> pd.DataFrame:
    out = window.copy()
    rows = np.random.default_rng(3).choice(len(out), size=int(share * len(out)), replace=False)
    out.loc[rows, column] = np.nan
    return out


def strict(champion) -> Champion:
    """The champion with a preprocessor that does not impute (the server then refuses gaps)."""
    return dataclasses.replace(
        champion, preprocessor=dataclasses.replace(champion.preprocessor, impute=False)
    )


@pytest.mark.parametrize("imputes", [True, False], ids=["imputing", "non-imputing"])
def test_twenty_percent_missing_is_reported_and_triggers_retraining(champion, imputes):
    assert champion.preprocessor.impute  # split_and_preprocess imputes by default
    window = with_missing(recent_window(champion.reference), "worst_texture", 0.2)
    result = run(champion if imputes else strict(champion), window)  # default retrain_on

    q = result.data_quality
    assert q.missing_by_column["worst_texture"] == pytest.approx(0.2)
    assert q.missing_by_column["mean_radius"] == 0.0
    assert q.missing_ratio == pytest.approx(60 / (300 * 30))
    assert q.rows_with_missing == 60
    assert result.retrain is True
    reason = next(r for r in result.reasons if r.startswith("missing values"))
    assert "'worst_texture' 20.0%" in reason
    summary = result.summary()
    assert summary["max_column_missing_ratio"] == pytest.approx(0.2)
    assert 0.0 < result.metrics["accuracy"] <= 1.0
    if imputes:  # scored as the server scores them: with the filled values
        assert q.incomplete_rows == 0 and result.labelled_rows == 300
        assert any("60 of 300 rows" in a and "imputes" in a for a in result.alerts)
    else:  # left out of the model checks and counted, not a crash
        assert q.incomplete_rows == 60 and result.labelled_rows == 240
        assert any("60 of 300 rows" in a and "left out" in a for a in result.alerts)
    assert summary["incomplete_rows"] == q.incomplete_rows


def test_missing_values_only_alert_when_not_a_trigger(champion):
    window = with_missing(recent_window(champion.reference), "worst_texture", 0.2)
    result = run(champion, window, retrain_on="critical", latency_samples=0)
    assert not any(r.startswith("missing values") for r in result.reasons)
    assert any(a.startswith("missing values") for a in result.alerts)


def test_a_few_missing_values_stay_below_the_threshold(champion):
    window = with_missing(recent_window(champion.reference), "worst_texture", 0.05)
    result = run(strict(champion), window, latency_samples=0)
    assert result.data_quality.missing_by_column["worst_texture"] == pytest.approx(0.05)
    assert not any("missing values" in r for r in result.reasons + result.alerts)
    assert result.data_quality.incomplete_rows == 15


def test_a_window_without_one_complete_row_is_a_clear_error(champion):
    window = recent_window(champion.reference, rows=50).assign(worst_texture=np.nan)
    with pytest.raises(DataValidationError, match="every one of the 50 rows") as info:
        run(strict(champion), window)
    assert info.value.fix


def test_duplicates_are_counted_exactly(champion):
    base = recent_window(champion.reference, rows=200)
    window = pd.concat([base, base.iloc[:10], base.iloc[:5]], ignore_index=True)
    # Logged latency differs per request: a repeated row is still a duplicate.
    window["latency_ms"] = np.arange(len(window), dtype="float64") + 1.0
    result = run(champion, window)
    assert result.data_quality.duplicate_rows == 15
    assert result.data_quality.duplicate_ratio == pytest.approx(15 / 215)
    assert any(r.startswith("duplicate rows: 15 of 215") for r in result.reasons)

    clean = run(champion, base, latency_samples=0)
    assert clean.data_quality.duplicate_rows == 0
    assert not any("duplicate" in r for r in clean.reasons + clean.alerts)


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t,  # datetime64[ns, UTC]
        lambda t: t.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),  # ISO text
        lambda t: t.astype("int64") // 10**9,  # epoch seconds
    ],
    ids=["datetime", "iso-text", "epoch-seconds"],
)
def test_freshness_from_a_timestamp_column(champion, encode):
    window = recent_window(champion.reference, rows=200)
    newest = NOW - timedelta(hours=30)
    times = pd.Series(pd.date_range(end=newest, periods=len(window), freq="min", tz="UTC"))
    window["ts"] = encode(times)
    stale = run(champion, window, timestamp_column="ts", now=NOW, latency_samples=0)
    assert stale.data_quality.data_age_hours == pytest.approx(30.0)
    assert stale.data_quality.newest_record.startswith("2026-05-31T06:00:00")
    assert any(r.startswith("stale data") and "30.0 h" in r for r in stale.reasons)
    assert "ts" not in {f.feature for f in stale.drift.features}

    fresh = run(
        champion, window, timestamp_column="ts", now=newest + timedelta(hours=2), latency_samples=0
    )
    assert fresh.data_quality.data_age_hours == pytest.approx(2.0)
    assert not any("stale" in r for r in fresh.reasons + fresh.alerts)


def test_timestamp_column_must_exist_and_be_readable(champion):
    window = recent_window(champion.reference, rows=50)
    with pytest.raises(DataValidationError, match="timestamp_column 'ts' is not a column"):
        run(champion, window, timestamp_column="ts", latency_samples=0)
    with pytest.raises(DataValidationError, match="1 unreadable times"):
        bad = window.assign(ts=["2026-01-01T00:00:00Z"] * 49 + ["yesterday"])
        run(champion, bad, timestamp_column="ts", latency_samples=0)


def test_volume_against_expected_rows(champion):
    window = recent_window(champion.reference, rows=300)
    low = run(champion, window, expected_rows=1000, latency_samples=0)
    assert any(r.startswith("volume: 300 rows where 1000 are expected (-70%") for r in low.reasons)
    ok = run(champion, window, expected_rows=400, latency_samples=0)  # -25 %, within 50 %
    assert not any(r.startswith("volume") for r in ok.reasons + ok.alerts)
    assert ok.summary()["expected_rows"] == 400


def test_age_trigger_retrains_an_old_champion(champion):
    window = recent_window(champion.reference, rows=300)
    old = run(champion, window, model_created_at=NOW - timedelta(days=10), now=NOW)
    assert old.data_quality.model_age_days == pytest.approx(10.0)
    assert old.retrain is True
    assert [r for r in old.reasons if r.startswith("model age")]
    young = run(champion, window, model_created_at="2026-05-29T12:00:00Z", now=NOW)
    assert young.data_quality.model_age_days == pytest.approx(3.0)
    assert young.retrain is False
    longer = run(
        champion, window, model_created_at=NOW - timedelta(days=10), now=NOW, max_model_age_days=14
    )
    assert not any(r.startswith("model age") for r in longer.reasons)
    unknown = run(champion, window, latency_samples=0)
    assert unknown.data_quality.model_age_days is None
    assert any(a.startswith("model age unknown") for a in unknown.alerts)


def test_model_age_from_the_model_metadata(champion, tmp_path):
    created = datetime.now(timezone.utc) - timedelta(days=9)
    result = run_on_files(
        champion,
        tmp_path,
        recent_window(champion.reference, rows=200),
        model_metadata={"version": "3", "creation_timestamp": int(created.timestamp() * 1000)},
        report_path=str(tmp_path / "report.html"),
        result_path=str(tmp_path / "result.json"),
        latency_samples=0,
    )
    assert result.data_quality.model_age_days == pytest.approx(9.0, abs=0.01)
    assert any(r.startswith("model age") for r in result.reasons)
    stored = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert stored["data_quality"]["model_age_days"] == pytest.approx(9.0, abs=0.01)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Data quality" in html and "model age" in html


def test_missing_values_appear_in_the_report(champion, tmp_path):
    window = with_missing(recent_window(champion.reference), "worst_texture", 0.2)
    run_on_files(
        champion,
        tmp_path,
        window,
        report_path=str(tmp_path / "report.html"),
        latency_samples=0,
    )
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Data quality" in html
    assert "<td>worst_texture</td><td>20.00%</td>" in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-06-01T12:00:00Z", NOW),
        ("2026-06-01 12:00:00", NOW),  # naive: UTC
        (NOW.timestamp(), NOW),
        (NOW.timestamp() * 1000, NOW),  # MLflow's milliseconds
        ("", None),
    ],
)
def test_creation_times(value, expected):
    assert model_created(value) == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_missing_ratio": 10}, "not a fraction"),
        ({"max_model_age_days": 0}, "must be positive"),
        ({"expected_rows": -1}, "negative"),
        ({"model_created_at": "last week"}, "not a time"),
        ({"max_missing": 0.1}, "unknown parameter"),
    ],
)
def test_bad_quality_parameters_are_clear_errors(champion, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        run(champion, recent_window(champion.reference, rows=50), **kwargs)


def test_rows_an_imputing_preprocessor_fills_are_scored():
    from kfp_mlops.components.monitoring.monitor_model.quality import complete_rows

    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, np.inf]})
    x = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, np.inf]], dtype="float32")  # row 1 imputed
    assert complete_rows(frame, ["a", "b"], x).tolist() == [True, False, False]
    assert complete_rows(frame, ["a", "b"], x, imputes=True).tolist() == [True, True, False]
