"""What a run did to the registry: the version it shipped, promoted or rolled back.

The exit task of a ``dsl.ExitHandler`` cannot take outputs of the tasks it guards, so it
reads the answer back from the registry: the version whose ``pipeline_run_id`` tag is this
run's id (``register_model`` sets it), where ``champion`` points now, and the
``rolled_back_to`` tags ``rollback_model`` leaves on demoted versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kfp_mlops.components.registry import common

log = logging.getLogger(__name__)

#: Version tag set by register_model naming the pipeline run that registered it.
RUN_ID_TAG = "pipeline_run_id"
#: Version tag set by rollback_model on a demoted version.
ROLLED_BACK_TAG = "rolled_back_to"
#: Optional version tags a registration may carry; they feed the DORA lead time.
CHANGE_TIME_TAGS = ("data_snapshot_time", "code_commit_time")
ROLLBACK_TRIGGER = "rollback"


@dataclass
class Deployment:
    """The registry's answer for one run."""

    model_version: str = ""
    champion_version: str = ""
    promoted: bool = False
    rolled_back: bool = False
    rolled_back_version: str = ""
    change_times: dict[str, str] = field(default_factory=dict)


def all_versions(tracking_uri: str, name: str) -> list[Any]:
    """Every ``ModelVersion`` of ``name``, oldest first (none if the model does not exist)."""
    versions = common.client(tracking_uri).search_model_versions(f"name='{name}'")
    return sorted(versions, key=lambda v: int(v.version))


def _tag(version: Any, key: str) -> str:
    return str((version.tags or {}).get(key, "") or "")


def resolve(
    tracking_uri: str,
    name: str,
    *,
    pipeline_run_id: str = "",
    model_version: str = "",
    trigger: str = "",
    rolled_back: bool = False,
) -> Deployment:
    """Find what the run shipped.

    Args:
        tracking_uri: MLflow server.
        name: Registered model name.
        pipeline_run_id: The run's id, as register_model tagged its version.
        model_version: The version, when the caller knows it (wins over the tag search).
        trigger: ``rollback`` marks a rollback run: the champion now is the restored version.
        rolled_back: The caller says the run rolled back (same as ``trigger='rollback'``).

    Returns:
        The version, the champion at exit, and whether the run promoted or rolled back.
    """
    versions = all_versions(tracking_uri, name)
    champion = common.alias_version(tracking_uri, name, common.CHAMPION)
    found = Deployment(champion_version=str(champion.version) if champion else "")
    is_rollback = rolled_back or trigger == ROLLBACK_TRIGGER
    if is_rollback:
        found.rolled_back = True
        found.model_version = str(model_version or found.champion_version)
        # The newest version demoted in favour of the restored one.
        demoted = [v for v in versions if _tag(v, ROLLED_BACK_TAG) == found.model_version]
        found.rolled_back_version = str(demoted[-1].version) if demoted else ""
    elif model_version:
        found.model_version = str(model_version)
    elif pipeline_run_id:
        mine = [v for v in versions if _tag(v, RUN_ID_TAG) == pipeline_run_id]
        found.model_version = str(mine[-1].version) if mine else ""
    by_number = {str(v.version): v for v in versions}
    version = by_number.get(found.model_version)
    if version is not None and not is_rollback:
        found.promoted = found.model_version == found.champion_version
        if _tag(version, ROLLED_BACK_TAG):  # shipped, then rolled back within the run
            found.rolled_back, found.promoted = True, False
            found.rolled_back_version = found.model_version
    if version is not None:
        found.change_times = {k: _tag(version, k) for k in CHANGE_TIME_TAGS if _tag(version, k)}
    log.info(
        "%s: run %s -> version %s (champion %s, promoted %s, rolled back %s)",
        name,
        pipeline_run_id or "?",
        found.model_version or "none",
        found.champion_version or "none",
        found.promoted,
        found.rolled_back,
    )
    return found
