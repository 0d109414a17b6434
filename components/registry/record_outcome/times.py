"""Timestamps of outcomes: ISO 8601 in UTC, parsed leniently (an exit task must not fail)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from kfp_mlops.components.common.errors import ParameterError


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(timezone.utc)


def parse(value: str | float | int | datetime | None, what: str = "time") -> datetime | None:
    """A UTC datetime from ISO 8601 text, Unix seconds or a datetime; None when empty.

    KFP placeholders that the runner left unresolved (``{{$.pipeline_job_create_time_utc}}``
    under kfp.local) count as empty. A naive time is taken as UTC.

    Raises:
        ParameterError: If ``value`` is neither empty nor a time.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)):
        parsed = datetime.fromtimestamp(float(value), timezone.utc)
    else:
        text = str(value).strip()
        if not text or text.startswith("{{"):
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            try:
                parsed = datetime.fromtimestamp(float(text), timezone.utc)
            except ValueError:
                raise ParameterError(
                    f"{what} {text!r} is not a time",
                    "pass ISO 8601 (e.g. 2026-01-05T10:00:00Z) or Unix seconds",
                ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


#: kfp.local names a run ``<pipeline>-YYYY-MM-DD-HH-MM-SS-ffffff`` (the machine's local time).
_LOCAL_JOB = re.compile(r"-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{6})$")


def from_local_job_name(job: str) -> datetime | None:
    """The start of a kfp.local run, read from its resource name; None for other names.

    kfp.local cannot resolve ``dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER`` (kfp 2.17 fails
    on it), but it stamps the run's name with its creation time.
    """
    found = _LOCAL_JOB.search(job or "")
    if found is None:
        return None
    naive = datetime.strptime(found.group(1), "%Y-%m-%d-%H-%M-%S-%f")
    return naive.astimezone().astimezone(timezone.utc)  # naive = local time


def iso(value: datetime | None) -> str:
    """``2026-01-05T10:00:00Z`` (seconds precision kept as given), or empty."""
    if value is None:
        return ""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def to_ms(value: datetime | None) -> int | None:
    """Unix milliseconds (MLflow's run times), or None."""
    return None if value is None else round(value.timestamp() * 1000)
