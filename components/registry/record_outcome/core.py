"""Record how a pipeline run ended, whatever happened (the ``dsl.ExitHandler`` exit task).

The outcome goes to a JSON file (always) and, when a tracking URI is given, to an MLflow run
tagged with the KFP job and state, so failed runs are as visible as successful ones. A
registry that cannot be reached must not hide the pipeline's own failure, so MLflow errors
are logged and reported in the JSON instead of raised.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUCCEEDED = "SUCCEEDED"


@dataclass
class Outcome:
    """The final status of a pipeline run, as KFP's ``PipelineTaskFinalStatus`` gives it."""

    state: str
    pipeline_job: str
    pipeline_task: str = ""
    error_code: int | None = None
    error_message: str = ""
    mlflow_run_id: str = ""
    mlflow_error: str = ""

    @property
    def succeeded(self) -> bool:
        """Whether the guarded tasks all succeeded."""
        return self.state.upper() == SUCCEEDED

    def summary(self) -> str:
        """One line for logs and the task's return value."""
        text = f"{self.pipeline_job}: {self.state}"
        return f"{text} ({self.error_message})" if self.error_message else text


def from_status(status: Any) -> Outcome:
    """Build an :class:`Outcome` from a ``PipelineTaskFinalStatus`` (or any object like it)."""
    return Outcome(
        state=str(getattr(status, "state", "") or "UNKNOWN"),
        pipeline_job=str(getattr(status, "pipeline_job_resource_name", "") or "local"),
        pipeline_task=str(getattr(status, "pipeline_task_name", "") or ""),
        error_code=getattr(status, "error_code", None),
        error_message=str(getattr(status, "error_message", "") or ""),
    )


def record(
    outcome: Outcome, output_path: str, tracking_uri: str = "", experiment_name: str = "kfp-mlops"
) -> Outcome:
    """Write ``outcome`` as JSON to ``output_path`` and, if asked, to an MLflow run."""
    if tracking_uri:
        try:
            outcome.mlflow_run_id = _log_to_mlflow(outcome, tracking_uri, experiment_name)
        except Exception as exc:  # the pipeline's own status matters more than this record
            outcome.mlflow_error = f"{type(exc).__name__}: {exc}"
            log.error("could not record the outcome in MLflow at %s: %s", tracking_uri, exc)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    Path(output_path).write_text(json.dumps(asdict(outcome), indent=1), encoding="utf-8")
    log.info("pipeline outcome: %s", outcome.summary())
    return outcome


def _log_to_mlflow(outcome: Outcome, tracking_uri: str, experiment_name: str) -> str:
    from kfp_mlops.components.registry.common import check_registry, client

    check_registry(tracking_uri)
    mlflow_client = client(tracking_uri)
    experiment = mlflow_client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else mlflow_client.create_experiment(experiment_name)
    )
    run = mlflow_client.create_run(
        experiment_id,
        run_name=f"outcome-{outcome.pipeline_job}"[:250],
        tags={
            "kfp.pipeline_job": outcome.pipeline_job,
            "kfp.state": outcome.state,
            "kfp.error_message": outcome.error_message[:5000],
        },
    )
    mlflow_client.log_metric(
        run.info.run_id, "pipeline_succeeded", 1.0 if outcome.succeeded else 0.0
    )
    mlflow_client.set_terminated(run.info.run_id, "FINISHED" if outcome.succeeded else "FAILED")
    return run.info.run_id
