"""Markdown rendering of an evaluation (the KFP ``Markdown`` summary artifact)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfp_mlops.components.common.report import fmt

if TYPE_CHECKING:  # summary imports this module to render itself
    from kfp_mlops.components.evaluation.evaluate_model.summary import EvaluationResult


def markdown(result: EvaluationResult) -> str:
    """The Markdown summary: decision, reasons, metrics, latency, confusion matrix."""
    verdict = "BLESSED" if result.blessed else "NOT BLESSED"
    champ = (result.champion or {}).get("metrics", {})
    version = (result.champion or {}).get("version")
    t = result.thresholds
    limits = {"accuracy": f">= {t.min_accuracy:g}"}
    lines = [
        "# Model evaluation",
        "",
        f"**Decision: {verdict}** ({result.rows} test rows, served as `{result.serving_format}`)",
        "",
        "## Reasons",
        "",
        *[f"- {r}" for r in result.decision.reasons],
        "",
        "## Metrics",
        "",
        f"| metric | challenger | champion{f' v{version}' if version else ''} | threshold |",
        "|---|---|---|---|",
    ]
    for key, value in result.metrics.scalars.items():
        other = _cell(champ[key]) if key in champ else "-"
        lines.append(f"| {key} | {_cell(value)} | {other} | {limits.get(key, '-')} |")
    lines += ["", "## Latency (ms)", "", "| calls | p50 | p95 | p99 |", "|---|---|---|---|"]
    batch_label = f"batch of {int(result.latency.get('batch_size', 0))}"
    for kind, label in (("single", "single row"), ("batch", batch_label)):
        row = [_cell(result.latency.get(f"latency_{kind}_p{q}_ms")) for q in (50, 95, 99)]
        lines.append(f"| {label} | {' | '.join(row)} |")
    lines.append(
        f"| single-row limits | {t.max_latency_p50_ms:g} | {t.max_latency_p95_ms:g} | "
        f"{t.max_latency_p99_ms:g} |"
    )
    classes = result.metrics.classes
    lines += [
        "",
        "## Confusion matrix (rows: true, columns: predicted)",
        "",
        "| | " + " | ".join(classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for name, row in zip(classes, result.metrics.confusion_matrix, strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    notes = [
        *result.metrics.notes,
        *([result.champion["note"]] if result.champion and result.champion.get("note") else []),
    ]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    """A metric in the Markdown tables: four decimals, ``n/a`` when undefined."""
    return fmt(value, fixed=True, missing="n/a")
