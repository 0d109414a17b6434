"""Record a rollback in MLflow: version tags and a run with the recovery time.

The run (in the given experiment, tagged ``kfp-mlops.event=rollback``) has the rollback's
real start and end times and the metric ``recovery_time_s``; delivery metrics (mean time
to recovery) read it. A registry that fails here must not hide the rollback's own result,
so errors are logged, not raised.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from kfp_mlops.components.registry import common

if TYPE_CHECKING:
    from kfp_mlops.components.registry.rollback_model.redeploy import Result

log = logging.getLogger(__name__)

EVENT_TAG = "kfp-mlops.event"
#: Version tags: on the restored version, its recovery time and when it became healthy.
RECOVERY_TAG = "rollback.recovery_time_s"
RESTORED_AT_TAG = "rollback.restored_at"
ROLLED_BACK_AT_TAG = "rollback.rolled_back_at"


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _log_run(tracking_uri: str, name: str, result: Result, experiment: str, ok: bool) -> str:
    client = common.client(tracking_uri)
    reg = result.registry
    run = client.create_run(
        common.experiment_id(client, experiment),
        start_time=int(result.started_at * 1000),
        run_name=f"rollback-{name}-v{reg.demoted}-to-v{reg.version}"[:250],
        tags={
            EVENT_TAG: "rollback",
            "kfp-mlops.model": name,
            "kfp-mlops.from_version": reg.demoted,
            "kfp-mlops.to_version": reg.version,
            "kfp-mlops.target": result.target,
            "kfp-mlops.serving_before": result.serving_before,
            "kfp-mlops.serving_now": result.serving_now,
            "kfp-mlops.decision": result.decision,
            "kfp-mlops.reason": result.reason[:5000],
            "kfp-mlops.commit": result.commit,
            "kfp.state": "SUCCEEDED" if ok else "FAILED",
        },
    )
    run_id = run.info.run_id
    client.log_metric(run_id, "recovery_time_s", result.recovery_time_s)
    client.log_metric(run_id, "rollback_succeeded", 1.0 if ok else 0.0)
    end = result.healthy_at or (result.started_at + result.recovery_time_s)
    client.set_terminated(run_id, "FINISHED" if ok else "FAILED", end_time=int(end * 1000))
    return run_id


def record_success(tracking_uri: str, name: str, result: Result, experiment: str) -> None:
    """Tag both versions and log the rollback run; fills ``result.details['mlflow_run_id']``."""
    try:
        client = common.client(tracking_uri)
        reg = result.registry
        client.set_model_version_tag(
            name, reg.version, RECOVERY_TAG, f"{result.recovery_time_s:.3f}"
        )
        client.set_model_version_tag(name, reg.version, RESTORED_AT_TAG, _iso(result.healthy_at))
        client.set_model_version_tag(name, reg.demoted, ROLLED_BACK_AT_TAG, _iso(result.healthy_at))
        result.details["mlflow_run_id"] = _log_run(tracking_uri, name, result, experiment, True)
    except Exception as exc:  # the model serves again: a failed record must not undo that
        result.details["mlflow_error"] = f"{type(exc).__name__}: {exc}"
        log.error("could not record the rollback in MLflow at %s: %s", tracking_uri, exc)


def record_failure(tracking_uri: str, name: str, result: Result, experiment: str) -> None:
    """Log a failed rollback as a FAILED run (no version is tagged)."""
    try:
        result.details["mlflow_run_id"] = _log_run(tracking_uri, name, result, experiment, False)
    except Exception as exc:
        result.details["mlflow_error"] = f"{type(exc).__name__}: {exc}"
        log.error("could not record the failed rollback in MLflow: %s", exc)
