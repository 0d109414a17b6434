"""The runbook's alert thresholds and the rules' options, checked before any rule is written.

Defaults are the runbook's: latency p50 10 ms / p95 50 ms / p99 100 ms, error rate above
1 %, accuracy below 0.95 x (warning) and 0.90 x (critical) of the champion's baseline,
precision below 0.90, recall below 0.85, drift score good < 0.05, warning 0.05-0.15,
critical > 0.15, and the champion older than ``max_model_age_days``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from kfp_mlops.components.common.errors import ParameterError


class AlertRuleError(ParameterError):
    """A threshold or an option of the alert rules cannot make a working rule."""


@dataclass(frozen=True)
class Thresholds:
    """When each alert fires; every field may be overridden by name (``thresholds_json``)."""

    latency_p50_ms: float = 10.0
    latency_p95_ms: float = 50.0
    latency_p99_ms: float = 100.0
    error_rate: float = 0.01
    accuracy_warning_ratio: float = 0.95
    accuracy_critical_ratio: float = 0.90
    min_precision: float = 0.90
    min_recall: float = 0.85
    drift_warning: float = 0.05
    drift_critical: float = 0.15
    max_model_age_days: float = 7.0

    @classmethod
    def names(cls) -> list[str]:
        """The threshold names, as ``thresholds_json`` takes them."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_json(cls, text: str, **given: float) -> Thresholds:
        """``given`` values, overridden by the JSON object ``text`` (may be empty).

        Raises:
            AlertRuleError: On malformed JSON, an unknown name, a non-number or an impossible
                value (see :meth:`validate`).
        """
        overrides: dict[str, Any] = {}
        if text.strip():
            try:
                overrides = json.loads(text)
            except json.JSONDecodeError as exc:
                raise AlertRuleError(
                    f"thresholds_json is not valid JSON ({exc.msg} at character {exc.pos})",
                    'pass an object such as {"latency_p95_ms": 80, "error_rate": 0.02}',
                ) from exc
            if not isinstance(overrides, dict):
                raise AlertRuleError(
                    f"thresholds_json must be a JSON object, got {type(overrides).__name__}",
                    'pass an object such as {"latency_p95_ms": 80}',
                )
        values = {**given, **overrides}
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise AlertRuleError(
                f"unknown alert threshold {', '.join(map(repr, unknown))}",
                f"use one of {', '.join(cls.names())}",
            )
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AlertRuleError(
                    f"alert threshold {name!r} is {value!r}, not a number", "give a number"
                )
        thresholds = cls(**{k: float(v) for k, v in values.items()})
        thresholds.validate()
        return thresholds

    def validate(self) -> None:
        """Refuse values no alert could use.

        Raises:
            AlertRuleError: Naming the threshold and the fix.
        """
        for name, value in asdict(self).items():
            if not math.isfinite(value) or value <= 0:
                raise AlertRuleError(
                    f"alert threshold {name} = {value:g} must be a positive number",
                    "give a positive value (the runbook's default is "
                    f"{getattr(Thresholds, name):g})",
                )
        p50, p95, p99 = self.latency_p50_ms, self.latency_p95_ms, self.latency_p99_ms
        if not p50 <= p95 <= p99:
            raise AlertRuleError(
                f"latency thresholds must grow with the percentile: p50 {p50:g} ms, "
                f"p95 {p95:g} ms, p99 {p99:g} ms",
                "set latency_p50_ms <= latency_p95_ms <= latency_p99_ms (runbook: 10, 50, 100)",
            )
        for name in ("error_rate", "min_precision", "min_recall"):
            _fraction(name, getattr(self, name))
        for name in ("accuracy_warning_ratio", "accuracy_critical_ratio"):
            _fraction(name, getattr(self, name))
        if self.accuracy_critical_ratio >= self.accuracy_warning_ratio:
            raise AlertRuleError(
                f"accuracy_critical_ratio {self.accuracy_critical_ratio:g} must be below "
                f"accuracy_warning_ratio {self.accuracy_warning_ratio:g}: critical is the "
                "larger drop",
                "e.g. warning 0.95, critical 0.90 (of the baseline)",
            )
        if self.drift_warning >= self.drift_critical:
            raise AlertRuleError(
                f"drift_warning {self.drift_warning:g} must be below drift_critical "
                f"{self.drift_critical:g}",
                "e.g. warning from 0.05, critical above 0.15 (the runbook's tiers)",
            )


