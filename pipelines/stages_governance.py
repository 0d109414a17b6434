"""The audit before registration: ``audit_model`` on the evidence the run already has.

``training_pipeline`` runs it inside ``dsl.If(blessed)``; registration waits for it. With
``require_audit`` a non-compliant audit fails the task, naming each failed check, so nothing is
registered or deployed and the exit task records (and notifies) the failure. Without it the
report is written and the release goes on. No ``dsl.If`` on the audit's outputs: kfp.local
skips a nested condition on a NamedTuple output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfp_mlops.components.governance.audit_model.component import audit_model
from kfp_mlops.pipelines.stages import _FromInputs


@dataclass(frozen=True)
class AuditSettings(_FromInputs):
    """Settings of :func:`audit_before_release` (see training_pipeline's Args)."""

    registered_model_name: str
    require_audit: bool
    declared_personal_columns: str
    risk_level: str
    retention_days: int
    dataset_created_at: str


def audit_before_release(splits: dict, trained: dict, settings: AuditSettings) -> Any:
    """The audit_model task; call ``.after(audit)`` on the release's first task."""
    s = settings
    evidence = {
        "dataset": splits["current"].outputs["dataset"],
        "validation_result": splits["validate"].outputs["validation_result"],
        "validation_passed": splits["validate"].outputs["Output"],
        "evaluation": trained["evaluate"].outputs["evaluation_json"],
        "explanation": trained["explain"].outputs["explanation"],
    }
    if splits.get("drift") is not None:
        evidence["drift_json"] = splits["drift"].outputs["drift_json"]
    return audit_model(
        **evidence,
        registered_model_name=s.registered_model_name,
        declared_personal_columns=s.declared_personal_columns,
        risk_level=s.risk_level,
        retention_days=s.retention_days,
        dataset_created_at=s.dataset_created_at,
        required=s.require_audit,
        on_failure="fail",  # fails only when required
    )
