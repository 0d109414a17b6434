"""The webhook message of an outcome: sent when a run failed, rolled back or promoted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common import notify
from kfp_mlops.components.registry.record_outcome import times

if TYPE_CHECKING:
    from kfp_mlops.components.registry.record_outcome.core import Outcome

#: ``Outcome.notification`` values.
SENT, FAILED, SKIPPED, NOT_NEEDED = "sent", "failed", "skipped: no webhook", "not needed"


def headline(outcome: Outcome) -> str:
    """The message text, or empty when nothing happened worth telling (no notification)."""
    model = outcome.model_name or "the model"
    job = f"`{outcome.pipeline_job}`"
    if outcome.rolled_back:
        demoted = f"v{outcome.rolled_back_version}" if outcome.rolled_back_version else "a version"
        serving = f"v{outcome.champion_version}" if outcome.champion_version else "no version"
        text = f":rewind: *{model}* rolled back: {demoted} -> {serving} now serves ({job})"
        return text if outcome.succeeded else f"{text}; the run {outcome.state}"
    if not outcome.succeeded:
        reason = f": {outcome.error_message}" if outcome.error_message else ""
        return f":x: Pipeline run {job} {outcome.state} ({outcome.trigger}){reason}"
    if outcome.promoted:
        return (
            f":rocket: *{model}* v{outcome.model_version} is the new champion "
            f"({job}, {outcome.trigger})"
        )
    return ""


def fields(outcome: Outcome) -> dict[str, Any]:
    """The details shown under the headline."""
    start, end = times.parse(outcome.start_time), times.parse(outcome.end_time)
    duration = f"{(end - start).total_seconds():.0f} s" if start and end else ""
    return {
        "Pipeline run": outcome.pipeline_job,
        "State": outcome.state,
        "Trigger": outcome.trigger,
        "Model": f"{outcome.model_name} v{outcome.model_version}" if outcome.model_version else "",
        "Champion": f"v{outcome.champion_version}" if outcome.champion_version else "",
        "Started": outcome.start_time,
        "Ended": outcome.end_time,
        "Duration": duration,
        "Error": outcome.error_message[:500],
    }


def send(outcome: Outcome, url: str | None = None) -> str:
    """Notify when the outcome calls for it; never raises.

    Returns:
        What happened: ``sent``, ``failed``, ``skipped: no webhook`` or ``not needed``.
    """
    text = headline(outcome)
    if not text:
        return NOT_NEEDED
    target = notify.webhook_url() if url is None else url.strip()
    if not target:
        return SKIPPED
    try:
        delivered = notify.post(target, notify.message(text, fields(outcome)))
    except Exception as exc:  # a notification must never fail the exit task
        notify.log.warning("notification not sent: %s", exc)
        delivered = False
    return SENT if delivered else FAILED
