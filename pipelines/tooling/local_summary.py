"""The end of a local run on the terminal: one line per task, everything else in a file.

A training pipeline's tasks write ~50 outputs and ~150 metrics; listed one per line that is
four screens. :func:`compact` gives each task one line (its outputs, a few headline metrics
and the names of its artifacts, whose paths all follow ``<run>/<task>/<artifact>``), and
:func:`full` the whole listing, which ``run-local`` also writes to ``<run>/summary.txt``
(``--verbose`` prints it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

#: Metrics worth a glance, in the order shown; a task shows the first few it has.
HEADLINE = (
    "failed_expectations",
    "evaluated_expectations",
    "suite_from_data",
    "train_rows",
    "validation_rows",
    "test_rows",
    "num_features",
    "best_value",
    "n_trials",
    "accuracy",
    "rmse",
    "r2",
    "f1",
    "val_accuracy",
    "val_loss",
    "workers",
    "sparsity",
    "gzipped_size_ratio",
    "latency_ratio",
    "latency_single_p99_ms",
    "drifted_features",
    "max_psi",
    "checks_failed",
    "explained_rows",
    "models",
    "retrain",
)
#: Headline metrics per task line; the rest are in the summary file.
SHOWN = 4


class _Task(Protocol):
    task: str
    artifacts: dict[str, str]
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    output_file: Path | None


def short(value: Any) -> str:
    """A metric value on one line: numbers rounded, curves and matrices summarised."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return f"[{len(value)} points]"
    if isinstance(value, dict):
        return "{" + ", ".join(map(str, value)) + "}"
    return str(value)


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def task_line(task: _Task, width: int) -> str:
    """``  <task>  out=...; metric=..., ... (+N); artifacts: a, b``."""
    parts = []
    outputs = [f"{_name(k)}={_clip(short(v))}" for k, v in sorted(task.parameters.items())]
    if outputs:
        parts.append(", ".join(outputs))
    headline = [k for k in HEADLINE if k in task.metrics][:SHOWN]
    if not headline:
        headline = [k for k, v in sorted(task.metrics.items()) if isinstance(v, (int, float))]
        headline = headline[:SHOWN]
    if headline:
        more = len(task.metrics) - len(headline)
        shown = ", ".join(f"{k}={short(task.metrics[k])}" for k in headline)
        parts.append(shown + (f" (+{more})" if more else ""))
    if task.artifacts:
        parts.append("artifacts: " + ", ".join(sorted(task.artifacts)))
    return f"  {task.task:<{width}}  " + "; ".join(parts)


def _name(key: str) -> str:
    return "out" if key == "Output" else key


def compact(head: list[str], tasks: list[_Task], summary_file: Path | None) -> str:
    """The head lines, then one line per task, then where the rest is."""
    width = max((len(t.task) for t in tasks), default=0)
    lines = [*head, *(task_line(t, width) for t in tasks)]
    if summary_file is not None:
        lines.append(f"every artifact path and metric: {summary_file}")
    return "\n".join(lines)


def full(head: list[str], tasks: list[_Task], max_metrics: int = 12) -> str:
    """Every artifact path and output, and the first ``max_metrics`` metrics of each task.

    All of a task's metrics are in its ``executor_output.json``, whose path is printed.
    """
    lines = list(head)
    for task in tasks:
        lines.append(f"  {task.task}")
        for name, uri in sorted(task.artifacts.items()):
            lines.append(f"    artifact  {name:<24} {uri}")
        for name, value in sorted(task.parameters.items()):
            lines.append(f"    output    {name:<24} {value}")
        metrics = sorted(task.metrics.items())
        for name, value in metrics[:max_metrics]:
            lines.append(f"    metric    {name:<24} {short(value)}")
        if metrics:
            more = f"{len(metrics) - max_metrics} more; " if len(metrics) > max_metrics else ""
            lines.append(f"    metrics   ({more}all in {task.output_file})")
    return "\n".join(lines)
