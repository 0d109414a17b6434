"""The release gate: thresholds, one readable check each, and the verdict.

Conservative: a challenger is *blessed* only if it meets every threshold and is not worse
than the registered champion. Each check produces one reason, pass or fail, so the
pipeline's Markdown summary explains itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import REGRESSION_DIRECTIONS
from kfp_mlops.components.common.task import TaskSpec

#: Metrics a champion can be compared on (all higher-is-better).
COMPARABLE = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Float noise below this is not a difference between champion and challenger.
EPSILON = 1e-9


def check_compare_metric(compare_metric: str, task: TaskSpec | None = None) -> tuple[str, bool]:
    """The metric the champion is compared on and whether higher is better.

    Classification: ``compare_metric`` (one of :data:`COMPARABLE`, all higher-is-better).
    Regression: the task's primary metric (RMSE, lower is better) when ``compare_metric`` is
    a classification metric such as the default ``accuracy``, else one of
    :data:`~kfp_mlops.components.common.metrics.REGRESSION_DIRECTIONS`.

    Raises:
        ParameterError: On a metric the task's models cannot be compared on.
    """
    if task is not None and not task.is_classification:
        if compare_metric in COMPARABLE:
            return task.primary_metric, task.greater_is_better
        if compare_metric in REGRESSION_DIRECTIONS:
            return compare_metric, REGRESSION_DIRECTIONS[compare_metric]
        raise ParameterError(
            f"compare_metric '{compare_metric}' cannot be compared for regression",
            f"use one of {sorted(REGRESSION_DIRECTIONS)}",
        )
    if compare_metric not in COMPARABLE:
        raise ParameterError(
            f"compare_metric '{compare_metric}' cannot be compared", f"use one of {COMPARABLE}"
        )
    return compare_metric, True


@dataclass
class Thresholds:
    """Release thresholds (the runbook's defaults); a limit <= 0 disables it.

    ``min_accuracy`` applies to classification, ``max_rmse`` (in the target's units) to
    regression; each is ignored for the other task.
    """

    min_accuracy: float = 0.95
    max_rmse: float = 0.0
    max_latency_p50_ms: float = 10.0
    max_latency_p95_ms: float = 50.0
    max_latency_p99_ms: float = 100.0


@dataclass
class Check:
    """One gate check: its name, whether it passed, and the sentence that explains it."""

    name: str
    passed: bool
    message: str


@dataclass
class Decision:
    """The gate's verdict and every check behind it."""

    blessed: bool
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        """One line per check, passed or failed."""
        return [f"{'PASS' if c.passed else 'FAIL'}: {c.message}" for c in self.checks]

    @property
    def failures(self) -> list[str]:
        """Messages of the failed checks only."""
        return [c.message for c in self.checks if not c.passed]


def gate(
    metrics: Mapping[str, float],
    thresholds: Thresholds,
    champion_metrics: Mapping[str, float] | None = None,
    *,
    compare_metric: str = "accuracy",
    min_improvement: float = 0.0,
    champion_version: str | None = None,
    no_champion_reason: str = "no champion yet",
    task: TaskSpec | None = None,
) -> Decision:
    """Decide whether the challenger may replace the champion.

    Blessed iff accuracy >= ``min_accuracy`` (regression: RMSE <= ``max_rmse`` when that is
    > 0), single-row latency p50/p95/p99 are within their limits, and, when a champion
    exists, the gain on the compared metric is >= ``min_improvement``. The gain is signed by
    the metric's direction: ``challenger - champion`` when higher is better (accuracy, R2),
    ``champion - challenger`` when lower is (RMSE, MAE), so a positive gain is always better.

    Ties: with the default ``min_improvement=0.0`` a challenger *equal* to the champion is
    blessed (a retrain on fresh data that is as good should ship); set a small positive value
    to demand a real improvement, or a negative one to tolerate a small loss.

    Args:
        metrics: Challenger scalars (from :func:`compute_metrics` and :func:`measure_latency`).
        thresholds: Release thresholds.
        champion_metrics: The champion's scalars on the same test data, or None if there is
            no champion yet.
        compare_metric: Metric compared with the champion (see :func:`check_compare_metric`).
        min_improvement: Required gain over the champion (see Ties).
        champion_version: For the reason text.
        no_champion_reason: Reason text when ``champion_metrics`` is None.
        task: The task spec; regression gates on RMSE instead of accuracy.
    """
    compare_metric, greater = check_compare_metric(compare_metric, task)
    checks = [_quality_check(metrics, thresholds, task)]
    for q, limit in (
        (50, thresholds.max_latency_p50_ms),
        (95, thresholds.max_latency_p95_ms),
        (99, thresholds.max_latency_p99_ms),
    ):
        key = f"latency_single_p{q}_ms"
        if limit <= 0:
            continue
        value = metrics.get(key)
        if value is None:
            checks.append(Check(key, False, f"{key} was not measured (limit {limit:g} ms)"))
            continue
        ok = float(value) <= limit
        checks.append(
            Check(
                key,
                ok,
                f"single-row latency p{q} {float(value):.3f} ms {'<=' if ok else '>'} "
                f"max_latency_p{q}_ms {limit:g}",
            )
        )
    if champion_metrics is None:
        checks.append(Check("champion", True, f"{no_champion_reason}: blessed on thresholds alone"))
    else:
        mine = float(metrics.get(compare_metric, math.nan))
        theirs = float(champion_metrics.get(compare_metric, math.nan))
        gain = mine - theirs if greater else theirs - mine
        ok = not math.isnan(gain) and gain >= min_improvement - EPSILON
        label = f"champion v{champion_version}" if champion_version else "champion"
        tie = " (tie)" if abs(gain) <= EPSILON else ""
        checks.append(
            Check(
                "champion",
                ok,
                f"{compare_metric} {mine:.4f} vs {label} {theirs:.4f}{tie}: gain {gain:+.4f} "
                f"{'>=' if ok else '<'} min_improvement {min_improvement:+.4f}",
            )
        )
    return Decision(blessed=all(c.passed for c in checks), checks=checks)


def _quality_check(
    metrics: Mapping[str, float], thresholds: Thresholds, task: TaskSpec | None
) -> Check:
    """Accuracy >= min_accuracy (classification) or RMSE <= max_rmse (regression)."""
    if task is not None and not task.is_classification:
        rmse = float(metrics.get("rmse", math.nan))
        limit = thresholds.max_rmse
        if limit <= 0:
            return Check("rmse", not math.isnan(rmse), f"rmse {rmse:.4f} (no max_rmse limit)")
        ok = rmse <= limit
        return Check("rmse", ok, f"rmse {rmse:.4f} {'<=' if ok else '>'} max_rmse {limit:.4f}")
    acc = float(metrics.get("accuracy", math.nan))
    ok = acc >= thresholds.min_accuracy
    return Check(
        "accuracy",
        ok,
        f"accuracy {acc:.4f} {'>=' if ok else '<'} min_accuracy {thresholds.min_accuracy:.4f}",
    )
