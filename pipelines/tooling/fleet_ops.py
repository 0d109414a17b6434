"""Compile and schedule every model of ``models.yaml`` (see :mod:`.fleet`).

``compile_fleet`` writes, under the output folder::

    <model>/<pipeline>.yaml          # each model's pipelines, its settings as the defaults
    fleet_monitoring_pipeline.yaml   # one run monitors every model (ParallelFor)
    k8s/<model>-<pipeline>.yaml      # Pipeline + PipelineVersion objects for GitOps
    k8s/kustomization.yaml

``schedule_fleet`` keeps one recurring run per model with a ``schedule`` (idempotent: an
identical one is left, a changed one replaced), plus the fleet monitoring run when asked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfp_mlops.pipelines.tooling import catalog, gitops_manifests
from kfp_mlops.pipelines.tooling.compiler import _compile
from kfp_mlops.pipelines.tooling.fleet import (
    MODEL_PIPELINES,
    FleetConfig,
    ModelConfig,
    pipeline_params,
)
from kfp_mlops.pipelines.tooling.kfp_schedule import ScheduleResult, schedule

if TYPE_CHECKING:
    import kfp

log = logging.getLogger(__name__)

FLEET_PIPELINE = "fleet_monitoring_pipeline"


def _inputs(pipeline: str) -> set[str]:
    return set(catalog.pipeline(pipeline).component_spec.inputs or {})


def monitoring_items(config: FleetConfig) -> list[dict[str, Any]]:
    """The ``models`` parameter of the fleet monitoring pipeline for ``config``."""
    return [
        {
            "registered_model_name": m.name,
            "current_source": m.source,
            "reference_source": m.reference_source,
            "target_column": m.target_column,
            "drift_threshold": float(m.thresholds.get("drift_threshold", 0.1)),
        }
        for m in config.models
    ]


def model_pipelines(model: ModelConfig) -> list[str]:
    """The pipelines compiled for ``model``: training, retraining and its scheduled one."""
    return sorted({*MODEL_PIPELINES, model.pipeline})


def compile_fleet(config: FleetConfig, out_dir: str | Path) -> list[Path]:
    """Compile every model's pipelines and the fleet monitoring pipeline into ``out_dir``.

    Each model's files carry its settings as parameter defaults and its name in the pipeline
    name (``<model>-<pipeline>``), so each shows as its own pipeline in the KFP UI.

    Returns:
        The files written.
    """
    out = Path(out_dir)
    written: list[Path] = []
    k8s_names = []
    for model in config.models:
        for pipeline in model_pipelines(model):
            params = pipeline_params(model, pipeline, _inputs(pipeline))
            name = f"{model.name}-{gitops_manifests.resource_name(pipeline)}"
            path = out / model.name / f"{pipeline}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            _compile(
                catalog.pipeline(pipeline), path, pipeline_name=name, pipeline_parameters=params
            )
            written += [path, gitops_manifests.write(name, path, out / "k8s" / f"{name}.yaml")]
            k8s_names.append(name)
    fleet = out / f"{FLEET_PIPELINE}.yaml"
    _compile(
        catalog.pipeline(FLEET_PIPELINE),
        fleet,
        pipeline_parameters={"models": monitoring_items(config)},
    )
    written += [fleet, gitops_manifests.write(FLEET_PIPELINE, fleet, out / "k8s" / "fleet.yaml")]
    written.append(gitops_manifests.write_kustomization([*k8s_names, "fleet"], out / "k8s"))
    log.info("compiled %d models of %s into %s", len(config.models), config.path, out)
    return written


def schedule_fleet(
    config: FleetConfig,
    host: str,
    namespace: str | None = None,
    monitoring_cron: str = "",
    client: kfp.Client | None = None,
    existing_token: str | None = None,
) -> list[ScheduleResult]:
    """Create or update one recurring run per model that has a ``schedule``.

    Args:
        config: The checked ``models.yaml``.
        host: KFP API / UI address.
        namespace: Profile namespace on a multi-user deployment.
        monitoring_cron: Also keep a recurring fleet monitoring run on this cron; empty: none.
        client: An existing ``kfp.Client``.
        existing_token: Bearer token; defaults to ``$KF_PIPELINES_TOKEN``.

    Returns:
        One result per recurring run, each saying whether it was created, updated or left.
    """
    results = []
    common = {"experiment": config.experiment, "namespace": namespace, "if_exists": "update"}
    for model in config.models:
        if not model.schedule:
            continue
        params = pipeline_params(model, model.pipeline, _inputs(model.pipeline))
        results.append(
            schedule(
                model.pipeline,
                host,
                cron=model.schedule,
                params=params,
                job_name=f"{model.name} {model.pipeline}",
                client=client,
                existing_token=existing_token,
                **common,
            )
        )
    if monitoring_cron:
        results.append(
            schedule(
                FLEET_PIPELINE,
                host,
                cron=monitoring_cron,
                params={"models": monitoring_items(config)},
                job_name=f"{config.experiment} {FLEET_PIPELINE}",
                client=client,
                existing_token=existing_token,
                **common,
            )
        )
    return results
