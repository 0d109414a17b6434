"""``fleet_monitoring_pipeline``: monitor every model of ``models.yaml`` in one run.

``dsl.ParallelFor`` fans the monitoring stage out over the models (each item holds one
model's registered name, sources, label and drift threshold; not ``name``, which
kfp reserves on a loop item), then ``fleet_report`` collects every
result into one table. ``kfp-mlops compile --config models.yaml`` compiles it with the
config's models as the default of ``models``; run or schedule it like any other pipeline.
"""

from kfp import dsl

from kfp_mlops.components.monitoring.fleet_report.component import fleet_report
from kfp_mlops.pipelines.stages import CLUSTER_TRACKING_URI, MonitorSettings, monitor_champion

#: The ``models`` default: the bundled set twice, so the pipeline runs as it is.
EXAMPLE_MODELS = [
    {
        "registered_model_name": "kfp-mlops-classifier",
        "current_source": "builtin:breast_cancer",
        "reference_source": "builtin:breast_cancer",
        "target_column": "target",
        "drift_threshold": 0.1,
    }
]


@dsl.pipeline(
    name="fleet-monitoring-pipeline",
    description="Monitor every model of a models.yaml in one run (ParallelFor) and report "
    "each: metrics vs its baseline, drift, latency, and whether it should be retrained.",
)
def fleet_monitoring_pipeline(
    models: list = EXAMPLE_MODELS,
    retrain_on: str = "drift,critical",
    tracking_uri: str = CLUSTER_TRACKING_URI,
    pushgateway_url: str = "",
) -> None:
    """Monitor each model's champion on its recent window (4 at once), then one fleet report.

    Args:
        models: One item per model: registered_model_name, current_source,
            reference_source, target_column, drift_threshold. `kfp-mlops compile --config`
            fills it from models.yaml.
        retrain_on: What makes monitoring ask for retraining: drift, critical, warning, ...
        tracking_uri: MLflow tracking and registry URI.
        pushgateway_url: Prometheus Pushgateway for every model's figures; empty = none.
    """
    with dsl.ParallelFor(models, parallelism=4, name="each-model") as model:
        tasks = monitor_champion(
            MonitorSettings(
                current_source=model.current_source,
                reference_source=model.reference_source,
                target_column=model.target_column,
                drift_threshold=model.drift_threshold,
                retrain_on=retrain_on,
                tracking_uri=tracking_uri,
                registered_model_name=model.registered_model_name,
                pushgateway_url=pushgateway_url,
                history_uri="",
            )
        )
    fleet_report(results=dsl.Collected(tasks["monitor"].outputs["result_json"]), models=models)
