"""KFP wrapper of :mod:`kfp_mlops.components.deployment.integration_test.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def integration_test(
    test: Input[Dataset],
    preprocessor: Input[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    endpoint_url: str,
    model_name: str = "kfp-mlops-classifier",
    protocol: str = "v1",
    min_accuracy: float = 0.95,
    max_rmse: float = 0.0,
    max_latency_p50_ms: float = 10.0,
    max_latency_p95_ms: float = 50.0,
    max_latency_p99_ms: float = 100.0,
    max_error_rate: float = 0.01,
    max_rows: int = 0,
    latency_requests: int = 100,
    ready_timeout_s: float = 60.0,
) -> bool:
    """Replay the labelled test split against the live endpoint; gate quality and latency.

    Real HTTP requests to the deployed server (not a copy of the model): the test rows,
    turned back into raw feature rows, are sent in batches over KServe V1 and/or V2 and
    scored with evaluation's metrics and gate (accuracy, or RMSE for regression); single-row
    latency p50/p95/p99 and the error rate are measured on the same server.

    Args:
        test: Processed test split of split_and_preprocess (features and label).
        preprocessor: The preprocessor JSON of the same run (turns the split into raw rows).
        metrics: Quality, latency percentiles, error rate, rows and passed (1/0).
        report: Every check with its verdict, and the measured values.
        endpoint_url: The live service's base URL (deploy_model's endpoint output).
        model_name: Served model name (the service name deploy_model used).
        protocol: v1, v2 or both (then V2 must agree with V1 on every row).
        min_accuracy: Lowest accuracy on the replayed rows (classification).
        max_rmse: Highest RMSE in the target's units (regression; 0: no limit).
        max_latency_p50_ms: Highest single-row latency median on the live server (<= 0: off).
        max_latency_p95_ms: Highest single-row latency p95 (<= 0: off).
        max_latency_p99_ms: Highest single-row latency p99 (<= 0: off).
        max_error_rate: Highest share of failed requests (0.01 = 1 %).
        max_rows: Rows replayed (0: the whole test split).
        latency_requests: Timed single-row requests.
        ready_timeout_s: Seconds the endpoint may take to answer as ready.

    Returns:
        True when every check passed.
    """
    import logging

    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.deployment.integration_test.core import (
        Thresholds,
        run_integration_test,
    )
    from kfp_mlops.components.deployment.integration_test.report import metrics_of, write_report

    logging.basicConfig(level=logging.INFO)
    result = run_integration_test(
        test.path,
        preprocessor.path,
        endpoint_url,
        model_name,
        Thresholds(
            min_accuracy=min_accuracy,
            max_rmse=max_rmse,
            max_latency_p50_ms=max_latency_p50_ms,
            max_latency_p95_ms=max_latency_p95_ms,
            max_latency_p99_ms=max_latency_p99_ms,
        ),
        protocol=protocol,
        max_error_rate=max_error_rate,
        max_rows=max_rows,
        latency_requests=latency_requests,
        ready_timeout_s=ready_timeout_s,
    )
    log_finite(metrics, metrics_of(result))
    write_report(result, report.path)
    report.metadata.update({"passed": result.passed, "url": result.url})
    return result.passed
