"""The integration test's Markdown report and the scalars logged as KFP Metrics."""

from __future__ import annotations

import math
from pathlib import Path

from kfp_mlops.components.deployment.integration_test.core import IntegrationResult


def metrics_of(result: IntegrationResult) -> dict[str, float]:
    """Finite scalars for the Metrics artifact, plus ``passed`` as 1/0."""
    out = {k: float(v) for k, v in result.scalars.items() if math.isfinite(float(v))}
    out["passed"] = 1.0 if result.passed else 0.0
    return out


def report_markdown(result: IntegrationResult) -> str:
    """What was replayed where, every check and the verdict."""
    icon = "✅ passed" if result.passed else "❌ failed"
    lines = [
        f"# Integration test of `{result.model_name}`: {icon}",
        "",
        "| | |",
        "|---|---|",
        f"| endpoint | {result.url} |",
        f"| protocol | {result.protocol} |",
        f"| task | {result.task_type} |",
        f"| rows replayed | {result.rows} |",
    ]
    for r in result.replays:
        lines.append(f"| {r.protocol.upper()} requests (failed) | {r.requests} ({r.errors}) |")
    lines += ["", "## Checks", "", "| check | result | detail |", "|---|---|---|"]
    for c in result.checks:
        lines.append(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.message} |")
    lines += ["", "## Measured on the live server", "", "| metric | value |", "|---|---|"]
    for name, value in sorted(result.scalars.items()):
        lines.append(f"| {name} | {value:.4g} |")
    problems = [p for r in result.replays for p in r.problems][:5]
    if problems:
        lines += ["", "## First failed requests", ""] + [f"- `{p}`" for p in problems]
    return "\n".join(lines) + "\n"


def write_report(result: IntegrationResult, path: str) -> None:
    """Write :func:`report_markdown` to ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(report_markdown(result), encoding="utf-8")
