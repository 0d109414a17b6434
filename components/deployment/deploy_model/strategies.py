"""Rollout strategies, written once against the :class:`~.targets.Target` interface.

- ``canary``: the new version starts beside the live one with no traffic, is smoke-tested
  directly, then takes each share of ``traffic_steps`` (default 10, 50, 100 %). After each
  step, probe requests through the service measure the new version's error rate and p95
  latency; a step that breaks the runbook's limits (error rate above 1 %, p95 above the
  threshold) rolls back.
- ``blue-green``: the new version runs as a second service, is smoke-tested, then all
  traffic switches at once; the old one is retired after a probe of the switched service.
- ``rolling``: the new version replaces the old directly, is smoke-tested afterwards, and the
  previous version is restored if that fails.

The decision rules (:func:`parse_traffic_steps`, :func:`evaluate_step`) are pure functions;
:func:`run` sequences a target's operations and always leaves it serving something
known: the new version when every check passed, the previous one otherwise.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.deployment.deploy_model.smoke import (
    DeploymentError,
    SmokeReport,
    StepMetrics,
    probe,
    smoke_test,
)

if TYPE_CHECKING:
    from kfp_mlops.components.deployment.deploy_model.targets import Release, Target

log = logging.getLogger(__name__)

STRATEGIES = ("canary", "blue-green", "rolling")


def parse_traffic_steps(text: str | Sequence[int]) -> list[int]:
    """``"10,50,100"`` -> ``[10, 50, 100]``: strictly increasing percentages ending at 100.

    Raises:
        ParameterError: On non-integers, values outside 1..100, a non-increasing order or a
            last step other than 100.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
        try:
            steps = [int(p) for p in parts]
        except ValueError as exc:
            raise ParameterError(
                f"traffic_steps '{text}' is not a comma-separated list of integers",
                "write percentages such as '10,50,100'",
            ) from exc
    else:
        steps = [int(p) for p in text]
    if not steps:
        raise ParameterError("traffic_steps is empty", "write percentages such as '10,50,100'")
    if any(not 1 <= s <= 100 for s in steps):
        raise ParameterError(
            f"traffic_steps {steps} has values outside 1..100", "use percentages in 1..100"
        )
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ParameterError(
            f"traffic_steps {steps} is not strictly increasing", "use e.g. '10,50,100'"
        )
    if steps[-1] != 100:
        raise ParameterError(
            f"traffic_steps {steps} does not end at 100",
            "end with 100 so the new version ends up serving all traffic",
        )
    return steps


@dataclass(frozen=True)
class Thresholds:
    """The runbook's limits for one canary step.

    Attributes:
        max_error_rate: Highest acceptable share of 5xx/failed requests (0.01 = 1 %).
        max_p95_ms: Highest acceptable 95th-percentile latency in milliseconds.
        min_requests: Fewest requests the new version must have answered to judge it.
    """

    max_error_rate: float = 0.01
    max_p95_ms: float = 100.0
    min_requests: int = 1

    def validate(self) -> None:
        """Raise :class:`ParameterError` on impossible limits."""
        if not 0.0 <= self.max_error_rate < 1.0:
            raise ParameterError(
                f"max_error_rate {self.max_error_rate} is outside [0, 1)", "use e.g. 0.01 (1 %)"
            )
        if self.max_p95_ms <= 0:
            raise ParameterError(f"max_p95_ms {self.max_p95_ms} is not positive", "use e.g. 100")


@dataclass
class StepDecision:
    """Whether to go on after a step, and why."""

    proceed: bool
    reason: str


def evaluate_step(metrics: StepMetrics | None, thresholds: Thresholds) -> StepDecision:
    """Apply the runbook to one step's metrics of the new version.

    ``None`` means the target cannot be measured from here (GitOps): the step is recorded,
    not judged.
    """
    if metrics is None:
        return StepDecision(True, "not measured (applied by the GitOps controller)")
    if metrics.requests < thresholds.min_requests:
        return StepDecision(
            False,
            f"the new version answered {metrics.requests} requests, fewer than "
            f"{thresholds.min_requests}: traffic is not reaching it",
        )
    if metrics.error_rate > thresholds.max_error_rate:
        return StepDecision(
            False,
            f"error rate {metrics.error_rate:.1%} ({metrics.errors}/{metrics.requests}) is above "
            f"{thresholds.max_error_rate:.1%}",
        )
    if metrics.p95_ms > thresholds.max_p95_ms:
        return StepDecision(
            False,
            f"p95 latency {metrics.p95_ms:.1f} ms is above {thresholds.max_p95_ms:g} ms",
        )
    return StepDecision(
        True,
        f"error rate {metrics.error_rate:.1%}, p95 {metrics.p95_ms:.1f} ms "
        f"over {metrics.requests} requests",
    )


@dataclass
class StepRecord:
    """One traffic step as it happened."""

    percent: int
    requests: int
    errors: int
    p95_ms: float
    proceed: bool
    reason: str


