"""What the audit's checks read: the evidence the pipeline produced and the people gave."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import DataLoadError
from kfp_mlops.components.governance.audit_model.pii import Detection


@dataclass
class Explanation:
    """An explanation artifact of explain_model, in any of its three forms.

    Its ``explanation`` JSON (``method``, ``ranking`` of ``{feature, importance}``,
    ``markdown``), its Metrics (``importance.<column>`` entries) or its Markdown
    ``model_card_section`` (``text``).
    """

    metadata: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def importances(self) -> dict[str, float]:
        """Feature -> importance, from the ranking, else the ``importance.*`` metrics."""
        ranking = self.metadata.get("ranking")
        if isinstance(ranking, list):
            pairs = [
                (r.get("feature"), r.get("importance")) for r in ranking if isinstance(r, dict)
            ]
        else:
            pairs = list(self.metadata.items())
            prefixed = [
                (k[len("importance.") :], v) for k, v in pairs if k.startswith("importance.")
            ]
            pairs = prefixed or pairs
        return {
            str(k): float(v)
            for k, v in pairs
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }

    @property
    def method(self) -> str:
        """How the explanation was computed, when recorded."""
        return str(self.metadata.get("method") or "")


@dataclass
class Evidence:
    """Everything the checks read; ``None`` means the pipeline did not provide it."""

    detection: Detection | None
    declared_personal: dict[str, str]
    non_personal: set[str]
    table_columns: list[str]
    explanation: Explanation | None
    model_card: str
    model_card_source: str  # "artifact" or "preview"
    default_texts: dict[str, str]  # section -> register_model's generic text
    validation: dict[str, Any] | None
    validation_passed: bool
    drift: dict[str, Any] | None
    evaluation: dict[str, Any] | None
    risk_level: str
    approval_status: str
    retention_days: int
    dataset_time: datetime | None
    dataset_time_source: str
    now: datetime


def read_json_file(path: str | None, what: str) -> dict[str, Any] | None:
    """A JSON object from ``path`` (None when no path is given).

    Raises:
        DataLoadError: If the file is missing or not a JSON object.
    """
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataLoadError(f"{what} '{path}' is not readable JSON: {exc}", f"pass {what}") from exc
    if not isinstance(data, dict):
        raise DataLoadError(f"{what} '{path}' holds {type(data).__name__}, not an object")
    return data


def read_explanation(path: str | None, metadata: dict[str, Any] | None) -> Explanation | None:
    """An explanation artifact: its metadata, plus a JSON object or text in its file."""
    if path is None and metadata is None:
        return None
    found = Explanation(metadata=dict(metadata or {}))
    file = Path(path) if path else None
    if file is not None and file.is_file():
        text = file.read_text(encoding="utf-8", errors="replace")
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found.metadata = {**data, **found.metadata}
        else:
            found.text = text
    return found
