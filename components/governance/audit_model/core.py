"""Audit a model for compliance from the evidence its pipeline produced.

:func:`audit` reads the evidence files (the dataset, validate_data's result, detect_drift's
JSON, evaluate_model's evaluation JSON, an explanation, a model card), checks the
parameters, runs :mod:`.checks` and returns an :class:`AuditResult` whose Markdown
(:mod:`.report`) has one section per standard (:mod:`.standards`). Personal-data detection
is :mod:`.pii`. Every parameter is checked before anything is read or written.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataLoadError, ParameterError, UserError
from kfp_mlops.components.governance.audit_model import checks as _checks
from kfp_mlops.components.governance.audit_model import pii
from kfp_mlops.components.governance.audit_model.checks import RISK_LEVELS, Check
from kfp_mlops.components.governance.audit_model.evidence import (
    Evidence,
    Explanation,
    read_explanation,
    read_json_file,
)
from kfp_mlops.components.governance.audit_model.standards import STANDARDS, Standard

__all__ = ["AuditResult", "ComplianceError", "Explanation", "audit", "enforce", "read_explanation"]

log = logging.getLogger(__name__)

ON_FAILURE = ("warn", "fail")
#: Dataset-metadata keys holding when the data was collected, in order of preference.
TIME_KEYS = ("created_at", "collected_at", "snapshot_time", "timestamp")


class ComplianceError(UserError):
    """The audit found failed checks and ``on_failure`` is ``fail``."""


@dataclass
class AuditResult:
    """The checks' verdicts, what the personal-data screen found, and the audit's context."""

    checks: list[Check]
    detection: pii.Detection | None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def compliant(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The failed checks."""
        return [c for c in self.checks if not c.passed]

    @property
    def flagged(self) -> list[pii.PersonalColumn]:
        """The columns flagged as personal data (none without a dataset)."""
        return self.detection.flagged if self.detection else []

    def check(self, check_id: str) -> Check:
        """The check called ``check_id`` (KeyError if none)."""
        return next(c for c in self.checks if c.id == check_id)

    def standard_compliant(self, standard: Standard) -> bool:
        """Whether every check of ``standard``'s section passed."""
        return all(self.check(i).passed for i in standard.check_ids)

    def metrics(self) -> dict[str, float]:
        """checks_passed, checks_failed, compliant, one 1/0 per check and per standard."""
        values = {
            "checks_passed": float(len(self.checks) - len(self.failed)),
            "checks_failed": float(len(self.failed)),
            "compliant": float(self.compliant),
            "personal_columns_flagged": float(
                len(self.detection.flagged if self.detection else [])
            ),
        }
        values.update({f"check_{c.id}": float(c.passed) for c in self.checks})
        values.update({f"{s.key}_compliant": float(self.standard_compliant(s)) for s in STANDARDS})
        return values

    def to_json(self) -> dict[str, Any]:
        """The audit as a JSON-ready dict."""
        return {
            "compliant": self.compliant,
            "context": self.context,
            "checks": [c.__dict__ for c in self.checks],
            "standards": {
                s.name: {"compliant": self.standard_compliant(s), "checks": s.check_ids}
                for s in STANDARDS
            },
            "personal_columns": [{**p.__dict__, "sensitive": p.sensitive} for p in self.flagged],
            "cleared_columns": self.detection.cleared if self.detection else {},
            "unscanned_binary_columns": self.detection.binary if self.detection else [],
        }

    def to_markdown(self) -> str:
        """The audit report (see :func:`report.markdown`)."""
        from kfp_mlops.components.governance.audit_model import report

        return report.markdown(self)


def parse_columns(text: str, parameter: str) -> dict[str, str]:
    """Column -> purpose, from ``a,b``, a JSON list or a JSON object of purposes.

    Raises:
        ParameterError: If the JSON is malformed or not a list/object of strings.
    """
    text = (text or "").strip()
    if not text:
        return {}
    if text[0] in "[{":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ParameterError(
                f"{parameter} is not valid JSON: {exc}",
                'write it as a,b or ["a", "b"] or {"a": "why the model needs it"}',
            ) from exc
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return dict.fromkeys(value, "")
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return {str(k): v.strip() for k, v in value.items()}
        raise ParameterError(
            f"{parameter} must be a list of column names or an object column -> purpose",
            'e.g. {"email": "account recovery"}',
        )
    return {c.strip(): "" for c in text.split(",") if c.strip()}


