"""Record how a pipeline run ended, whatever happened (the ``dsl.ExitHandler`` exit task).

The outcome goes to a JSON file (always) and, when a tracking URI is given, to an MLflow run
tagged with the KFP job and state, the trigger, the start and end times and what the run
shipped (model version, promoted, rolled back), so ``delivery_metrics`` can read the
history back. A failed, rolled-back or promoting run also posts a webhook notification
(:mod:`kfp_mlops.components.common.notify`). Neither an unreachable registry nor an
unreachable webhook may hide the pipeline's own failure: both are logged and reported in the
JSON instead of raised.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.registry.record_outcome import times

log = logging.getLogger(__name__)

SUCCEEDED = "SUCCEEDED"
#: Tag marking an MLflow run as a pipeline outcome (what delivery_metrics searches for).
RECORD_TAG = "kfp_mlops.record"
RECORD_KIND = "pipeline_outcome"
#: Triggers the project's pipelines use; others are recorded as given, with a warning.
TRIGGERS = ("manual", "schedule", "drift", "rollback")


@dataclass
class Outcome:
    """The final status of a pipeline run, as KFP's ``PipelineTaskFinalStatus`` gives it.

    Attributes beyond KFP's status: ``trigger`` (manual / schedule / drift / rollback),
    ``start_time``/``end_time`` (ISO 8601 UTC), the model ``model_name``/``model_version``
    the run shipped, ``champion_version`` at exit, whether the run ``promoted`` a new
    champion or ``rolled_back`` (then ``rolled_back_version`` is the demoted one), and the
    change times lead time is measured from (``data_snapshot_time``, ``code_commit_time``).
    """

    state: str
    pipeline_job: str
    pipeline_task: str = ""
    error_code: int | None = None
    error_message: str = ""
    mlflow_run_id: str = ""
    mlflow_error: str = ""
    trigger: str = "manual"
    start_time: str = ""
    end_time: str = ""
    pipeline_run_id: str = ""
    model_name: str = ""
    model_version: str = ""
    champion_version: str = ""
    promoted: bool = False
    rolled_back: bool = False
    rolled_back_version: str = ""
    data_snapshot_time: str = ""
    code_commit_time: str = ""
    notification: str = ""

    @property
    def succeeded(self) -> bool:
        """Whether the guarded tasks all succeeded."""
        return self.state.upper() == SUCCEEDED

    def summary(self) -> str:
        """One line for logs and the task's return value."""
        text = f"{self.pipeline_job}: {self.state}"
        if self.rolled_back:
            text += f" (rolled back {self.model_name} v{self.rolled_back_version or '?'})"
        elif self.promoted:
            text += f" ({self.model_name} v{self.model_version} promoted)"
        return f"{text} ({self.error_message})" if self.error_message else text

    def tags(self) -> dict[str, str]:
        """The MLflow run tags that make this outcome searchable."""
        return {
            RECORD_TAG: RECORD_KIND,
            "kfp.pipeline_job": self.pipeline_job,
            "kfp.pipeline_run_id": self.pipeline_run_id,
            "kfp.state": self.state,
            "kfp.error_message": self.error_message[:5000],
            "kfp.trigger": self.trigger,
            "kfp.start_time": self.start_time,
            "kfp.end_time": self.end_time,
            "model.name": self.model_name,
            "model.version": self.model_version,
            "model.champion_version": self.champion_version,
            "model.promoted": str(self.promoted).lower(),
            "model.rolled_back": str(self.rolled_back).lower(),
            "model.rolled_back_version": self.rolled_back_version,
            "change.data_snapshot_time": self.data_snapshot_time,
            "change.code_commit_time": self.code_commit_time,
        }


def from_status(status: Any, pipeline_job_name: str = "", **fields: Any) -> Outcome:
    """Build an :class:`Outcome` from a ``PipelineTaskFinalStatus`` (or any object like it).

    Args:
        status: KFP's final status.
        pipeline_job_name: The run's name (``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``); wins over
            the status's resource name (kfp.local reports ``local-pipeline-exit-handler-1``).
        fields: The other attributes (trigger, start_time, model_name, ...).
    """
    name = pipeline_job_name.strip()
    job = "" if name.startswith("{{") else name
    return Outcome(
        state=str(getattr(status, "state", "") or "UNKNOWN"),
        pipeline_job=job or str(getattr(status, "pipeline_job_resource_name", "") or "local"),
        pipeline_task=str(getattr(status, "pipeline_task_name", "") or ""),
        error_code=getattr(status, "error_code", None),
        error_message=str(getattr(status, "error_message", "") or ""),
        **fields,
    )


