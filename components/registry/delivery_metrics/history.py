"""Read the delivery history back from MLflow: recorded outcomes and registered versions.

Outcomes are the MLflow runs ``record_outcome`` wrote (tag ``kfp_mlops.record =
pipeline_outcome``); versions are the registry's ``ModelVersion`` objects with their tags
(``rolled_back_to`` marks a version that was rolled back). Both become plain records, so
the computation in :mod:`.core` needs no MLflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.record_outcome import times
from kfp_mlops.components.registry.record_outcome.core import RECORD_KIND, RECORD_TAG, SUCCEEDED
from kfp_mlops.components.registry.record_outcome.deployment import (
    CHANGE_TIME_TAGS,
    ROLLBACK_TRIGGER,
    ROLLED_BACK_TAG,
    all_versions,
)

log = logging.getLogger(__name__)
PAGE = 1000


@dataclass(frozen=True)
class OutcomeRecord:
    """One pipeline run as record_outcome recorded it."""

    run_id: str
    pipeline_job: str
    state: str
    end: datetime
    trigger: str = "manual"
    start: datetime | None = None
    model_version: str = ""
    promoted: bool = False
    rolled_back: bool = False
    rolled_back_version: str = ""
    data_snapshot_time: datetime | None = None
    code_commit_time: datetime | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the run succeeded."""
        return self.state.upper() == SUCCEEDED

    @property
    def is_rollback_run(self) -> bool:
        """A run whose purpose was to roll the champion back."""
        return self.trigger == ROLLBACK_TRIGGER


@dataclass(frozen=True)
class VersionRecord:
    """One registered model version."""

    version: str
    created: datetime
    rolled_back_to: str = ""
    change_times: dict[str, datetime] = field(default_factory=dict)


@dataclass
class History:
    """Everything the metrics are computed from."""

    model_name: str
    outcomes: list[OutcomeRecord]
    versions: list[VersionRecord]


def _flag(tags: dict[str, str], key: str) -> bool:
    return tags.get(key, "").lower() == "true"


def _time(text: str) -> datetime | None:
    try:
        return times.parse(text)
    except ValueError:
        return None


def outcome_from_run(run: Any) -> OutcomeRecord:
    """An :class:`OutcomeRecord` from an MLflow run written by record_outcome."""
    tags = dict(run.data.tags)
    end_ms = run.info.end_time or run.info.start_time
    end = _time(tags.get("kfp.end_time", "")) or datetime.fromtimestamp(end_ms / 1000, timezone.utc)
    return OutcomeRecord(
        run_id=run.info.run_id,
        pipeline_job=tags.get("kfp.pipeline_job", ""),
        state=tags.get("kfp.state", "UNKNOWN"),
        end=end,
        trigger=tags.get("kfp.trigger", "manual"),
        start=_time(tags.get("kfp.start_time", "")),
        model_version=tags.get("model.version", ""),
        promoted=_flag(tags, "model.promoted"),
        rolled_back=_flag(tags, "model.rolled_back"),
        rolled_back_version=tags.get("model.rolled_back_version", ""),
        data_snapshot_time=_time(tags.get("change.data_snapshot_time", "")),
        code_commit_time=_time(tags.get("change.code_commit_time", "")),
    )


def version_from_mlflow(version: Any) -> VersionRecord:
    """A :class:`VersionRecord` from an MLflow ``ModelVersion``."""
    tags = dict(version.tags or {})
    changes = {k: t for k in CHANGE_TIME_TAGS if (t := _time(tags.get(k, ""))) is not None}
    return VersionRecord(
        version=str(version.version),
        created=datetime.fromtimestamp(int(version.creation_timestamp) / 1000, timezone.utc),
        rolled_back_to=str(tags.get(ROLLED_BACK_TAG, "") or ""),
        change_times=changes,
    )


def _search_outcomes(mlflow_client: Any, experiment_ids: list[str], name: str) -> list[Any]:
    query = f"tags.`{RECORD_TAG}` = '{RECORD_KIND}'"
    if name:
        query += f" and tags.`model.name` = '{name}'"
    runs, token = [], None
    while True:
        page = mlflow_client.search_runs(experiment_ids, query, max_results=PAGE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def read_history(tracking_uri: str, model_name: str, experiment_name: str = "") -> History:
    """Outcomes of ``model_name`` (every model when empty) and its registered versions.

    Args:
        tracking_uri: MLflow server.
        model_name: Registered model; outcomes are those recorded with this model name.
        experiment_name: Experiment the outcomes were recorded in; empty searches all.

    Raises:
        RegistryError: If the registry is unreachable or the experiment does not exist.
    """
    common.check_registry(tracking_uri)
    mlflow_client = common.client(tracking_uri)
    if experiment_name:
        experiment = mlflow_client.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise common.RegistryError(
                f"experiment '{experiment_name}' does not exist at {tracking_uri}",
                "pass the experiment_name record_outcome used (default kfp-mlops), or none "
                "to search every experiment",
            )
        experiment_ids = [experiment.experiment_id]
    else:
        experiment_ids = [e.experiment_id for e in mlflow_client.search_experiments()]
    outcomes = [
        outcome_from_run(r) for r in _search_outcomes(mlflow_client, experiment_ids, model_name)
    ]
    versions = (
        [version_from_mlflow(v) for v in all_versions(tracking_uri, model_name)]
        if model_name
        else []
    )
    log.info(
        "%s: %d recorded outcomes, %d registered versions",
        model_name or "all models",
        len(outcomes),
        len(versions),
    )
    return History(model_name, sorted(outcomes, key=lambda o: o.end), versions)
