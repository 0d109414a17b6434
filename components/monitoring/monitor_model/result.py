"""What a monitoring run found: :class:`MonitorResult`, its summary record and its JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kfp_mlops.components.data.detect_drift.core import DriftResult, FeatureDrift
from kfp_mlops.components.monitoring.monitor_model.baselines import CLASSIFICATION_METRICS
from kfp_mlops.components.monitoring.monitor_model.checks import LEVELS, MetricCheck
from kfp_mlops.components.monitoring.monitor_model.quality import DataQuality

#: A regression run's quality figures: the compared errors, then R2 (reported only).
REGRESSION_SUMMARY = ("rmse", "mae", "r2")


@dataclass
class MonitorResult:
    """Everything one monitoring run found, and the retraining decision."""

    timestamp: str
    retrain: bool
    level: int
    reasons: list[str]
    alerts: list[str]
    retrain_on: list[str]
    metrics: dict[str, float]
    checks: list[MetricCheck]
    baseline: dict[str, float]
    drift: DriftResult
    prediction: FeatureDrift
    latency: dict[str, Any] | None
    rows: int
    labelled_rows: int
    classes: list[str] = field(default_factory=list)
    class_share: dict[str, list[float]] = field(default_factory=dict)
    pushed: bool | None = None
    #: A regression model's run (metrics are errors in the target's units; no classes).
    regression: bool = False
    #: The model monitored: ``kind`` (keras / tflite) and ``file``.
    model: dict[str, str] = field(default_factory=dict)
    #: Missing values, duplicates, freshness, volume and the model's age.
    data_quality: DataQuality | None = None
    #: Earlier runs' summaries plus this one's (set by :func:`~.core.run_monitoring`).
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The quality metrics this run reports, in order (its task's)."""
        return REGRESSION_SUMMARY if self.regression else CLASSIFICATION_METRICS

    @property
    def level_name(self) -> str:
        """``ok``, ``warning`` or ``critical``."""
        return LEVELS[self.level]

    def summary(self) -> dict[str, Any]:
        """One flat record: a history entry, the KFP metrics and the Prometheus gauges."""
        lat = self.latency or {}
        return {
            "timestamp": self.timestamp,
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            **{m: self.metrics.get(m) for m in self.metric_names},
            "drifted_features": len(self.drift.drifted_features),
            "share_drifted": self.drift.share_drifted,
            "max_psi": self.drift.max_psi,
            "prediction_psi": self.prediction.psi,
            "latency_p50_ms": lat.get("p50"),
            "latency_p95_ms": lat.get("p95"),
            "latency_p99_ms": lat.get("p99"),
            **(self.data_quality.summary() if self.data_quality else {}),
            "level": self.level,
            "retrain": self.retrain,
        }

    def numeric_metrics(self) -> dict[str, float]:
        """The summary's numbers as floats (absent ones left out), for KFP Metrics."""
        out = {}
        for key, value in self.summary().items():
            if isinstance(value, bool):
                out[key] = float(value)
            elif isinstance(value, int | float) and math.isfinite(value):
                out[key] = float(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole result."""
        return {
            **self.summary(),
            "level_name": self.level_name,
            "reasons": list(self.reasons),
            "alerts": list(self.alerts),
            "retrain_on": list(self.retrain_on),
            "baseline": dict(self.baseline),
            "checks": [
                {
                    "metric": c.name,
                    "value": c.value,
                    "baseline": c.baseline,
                    "ratio": c.ratio,
                    "level": c.level_name,
                }
                for c in self.checks
            ],
            "latency": self.latency,
            "classes": list(self.classes),
            "predicted_class_share": self.class_share,
            "prediction_drift": {
                "psi": self.prediction.psi,
                "ks_pvalue": _finite_or_none(self.prediction.ks_pvalue),
                "drifted": self.prediction.drifted,
            },
            "feature_drift": self.drift.to_dict(),
            "pushed": self.pushed,
            "model": dict(self.model),
            "data_quality": self.data_quality.to_dict() if self.data_quality else None,
        }

    def to_json(self) -> str:
        """The result as strict JSON."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=json_default)


def json_default(value: Any) -> Any:
    """``json.dumps`` hook for numpy scalars."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