def _fraction(name: str, value: float) -> None:
    if value > 1:
        raise AlertRuleError(
            f"alert threshold {name} = {value:g} is above 1, but it is a fraction",
            f"give it as a fraction: 0.01 is 1 % (the runbook's default is "
            f"{getattr(Thresholds, name):g})",
        )


#: Monitoring gauges a drift alert may watch (``drift_metric``): name -> summary key.
DRIFT_METRICS = {"max_feature_psi": "max_psi", "prediction_psi": "prediction_psi"}
_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_MODEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class RuleOptions:
    """What the rules select and how quickly they fire.

    Attributes:
        model: The ``model`` label the series carry (the serving name).
        version: Only this ``version``; empty: every version (the alert names the version).
        for_duration: How long a condition must hold before the alert fires (``0s`` in tests).
        rate_window: Window of the serving rates and percentiles.
        drift_metric: Which monitoring gauge is the drift score (see :data:`DRIFT_METRICS`).
        baseline_accuracy: The champion's accuracy; 0: the pushed
            ``model_monitor_baseline_accuracy`` series of the same model.
        runbook_url: Link added to every alert's annotations; empty: none.
    """

    model: str
    version: str = ""
    for_duration: str = "5m"
    rate_window: str = "5m"
    drift_metric: str = "max_feature_psi"
    baseline_accuracy: float = 0.0
    runbook_url: str = ""

    def validate(self) -> None:
        """Refuse options that would make rules match nothing or not parse.

        Raises:
            AlertRuleError: Naming the option and the fix.
        """
        _check_name("model name", self.model)
        if self.version:
            _check_name("model version", self.version)
        check_duration("for_duration", self.for_duration)
        check_duration("rate_window", self.rate_window)
        if not re.search(r"[1-9]", self.rate_window):
            raise AlertRuleError(
                f"rate_window {self.rate_window!r} is zero: a rate needs a window",
                "use a window of a few scrape intervals, such as 5m",
            )
        if self.drift_metric not in DRIFT_METRICS:
            raise AlertRuleError(
                f"unknown drift metric {self.drift_metric!r}",
                f"use one of {', '.join(DRIFT_METRICS)}",
            )
        if not math.isfinite(self.baseline_accuracy) or not 0 <= self.baseline_accuracy <= 1:
            raise AlertRuleError(
                f"baseline_accuracy {self.baseline_accuracy:g} is not an accuracy",
                "give the champion's accuracy in (0, 1], or 0 to compare with the pushed "
                "model_monitor_baseline_accuracy series",
            )


def _check_name(what: str, value: str) -> None:
    if not _MODEL.match(value or ""):
        raise AlertRuleError(
            f"{what} {value!r} cannot be a label value of the rules",
            "use 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter "
            "or digit (the name the model is served and pushed under)",
        )


def check_duration(name: str, value: str) -> None:
    """Refuse a value Prometheus would not read as a duration.

    Raises:
        AlertRuleError: Naming the option.
    """
    if not value or not _DURATION.match(value):
        raise AlertRuleError(
            f"{name} {value!r} is not a Prometheus duration", "use e.g. 0s, 30s, 5m, 1h"
        )


def check_namespace(namespace: str) -> None:
    """Refuse a namespace Kubernetes would reject.

    Raises:
        AlertRuleError: Naming it and the rule.
    """
    if not _NAMESPACE.match(namespace or ""):
        raise AlertRuleError(
            f"namespace {namespace!r} is not a Kubernetes namespace name",
            "use 1-63 lower-case letters, digits or '-' (e.g. monitoring)",
        )
