"""An approval gate between staging and production, recorded on the registered version.

A person approves or rejects a registered model version with ``kfp-mlops approve``
(:func:`record_approval`), which sets MLflow model-version tags: ``approval``
(``approved`` or ``rejected``), ``approved_by``, ``approval_reason`` and ``approval_time``.
The pipeline's ``wait_for_approval`` task (:func:`wait_for_approval`) polls those tags with
a bounded timeout and returns the verdict with its reason; it never raises for a rejection
or a timeout, so the pipeline stops the release cleanly with ``dsl.If``.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.registry import common

log = logging.getLogger(__name__)

APPROVAL_TAG = "approval"
APPROVED_BY_TAG = "approved_by"
REASON_TAG = "approval_reason"
TIME_TAG = "approval_time"
APPROVED = "approved"
REJECTED = "rejected"
#: What :func:`wait_for_approval` ends with besides the two verdicts.
TIMEOUT = "timeout"


@dataclass
class Approval:
    """The verdict on one registered version.

    Attributes:
        state: ``approved``, ``rejected`` or ``timeout``.
        by: Who decided ("" on timeout).
        reason: One sentence saying what happened (shown in the pipeline and the CLI).
        waited_s: Seconds waited (0 when recorded by the CLI).
    """

    name: str
    version: str
    state: str
    by: str = ""
    reason: str = ""
    waited_s: float = 0.0

    @property
    def approved(self) -> bool:
        """Whether the release may go on to production."""
        return self.state == APPROVED


def record_approval(
    tracking_uri: str,
    name: str,
    version: str,
    approve: bool = True,
    by: str = "",
    reason: str = "",
) -> Approval:
    """Approve (or reject) a registered version by setting its approval tags.

    Args:
        tracking_uri: MLflow server (or ``sqlite:///...`` of a local run).
        name: Registered model name.
        version: The version to decide on.
        approve: False records a rejection.
        by: Who decides (default: the login name).
        reason: Why (optional, recorded in ``approval_reason``).

    Raises:
        RegistryError: If the registry is unreachable or has no such version (nothing set).
    """
    common.check_registry(tracking_uri)
    common.model_version(tracking_uri, name, str(version))
    who = by.strip() or getpass.getuser()
    state = APPROVED if approve else REJECTED
    client = common.client(tracking_uri)
    # The decision tag goes last: a poller never sees a verdict without its author.
    tags = {
        APPROVED_BY_TAG: who,
        REASON_TAG: reason,
        TIME_TAG: datetime.now(UTC).isoformat(timespec="seconds"),
        APPROVAL_TAG: state,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    log.info("%s v%s %s by %s", name, version, state, who)
    text = f"{name} v{version} {state} by {who}" + (f": {reason}" if reason else "")
    return Approval(name, str(version), state, who, text)


def read_approval(tracking_uri: str, name: str, version: str) -> tuple[str, str, str]:
    """The version's ``(approval, approved_by, approval_reason)`` tags ("" where unset)."""
    tags = common.model_version(tracking_uri, name, str(version)).tags or {}
    return (
        str(tags.get(APPROVAL_TAG, "")).strip().lower(),
        str(tags.get(APPROVED_BY_TAG, "")),
        str(tags.get(REASON_TAG, "")),
    )


def _check(timeout_s: float, poll_interval_s: float, version: str) -> None:
    if not str(version).strip():
        raise ParameterError(
            "version is empty", "pass the registered version (register_model's output)"
        )
    if timeout_s <= 0:
        raise ParameterError(
            f"timeout_s {timeout_s} is not positive", "use e.g. 3600 (one hour) for a person"
        )
    if poll_interval_s <= 0:
        raise ParameterError(f"poll_interval_s {poll_interval_s} is not positive", "use e.g. 30")


def wait_for_approval(
    tracking_uri: str,
    name: str,
    version: str,
    timeout_s: float = 3600.0,
    poll_interval_s: float = 30.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Approval:
    """Poll the version's ``approval`` tag until it says approved or rejected, or time runs out.

    A tag set before the wait began counts (approving ahead of the run is allowed). An
    unknown tag value is reported and waited past; a registry that stops answering while
    waiting is retried until the timeout.

    Args:
        tracking_uri: MLflow server.
        name: Registered model name.
        version: The version awaiting approval.
        timeout_s: Longest wait in seconds.
        poll_interval_s: Seconds between polls.
        clock: Monotonic clock (tests pass their own).
        sleep: Sleep function.

    Returns:
        The verdict; ``state`` is ``timeout`` when nobody decided in time.

    Raises:
        ParameterError: On a non-positive timeout or interval, or an empty version.
        RegistryError: If the registry is unreachable or lacks the version when the wait
            starts.
    """
    _check(timeout_s, poll_interval_s, version)
    common.check_registry(tracking_uri)
    common.model_version(tracking_uri, name, str(version))
    start = clock()
    note = ""
    how = f"run: kfp-mlops approve {name} {version} [--reject] --tracking-uri {tracking_uri}"
    log.info("waiting up to %g s for approval of %s v%s (%s)", timeout_s, name, version, how)
    while True:
        try:
            state, by, reason = read_approval(tracking_uri, name, version)
        except Exception as exc:  # transient: the deadline still bounds the wait
            log.warning("could not read the approval of %s v%s: %s", name, version, exc)
            state, by, reason = "", "", ""
            note = f"; the registry last failed with: {exc}"
        waited = clock() - start
        if state in (APPROVED, REJECTED):
            text = f"{name} v{version} {state} by {by or 'unknown'}"
            text += f": {reason}" if reason else ""
            log.info("%s after %.0f s", text, waited)
            return Approval(name, str(version), state, by, text, waited)
        if state:
            note = f"; the approval tag holds '{state}', neither '{APPROVED}' nor '{REJECTED}'"
        if waited >= timeout_s:
            text = f"nobody approved {name} v{version} within {timeout_s:g} s{note} ({how})"
            log.warning(text)
            return Approval(name, str(version), TIMEOUT, "", text, waited)
        sleep(min(poll_interval_s, max(0.0, timeout_s - waited)))