def _normalise(outcome: Outcome) -> None:
    """Times to ISO UTC (end defaults to now), trigger lower-case; bad values logged."""
    for name in ("start_time", "end_time", "data_snapshot_time", "code_commit_time"):
        try:
            setattr(outcome, name, times.iso(times.parse(getattr(outcome, name), name)))
        except ValueError as exc:  # an exit task records what it can
            log.warning("%s; recorded as unknown", exc)
            setattr(outcome, name, "")
    outcome.end_time = outcome.end_time or times.iso(times.now())
    outcome.start_time = outcome.start_time or times.iso(
        times.from_local_job_name(outcome.pipeline_job)
    )
    outcome.trigger = (outcome.trigger or "manual").strip().lower()
    if outcome.trigger not in TRIGGERS:
        log.warning("trigger %r is not one of %s; recorded as given", outcome.trigger, TRIGGERS)


def _resolve_deployment(outcome: Outcome, tracking_uri: str, rolled_back: bool) -> None:
    from kfp_mlops.components.registry.record_outcome.deployment import resolve

    found = resolve(
        tracking_uri,
        outcome.model_name,
        pipeline_run_id=outcome.pipeline_run_id,
        model_version=outcome.model_version,
        trigger=outcome.trigger,
        rolled_back=rolled_back,
    )
    outcome.model_version = found.model_version
    outcome.champion_version = found.champion_version
    outcome.promoted = found.promoted and outcome.succeeded
    outcome.rolled_back = found.rolled_back
    outcome.rolled_back_version = found.rolled_back_version
    outcome.data_snapshot_time = outcome.data_snapshot_time or found.change_times.get(
        "data_snapshot_time", ""
    )
    outcome.code_commit_time = outcome.code_commit_time or found.change_times.get(
        "code_commit_time", ""
    )


def record(
    outcome: Outcome,
    output_path: str,
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    *,
    rolled_back: bool = False,
    webhook_url: str | None = None,
) -> Outcome:
    """Write ``outcome`` as JSON to ``output_path`` and, if asked, to an MLflow run.

    Args:
        outcome: What :func:`from_status` built.
        output_path: Where the JSON goes.
        tracking_uri: MLflow server; empty records the JSON only.
        experiment_name: MLflow experiment of the outcome run.
        rolled_back: The run rolled the champion back (as ``trigger='rollback'`` does).
        webhook_url: Where to notify; None reads ``KFP_MLOPS_WEBHOOK_URL``, empty sends nothing.

    Returns:
        ``outcome``, completed with what the registry says and the notification's result.
    """
    _normalise(outcome)
    outcome.rolled_back = outcome.rolled_back or rolled_back
    if tracking_uri:
        try:
            from kfp_mlops.components.registry.common import check_registry

            check_registry(tracking_uri)
            if outcome.model_name:
                _resolve_deployment(outcome, tracking_uri, outcome.rolled_back)
            outcome.mlflow_run_id = _log_to_mlflow(outcome, tracking_uri, experiment_name)
        except Exception as exc:  # the pipeline's own status matters more than this record
            outcome.mlflow_error = f"{type(exc).__name__}: {exc}"
            log.error("could not record the outcome in MLflow at %s: %s", tracking_uri, exc)
    from kfp_mlops.components.registry.record_outcome.notice import send

    outcome.notification = send(outcome, webhook_url)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    Path(output_path).write_text(json.dumps(asdict(outcome), indent=1), encoding="utf-8")
    log.info("pipeline outcome: %s", outcome.summary())
    return outcome


def _log_to_mlflow(outcome: Outcome, tracking_uri: str, experiment_name: str) -> str:
    from kfp_mlops.components.registry.common import client, experiment_id

    mlflow_client = client(tracking_uri)
    start = times.parse(outcome.start_time)
    end = times.parse(outcome.end_time)
    run = mlflow_client.create_run(
        experiment_id(mlflow_client, experiment_name),
        start_time=times.to_ms(start or end),
        run_name=f"outcome-{outcome.pipeline_job}"[:250],
        tags={k: v for k, v in outcome.tags().items() if v != ""},
    )
    run_id = run.info.run_id
    mlflow_client.log_metric(run_id, "pipeline_succeeded", 1.0 if outcome.succeeded else 0.0)
    mlflow_client.log_metric(run_id, "promoted", 1.0 if outcome.promoted else 0.0)
    mlflow_client.log_metric(run_id, "rolled_back", 1.0 if outcome.rolled_back else 0.0)
    if start is not None and end is not None:
        mlflow_client.log_metric(run_id, "duration_seconds", (end - start).total_seconds())
    mlflow_client.set_terminated(
        run_id, "FINISHED" if outcome.succeeded else "FAILED", end_time=times.to_ms(end)
    )
    return run_id
