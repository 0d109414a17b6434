"""KFP wrapper of :mod:`kfp_mlops.components.evaluation.evaluate_model.core`."""

from kfp import dsl
from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluate_model(
    test: Input[Dataset],
    model: Input[Model],
    preprocessor: Input[Model],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    summary: Output[Markdown],
    report: Output[HTML],
    evaluation_json: Output[Artifact],
    min_accuracy: float = 0.95,
    max_rmse: float = 0.0,
    max_latency_p50_ms: float = 10.0,
    max_latency_p95_ms: float = 50.0,
    max_latency_p99_ms: float = 100.0,
    serving_format: str = "auto",
    latency_repetitions: int = 200,
    batch_size: int = 256,
    batch_repetitions: int = 20,
    tracking_uri: str = "",
    registered_model_name: str = "kfp-mlops-classifier",
    compare_metric: str = "accuracy",
    min_improvement: float = 0.0,
) -> bool:
    """Evaluate the model on the test split, time it as served, and decide if it may ship.

    The task is the preprocessor's task spec. Regression: rmse, mae, r2 and mape (skipped
    with a note when a target is ~0) in the target's own units, gated on max_rmse
    (min_accuracy is ignored), compared with the champion on the task's primary metric
    (RMSE, lower is better); classification_metrics stays empty (no confusion matrix or
    ROC curve for regression) and the report plots predicted vs actual and residuals.

    Args:
        test: Processed test split (split_and_preprocess output).
        model: Model directory (model.h5, optionally model.tflite).
        preprocessor: Preprocessor JSON of the same run (task spec, class names).
        metrics: accuracy, precision, recall, f1, roc_auc, log_loss (regression: rmse, mae,
            r2, mape), single-row and batch latency p50/p95/p99 (ms), throughput, blessed
            (1/0), champion_<metric>.
        classification_metrics: Confusion matrix; ROC curve for binary problems (nothing
            logged for regression).
        summary: Markdown: decision, reasons, metrics table (challenger vs champion), latency,
            confusion matrix or residual quantiles.
        report: HTML: the same, with predicted-vs-actual and residual plots for regression.
        evaluation_json: Everything above as JSON (read by register_model); its metadata
            holds blessed and reasons.
        min_accuracy: Minimum test accuracy (classification).
        max_rmse: Maximum test RMSE in the target's units (regression; <= 0: no limit).
        max_latency_p50_ms: Maximum single-row latency median (<= 0 disables the check).
        max_latency_p95_ms: Maximum single-row latency p95 (<= 0 disables the check).
        max_latency_p99_ms: Maximum single-row latency p99 (<= 0 disables the check).
        serving_format: keras, tflite (model.tflite with ai_edge_litert) or auto (tflite
            when the model directory has model.tflite).
        latency_repetitions: Timed single-row calls.
        batch_size: Rows per timed batch call.
        batch_repetitions: Timed batch calls.
        tracking_uri: MLflow server; when set, the challenger is compared with
            models:/<registered_model_name>@champion on the same test rows.
        registered_model_name: Registered model to compare with.
        compare_metric: accuracy, precision, recall, f1 or roc_auc; for regression rmse, mae,
            r2 or mape (a classification name means the primary metric, rmse).
        min_improvement: Required gain over the champion's compare_metric; 0 blesses ties.

    Returns:
        Whether the model is blessed (all thresholds met and not worse than the champion).
    """
    from kfp_mlops.components.evaluation.evaluate_model import core
    from kfp_mlops.components.evaluation.evaluate_model.outputs import write_outputs

    result = core.evaluate(
        test.path,
        model.path,
        preprocessor.path,
        core.Thresholds(
            min_accuracy=min_accuracy,
            max_rmse=max_rmse,
            max_latency_p50_ms=max_latency_p50_ms,
            max_latency_p95_ms=max_latency_p95_ms,
            max_latency_p99_ms=max_latency_p99_ms,
        ),
        serving_format=serving_format,
        repetitions=latency_repetitions,
        batch_size=batch_size,
        batch_repetitions=batch_repetitions,
        tracking_uri=tracking_uri,
        registered_model_name=registered_model_name,
        compare_metric=compare_metric,
        min_improvement=min_improvement,
    )
    return write_outputs(
        result, metrics, classification_metrics, summary.path, report.path, evaluation_json
    )
