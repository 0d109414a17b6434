"""Submit and schedule pipelines on a Kubeflow Pipelines cluster, from the CLI or a notebook.

.. code-block:: python

    from kfp_mlops.pipelines.submit import submit

    result = submit("data_validation_pipeline", host="http://localhost:8080", wait=True)
    print(result.state, result.url)

Each call compiles the pipeline, uploads it once (a new pipeline, or a new version named
``<package version>-<sha256 of the YAML, 12 hex>``; an identical version already on the
cluster is reused), gets or creates the experiment, then creates a run or a recurring run.
Every failure raises :class:`SubmitError` (a :class:`ComponentError`) whose message names
the problem and the fix, and which the CLI prints as one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.errors import ComponentError
from kfp_mlops.components.common.versions import __version__

if TYPE_CHECKING:
    import kfp

log = logging.getLogger(__name__)

#: Environment variable holding a bearer token for the KFP API (what ``--token`` defaults to).
TOKEN_ENV = "KF_PIPELINES_TOKEN"  # noqa: S105 (a variable name, not a secret)
#: Final run states that count as success (the CLI exits 0 on them).
OK_STATES = frozenset({"SUCCEEDED", "SKIPPED"})
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
    """A pipeline cannot be submitted or scheduled: bad input, unreachable host, API refusal."""


class UnreachableError(SubmitError):
    """Nothing answers at the host (connection refused, unknown name, timeout, TLS)."""


class AuthError(SubmitError):
    """The API (or the proxy in front of it) refused the credentials: 401, 403, login redirect."""


@dataclass
class _Upload:
    pipeline_id: str
    version_id: str
    version_name: str
    action: str  # "new pipeline", "new version" or "existing version"


@dataclass
class SubmitResult:
    """A created run.

    Attributes:
        pipeline: Pipeline name (also its display name on the cluster).
        pipeline_id: Pipeline id on the cluster.
        version_id: Id of the version that runs.
        version_name: Name of that version.
        upload: ``"new pipeline"``, ``"new version"`` or ``"existing version"``.
        experiment_id: Experiment id.
        run_id: Run id.
        url: The run's page in the KFP UI.
        state: Final state (``SUCCEEDED``, ``FAILED``, ...) when waited for, else ``None``.
    """

    pipeline: str
    pipeline_id: str
    version_id: str
    version_name: str
    upload: str
    experiment_id: str
    run_id: str
    url: str
    state: str | None = None

    def render(self) -> str:
        """What the CLI prints."""
        lines = [
            f"{self.upload}: {self.pipeline} (id {self.pipeline_id}), "
            f"version {self.version_name} (id {self.version_id})",
            f"run {self.run_id}: {self.url}",
        ]
        if self.state:
            lines.append(f"final state: {self.state}")
        return "\n".join(lines)


@dataclass
class ScheduleResult:
    """A created recurring run.

    Attributes:
        pipeline: Pipeline name.
        pipeline_id: Pipeline id on the cluster.
        version_id: Id of the version the schedule runs.
        version_name: Name of that version.
        upload: ``"new pipeline"``, ``"new version"`` or ``"existing version"``.
        experiment_id: Experiment id.
        recurring_run_id: Recurring run id.
        cron: The 6-field cron expression sent (seconds first).
        url: The recurring run's page in the KFP UI.
    """

    pipeline: str
    pipeline_id: str
    version_id: str
    version_name: str
    upload: str
    experiment_id: str
    recurring_run_id: str
    cron: str
    url: str

    def render(self) -> str:
        """What the CLI prints."""
        return (
            f"{self.upload}: {self.pipeline} (id {self.pipeline_id}), "
            f"version {self.version_name} (id {self.version_id})\n"
            f"recurring run {self.recurring_run_id} on cron '{self.cron}': {self.url}"
        )


# -- cron ------------------------------------------------------------------------------------

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


# -- connection and error translation --------------------------------------------------------


def _normalize_host(host: str) -> str:
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
        raise _unreachable(host, exc) from None
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
def _translate(host: str) -> Iterator[None]:
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
            raise _auth_error(host, exc.status, exc.reason or "", message) from None
        if exc.status == 0:
            raise _unreachable(host, Exception(exc.reason)) from None
        raise SubmitError(
            f"the Kubeflow Pipelines API at {host} answered {exc.status} {exc.reason}"
            + (f": {message}" if message else ""),
            "check the request in the message above; rerun with --debug for the traceback",
        ) from None
    except urllib3.exceptions.HTTPError as exc:
        raise _unreachable(host, exc) from None


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
    with _translate(host):
        client = kfp.Client(host=host, namespace=namespace or "kubeflow", existing_token=token)
    return client, namespace


# -- compile and upload ----------------------------------------------------------------------


def _pipeline_func(name: str, params: dict[str, Any]) -> Any:
    from kfp_mlops.pipelines import registry

    if name not in registry.PIPELINES:
        raise SubmitError(
            f"unknown pipeline '{name}'; known: {', '.join(sorted(registry.PIPELINES))}",
            "see `kfp-mlops list`",
        )
    func = registry.pipeline(name)
    known = set(func.component_spec.inputs or {})
    unknown = sorted(set(params) - known)
    if unknown:
        raise SubmitError(
            f"pipeline '{name}' has no parameter(s) {unknown}",
            f"it takes: {', '.join(sorted(known))}",
        )
    return func


def compile_pipeline(
    name: str, out_dir: str | Path, params: dict[str, Any] | None = None
) -> tuple[Path, str]:
    """Compile pipeline ``name`` into ``out_dir``; return the file and its version name.

    The version name, ``<package version>-<first 12 hex of the YAML's sha256>``, is the
    same for the same code, so resubmitting unchanged code reuses the uploaded version.
    """
    from kfp import compiler

    func = _pipeline_func(name, params or {})
    path = Path(out_dir) / f"{name}.yaml"
    compiler.Compiler().compile(func, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return path, f"{__version__}-{digest}"


def _equals(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})


def _description(name: str) -> str:
    from kfp_mlops.pipelines import registry

    return registry.describe(registry.pipeline(name))


def ensure_uploaded(
    client: kfp.Client, name: str, package: Path, version_name: str, namespace: str | None
) -> _Upload:
    """Upload ``package`` as pipeline ``name``, or as its version ``version_name``, once.

    A new pipeline's first version is named after the pipeline (the API server names it);
    later uploads are versions named ``version_name``, reused when they exist already.
    """
    found = (
        client.list_pipelines(
            filter=_equals("display_name", name), namespace=namespace, page_size=2
        ).pipelines
        or []
    )
    if len(found) > 1:
        raise SubmitError(
            f"{len(found)} pipelines are named '{name}'", "delete the extra ones in the KFP UI"
        )
    if not found:
        pipeline = client.upload_pipeline(
            str(package), pipeline_name=name, description=_description(name), namespace=namespace
        )
        versions = (
            client.list_pipeline_versions(
                pipeline.pipeline_id, page_size=1, sort_by="created_at desc"
            ).pipeline_versions
            or []
        )
        if not versions:
            raise SubmitError(
                f"the upload of '{name}' created no pipeline version",
                "check the API server logs; the pipeline YAML may have been rejected",
            )
        version = versions[0]
        return _Upload(
            pipeline.pipeline_id, version.pipeline_version_id, version.display_name, "new pipeline"
        )
    pipeline_id = found[0].pipeline_id
    existing = (
        client.list_pipeline_versions(
            pipeline_id, page_size=1, filter=_equals("display_name", version_name)
        ).pipeline_versions
        or []
    )
    if existing:
        return _Upload(
            pipeline_id, existing[0].pipeline_version_id, version_name, "existing version"
        )
    version = client.upload_pipeline_version(
        str(package), version_name, pipeline_id=pipeline_id, description=_description(name)
    )
    return _Upload(pipeline_id, version.pipeline_version_id, version_name, "new version")


def _prepare(
    pipeline: str,
    host: str,
    experiment: str,
    namespace: str | None,
    params: dict[str, Any] | None,
    client: kfp.Client | None,
    existing_token: str | None,
) -> tuple[kfp.Client, str, _Upload, str]:
    """Shared by submit and schedule: validate, connect, compile, upload, get the experiment."""
    _pipeline_func(pipeline, params or {})  # fail on bad input before touching the network
    if client is None:
        client, namespace = connect(host, namespace, existing_token)
    with tempfile.TemporaryDirectory() as tmp:
        package, version_name = compile_pipeline(pipeline, tmp, params)
        with _translate(host):
            upload = ensure_uploaded(client, pipeline, package, version_name, namespace)
            experiment_id = client.create_experiment(
                name=experiment, namespace=namespace
            ).experiment_id
    log.info("%s %s version %s", upload.action, pipeline, upload.version_name)
    return client, namespace or "", upload, experiment_id


def submit(
    pipeline: str,
    host: str,
    experiment: str = "Default",
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
    wait: bool = False,
    timeout_s: float = 3600,
    client: kfp.Client | None = None,
    existing_token: str | None = None,
    poll_interval_s: float = 5,
) -> SubmitResult:
    """Compile, upload and run ``pipeline`` on the cluster at ``host``.

    Args:
        pipeline: Pipeline name (see ``kfp-mlops list``).
        host: KFP API / UI address, e.g. ``http://localhost:8080``.
        experiment: Experiment name; created when missing.
        namespace: Profile namespace on a multi-user deployment.
        params: Pipeline parameters.
        wait: Wait for the run to finish and report its final state.
        timeout_s: How long to wait.
        client: An existing ``kfp.Client`` (then ``host`` only builds links).
        existing_token: Bearer token; defaults to ``$KF_PIPELINES_TOKEN``.
        poll_interval_s: Seconds between state polls while waiting.

    Returns:
        The run's ids, link and (when waited for) final state.

    Raises:
        SubmitError: Unknown pipeline or parameter, unreachable host, authentication failure,
            an API error, or a run still going after ``timeout_s``.
    """
    host = _normalize_host(host)
    client, _, upload, experiment_id = _prepare(
        pipeline, host, experiment, namespace, params, client, existing_token
    )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    with _translate(host):
        run = client.run_pipeline(
            experiment_id=experiment_id,
            job_name=f"{pipeline} {stamp}",
            params=params or {},
            pipeline_id=upload.pipeline_id,
            version_id=upload.version_id,
        )
    result = SubmitResult(
        pipeline=pipeline,
        pipeline_id=upload.pipeline_id,
        version_id=upload.version_id,
        version_name=upload.version_name,
        upload=upload.action,
        experiment_id=experiment_id,
        run_id=run.run_id,
        url=f"{host}/#/runs/details/{run.run_id}",
    )
    if wait:
        try:
            with _translate(host):
                final = client.wait_for_run_completion(
                    run.run_id, timeout=timeout_s, sleep_duration=poll_interval_s
                )
        except TimeoutError:
            raise SubmitError(
                f"run {run.run_id} did not finish within {timeout_s:g} s; it keeps running: "
                f"{result.url}",
                "wait longer with --timeout, or follow it in the UI",
            ) from None
        result.state = str(final.state)
    return result


def schedule(
    pipeline: str,
    host: str,
    cron: str,
    experiment: str = "Default",
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
    job_name: str | None = None,
    max_concurrency: int = 1,
    client: kfp.Client | None = None,
    existing_token: str | None = None,
) -> ScheduleResult:
    """Compile, upload and schedule ``pipeline`` as a recurring run on ``cron``.

    Args:
        pipeline: Pipeline name (see ``kfp-mlops list``).
        host: KFP API / UI address.
        cron: 5-field cron (``'0 3 * * *'``), 6-field with seconds first, or a descriptor.
        experiment: Experiment name; created when missing.
        namespace: Profile namespace on a multi-user deployment.
        params: Pipeline parameters.
        job_name: Recurring run name; defaults to ``"<pipeline> [<cron>]"``. One with the same
            name in the experiment is an error, so rerunning does not double the schedule.
        max_concurrency: How many of its runs may run at once.
        client: An existing ``kfp.Client``.
        existing_token: Bearer token; defaults to ``$KF_PIPELINES_TOKEN``.

    Returns:
        The recurring run's ids, cron and link.

    Raises:
        SubmitError: Bad cron or input, unreachable host, authentication failure, API error,
            or a recurring run of that name already in the experiment.
    """
    host = _normalize_host(host)
    cron6 = normalize_cron(cron)
    if max_concurrency < 1:
        raise SubmitError(f"max_concurrency {max_concurrency} < 1", "pass 1 or more")
    job_name = job_name or f"{pipeline} [{cron6}]"
    client, namespace_used, upload, experiment_id = _prepare(
        pipeline, host, experiment, namespace, params, client, existing_token
    )
    with _translate(host):
        same = client.list_recurring_runs(
            experiment_id=experiment_id, filter=_equals("display_name", job_name), page_size=1
        ).recurring_runs
        if same:
            raise SubmitError(
                f"experiment '{experiment}' already has a recurring run named '{job_name}' "
                f"(id {same[0].recurring_run_id})",
                "pass --name for another one, or delete the old one in the KFP UI",
            )
        recurring = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=job_name,
            cron_expression=cron6,
            max_concurrency=max_concurrency,
            params=params or {},
            pipeline_id=upload.pipeline_id,
            version_id=upload.version_id,
        )
    log.info("scheduled %s in namespace '%s'", job_name, namespace_used)
    return ScheduleResult(
        pipeline=pipeline,
        pipeline_id=upload.pipeline_id,
        version_id=upload.version_id,
        version_name=upload.version_name,
        upload=upload.action,
        experiment_id=experiment_id,
        recurring_run_id=recurring.recurring_run_id,
        cron=cron6,
        url=f"{host}/#/recurringrun/details/{recurring.recurring_run_id}",
    )