def parse_time(value: Any, what: str) -> datetime:
    """A timestamp as a naive UTC datetime.

    Raises:
        ParameterError: If ``value`` is not a date or timestamp.
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"{what} '{value}' is not a timestamp", "use ISO 8601, e.g. 2026-01-31T12:00:00Z"
        ) from exc
    if pd.isna(stamp):
        raise ParameterError(f"{what} is empty", "use ISO 8601, e.g. 2026-01-31")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def dataset_time(
    created_at: str, metadata: dict[str, Any], frame: pd.DataFrame | None, timestamp_column: str
) -> tuple[datetime | None, str]:
    """When the data was collected, and where that came from (None when unknown).

    ``created_at`` wins, then the dataset's metadata, then the oldest record of
    ``timestamp_column`` (the oldest record is what a retention period limits).
    """
    if created_at.strip():
        return parse_time(created_at, "dataset_created_at"), "dataset_created_at"
    for key in TIME_KEYS:
        if metadata.get(key):
            return parse_time(metadata[key], f"dataset metadata '{key}'"), f"metadata '{key}'"
    if timestamp_column and frame is not None:
        column = frame[timestamp_column]
        stamps = pd.to_datetime(column, errors="coerce", utc=True, format="mixed").dropna()
        if stamps.empty:
            raise ParameterError(
                f"timestamp_column '{timestamp_column}' holds no timestamps",
                "name a column of dates or times, or pass dataset_created_at",
            )
        return parse_time(stamps.min(), timestamp_column), f"oldest '{timestamp_column}'"
    return None, ""


def preview_card(
    evaluation: dict[str, Any] | None,
    validation: dict[str, Any] | None,
    *,
    name: str,
    intended_use: str,
    limitations: str,
) -> str:
    """The model card register_model will write from this evidence (its own renderer)."""
    from kfp_mlops.components.registry.register_model.core import model_card

    later = "(at registration)"
    return model_card(
        name=name or "model",
        version=later,
        run_id=later,
        evaluation=evaluation or {},
        validation=validation,
        intended_use=intended_use,
        optimization=later,
        formats=[],
        limitations=limitations,
        pipeline_run_id=later,
        data_hash=later,
    )


def _model_card(
    path: str | None,
    evaluation: dict[str, Any] | None,
    validation: dict[str, Any] | None,
    **texts: str,
) -> tuple[str, str]:
    """The registered card when given (``artifact``), else register_model's (``preview``)."""
    if path:
        try:
            return Path(path).read_text(encoding="utf-8"), "artifact"
        except OSError as exc:
            raise DataLoadError(
                f"model card '{path}' is not readable: {exc}", "pass register_model's model_card"
            ) from exc
    return preview_card(evaluation, validation, **texts), "preview"


def _generic_texts() -> dict[str, str]:
    """Model-card section -> register_model's generic text (a card needs its own)."""
    from kfp_mlops.components.registry.register_model import core as register

    return {
        "Intended use": register.DEFAULT_INTENDED_USE,
        "Limitations": register.DEFAULT_LIMITATIONS,
    }


def _check_parameters(
    risk_level: str, retention_days: int, sample_rows: int, on_failure: str
) -> None:
    if risk_level not in RISK_LEVELS:
        raise ParameterError(
            f"risk_level '{risk_level}' is not an EU AI Act tier",
            f"use one of {', '.join(r for r in RISK_LEVELS if r)}",
        )
    if retention_days < 0:
        raise ParameterError(f"retention_days is {retention_days}", "use a number of days >= 0")
    if sample_rows < 1:
        raise ParameterError(f"sample_rows is {sample_rows}", "sample at least 1 row per column")
    if on_failure not in ON_FAILURE:
        raise ParameterError(f"on_failure '{on_failure}' is unknown", f"use one of {ON_FAILURE}")


