"""Post a Slack-compatible webhook message (``{"text": ..., "blocks": [...]}``), never failing.

A notification is a side effect of a pipeline run: an unreachable or failing webhook is
logged as a warning and reported as ``False``, never raised, so it can never hide or cause
a pipeline failure. The URL comes from the environment (:data:`WEBHOOK_ENV`), filled from a
Kubernetes Secret by ``kfp_mlops.pipelines.k8s.with_notification_secret``: webhook URLs
embed a token, so the URL is never a pipeline parameter and never logged beyond its host.

Only the standard library is used.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: Environment variable holding the webhook URL.
WEBHOOK_ENV = "KFP_MLOPS_WEBHOOK_URL"
#: The Kubernetes Secret (and its key) the URL is read from by default.
NOTIFY_SECRET = "kfp-mlops-notify"  # noqa: S105 - a Secret's name, not a value
NOTIFY_SECRET_KEY = "webhook_url"  # noqa: S105 - a key name, not a value
DEFAULT_TIMEOUT_S = 5.0
#: Pause before the one retry.
RETRY_DELAY_S = 1.0
#: Slack rejects section texts longer than 3000 characters.
MAX_BLOCK_TEXT = 3000


def webhook_url(env: Mapping[str, str] | None = None) -> str:
    """The webhook URL from :data:`WEBHOOK_ENV` (empty when unset)."""
    return (os.environ if env is None else env).get(WEBHOOK_ENV, "").strip()


def redact(url: str) -> str:
    """``scheme://host[:port]/...``: the part of a webhook URL that is safe to log."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.netloc else "<not a URL>"


def message(text: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Slack-compatible message: ``text`` (the fallback every receiver shows) and blocks.

    Args:
        text: The headline, Slack ``mrkdwn``.
        fields: Label -> value pairs shown as a second section (empty values are left out).
    """
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_BLOCK_TEXT]}}
    ]
    shown = [(k, v) for k, v in (fields or {}).items() if v not in (None, "")]
    if shown:
        blocks.append(
            {
                "type": "section",
                # Slack allows at most 10 fields per section.
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in shown[:10]],
            }
        )
    return {"text": text, "blocks": blocks}


def _post_once(url: str, body: bytes, timeout: float) -> tuple[bool, bool, str]:
    """One POST: (delivered, worth retrying, detail)."""
    request = urllib.request.Request(  # noqa: S310 - http(s) checked by post()
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return True, False, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        # 429 and 5xx are the receiver's temporary trouble; other 4xx will not change.
        return False, exc.code == 429 or exc.code >= 500, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, True, str(getattr(exc, "reason", exc))


def post(
    url: str,
    payload: Mapping[str, Any],
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = 1,
    retry_delay: float = RETRY_DELAY_S,
) -> bool:
    """POST ``payload`` as JSON to ``url``; log and return False on any failure.

    Args:
        url: The webhook (http or https).
        payload: The message, e.g. from :func:`message`.
        timeout: Seconds per attempt.
        retries: Extra attempts after a connection error, a timeout, HTTP 429 or 5xx.
        retry_delay: Seconds between attempts.

    Returns:
        Whether the receiver accepted the message (a status below 400).
    """
    if not url.startswith(("http://", "https://")):
        log.warning(
            "notification not sent: the webhook URL in %s is not http(s) (%s); put the "
            "receiver's https URL in the Secret",
            WEBHOOK_ENV,
            redact(url),
        )
        return False
    body = json.dumps(payload).encode("utf-8")
    detail = ""
    for attempt in range(1 + max(0, retries)):
        if attempt:
            time.sleep(retry_delay)
        delivered, retry, detail = _post_once(url, body, timeout)
        if delivered:
            log.info("notification sent to %s (%s)", redact(url), detail)
            return True
        if not retry:
            break
    log.warning(
        "could not send the notification to %s (%s); the run's outcome is recorded anyway. "
        "Check the webhook URL in the Secret and that the receiver is reachable from the pod",
        redact(url),
        detail,
    )
    return False


def notify(
    text: str,
    fields: Mapping[str, Any] | None = None,
    url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> bool:
    """Send :func:`message` to ``url`` (default: :func:`webhook_url`); False when none is set."""
    target = webhook_url() if url is None else url.strip()
    if not target:
        log.info("no webhook configured (%s is unset): notification skipped", WEBHOOK_ENV)
        return False
    return post(target, message(text, fields), timeout=timeout)


__all__: Sequence[str] = (
    "NOTIFY_SECRET",
    "NOTIFY_SECRET_KEY",
    "WEBHOOK_ENV",
    "message",
    "notify",
    "post",
    "redact",
    "webhook_url",
)