@dataclass
class SmokeSpec:
    """What the smoke tests and probes send and expect.

    Attributes:
        rows: Raw sample rows (no target column).
        classes: Class names predictions must come from.
        inputs: Raw feature columns the metadata must list.
        probe_requests: One-row requests sent through the service per traffic step.
        concurrency: Probe client threads.
    """

    rows: list[dict[str, Any]]
    classes: list[str]
    inputs: list[str]
    probe_requests: int = 100
    concurrency: int = 4


@dataclass
class Outcome:
    """Result of one deployment.

    Attributes:
        decision: ``promoted``, ``rolled_back``, ``unchanged`` (already live) or ``written``
            (GitOps: manifests written, the controller rolls them out).
    """

    strategy: str
    target: str
    name: str
    version: str
    previous: str | None
    decision: str = ""
    reason: str = ""
    smoke: SmokeReport | None = None
    steps: list[StepRecord] = field(default_factory=list)
    live: str | None = None

    @property
    def ok(self) -> bool:
        """False when the deployment was rolled back."""
        return self.decision != "rolled_back"

    def raise_if_failed(self) -> None:
        """Raise :class:`DeploymentError` with the reason if it was rolled back."""
        if not self.ok:
            raise DeploymentError(
                f"{self.strategy} deployment of {self.name} {self.version} to {self.target} "
                f"failed and was rolled back ({self.previous or 'nothing'} is live): "
                f"{self.reason}",
                "see the report; fix the model or raise the thresholds if they are too strict",
            )


def _smoke(target: Target, release: Release, spec: SmokeSpec, outcome: Outcome) -> None:
    url = target.endpoint(release)
    if url is None:
        return
    report = smoke_test(url, release.name, spec.rows, spec.classes, spec.inputs)
    outcome.smoke = report
    log.info(
        "smoke test of %s at %s: %s", release.version, url, "passed" if report.ok else report.reason
    )
    if not report.ok:
        raise DeploymentError(f"smoke test of {release.version} failed: {report.reason}")


def _step(
    target: Target,
    release: Release,
    percent: int,
    spec: SmokeSpec,
    thresholds: Thresholds,
    outcome: Outcome,
) -> None:
    target.set_traffic(release, percent)
    url = target.route_url()
    metrics = None
    if url is not None:
        by_version = probe(url, release.name, spec.rows, spec.probe_requests, spec.concurrency)
        # Judge the new version on its own answers when the router says who answered.
        metrics = (
            by_version.get(release.version, StepMetrics())
            if len(by_version) > 1
            else by_version["all"]
        )
    decision = evaluate_step(metrics, thresholds)
    outcome.steps.append(
        StepRecord(
            percent,
            metrics.requests if metrics else 0,
            metrics.errors if metrics else 0,
            metrics.p95_ms if metrics else 0.0,
            decision.proceed,
            decision.reason,
        )
    )
    log.info("%s at %d%%: %s", release.version, percent, decision.reason)
    if not decision.proceed:
        raise DeploymentError(f"{percent}% step: {decision.reason}")


def run(
    target: Target,
    release: Release,
    strategy: str,
    smoke: SmokeSpec,
    steps: Sequence[int] = (10, 50, 100),
    thresholds: Thresholds | None = None,
    ready_timeout_s: float = 120.0,
) -> Outcome:
    """Deploy ``release`` to ``target`` with ``strategy``; roll back on any failed check.

    Returns:
        The outcome; ``outcome.raise_if_failed()`` turns a rollback into an exception.

    Raises:
        ParameterError: On an unknown strategy or bad thresholds (before anything changes).
    """
    if strategy not in STRATEGIES:
        raise ParameterError(f"strategy '{strategy}' is not supported", f"use one of {STRATEGIES}")
    thresholds = thresholds or Thresholds()
    thresholds.validate()
    steps = parse_traffic_steps(list(steps))
    previous = target.live()
    outcome = Outcome(
        strategy, target.kind, release.name, release.version, previous.version if previous else None
    )
    if previous is not None and previous.version == release.version:
        outcome.decision, outcome.live = "unchanged", previous.version
        outcome.reason = f"{release.version} is already live"
        return outcome
    try:
        target.start(release, strategy)
        target.wait_ready(release, ready_timeout_s)
        _smoke(target, release, smoke, outcome)
        if strategy == "canary" and previous is not None:
            for percent in steps:
                _step(target, release, percent, smoke, thresholds, outcome)
        elif strategy == "blue-green" and previous is not None:
            _step(target, release, 100, smoke, thresholds, outcome)  # the switch
        target.promote(release)
        outcome.decision = "promoted" if target.live_checks else "written"
        outcome.live = release.version
        outcome.reason = outcome.reason or (
            "every check passed" if target.live_checks else "manifests written"
        )
    except Exception as exc:
        # Any failure, expected or not, leaves the previous version serving.
        expected = isinstance(exc, DeploymentError)
        outcome.reason = exc.problem if expected else f"{type(exc).__name__}: {exc}"
        log.error("rolling back %s: %s", release.version, outcome.reason)
        target.rollback(release, previous)
        outcome.decision = "rolled_back"
        outcome.live = previous.version if previous else None
        if not expected:
            raise
    finally:
        target.close()
    return outcome