def _load_frame(dataset_path: str | None, timestamp_column: str) -> pd.DataFrame | None:
    if not dataset_path:
        if timestamp_column:
            raise ParameterError(
                f"timestamp_column '{timestamp_column}' was given without a dataset",
                "pass the dataset too, or dataset_created_at instead",
            )
        return None
    from kfp_mlops.components.common.io import load_dataset_artifact

    frame = load_dataset_artifact(dataset_path)
    if timestamp_column and timestamp_column not in frame.columns:
        raise ParameterError(
            f"timestamp_column '{timestamp_column}' is not a column of the dataset",
            f"use one of {list(frame.columns)[:20]}",
        )
    if timestamp_column and pd.api.types.is_numeric_dtype(frame[timestamp_column]):
        # pandas would read numbers as nanoseconds since 1970: a silent, wrong age.
        raise ParameterError(
            f"timestamp_column '{timestamp_column}' holds numbers, not timestamps",
            "name a column of dates or times (ISO strings or datetimes)",
        )
    return frame


def audit(
    dataset_path: str | None = None,
    *,
    dataset_metadata: dict[str, Any] | None = None,
    declared_personal_columns: str = "",
    non_personal_columns: str = "",
    explanation: Explanation | None = None,
    model_card_path: str | None = None,
    validation_path: str | None = None,
    validation_passed: bool = True,
    drift_path: str | None = None,
    evaluation_path: str | None = None,
    registered_model_name: str = "",
    intended_use: str = "",
    limitations: str = "",
    risk_level: str = "",
    approval_status: str = "",
    retention_days: int = 0,
    dataset_created_at: str = "",
    timestamp_column: str = "",
    sample_rows: int = pii.DEFAULT_SAMPLE_ROWS,
    on_failure: str = "warn",
    now: datetime | None = None,
) -> AuditResult:
    """Run every check on the evidence; see the component's docstring for each argument.

    Raises:
        ParameterError: On a bad parameter, before any file is read.
        DataLoadError: If an evidence file is missing or unreadable.
    """
    risk_level = risk_level.strip().lower()
    _check_parameters(risk_level, retention_days, sample_rows, on_failure)
    declared = parse_columns(declared_personal_columns, "declared_personal_columns")
    non_personal = set(parse_columns(non_personal_columns, "non_personal_columns"))
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    frame = _load_frame(dataset_path, timestamp_column)
    stamp, stamp_source = dataset_time(
        dataset_created_at, dataset_metadata or {}, frame, timestamp_column
    )
    validation = read_json_file(validation_path, "validate_data's validation_result")
    evaluation = read_json_file(evaluation_path, "evaluate_model's evaluation_json")
    card, card_source = _model_card(
        model_card_path,
        evaluation,
        validation,
        name=registered_model_name,
        intended_use=intended_use,
        limitations=limitations,
    )
    evidence = Evidence(
        detection=None if frame is None else pii.detect(frame, sample_rows=sample_rows, now=now),
        declared_personal=declared,
        non_personal=non_personal,
        table_columns=[] if frame is None else [str(c) for c in frame.columns],
        explanation=explanation,
        model_card=card,
        model_card_source=card_source,
        default_texts=_generic_texts(),
        validation=validation,
        validation_passed=validation_passed,
        drift=read_json_file(drift_path, "detect_drift's drift_json"),
        evaluation=evaluation,
        risk_level=risk_level,
        approval_status=approval_status.strip().lower(),
        retention_days=retention_days,
        dataset_time=stamp,
        dataset_time_source=stamp_source,
        now=now,
    )
    context = {
        "audited_at": now.isoformat(timespec="seconds") + "Z",
        "model": registered_model_name or "(not named)",
        "risk_level": risk_level or "(not classified)",
        "rows": None if frame is None else len(frame),
        "columns": len(evidence.table_columns),
        "source": (dataset_metadata or {}).get("source", ""),
    }
    result = AuditResult(_checks.run_checks(evidence), evidence.detection, context)
    failed = len(result.failed)
    log.info("audit: %d checks passed, %d failed", len(result.checks) - failed, failed)
    return result


def enforce(result: AuditResult, on_failure: str = "warn") -> bool:
    """``result.compliant``; with ``on_failure="fail"`` a failed check raises instead.

    Raises:
        ComplianceError: Naming each failed check and its recommendation.
    """
    if result.compliant or on_failure == "warn":
        return result.compliant
    failures = "; ".join(f"{c.id}: {c.finding}" for c in result.failed)
    fixes = "; ".join(f"{c.id}: {c.recommendation}" for c in result.failed if c.recommendation)
    raise ComplianceError(f"{len(result.failed)} audit checks failed ({failures})", fixes)
