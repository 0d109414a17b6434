"""Reach a Kubeflow Pipelines API: one healthz probe, a ``kfp.Client``, one-line errors.

Every failure raises :class:`SubmitError` (a :class:`ComponentError`) whose message names
the problem and the fix, and which the CLI prints as one line: :class:`UnreachableError`
when nothing answers, :class:`AuthError` when the credentials are refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.errors import (
    ComponentError,
    InfrastructureError,
    ServiceUnavailableError,
    UserError,
)

if TYPE_CHECKING:
    import kfp

log = logging.getLogger(__name__)

#: Environment variable holding a bearer token for the KFP API (what ``--token`` defaults to).
TOKEN_ENV = "KF_PIPELINES_TOKEN"  # noqa: S105 (a variable name, not a secret)
# Where a pod (e.g. a Kubeflow notebook) finds its own namespace.
_POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_PORT_FORWARD_FIX = (
    "check --host; without an ingress, port-forward the UI first "
    "(kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80) and pass "
    "--host http://localhost:8080"
)
_AUTH_FIX = (
    f"pass --token (or set {TOKEN_ENV}) with a bearer token the cluster accepts, "
    "and check the namespace (--namespace) is one you may use"
)


class SubmitError(ComponentError):
    """A pipeline cannot be submitted or scheduled: bad input, unreachable host, API refusal.

    Raised as is for the user's faults (a bad host, pipeline, parameter or request); the
    subclasses say when it is the infrastructure's.
    """


class UnreachableError(SubmitError, ServiceUnavailableError):
    """Nothing answers at the host (connection refused, unknown name, timeout, TLS)."""


class AuthError(SubmitError, UserError):
    """The API (or the proxy in front of it) refused the credentials: 401, 403, login redirect."""


class ApiServerError(SubmitError, InfrastructureError):
    """The API server failed on a request it accepted (a 5xx answer)."""


def normalize_host(host: str) -> str:
    """``host`` without a trailing slash.

    Raises:
        SubmitError: If it is not an http(s) URL.
    """
    host = (host or "").strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", host):
        raise SubmitError(
            f"host '{host}' is not an http(s) URL", "pass e.g. --host http://localhost:8080"
        )
    return host


def _api_message(body: Any) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("message") or "")
    return " ".join(text.split())[:200]  # one line, whatever the server sent


def _auth_error(host: str, status: int, reason: str, message: str = "") -> AuthError:
    detail = f": {message}" if message else ""
    return AuthError(f"authentication failed at {host} ({status} {reason}{detail})", _AUTH_FIX)


def _unreachable(host: str, exc: BaseException) -> UnreachableError:
    text = str(exc)
    if "refused" in text.lower():
        why = "connection refused"
    elif "Name or service not known" in text or "nodename nor servname" in text:
        why = "unknown host name"
    elif "timed out" in text.lower():
        why = "timed out"
    elif "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        why = "TLS certificate verification failed"
    else:
        why = text.rsplit(": ", maxsplit=1)[-1][:160]
    return UnreachableError(
        f"cannot reach the Kubeflow Pipelines API at {host} ({why})", _PORT_FORWARD_FIX
    )


def probe(host: str, token: str | None = None, timeout_s: float = 15) -> dict[str, Any]:
    """GET the API's healthz once, with the token, without following redirects.

    ``kfp.Client`` itself retries healthz five times, five seconds apart, and a proxy's login
    page would look like success to it; this one request tells the cases apart at once.

    Returns:
        The healthz answer (``multi_user``, ...).

    Raises:
        UnreachableError: Nothing answers.
        AuthError: 401, 403, or a redirect (to a login page).
        SubmitError: Anything else that is not the KFP v2 API.
    """
    import urllib3

    url = f"{host}/apis/v2beta1/healthz"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s)) as pm:
            response = pm.request("GET", url, headers=headers, redirect=False, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        raise _unreachable(host, exc) from exc
    status = response.status
    if status in (401, 403):
        raise _auth_error(host, status, response.reason or "", _api_message(response.data))
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        raise AuthError(
            f"{host} redirected the API request to {location} (a login page)",
            f"{_AUTH_FIX}; or reach the API directly: {_PORT_FORWARD_FIX}",
        )
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict):
        raise SubmitError(
            f"{host} does not serve the Kubeflow Pipelines v2 API "
            f"(GET /apis/v2beta1/healthz answered {status})",
            "pass the address of the KFP UI / API (for a Kubeflow dashboard: https://<host>/pipeline)",
        )
    return answer


@contextlib.contextmanager
def translate(host: str) -> Iterator[None]:
    """Turn kfp / kfp_server_api / urllib3 failures into one-line :class:`SubmitError`."""
    import kfp_server_api
    import urllib3

    try:
        # kfp.Client prints links and warns about its supported server versions; the
        # results carry the links, so keep stdout clean for the CLI summary.
        with contextlib.redirect_stdout(io.StringIO()) as out, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
        log.info("%s", out.getvalue().strip())
    except kfp_server_api.ApiException as exc:
        message = _api_message(exc.body)
        if exc.status in (401, 403):
            raise _auth_error(host, exc.status, exc.reason or "", message) from exc
        if exc.status == 0:
            raise _unreachable(host, Exception(exc.reason)) from exc
        problem = f"the Kubeflow Pipelines API at {host} answered {exc.status} {exc.reason}" + (
            f": {message}" if message else ""
        )
        if exc.status >= 500:
            raise ApiServerError(
                problem,
                "retry; if it persists, read the API server's log "
                "(kubectl logs -n kubeflow deploy/ml-pipeline)",
            ) from exc
        raise SubmitError(
            problem, "check the request in the message above; rerun with --debug for the traceback"
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise _unreachable(host, exc) from exc


def connect(
    host: str, namespace: str | None = None, existing_token: str | None = None
) -> tuple[kfp.Client, str | None]:
    """A ``kfp.Client`` for ``host`` after one healthz probe, and the namespace to use.

    On a multi-user deployment without ``namespace``, the pod's own namespace is used when
    running inside the cluster (a Kubeflow notebook), else it is an error.
    """
    import kfp

    token = existing_token or os.environ.get(TOKEN_ENV) or None
    health = probe(host, token)
    if health.get("multi_user") and not namespace:
        if _POD_NAMESPACE_FILE.exists():
            namespace = _POD_NAMESPACE_FILE.read_text().strip()
        else:
            raise SubmitError(
                f"the Kubeflow Pipelines deployment at {host} is multi-user",
                "pass --namespace with your profile namespace",
            )
    with translate(host):
        client = kfp.Client(host=host, namespace=namespace or "kubeflow", existing_token=token)
    return client, namespace
