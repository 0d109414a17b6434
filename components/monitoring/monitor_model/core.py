"""Monitor a deployed model: quality against the champion's baseline, latency, and drift.

One monitoring run compares a recent window of inference data (raw rows, with the label
column where labels have arrived) with the reference data the model was trained on:

- **Quality** (labelled rows only): accuracy, precision, recall and F1 (binary for two
  classes, macro otherwise) against the champion's baseline. Per the runbook a metric is at
  level *warning* below ``0.95 x baseline`` and *critical* below ``0.90 x baseline``; the
  run's level is the worst metric's. A regression model's RMSE and MAE (in the target's
  units; R2 is reported) are *warning* above ``1.05 x`` and *critical* above ``1.10 x``.
- **Latency**: p50/p95/p99 in milliseconds, from the log's ``latency_ms`` column when there
  is one, otherwise measured here with single-row predictions (a bounded number of them).
- **Drift**: feature drift with :func:`~kfp_mlops.components.data.detect_drift.core.feature_drift`
  (PSI decides, KS informs) and prediction drift with
  :func:`~kfp_mlops.components.data.detect_drift.core.prediction_drift` (PSI of the model's
  scores on the reference vs the recent window).
- **Data quality** (:mod:`.quality`): missing values per column and overall, duplicate rows,
  freshness of the newest record, volume against the expected rows, and the champion's age.
  Rows with a missing feature are counted and left out of the model-based checks above.

``retrain`` is true when one of the findings listed in ``retrain_on`` occurred; the
findings that caused it are the ``reasons``, the others are ``alerts``. Bad input (missing
or re-typed columns, an empty window, a window without one complete row, labels of another
type or unknown classes, a malformed baseline) raises a :class:`ComponentError` instead, so
no retraining is triggered on data that cannot be trusted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.detect_drift.core import (
    DriftResult,
    FeatureDrift,
    feature_drift,
    prediction_drift,
)
from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
from kfp_mlops.components.monitoring.monitor_model.baselines import (
    DEFAULT_RETRAIN_ON,
    MAX_HISTORY,
    parse_retrain_on,
    read_baseline_and_history,
)
from kfp_mlops.components.monitoring.monitor_model.checks import (
    LATENCY_COLUMN,
    MAX_LATENCY_SAMPLES,
    MetricCheck,
    check_labels,
    compare_with_baseline,
    latency_from_log,
    measure_latency,
)
from kfp_mlops.components.monitoring.monitor_model.findings import Findings
from kfp_mlops.components.monitoring.monitor_model.pushgateway import push_result
from kfp_mlops.components.monitoring.monitor_model.quality import (
    DataQuality,
    QualityLimits,
    assess,
    complete_rows,
    created_from_metadata,
    model_created,
)
from kfp_mlops.components.monitoring.monitor_model.reference import reference_and_drift
from kfp_mlops.components.monitoring.monitor_model.result import MonitorResult, json_default
from kfp_mlops.components.monitoring.monitor_model.scoring import Scores, score
from kfp_mlops.components.monitoring.monitor_model.served import (
    ServedModel,
    as_served,
    check_fits,
    load_served,
)

log = logging.getLogger(__name__)


def monitor(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    model: Any,
    preprocessor: Preprocessor,
    baseline: Mapping[str, float] | None = None,
    *,
    retrain_on: str | Iterable[str] = DEFAULT_RETRAIN_ON,
    drift_threshold: float = 0.1,
    prediction_threshold: float = 0.1,
    bins: int = 10,
    latency_column: str = LATENCY_COLUMN,
    latency_samples: int = 100,
    warning_ratio: float = 0.95,
    critical_ratio: float = 0.90,
    timestamp_column: str = "",
    expected_rows: int = 0,
    model_created_at: str | float | datetime | None = None,
    now: datetime | None = None,
    drift: DriftResult | None = None,
    **limits: float,
) -> MonitorResult:
    """Check a recent window against the reference and the baseline, and decide on retraining.

    Args:
        current: Recent inference rows (raw features, optionally the label column, a
            latency column and a timestamp column).
        reference: Raw reference rows (the training data).
        model: The deployed model as served (:func:`~.served.load_served`), an inference
            model of :mod:`~kfp_mlops.components.common.inference`, or a tf.keras model.
        preprocessor: The preprocessor the model was trained with.
        baseline: The champion's metrics (:func:`parse_baseline`); empty = no comparison.
        retrain_on: Findings that trigger retraining (:data:`TRIGGERS`), comma-separated.
        drift_threshold: A feature drifts when its PSI is above this.
        prediction_threshold: The predictions drift when their PSI is above this.
        bins: Quantile bins for PSI.
        latency_column: Logged latency in ms; measured when the window has no such column.
        latency_samples: Single-row predictions to time when measuring (0 = don't measure).
        warning_ratio: Warning level as a fraction of the baseline.
        critical_ratio: Critical level as a fraction of the baseline.
        timestamp_column: Record times, for the freshness figure; empty: not checked.
        expected_rows: Rows the window should hold; 0: volume not checked.
        model_created_at: The champion's creation time (ISO 8601, epoch seconds or ms, or a
            datetime); None: age unknown.
        now: The time ages are measured against (default: now).
        drift: Feature drift computed already (streamed over a large reference by
            :func:`run_monitoring`; ``reference`` is then a sample of it); None: computed here.
        **limits: :class:`~.quality.QualityLimits` fields (max_missing_ratio, ...).

    Returns:
        The findings and the decision.

    Raises:
        ParameterError: On invalid parameters or a model that does not fit the preprocessor.
        DataValidationError: On bad data (see the module docstring); nothing is decided then.
    """
    # Long for its documented parameters; the body is the steps, one line or call each.
    triggers = parse_retrain_on(retrain_on)
    _check_parameters(warning_ratio, critical_ratio, latency_samples, expected_rows)
    try:
        quality_limits = QualityLimits(**limits)
    except TypeError as exc:  # a misspelt keyword
        raise ParameterError(
            f"monitor() got an unknown parameter: {exc}",
            f"use the QualityLimits fields {list(QualityLimits.__dataclass_fields__)}",
        ) from exc
    created = model_created_at if isinstance(model_created_at, datetime) else None
    created = created or model_created(model_created_at)
    served = as_served(model)
    num_classes = check_fits(served, preprocessor)
    target = preprocessor.target_column
    _check_raw(reference, current, target)

    # Schema checks (missing columns, re-typed columns, empty windows) happen here first.
    drift = drift or feature_drift(
        reference,
        current,
        threshold=drift_threshold,
        bins=bins,
        exclude=tuple(c for c in (target, latency_column, timestamp_column) if c),
    )
    labels = check_labels(current, reference, preprocessor)
    columns = [*preprocessor.numeric_columns, *preprocessor.categorical_columns]
    x_all = preprocessor.transform_features(current)
    complete = complete_rows(current, columns, x_all, getattr(preprocessor, "impute", False))
    quality = assess(
        current,
        columns,
        complete,
        latency_column=latency_column,
        timestamp_column=timestamp_column,
        expected_rows=expected_rows,
        model_created_at=created,
        now=now,
    )
    quality.thresholds = dataclasses.asdict(quality_limits)
    scores = score(served, preprocessor, reference, x_all, complete, labels, num_classes)
    pred_drift = prediction_drift(
        scores.proba_ref, scores.proba_cur, threshold=prediction_threshold, bins=bins
    )
    checks = compare_with_baseline(scores.metrics, baseline or {}, warning_ratio, critical_ratio)

    latency = latency_from_log(current, latency_column)
    if latency is None and latency_samples > 0:
        latency = measure_latency(served.model, x_all[complete], latency_samples)

    findings = Findings(triggers)
    findings.drift(drift, pred_drift, drift_threshold, prediction_threshold)
    findings.quality(checks, warning_ratio, critical_ratio)
    findings.data_quality(quality, quality_limits)
    findings.model_age(quality, quality_limits)
    findings.coverage(labels is not None, baseline or {}, checks, target)
    findings.window_size(int(complete.sum()), len(reference), bins, drift_threshold)
    return _result(findings, scores, checks, baseline, drift, pred_drift, latency, quality, served)


def run_monitoring(
    current_path: str,
    reference_path: str,
    model_path: str,
    preprocessor_path: str,
    *,
    baseline_json: str = "",
    baseline_path: str | None = None,
    baseline_metadata: Mapping[str, Any] | None = None,
    history_json: str = "",
    history_uri: str = "",
    report_path: str | None = None,
    result_path: str | None = None,
    history_path: str | None = None,
    pushgateway_url: str = "",
    pushgateway_job: str = "kfp-mlops-monitoring",
    model_metadata: Mapping[str, Any] | None = None,
    **options: Any,
) -> MonitorResult:
    """Load the artifacts, :func:`monitor`, write the outputs and push the gauges.

    The baseline and history parameters are parsed before anything is loaded, so a typo
    fails in a second.

    Args:
        current_path: Recent window, Parquet.
        reference_path: Reference data, Parquet.
        model_path: Model artifact directory; the file the server serves is monitored
            (``model.tflite`` when there is one, else ``model.h5``).
        preprocessor_path: Preprocessor JSON.
        baseline_json: Baseline metrics as JSON text (used when there is no baseline artifact).
        baseline_path: Path of a baseline artifact (JSON file or directory with metrics.json).
        baseline_metadata: That artifact's metadata (a Metrics artifact's values).
        history_json: Earlier results (JSON list), used when ``history_uri`` holds none yet.
        history_uri: Local path or gs:// URI of a history file, read and rewritten.
        report_path: Where to write the HTML report.
        result_path: Where to write the full result JSON.
        history_path: Where to write the updated history JSON.
        pushgateway_url: Prometheus Pushgateway address; empty = don't push.
        pushgateway_job: Pushgateway job name.
        model_metadata: The Model artifact's metadata: its creation time (``created_at``,
            ``creation_time`` or MLflow's ``creation_timestamp``) dates the champion when
            ``model_created_at`` is not given.
        **options: Passed to :func:`monitor`.

    Returns:
        The result; its ``history`` is the updated history (this run last).

    Raises:
        ParameterError: If both ``baseline_json`` and a baseline artifact are given.
    """
    # Long for its documented parameters; each step below is one call.
    from kfp_mlops.components.common.io import load_dataset_artifact
    from kfp_mlops.components.monitoring.monitor_model.report import write_report

    baseline, history = read_baseline_and_history(
        baseline_json, baseline_path, baseline_metadata, history_json, history_uri
    )
    parse_retrain_on(options.get("retrain_on", ""))
    created = model_created(options.pop("model_created_at", None))
    created = created or created_from_metadata(model_metadata)

    preprocessor = Preprocessor.load(preprocessor_path)
    current = load_dataset_artifact(current_path)
    reference, options["drift"] = reference_and_drift(
        reference_path, current_path, preprocessor.target_column, options
    )
    model = load_served(model_path)
    result = monitor(
        current, reference, model, preprocessor, baseline, model_created_at=created, **options
    )

    if pushgateway_url:
        result.pushed = push_result(
            result, pushgateway_url, pushgateway_job, model_metadata, baseline
        )
    result.history = [*history, result.summary()][-MAX_HISTORY:]
    if report_path:
        write_report(
            result,
            report_path,
            history,
            options.get("warning_ratio", 0.95),
            options.get("critical_ratio", 0.90),
        )
    if result_path:
        _write_text(result_path, result.to_json())
    _write_history(result.history, history_path, history_uri)
    return result


# --- checks of the inputs ----------------------------------------------------------------


def _check_parameters(
    warning_ratio: float, critical_ratio: float, latency_samples: int, expected_rows: int
) -> None:
    if not 0.0 < critical_ratio <= warning_ratio <= 1.0:
        raise ParameterError(
            f"ratios warning={warning_ratio}, critical={critical_ratio} are not "
            "0 < critical <= warning <= 1",
            "use the runbook's warning_ratio=0.95 and critical_ratio=0.90",
        )
    if not 0 <= latency_samples <= MAX_LATENCY_SAMPLES:
        raise ParameterError(
            f"latency_samples={latency_samples} is outside [0, {MAX_LATENCY_SAMPLES}]",
            "use e.g. 100 (0 disables measuring)",
        )
    if expected_rows < 0:
        raise ParameterError(
            f"expected_rows={expected_rows} is negative",
            "give the rows a window should hold, or 0 not to check the volume",
        )


def _check_raw(reference: pd.DataFrame, current: pd.DataFrame, target: str) -> None:
    for name, frame in (("reference", reference), ("recent window", current)):
        # Raw input is what load_dataset writes; processed splits have a 'label' column
        # and standardised features, which would look like massive drift.
        if target not in frame.columns and "label" in frame.columns:
            raise DataValidationError(
                f"the {name} has a 'label' column but no '{target}': it looks like a "
                "processed split",
                "pass raw rows as load_dataset writes them (the preprocessor is applied here)",
            )


def _result(
    findings: Findings,
    scores: Scores,
    checks: list[MetricCheck],
    baseline: Mapping[str, float] | None,
    drift: DriftResult,
    pred_drift: FeatureDrift,
    latency: dict[str, Any] | None,
    quality: DataQuality,
    served: ServedModel,
) -> MonitorResult:
    result = MonitorResult(
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        retrain=bool(findings.reasons),
        level=max((c.level for c in checks), default=0),
        reasons=findings.reasons,
        alerts=findings.alerts,
        retrain_on=findings.triggers,
        metrics=scores.metrics,
        checks=checks,
        baseline=dict(baseline or {}),
        drift=drift,
        prediction=pred_drift,
        latency=latency,
        rows=quality.rows,
        labelled_rows=scores.labelled,
        classes=scores.classes,
        class_share=scores.class_share,
        model={"kind": served.kind, "file": served.file},
        data_quality=quality,
        regression=not scores.classes,  # a regressor's scores have no classes
    )
    log.info(
        "monitoring: retrain=%s level=%s reasons=%s alerts=%s",
        result.retrain,
        result.level_name,
        result.reasons,
        result.alerts,
    )
    return result


def _write_history(history: list[dict[str, Any]], path: str | None, uri: str) -> None:
    from kfp_mlops.components.common.io import write_bytes

    text = json.dumps(history, indent=1, allow_nan=False, default=json_default)
    if path:
        _write_text(path, text)
    if uri:
        write_bytes(uri, text.encode("utf-8"))
        log.info("history (%d runs) written to %s", len(history), uri)


def _write_text(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
