"""Recurring runs on a Kubeflow Pipelines cluster: create one, or keep one up to date.

``kfp-mlops schedule`` creates a recurring run and refuses a second one of the same name;
``kfp-mlops schedule --config models.yaml`` calls :func:`schedule` with
``if_exists="update"`` for every model, so rerunning it is idempotent: an identical recurring
run is left alone, a changed one (cron, parameters, pipeline version, concurrency) is
replaced (the v2beta1 API has no update call), a missing one is created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kfp_mlops.pipelines.tooling.cron import normalize_cron
from kfp_mlops.pipelines.tooling.kfp_client import (
    SubmitError,
    Uploaded,
    _equals,
    _prepare,
    _uploaded,
)
from kfp_mlops.pipelines.tooling.kfp_connection import normalize_host, translate

if TYPE_CHECKING:
    import kfp

log = logging.getLogger(__name__)

IF_EXISTS = ("error", "update")


@dataclass
class ScheduleResult(Uploaded):
    """A recurring run (the fields of :class:`Uploaded`, then these).

    Attributes:
        recurring_run_id: Recurring run id.
        cron: The 6-field cron expression sent (seconds first).
        url: The recurring run's page in the KFP UI.
        action: ``created``, ``updated`` (replaced) or ``unchanged``.
    """

    recurring_run_id: str = ""
    cron: str = ""
    url: str = ""
    action: str = "created"

    def render(self) -> str:
        """What the CLI prints."""
        schedule = (
            f"recurring run {self.recurring_run_id} on cron '{self.cron}' ({self.action}): "
            f"{self.url}"
        )
        return f"{self._upload_line()}\n{schedule}"


def _same(existing: Any, cron6: str, params: dict, version_id: str, concurrency: int) -> bool:
    trigger = getattr(existing, "trigger", None)
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None)
    sent = getattr(getattr(existing, "runtime_config", None), "parameters", None) or {}
    ref = getattr(existing, "pipeline_version_reference", None)
    return (
        cron == cron6
        and sent == params
        and getattr(ref, "pipeline_version_id", None) == version_id
        and str(getattr(existing, "max_concurrency", "1")) == str(concurrency)
    )


def schedule(
    pipeline: str,
    host: str,
    cron: str,
    experiment: str = "Default",
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
    job_name: str | None = None,
    max_concurrency: int = 1,
    client: kfp.Client | None = None,
    existing_token: str | None = None,
    if_exists: str = "error",
) -> ScheduleResult:
    """Compile, upload and schedule ``pipeline`` as a recurring run on ``cron``.

    Args:
        pipeline: Pipeline name (see ``kfp-mlops list``).
        host: KFP API / UI address.
        cron: 5-field cron (``'0 3 * * *'``), 6-field with seconds first, or a descriptor.
        experiment: Experiment name; created when missing.
        namespace: Profile namespace on a multi-user deployment.
        params: Pipeline parameters.
        job_name: Recurring run name; defaults to ``"<pipeline> [<cron>]"``.
        max_concurrency: How many of its runs may run at once.
        client: An existing ``kfp.Client``.
        existing_token: Bearer token; defaults to ``$KF_PIPELINES_TOKEN``.
        if_exists: What to do when the experiment has a recurring run of that name:
            ``error`` (so rerunning does not double the schedule) or ``update`` (leave it when
            identical, replace it when it differs).

    Returns:
        The recurring run's ids, cron, link and what was done.

    Raises:
        SubmitError: Bad cron or input, unreachable host, authentication failure, API error,
            or (``if_exists="error"``) a recurring run of that name already there.
    """
    host = normalize_host(host)
    cron6 = normalize_cron(cron)
    if max_concurrency < 1:
        raise SubmitError(f"max_concurrency {max_concurrency} < 1", "pass 1 or more")
    if if_exists not in IF_EXISTS:
        raise SubmitError(f"if_exists {if_exists!r} unknown", f"pass one of {IF_EXISTS}")
    job_name = job_name or f"{pipeline} [{cron6}]"
    params = params or {}
    client, namespace_used, upload, experiment_id = _prepare(
        pipeline, host, experiment, namespace, params, client, existing_token
    )
    action = "created"
    with translate(host):
        same = client.list_recurring_runs(
            experiment_id=experiment_id, filter=_equals("display_name", job_name), page_size=1
        ).recurring_runs
        if same and if_exists == "error":
            raise SubmitError(
                f"experiment '{experiment}' already has a recurring run named '{job_name}' "
                f"(id {same[0].recurring_run_id})",
                "pass --name for another one, or delete the old one in the KFP UI",
            )
        if same and _same(same[0], cron6, params, upload.version_id, max_concurrency):
            recurring, action = same[0], "unchanged"
        else:
            if same:
                client.delete_recurring_run(same[0].recurring_run_id)
                action = "updated"
            recurring = client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=job_name,
                cron_expression=cron6,
                max_concurrency=max_concurrency,
                params=params,
                pipeline_id=upload.pipeline_id,
                version_id=upload.version_id,
            )
    log.info("%s %s in namespace '%s'", action, job_name, namespace_used)
    return ScheduleResult(
        **_uploaded(pipeline, upload, experiment_id),
        recurring_run_id=recurring.recurring_run_id,
        cron=cron6,
        url=f"{host}/#/recurringrun/details/{recurring.recurring_run_id}",
        action=action,
    )
