"""KFP wrapper of :mod:`kfp_mlops.components.monitoring.fleet_report.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def fleet_report(
    results: Input[list[Artifact]],
    models: list,
    report: Output[Markdown],
    metrics: Output[Metrics],
) -> list:
    """One report for every model the fleet monitoring pipeline watched.

    Args:
        results: Each model's monitor_model result_json, collected over the ParallelFor
            (in the models' order).
        models: The models list the ParallelFor iterated over (each has registered_model_name).
        report: Markdown table: level, retrain, rows, accuracy / RMSE, drift, latency per model.
        metrics: <model>.retrain, <model>.level, ... and fleet totals (models, retrain).

    Returns:
        The names of the models monitoring asked to retrain.
    """
    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.monitoring.fleet_report.core import (
        markdown,
        read_results,
    )
    from kfp_mlops.components.monitoring.fleet_report.core import (
        metrics as fleet_metrics,
    )

    rows = read_results([m["registered_model_name"] for m in models], [r.path for r in results])
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(markdown(rows))
    log_finite(metrics, fleet_metrics(rows))
    return [r.name for r in rows if r.retrain]
