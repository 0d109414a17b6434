"""The Markdown report of the DORA metrics: figures, formulas and what they came from."""

from __future__ import annotations

from kfp_mlops.components.registry.delivery_metrics.core import DeliveryMetrics
from kfp_mlops.components.registry.record_outcome import times

FORMULAS = """\
## Definitions (Google DORA four keys)

| metric | formula |
|---|---|
| Deployment frequency | successful production deployments / days in the window |
| Lead time for changes | median over deployments of (deployed at - change at) |
| Change failure rate | failed changes / deployment attempts |
| Time to restore service | mean over incidents of (restored at - failed at) |

- *Deployment*: a run that succeeded and promoted a new `champion` (rollback runs restore an
  old version and are not deployments).
- *Change at*: the newer of the data snapshot and the code commit recorded with the run (or
  as tags of its version); else the run's start; else the version's registration time.
- *Failed change*: a deployment whose version was later rolled back (`rolled_back_to` tag or
  a rollback outcome), or a run that registered a version and then failed (e.g. a canary
  that did not pass). *Attempts* are deployments plus these failed runs.
- *Incident*: a failed run or a rollback; it is restored by the end of the next successful
  deployment. Incidents before one recovery count once; open incidents are not averaged.
"""


def duration(seconds: float | None) -> str:
    """``1 d 2 h 3 min`` (or ``45 s``); ``n/a`` when missing."""
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, _ = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    return " ".join(p for p in parts if p and p != "0 min") or "0 min"


def markdown(m: DeliveryMetrics) -> str:
    """The report: summary table, formulas, deployments with lead times, incidents."""
    cfr = m.change_failure_rate
    lines = [
        f"# Delivery metrics: {m.model_name or 'all models'}",
        "",
        f"Window: {times.iso(m.window_start)} to {times.iso(m.window_end)} "
        f"({m.window_days:g} days); {m.runs} recorded runs, {m.failed_runs} failed, "
        f"{m.rollbacks} rollbacks, {m.versions_registered} versions registered.",
        "",
        "| metric | value | from |",
        "|---|---|---|",
        f"| Deployment frequency | {m.deployment_frequency_per_day:.3f} / day "
        f"({m.deployment_frequency_per_day * 7:.2f} / week) | {m.deployments} deployments / "
        f"{m.window_days:g} days |",
        f"| Lead time for changes (median) | {duration(m.lead_time_median_s)} | "
        f"{len(m.lead_times)} deployments (mean {duration(m.lead_time_mean_s)}) |",
        f"| Change failure rate | {'n/a' if cfr is None else f'{cfr:.1%}'} | "
        f"{m.failed_changes} failed / {m.deployment_attempts} attempts |",
        f"| Time to restore service (mean) | {duration(m.mttr_s)} | "
        f"{len(m.incidents) - m.open_incidents} restored incidents, {m.open_incidents} open |",
        "",
        FORMULAS,
        "## Deployments",
        "",
    ]
    if m.lead_times:
        lines += ["| run | version | lead time | measured from |", "|---|---|---|---|"]
        lines += [
            f"| `{t.pipeline_job}` | {t.version} | {duration(t.seconds)} | {t.measured_from} |"
            for t in m.lead_times
        ]
    else:
        lines.append("No deployment in the window.")
    lines += ["", "## Incidents", ""]
    if m.incidents:
        lines += ["| started | cause | restored | by | time to restore |", "|---|---|---|---|---|"]
        lines += [
            f"| {times.iso(i.started)} | {i.cause} | {times.iso(i.restored) or 'open'} | "
            f"{f'`{i.restored_by}`' if i.restored_by else ''} | {duration(i.seconds)} |"
            for i in m.incidents
        ]
    else:
        lines.append("No failed run or rollback in the window.")
    return "\n".join(lines) + "\n"
