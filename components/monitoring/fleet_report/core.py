"""The fleet's monitoring report: one row per model of ``models.yaml``.

The fleet monitoring pipeline fans ``monitor_model`` out over the models (``dsl.ParallelFor``)
and collects every run's ``result_json``; this core reads them back in the models' order and
writes a Markdown table plus per-model figures for KFP Metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.report import fmt

#: The summary fields shown per model (all in monitor_model's result JSON).
COLUMNS = ("level_name", "retrain", "rows", "accuracy", "rmse", "max_psi", "latency_p99_ms")


@dataclass
class FleetRow:
    """One model's monitoring outcome."""

    name: str
    result: dict[str, Any]

    @property
    def retrain(self) -> bool:
        """Whether monitoring asked for retraining."""
        return bool(self.result.get("retrain"))


def read_results(names: list[str], paths: list[str]) -> list[FleetRow]:
    """Pair each model name with its monitoring result, in order.

    Raises:
        ParameterError: When the counts differ or a result is not JSON.
    """
    if len(names) != len(paths):
        raise ParameterError(
            f"{len(names)} models but {len(paths)} monitoring results",
            "pass the same models list the ParallelFor iterated over",
        )
    rows = []
    for name, path in zip(names, paths, strict=True):
        try:
            rows.append(FleetRow(name, json.loads(Path(path).read_text(encoding="utf-8"))))
        except (OSError, json.JSONDecodeError) as exc:
            raise ParameterError(
                f"monitoring result of model '{name}' ({path}) is unreadable: {exc}",
                "pass monitor_model's result_json outputs",
            ) from exc
    return rows


def markdown(rows: list[FleetRow]) -> str:
    """The fleet table: a row per model, then each model's reasons."""
    retrain = [r.name for r in rows if r.retrain]
    lines = [
        "# Fleet monitoring",
        "",
        f"{len(rows)} models; retraining asked for: {', '.join(retrain) or 'none'}.",
        "",
        "| model | " + " | ".join(COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for r in rows:
        cells = [fmt(r.result.get(c)) for c in COLUMNS]
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    for r in rows:
        if r.result.get("reasons"):
            lines += ["", f"## {r.name}", ""] + [f"- {reason}" for reason in r.result["reasons"]]
    return "\n".join(lines) + "\n"


def metrics(rows: list[FleetRow]) -> dict[str, float]:
    """Flat figures for KFP Metrics: ``<model>.<field>`` plus fleet totals."""
    out: dict[str, float] = {
        "models": float(len(rows)),
        "retrain": float(sum(r.retrain for r in rows)),
    }
    for r in rows:
        out[f"{r.name}.retrain"] = float(r.retrain)
        for key in ("level", "accuracy", "rmse", "max_psi"):
            value = r.result.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{r.name}.{key}"] = float(value)
    return out
