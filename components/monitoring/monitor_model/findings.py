"""The findings of a monitoring run, sorted into reasons to retrain and other alerts."""

from __future__ import annotations

from collections.abc import Mapping

from kfp_mlops.components.data.detect_drift.core import DriftResult, FeatureDrift
from kfp_mlops.components.monitoring.monitor_model.checks import MetricCheck, limit_text
from kfp_mlops.components.monitoring.monitor_model.quality import DataQuality, QualityLimits


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
                    f"({c.level_name}: {limit_text(c, limit)})",
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

    def data_quality(self, q: DataQuality, limits: QualityLimits) -> None:
        """Missing values, duplicates, stale data and an unexpected volume."""
        worst = {c: r for c, r in q.missing_by_column.items() if r > limits.max_missing_ratio}
        if worst or q.missing_ratio > limits.max_missing_ratio:
            named = ", ".join(
                f"'{c}' {r:.1%}" for c, r in sorted(worst.items(), key=lambda i: -i[1])[:10]
            )
            self.add(
                f"missing values above {limits.max_missing_ratio:.0%}: "
                + (f"{named}; " if named else "")
                + f"{q.missing_ratio:.1%} of all feature cells",
                "data_quality",
                "missing_values",
            )
        if q.incomplete_rows:
            self.alerts.append(
                f"{q.incomplete_rows} of {q.rows} rows have missing or non-finite features: "
                "left out of the model checks (quality, prediction drift, latency)"
            )
        if q.rows_with_missing > q.incomplete_rows:
            self.alerts.append(
                f"{q.rows_with_missing - q.incomplete_rows} of {q.rows} rows have missing "
                "features that the preprocessor imputes: scored with the filled values, as "
                "the server scores them"
            )
        if q.duplicate_ratio > limits.max_duplicate_ratio:
            self.add(
                f"duplicate rows: {q.duplicate_rows} of {q.rows} ({q.duplicate_ratio:.1%}) "
                f"repeat an earlier row (above {limits.max_duplicate_ratio:.0%})",
                "data_quality",
                "duplicates",
            )
        if q.data_age_hours is not None and q.data_age_hours > limits.max_data_age_hours:
            self.add(
                f"stale data: the newest record ({q.newest_record}) is "
                f"{q.data_age_hours:.1f} h old (above {limits.max_data_age_hours:g} h)",
                "data_quality",
                "stale_data",
            )
        if q.expected_rows:
            off = q.rows / q.expected_rows - 1.0
            if abs(off) > limits.volume_tolerance:
                self.add(
                    f"volume: {q.rows} rows where {q.expected_rows} are expected ({off:+.0%}, "
                    f"beyond +/-{limits.volume_tolerance:.0%})",
                    "data_quality",
                    "volume",
                )

    def model_age(self, q: DataQuality, limits: QualityLimits) -> None:
        """A champion older than ``max_model_age_days`` (or an unknown age, when asked)."""
        if q.model_age_days is None:
            if "model_age" in self.triggers:
                self.alerts.append(
                    "model age unknown: pass model_created_at (or a model whose metadata has "
                    "created_at / creation_timestamp) for the age trigger"
                )
        elif q.model_age_days > limits.max_model_age_days:
            self.add(
                f"model age: the champion was created {q.model_age_days:.1f} days ago "
                f"({q.model_created_at}), more than {limits.max_model_age_days:g} days",
                "model_age",
            )
