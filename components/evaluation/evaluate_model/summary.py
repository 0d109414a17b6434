"""The result of an evaluation: metrics, latency, the gate's decision, the champion's scores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kfp_mlops.components.common.metrics import ModelMetrics
from kfp_mlops.components.evaluation.evaluate_model.gate import Decision, Thresholds


@dataclass
class EvaluationResult:
    """Everything evaluate_model reports.

    ``targets`` and ``predictions`` (regression, in the target's units) feed the plots of
    the HTML report; they are not written to the JSON.
    """

    metrics: ModelMetrics
    latency: dict[str, float]
    decision: Decision
    thresholds: Thresholds
    serving_format: str
    rows: int
    champion: dict[str, Any] | None = None
    compare_metric: str = "accuracy"
    min_improvement: float = 0.0
    task_type: str = "binary"
    targets: np.ndarray | None = field(default=None, repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_regression(self) -> bool:
        """Whether the task is regression (no confusion matrix or ROC curve)."""
        return self.task_type == "regression"

    @property
    def blessed(self) -> bool:
        """The gate's verdict."""
        return self.decision.blessed

    @property
    def scalars(self) -> dict[str, float]:
        """Quality metrics and latency in one flat dict."""
        return {**self.metrics.scalars, **self.latency}

    def to_json(self) -> dict[str, Any]:
        """The ``evaluation_json`` artifact (read by register_model)."""
        return {
            "blessed": self.blessed,
            "task_type": self.task_type,
            "reasons": self.decision.reasons,
            "failures": self.decision.failures,
            "checks": [asdict(c) for c in self.decision.checks],
            "metrics": {k: _json_number(v) for k, v in self.scalars.items()},
            "thresholds": asdict(self.thresholds),
            "serving_format": self.serving_format,
            "rows": self.rows,
            "classes": self.metrics.classes,
            "confusion_matrix": self.metrics.confusion_matrix,
            "champion": (
                {
                    **self.champion,
                    "metrics": {k: _json_number(v) for k, v in self.champion["metrics"].items()},
                }
                if self.champion
                else None
            ),
            "compare_metric": self.compare_metric,
            "min_improvement": self.min_improvement,
            "notes": self.metrics.notes,
        }

    def to_markdown(self) -> str:
        """The Markdown summary (see :func:`report.markdown`)."""
        from kfp_mlops.components.evaluation.evaluate_model import report

        return report.markdown(self)

    def to_html(self) -> str:
        """The HTML report (see :func:`report.html`)."""
        from kfp_mlops.components.evaluation.evaluate_model import report

        return report.html(self)


def _json_number(value: float) -> float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value
