"""Submit and schedule pipelines on a Kubeflow Pipelines cluster, from the CLI or a notebook.

.. code-block:: python

    from kfp_mlops.pipelines.tooling.kfp_client import submit

    result = submit("data_validation_pipeline", host="http://localhost:8080", wait=True)
    print(result.state, result.url)

Each call compiles the pipeline, uploads it once (a new pipeline, or a new version named
``<package version>-<sha256 of the YAML, 12 hex>``; an identical version already on the
cluster is reused), gets or creates the experiment, then creates a run or a recurring run.
Every failure raises :class:`SubmitError` (see :mod:`.kfp_connection`) whose message names
the problem and the fix, and which the CLI prints as one line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.versions import __version__
from kfp_mlops.pipelines.tooling import catalog
from kfp_mlops.pipelines.tooling.cron import normalize_cron
from kfp_mlops.pipelines.tooling.kfp_connection import (
    TOKEN_ENV,
    ApiServerError,
    AuthError,
    SubmitError,
    UnreachableError,
    connect,
    normalize_host,
    translate,
)

if TYPE_CHECKING:
    import kfp

log = logging.getLogger(__name__)

__all__ = [
    "OK_STATES",
    "TOKEN_ENV",
    "ApiServerError",
    "AuthError",
    "SubmitError",
    "SubmitResult",
    "UnreachableError",
    "Uploaded",
    "compile_pipeline",
    "ensure_uploaded",
    "normalize_cron",
    "submit",
]

#: Final run states that count as success (the CLI exits 0 on them).
OK_STATES = frozenset({"SUCCEEDED", "SKIPPED"})


@dataclass
class _Upload:
    pipeline_id: str
    version_id: str
    version_name: str
    action: str  # "new pipeline", "new version" or "existing version"


@dataclass
class Uploaded:
    """The pipeline version a run or recurring run uses, and its experiment.

    Attributes:
        pipeline: Pipeline name (also its display name on the cluster).
        pipeline_id: Pipeline id on the cluster.
        version_id: Id of the version that runs.
        version_name: Name of that version.
        upload: ``"new pipeline"``, ``"new version"`` or ``"existing version"``.
        experiment_id: Experiment id.
    """

    pipeline: str
    pipeline_id: str
    version_id: str
    version_name: str
    upload: str
    experiment_id: str

    def _upload_line(self) -> str:
        return (
            f"{self.upload}: {self.pipeline} (id {self.pipeline_id}), "
            f"version {self.version_name} (id {self.version_id})"
        )


@dataclass
class SubmitResult(Uploaded):
    """A created run (the fields of :class:`Uploaded`, then these).

    Attributes:
        run_id: Run id.
        url: The run's page in the KFP UI.
        state: Final state (``SUCCEEDED``, ``FAILED``, ...) when waited for, else ``None``.
    """

    run_id: str = ""
    url: str = ""
    state: str | None = None

    def render(self) -> str:
        """What the CLI prints."""
        lines = [self._upload_line(), f"run {self.run_id}: {self.url}"]
        if self.state:
            lines.append(f"final state: {self.state}")
        return "\n".join(lines)


# -- compile and upload ----------------------------------------------------------------------


def _pipeline_func(name: str, params: dict[str, Any]) -> Any:
    if name not in catalog.PIPELINES:
        raise SubmitError(
            f"unknown pipeline '{name}'; known: {', '.join(sorted(catalog.PIPELINES))}",
            "see `kfp-mlops list`",
        )
    func = catalog.pipeline(name)
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
    return catalog.describe(catalog.pipeline(name))


def _same_spec(stored: Any, package: Path) -> bool:
    """Whether a version's stored ``pipeline_spec`` is the compiled ``package``.

    The kfp release that compiled it aside; the API keeps the spec alone, or
    ``{pipeline_spec, platform_spec}``.
    """
    import yaml

    docs = [d for d in yaml.safe_load_all(package.read_text(encoding="utf-8")) if d]
    if isinstance(stored, dict) and "pipeline_spec" in stored:
        stored = [stored.get("pipeline_spec"), stored.get("platform_spec")]
    else:
        stored = [stored, None]
    mine = [docs[0], docs[1] if len(docs) > 1 else None]
    for doc in (*stored, *mine):
        if isinstance(doc, dict):
            doc.pop("sdkVersion", None)
    return stored == mine


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
    # The first version of a pipeline is named after it, not after its digest: reuse the
    # newest version when its spec is this one, so a second submit of unchanged code uploads
    # nothing (and a recurring run pinned to it stays unchanged).
    newest = (
        client.list_pipeline_versions(
            pipeline_id, page_size=1, sort_by="created_at desc"
        ).pipeline_versions
        or []
    )
    if newest and _same_spec(newest[0].pipeline_spec, package):
        version = newest[0]
        return _Upload(
            pipeline_id, version.pipeline_version_id, version.display_name, "existing version"
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
        with translate(host):
            upload = ensure_uploaded(client, pipeline, package, version_name, namespace)
            experiment_id = client.create_experiment(
                name=experiment, namespace=namespace
            ).experiment_id
    log.info("%s %s version %s", upload.action, pipeline, upload.version_name)
    return client, namespace or "", upload, experiment_id


def _uploaded(pipeline: str, upload: _Upload, experiment_id: str) -> dict[str, str]:
    """The fields of :class:`Uploaded`, for a result."""
    return {
        "pipeline": pipeline,
        "pipeline_id": upload.pipeline_id,
        "version_id": upload.version_id,
        "version_name": upload.version_name,
        "upload": upload.action,
        "experiment_id": experiment_id,
    }


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
    host = normalize_host(host)
    client, _, upload, experiment_id = _prepare(
        pipeline, host, experiment, namespace, params, client, existing_token
    )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    with translate(host):
        run = client.run_pipeline(
            experiment_id=experiment_id,
            job_name=f"{pipeline} {stamp}",
            params=params or {},
            pipeline_id=upload.pipeline_id,
            version_id=upload.version_id,
        )
    result = SubmitResult(
        **_uploaded(pipeline, upload, experiment_id),
        run_id=run.run_id,
        url=f"{host}/#/runs/details/{run.run_id}",
    )
    if wait:
        try:
            with translate(host):
                final = client.wait_for_run_completion(
                    run.run_id, timeout=timeout_s, sleep_duration=poll_interval_s
                )
        except TimeoutError as exc:
            raise SubmitError(
                f"run {run.run_id} did not finish within {timeout_s:g} s; it keeps running: "
                f"{result.url}",
                "wait longer with --timeout, or follow it in the UI",
            ) from exc
        result.state = str(final.state)
    return result


def __getattr__(name: str) -> Any:
    # schedule lives in .kfp_schedule (this module's size); kept importable from here.
    if name in ("schedule", "ScheduleResult"):
        from kfp_mlops.pipelines.tooling import kfp_schedule

        return getattr(kfp_schedule, name)
    raise AttributeError(name)
