"""The findings of a monitoring run, sorted into reasons to retrain and other alerts."""

from __future__ import annotations

from collections.abc import Mapping

from kfp_mlops.components.data.detect_drift.core import DriftResult, FeatureDrift
from kfp_mlops.components.monitoring.monitor_model.checks import MetricCheck


class Findings:
    """Reasons (findings named in ``retrain_on``) and alerts (the others)."""

    def __init__(self, triggers: list[str]) -> None:
        self.triggers = triggers
        self.reasons: list[str] = []
        self.alerts: list[str] = []

    def add(self, message: str, *trigger_names: str) -> None:
        """A finding: a reason when one of ``trigger_names`` is a trigger, else an alert."""
        hit = any(t in self.triggers for t in trigger_names)
        (self.reasons if hit else self.alerts).append(message)

    def drift(
        self,
        drift: DriftResult,
        pred_drift: FeatureDrift,
        drift_threshold: float,
        prediction_threshold: float,
    ) -> None:
        """Feature and prediction drift."""
        if drift.drift_detected:
            by_name = {f.feature: f.psi for f in drift.features}
            named = ", ".join(f"{n} (PSI {by_name[n]:.3f})" for n in drift.drifted_features[:10])
            more = len(drift.drifted_features) - 10
            self.add(
                f"feature drift in {len(drift.drifted_features)} of {len(drift.features)} "
                f"features (PSI > {drift_threshold:g}): {named}"
                + (f" and {more} more" if more > 0 else ""),
                "drift",
                "feature_drift",
            )
        if pred_drift.drifted:
            self.add(
                f"prediction drift: PSI of the model's scores {pred_drift.psi:.3f} > "
                f"{prediction_threshold:g}",
                "drift",
                "prediction_drift",
            )

    def quality(
        self, checks: list[MetricCheck], warning_ratio: float, critical_ratio: float
    ) -> None:
        """Metrics at warning or critical level."""
        for c in checks:
            if c.level:
                limit = critical_ratio if c.level == 2 else warning_ratio
                triggered_by = ("critical", "warning") if c.level == 2 else ("warning",)
                self.add(
                    f"{c.name} {c.value:.4f} is {c.ratio:.1%} of the baseline {c.baseline:.4f} "
                    f"({c.level_name}: below {limit:.0%})",
                    *triggered_by,
                )

    def coverage(
        self,
        labelled: bool,
        baseline: Mapping[str, float],
        checks: list[MetricCheck],
        target: str,
    ) -> None:
        """What could not be checked: no labels, no baseline, no common metric."""
        if not labelled:
            self.alerts.append(f"no labels ('{target}') in the recent window: quality not checked")
        elif baseline and not checks:
            self.alerts.append("the baseline has no metric computed here: quality not compared")
        elif not baseline:
            self.alerts.append("no baseline given: quality measured but not compared")

    def window_size(self, rows: int, reference_rows: int, bins: int, threshold: float) -> None:
        """A window so small that PSI's sampling noise nears the threshold."""
        # Expected PSI of two samples of one distribution is about (bins - 1) * (1/n + 1/m).
        noise = (bins - 1) * (1 / rows + 1 / reference_rows)
        if noise > threshold / 2:
            self.alerts.append(
                f"the recent window ({rows} rows) is small: sampling noise alone gives "
                f"PSI around {noise:.3f} against the threshold {threshold:g}"
            )
