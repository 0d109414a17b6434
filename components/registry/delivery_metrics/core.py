"""The four DORA metrics of a model's delivery, from its recorded outcomes and versions.

Definitions (Google's DORA "four keys", applied to model delivery):

- **Deployment frequency**: successful deployments to production per day (and per week)
  in the window. A deployment is a run that succeeded and promoted a new ``champion``;
  rollback runs restore an old version and are not counted.
- **Lead time for changes**: time from the change (the newer of the data snapshot and the
  code commit recorded with the run or its version; else the run's start; else the
  version's registration) to the deployment's end. Median (DORA's figure) and mean.
- **Change failure rate**: failed changes / deployment attempts. A failed change is a
  deployment whose version was later rolled back, or a run that registered a version and
  then failed (e.g. its canary did not pass); attempts are deployments plus such failures.
- **Time to restore service** (MTTR): from a failed run or a rollback to the end of the next
  successful deployment; incidents before a recovery merge into one. Mean over the
  recovered incidents; open ones are listed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.registry.delivery_metrics.history import History, OutcomeRecord
from kfp_mlops.components.registry.record_outcome import times

DAY_S = 86400.0


@dataclass(frozen=True)
class LeadTime:
    """One deployment's lead time and what it was measured from."""

    pipeline_job: str
    version: str
    seconds: float
    measured_from: str


@dataclass(frozen=True)
class Incident:
    """A failure or rollback, and the deployment that restored service (if any yet)."""

    started: datetime
    cause: str
    restored: datetime | None = None
    restored_by: str = ""

    @property
    def seconds(self) -> float | None:
        """Time to restore, or None while open."""
        return None if self.restored is None else (self.restored - self.started).total_seconds()


@dataclass
class DeliveryMetrics:
    """The DORA figures of one model over one window, with what they were computed from."""

    model_name: str
    window_start: datetime
    window_end: datetime
    runs: int = 0
    failed_runs: int = 0
    rollbacks: int = 0
    versions_registered: int = 0
    deployments: int = 0
    deployment_attempts: int = 0
    failed_changes: int = 0
    lead_times: list[LeadTime] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    @property
    def window_days(self) -> float:
        """Length of the window in days."""
        return (self.window_end - self.window_start).total_seconds() / DAY_S

    @property
    def deployment_frequency_per_day(self) -> float:
        """Deployments / window days."""
        return self.deployments / self.window_days

    @property
    def change_failure_rate(self) -> float | None:
        """Failed changes / deployment attempts (None without attempts)."""
        return self.failed_changes / self.deployment_attempts if self.deployment_attempts else None

    @property
    def lead_time_median_s(self) -> float | None:
        """Median lead time in seconds (None without deployments)."""
        values = [t.seconds for t in self.lead_times]
        return statistics.median(values) if values else None

    @property
    def lead_time_mean_s(self) -> float | None:
        """Mean lead time in seconds."""
        values = [t.seconds for t in self.lead_times]
        return statistics.fmean(values) if values else None

    @property
    def mttr_s(self) -> float | None:
        """Mean time to restore in seconds, over recovered incidents."""
        values = [i.seconds for i in self.incidents if i.seconds is not None]
        return statistics.fmean(values) if values else None

    @property
    def open_incidents(self) -> int:
        """Incidents not yet followed by a successful deployment."""
        return sum(1 for i in self.incidents if i.restored is None)

    def figures(self) -> dict[str, float]:
        """The numeric figures (absent ones left out), as Metrics and gauges take them."""
        values = {
            "deployments": self.deployments,
            "deployment_frequency_per_day": self.deployment_frequency_per_day,
            "deployment_frequency_per_week": self.deployment_frequency_per_day * 7,
            "lead_time_median_seconds": self.lead_time_median_s,
            "lead_time_mean_seconds": self.lead_time_mean_s,
            "change_failure_rate": self.change_failure_rate,
            "failed_changes": self.failed_changes,
            "deployment_attempts": self.deployment_attempts,
            "mean_time_to_restore_seconds": self.mttr_s,
            "incidents": len(self.incidents),
            "open_incidents": self.open_incidents,
            "runs": self.runs,
            "failed_runs": self.failed_runs,
            "rollbacks": self.rollbacks,
            "versions_registered": self.versions_registered,
            "window_days": self.window_days,
        }
        return {k: float(v) for k, v in values.items() if v is not None}


def window(days: float, until: str | datetime | None = None) -> tuple[datetime, datetime]:
    """The window ``(until - days, until]``; ``until`` defaults to now.

    Raises:
        ParameterError: If ``days`` is not positive or ``until`` is not a time.
    """
    if not days or days <= 0:
        raise ParameterError(f"window_days must be positive, got {days}", "pass e.g. 30")
    end = times.parse(until, "until") or times.now()
    return end - timedelta(days=float(days)), end


def _lead_time(run: OutcomeRecord, created: dict[str, datetime]) -> LeadTime:
    changes = {
        "data snapshot": run.data_snapshot_time,
        "code commit": run.code_commit_time,
    }
    known = {k: v for k, v in changes.items() if v is not None}
    if known:
        source = max(known, key=lambda k: known[k])
        change = known[source]
    elif run.start is not None:
        source, change = "run start", run.start
    else:
        source, change = "version registration", created.get(run.model_version, run.end)
    return LeadTime(run.pipeline_job, run.model_version, (run.end - change).total_seconds(), source)


def _incidents(runs: list[OutcomeRecord], is_deployment) -> list[Incident]:
    incidents: list[Incident] = []
    open_: Incident | None = None
    for run in runs:
        if not run.succeeded or run.rolled_back:
            if open_ is None:
                cause = "rollback" if run.rolled_back else f"failed run ({run.state})"
                open_ = Incident(run.end, f"{cause}: {run.pipeline_job}")
        elif is_deployment(run) and open_ is not None:
            incidents.append(Incident(open_.started, open_.cause, run.end, run.pipeline_job))
            open_ = None
    if open_ is not None:
        incidents.append(open_)
    return incidents


def compute(history: History, start: datetime, end: datetime) -> DeliveryMetrics:
    """The DORA metrics of the outcomes that ended in ``(start, end]``."""
    runs = sorted((o for o in history.outcomes if start < o.end <= end), key=lambda o: o.end)
    rolled_back = {v.version for v in history.versions if v.rolled_back_to}
    rolled_back |= {o.rolled_back_version for o in history.outcomes if o.rolled_back_version}
    created = {v.version: v.created for v in history.versions}

    def is_deployment(run: OutcomeRecord) -> bool:
        return run.succeeded and run.promoted and not run.is_rollback_run and not run.rolled_back

    deployments = [r for r in runs if is_deployment(r)]
    failed_attempts = [
        r for r in runs if not r.succeeded and r.model_version and not r.is_rollback_run
    ]
    failed = [d for d in deployments if d.model_version in rolled_back] + failed_attempts
    metrics = DeliveryMetrics(
        model_name=history.model_name,
        window_start=start,
        window_end=end,
        runs=len(runs),
        failed_runs=sum(1 for r in runs if not r.succeeded),
        rollbacks=sum(1 for r in runs if r.rolled_back),
        versions_registered=sum(1 for v in history.versions if start < v.created <= end),
        deployments=len(deployments),
        deployment_attempts=len(deployments) + len(failed_attempts),
        failed_changes=len(failed),
        lead_times=[_lead_time(d, created) for d in deployments],
        incidents=_incidents(runs, is_deployment),
    )
    return metrics
