"""Cron expressions in the dialect Kubeflow Pipelines schedules with (seconds first)."""

from __future__ import annotations

import re

from kfp_mlops.pipelines.tooling.kfp_connection import SubmitError

_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()
#: (name, min, max, names) of the 6 fields of the cron dialect KFP schedules with
#: (robfig/cron: seconds first; ``?`` means any; names for months and weekdays).
_CRON_FIELDS = (
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIX = (
    "write 5 fields 'minute hour day-of-month month day-of-week' (e.g. '0 3 * * *' for 03:00 "
    "every day) or 6 with seconds first, or a descriptor such as @daily or '@every 6h'"
)


def normalize_cron(expression: str) -> str:
    """A cron expression in the 6-field form KFP expects (seconds first).

    A 5-field (standard) expression gets ``0`` seconds prefixed: KFP would otherwise read
    its first field as seconds. Descriptors (``@daily``, ``@every 1h30m``) pass unchanged.

    Raises:
        SubmitError: Naming the field and value that are wrong.
    """
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text in _DESCRIPTORS or re.fullmatch(r"@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", text):
            return text
        raise SubmitError(f"unknown cron descriptor '{expression}'", _CRON_FIX)
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise SubmitError(
            f"cron expression '{expression}' has {len(fields)} fields, expected 5 or 6", _CRON_FIX
        )
    for value, spec in zip(fields, _CRON_FIELDS, strict=True):
        _check_cron_field(value, spec, expression)
    return " ".join(fields)


def _check_cron_field(value: str, spec: tuple, expression: str) -> None:
    name, low, high, names = spec

    def bad(why: str) -> SubmitError:
        return SubmitError(f"cron {name} '{value}' in '{expression}': {why}", _CRON_FIX)

    def number(token: str) -> int:
        if names and token.lower() in names:
            return names.index(token.lower()) + low
        if not token.isdigit():
            raise bad(f"'{token}' is not a number" + (" or a name" if names else ""))
        if not low <= int(token) <= high:
            raise bad(f"{token} is out of range {low}-{high}")
        return int(token)

    for item in value.split(","):
        span, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            raise bad(f"step '{step}' must be a positive number")
        if span in ("*", "?"):
            continue
        first, dash, last = span.partition("-")
        if not first:
            raise bad("empty item")
        if dash and number(first) > number(last):
            raise bad(f"range {span} runs backwards")
        number(first)
