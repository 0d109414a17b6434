"""Rendering of an evaluation: the KFP ``Markdown`` summary and the ``HTML`` report.

Regression has no confusion matrix: the Markdown gives a residual summary and the HTML
report plots predicted vs actual and residuals vs predicted (in the target's units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kfp_mlops.components.common import report
from kfp_mlops.components.common.report import fmt

if TYPE_CHECKING:  # summary imports this module to render itself
    from kfp_mlops.components.evaluation.evaluate_model.summary import EvaluationResult


def markdown(result: EvaluationResult) -> str:
    """The Markdown summary: decision, reasons, metrics, latency, confusion matrix."""
    verdict = "BLESSED" if result.blessed else "NOT BLESSED"
    champ = (result.champion or {}).get("metrics", {})
    version = (result.champion or {}).get("version")
    t = result.thresholds
    limits = _limits(result)
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
    lines += _residual_lines(result) if result.is_regression else _confusion_lines(result)
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


def _limits(result: EvaluationResult) -> dict[str, str]:
    t = result.thresholds
    if result.is_regression:
        return {"rmse": f"<= {t.max_rmse:g}" if t.max_rmse > 0 else "no limit"}
    return {"accuracy": f">= {t.min_accuracy:g}"}


def _confusion_lines(result: EvaluationResult) -> list[str]:
    classes = result.metrics.classes
    lines = [
        "",
        "## Confusion matrix (rows: true, columns: predicted)",
        "",
        "| | " + " | ".join(classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for name, row in zip(classes, result.metrics.confusion_matrix, strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return lines


def _residuals(result: EvaluationResult) -> np.ndarray:
    return np.asarray(result.predictions) - np.asarray(result.targets)


def _residual_lines(result: EvaluationResult) -> list[str]:
    """Residual quantiles (predicted - actual, target units); the plots are in the HTML."""
    if result.predictions is None or result.targets is None:
        return []
    q = np.percentile(_residuals(result), [5, 25, 50, 75, 95])
    return [
        "",
        "## Residuals (predicted - actual, target units)",
        "",
        "| p5 | p25 | median | p75 | p95 |",
        "|---|---|---|---|---|",
        "| " + " | ".join(_cell(float(v)) for v in q) + " |",
        "",
        "Predicted-vs-actual and residual plots: the `report` HTML artifact.",
    ]


def html(result: EvaluationResult) -> str:
    """The HTML report: decision, reasons, metrics, latency, and the task's plots or matrix."""
    verdict = report.status(result.blessed, "BLESSED", "NOT BLESSED")
    champ = (result.champion or {}).get("metrics", {})
    limits = _limits(result)
    rows = [
        [k, fmt(v), fmt(champ.get(k)), limits.get(k, "-")]
        for k, v in result.metrics.scalars.items()
    ]
    latency = [
        [label, *(fmt(result.latency.get(f"latency_{kind}_p{q}_ms")) for q in (50, 95, 99))]
        for kind, label in (("single", "single row"), ("batch", "batch"))
    ]
    body = [
        f"<p>Decision: {verdict} ({result.rows} test rows, served as "
        f"{report.escape(result.serving_format)}, task {report.escape(result.task_type)})</p>",
        "<h2>Reasons</h2>",
        report.table(["check"], [[r] for r in result.decision.reasons]),
        "<h2>Metrics</h2>",
        report.table(["metric", "challenger", "champion", "threshold"], rows),
        "<h2>Latency (ms)</h2>",
        report.table(["calls", "p50", "p95", "p99"], latency),
    ]
    if result.is_regression and result.predictions is not None:
        body += ["<h2>Predictions (target units)</h2>", '<div class="grid">']
        body += [report.figure_png(fig) for fig in _regression_figures(result)]
        body.append("</div>")
    elif result.metrics.classes:
        matrix = [
            [c, *row]
            for c, row in zip(result.metrics.classes, result.metrics.confusion_matrix, strict=True)
        ]
        body += [
            "<h2>Confusion matrix (rows: true, columns: predicted)</h2>",
            report.table(["", *result.metrics.classes], matrix),
        ]
    if result.metrics.notes:
        body += ["<h2>Notes</h2>", *[f"<p>{report.escape(n)}</p>" for n in result.metrics.notes]]
    return report.page("Model evaluation", "".join(body))


def _regression_figures(result: EvaluationResult) -> list[Any]:
    """Predicted vs actual (with the identity line) and residuals vs predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    actual, predicted = np.asarray(result.targets), np.asarray(result.predictions)
    fig1, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(actual, predicted, s=10, alpha=0.6)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="#d93025", linewidth=1, label="predicted = actual")
    ax.set(title="Predicted vs actual", xlabel="actual", ylabel="predicted")
    ax.legend()
    fig2, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(predicted, _residuals(result), s=10, alpha=0.6)
    ax.axhline(0.0, color="#d93025", linewidth=1)
    ax.set(title="Residuals vs predicted", xlabel="predicted", ylabel="predicted - actual")
    return [fig1, fig2]
