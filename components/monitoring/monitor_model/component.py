"""KFP wrapper of :mod:`kfp_mlops.components.monitoring.monitor_model.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def monitor_model(
    current: Input[Dataset],
    reference: Input[Dataset],
    model: Input[Model],
    preprocessor: Input[Model],
    metrics: Output[Metrics],
    report: Output[HTML],
    result_json: Output[Artifact],
    history: Output[Artifact],
    baseline: Input[Artifact] = None,
    baseline_json: str = "",
    retrain_on: str = "drift,critical,data_quality,model_age",
    drift_threshold: float = 0.1,
    prediction_threshold: float = 0.1,
    warning_ratio: float = 0.95,
    critical_ratio: float = 0.90,
    latency_column: str = "latency_ms",
    latency_samples: int = 100,
    history_json: str = "",
    history_uri: str = "",
    pushgateway_url: str = "",
    pushgateway_job: str = "kfp-mlops-monitoring",
    max_missing_ratio: float = 0.1,
    max_duplicate_ratio: float = 0.05,
    timestamp_column: str = "",
    max_data_age_hours: float = 24.0,
    expected_rows: int = 0,
    volume_tolerance: float = 0.5,
    max_model_age_days: float = 7.0,
    model_created_at: str = "",
) -> bool:
    """Monitor the deployed model on a recent window; decide whether to retrain.

    Computes accuracy, precision, recall and F1 on the labelled recent rows against the
    champion's baseline (warning below 95 %, critical below 90 % of it), or for a regression
    model RMSE, MAE and R2 in the target's units (warning above 105 %, critical above 110 %
    of the baseline RMSE or MAE), latency p50/p95/p99,
    feature drift (PSI per feature) and prediction drift (PSI of the model's scores on the
    reference vs the recent window), data quality (missing values, duplicates, freshness,
    volume) and the champion's age. The model is run as served: model.tflite when the
    directory has one, else model.h5. Rows with missing features are counted and left out of
    the model checks. Bad input (missing or re-typed columns, an empty window, labels of
    another type or unknown classes, a malformed baseline) fails the task, so no retraining
    is triggered on it.

    Args:
        current: Recent inference rows, raw as load_dataset writes them (Parquet); may hold
            the label column (rows without a label are not scored) and a latency column.
        reference: Raw reference rows (the champion's training data), Parquet.
        model: The champion: a Model directory (model.tflite is monitored when present,
            as the server serves it, else model.h5). Its metadata created_at or
            creation_timestamp dates it when model_created_at is empty.
        preprocessor: The preprocessor JSON of the champion's training run.
        metrics: accuracy, precision, recall, f1 (regression: rmse, mae, r2) when
            labelled, drifted_features,
            share_drifted, max_psi, prediction_psi, latency_p50_ms/p95/p99, level (0 ok,
            1 warning, 2 critical), retrain (0/1), rows, labelled_rows, missing_ratio,
            max_column_missing_ratio, incomplete_rows, duplicate_rows, duplicate_ratio,
            data_age_hours, model_age_days (when known); metadata `reasons`.
        report: HTML report: findings, metric vs baseline bars, PSI per feature with the
            threshold, predicted class shares, latency, and the trend over earlier runs.
        result_json: The full result as JSON (reasons, alerts, checks, per-feature drift).
        history: Earlier results plus this one (JSON list); feed it back as history_json or
            keep it at history_uri.
        baseline: Optional baseline artifact instead of baseline_json: a JSON file, a Model
            directory with metrics.json, or a Metrics artifact (values in its metadata).
        baseline_json: The champion's metrics as JSON, e.g. {"accuracy": 0.97, "f1": 0.96}
            or a regressor's {"rmse": 52.1, "mae": 41.3}; test_/val_ prefixed keys are
            accepted. Empty: quality is not compared.
        retrain_on: Comma-separated findings that trigger retraining: drift (feature or
            prediction), feature_drift, prediction_drift, critical, warning, data_quality
            (missing_values, duplicates, stale_data or volume; each may be named alone),
            model_age. Empty: never.
        drift_threshold: A feature drifts when its PSI is above this.
        prediction_threshold: The predictions drift when their PSI is above this.
        warning_ratio: Warning level as a fraction of the baseline.
        critical_ratio: Critical level as a fraction of the baseline.
        latency_column: Logged latency column (ms) of the recent window; used when present.
        latency_samples: Otherwise, single-row predictions timed here (0: don't measure).
        history_json: Earlier results (JSON list) for the trend plot.
        history_uri: Local path or gs:// URI of the history file: read (it wins over
            history_json when it exists) and rewritten with this run appended.
        pushgateway_url: Prometheus Pushgateway address (e.g. http://pushgateway:9091);
            empty: don't push. An unreachable gateway is a warning, not a failure.
        pushgateway_job: Job name of the pushed gauges.
        max_missing_ratio: A finding when a feature column, or all feature cells together,
            have a larger share of missing values than this (the label is not counted).
        max_duplicate_ratio: A finding when a larger share of rows repeat an earlier row.
        timestamp_column: Column of record times (datetimes, ISO text or epoch seconds) for
            the freshness check; empty: not checked.
        max_data_age_hours: A finding when the newest record is older than this.
        expected_rows: Rows a window should hold; 0: volume not checked.
        volume_tolerance: A finding when the row count is off expected_rows by more than
            this fraction (0.5: fewer than half or more than 1.5 times).
        max_model_age_days: A finding (trigger model_age) when the champion is older.
        model_created_at: The champion's creation time (ISO 8601 or epoch seconds); empty:
            taken from the model's metadata, else the age is unknown.

    Returns:
        True when retraining should run (use in dsl.If); the reasons are in the metadata.
    """
    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.monitoring.monitor_model.core import run_monitoring

    result = run_monitoring(
        current.path,
        reference.path,
        model.path,
        preprocessor.path,
        baseline_json=baseline_json,
        baseline_path=baseline.path if baseline is not None else None,
        baseline_metadata=dict(baseline.metadata) if baseline is not None else None,
        history_json=history_json,
        history_uri=history_uri,
        report_path=report.path,
        result_path=result_json.path,
        history_path=history.path,
        pushgateway_url=pushgateway_url,
        pushgateway_job=pushgateway_job,
        model_metadata=dict(model.metadata),
        model_created_at=model_created_at,
        retrain_on=retrain_on,
        drift_threshold=drift_threshold,
        prediction_threshold=prediction_threshold,
        warning_ratio=warning_ratio,
        critical_ratio=critical_ratio,
        latency_column=latency_column,
        latency_samples=latency_samples,
        max_missing_ratio=max_missing_ratio,
        max_duplicate_ratio=max_duplicate_ratio,
        timestamp_column=timestamp_column,
        max_data_age_hours=max_data_age_hours,
        expected_rows=expected_rows,
        volume_tolerance=volume_tolerance,
        max_model_age_days=max_model_age_days,
    )
    log_finite(metrics, result.numeric_metrics())
    metrics.metadata["reasons"] = list(result.reasons)
    decision = {
        "retrain": result.retrain,
        "level": result.level_name,
        "reasons": list(result.reasons),
        "alerts": list(result.alerts),
    }
    result_json.metadata.update(decision)
    history.metadata["runs"] = len(result.history)
    return bool(result.retrain)
