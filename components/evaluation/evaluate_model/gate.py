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

#: Metrics a champion can be compared on (all higher-is-better).
COMPARABLE = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Float noise below this is not a difference between champion and challenger.
EPSILON = 1e-9


def check_compare_metric(compare_metric: str) -> None:
    """Reject a metric the champion cannot be compared on (see :data:`COMPARABLE`)."""
    if compare_metric not in COMPARABLE:
        raise ParameterError(
            f"compare_metric '{compare_metric}' cannot be compared", f"use one of {COMPARABLE}"
        )


@dataclass
class Thresholds:
    """Release thresholds (the runbook's defaults); a latency limit <= 0 disables it."""

    min_accuracy: float = 0.95
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
) -> Decision:
    """Decide whether the challenger may replace the champion.

    Blessed iff accuracy >= ``min_accuracy``, single-row latency p50/p95/p99 are within
    their limits, and, when a champion exists,
    ``challenger[compare_metric] - champion[compare_metric] >= min_improvement``.

    Ties: with the default ``min_improvement=0.0`` a challenger *equal* to the champion is
    blessed (a retrain on fresh data that is as good should ship); set a small positive value
    to demand a real improvement, or a negative one to tolerate a small loss.

    Args:
        metrics: Challenger scalars (from :func:`compute_metrics` and :func:`measure_latency`).
        thresholds: Release thresholds.
        champion_metrics: The champion's scalars on the same test data, or None if there is
            no champion yet.
        compare_metric: Higher-is-better metric compared with the champion.
        min_improvement: Required gain over the champion (see Ties).
        champion_version: For the reason text.
        no_champion_reason: Reason text when ``champion_metrics`` is None.
    """
    check_compare_metric(compare_metric)
    checks: list[Check] = []
    acc = float(metrics.get("accuracy", math.nan))
    checks.append(
        Check(
            "accuracy",
            acc >= thresholds.min_accuracy,
            f"accuracy {acc:.4f} {'>=' if acc >= thresholds.min_accuracy else '<'} "
            f"min_accuracy {thresholds.min_accuracy:.4f}",
        )
    )
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
        gain = mine - theirs
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
