"""Deploy a trained model with a canary, blue-green or rolling strategy, gated by smoke tests.

:func:`deploy` checks the model files and parameters, builds and validates the manifests,
picks the target (``cluster``, ``gitops`` or ``local``) and lets
:func:`~kfp_mlops.components.deployment.deploy_model.strategies.run` roll the new version
out. A failed smoke test or canary check rolls back first; :meth:`Outcome.raise_if_failed`
then raises with the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import placement, storage, strategies, validation
from kfp_mlops.components.deployment.deploy_model.placement import CheckedModel
from kfp_mlops.components.deployment.deploy_model.targets import (
    ClusterTarget,
    GitOpsTarget,
    LocalTarget,
    Release,
    Target,
)

log = logging.getLogger(__name__)

TARGETS = ("local", "gitops", "cluster")
#: Where the local target keeps its state when no state_dir is given.
DEFAULT_STATE_DIR = Path.home() / ".kfp-mlops" / "local-deployments"
#: Environments and the MLflow alias naming the version each serves. ``champion`` is set by
#: promote_model (it records the replaced champion for rollback); ``staging`` by deploy.
ENVIRONMENT_ALIASES = {"staging": "staging", "production": "champion"}
#: Subfolder of state_dir / gitops_dir holding a non-production environment's state. The
#: underscore cannot start a Kubernetes name, so it never collides with a model's folder.
ENVIRONMENT_SUBDIR = "_{environment}"


@dataclass
class DeployResult:
    """Everything :func:`deploy` produced."""

    outcome: strategies.Outcome
    manifests: list[dict[str, Any]] = field(default_factory=list)
    release: Release | None = None
    storage_uri: str = ""
    environment: str = "production"
    #: The service URL clients use after the deployment ("" where unreachable from here).
    url: str = ""
    #: The MLflow alias set on the registered version ("" when none was set).
    alias: str = ""


def environment_dir(folder: str, environment: str) -> str:
    """The state or GitOps folder of ``environment``: production keeps ``folder`` itself.

    Staging lives in ``<folder>/_staging`` so a staging and a production server of the same
    model coexist (each has its own router, live version and history).
    """
    if not folder or environment == "production":
        return folder
    return str(Path(folder) / ENVIRONMENT_SUBDIR.format(environment=environment))


def check_environment(environment: str) -> str:
    """The MLflow alias of ``environment``.

    Raises:
        ParameterError: On an unknown environment.
    """
    if environment not in ENVIRONMENT_ALIASES:
        raise ParameterError(
            f"environment '{environment}' is not supported",
            f"use one of {sorted(ENVIRONMENT_ALIASES)}",
        )
    return ENVIRONMENT_ALIASES[environment]


def smoke_inputs(preprocessor: dict[str, Any]) -> list[str]:
    """The inputs the server's V2 metadata lists: the raw columns, or ``image`` for images."""
    if preprocessor.get("image_column"):
        return [preprocessor["image_column"]]
    return list(preprocessor["numeric_columns"]) + list(preprocessor["categorical_columns"])


def sample_rows(frame: pd.DataFrame, preprocessor: dict[str, Any], n: int = 8) -> list[dict]:
    """Up to ``n`` complete raw rows with only the feature columns, ready for JSON.

    Images: ``{"image": {"b64": ...}}`` per image, the encoded files of a raw image Dataset.

    Raises:
        DataValidationError: If feature columns are missing or no row is complete.
    """
    columns = smoke_inputs(preprocessor)
    if preprocessor.get("image_column") and columns[0] in frame.columns:
        from kfp_mlops.components.common.images import to_base64

        files = frame[columns[0]].dropna().head(n)
        return [{columns[0]: {"b64": to_base64(b)}} for b in files]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"smoke_data lacks the feature columns {missing[:5]}",
            "pass the raw dataset the model was trained on (load_dataset's output)",
        )
    rows = frame[columns].dropna().head(n)
    if rows.empty:
        raise DataValidationError(
            "smoke_data has no row without missing values", "pass rows with every feature set"
        )
    return json.loads(rows.to_json(orient="records"))


def _check_params(
    target: str,
    strategy: str,
    ready_timeout_s: float,
    storage_uri: str,
    runtime: str,
    namespace: str,
) -> None:
    if target not in TARGETS:
        raise ParameterError(f"target '{target}' is not supported", f"use one of {TARGETS}")
    if strategy not in strategies.STRATEGIES:
        raise ParameterError(
            f"strategy '{strategy}' is not supported", f"use one of {strategies.STRATEGIES}"
        )
    if ready_timeout_s <= 0:
        raise ParameterError(f"ready_timeout_s {ready_timeout_s} is not positive", "use e.g. 120")
    if target in ("cluster", "gitops") and not storage_uri:
        raise ParameterError(
            f"target={target} needs storage_uri: the cluster downloads the model from there",
            "set storage_uri to e.g. gs://my-bucket/models (files are uploaded under "
            "<storage_uri>/<name>/<version>/)",
        )
    if runtime not in m.RUNTIMES:
        raise ParameterError(f"runtime '{runtime}' is not supported", f"use one of {m.RUNTIMES}")
    if namespace != m.k8s_name(namespace):
        raise ParameterError(
            f"namespace '{namespace}' is not a valid Kubernetes namespace",
            f"use an existing namespace such as '{m.k8s_name(namespace)}'",
        )


def render_manifests(spec: m.ServingSpec, strategy: str) -> list[dict[str, Any]]:
    """The InferenceService and the release ConfigMap of ``spec``, validated.

    Raises:
        ManifestError: Naming each invalid field.
    """
    isvc = m.inference_service(spec)
    docs = [isvc, m.release_configmap(spec, isvc, strategy)]
    validation.validate_all(docs)
    return docs


def deploy(
    model_dir: str,
    preprocessor: str,
    smoke_data: pd.DataFrame,
    target: str = "local",
    strategy: str = "canary",
    model_name: str = "kfp-mlops-classifier",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    traffic_steps: str = "10,50,100",
    max_error_rate: float = 0.01,
    max_p95_ms: float = 100.0,
    ready_timeout_s: float = 120.0,
    gitops_dir: str = "",
    state_dir: str = "",
    runtime: str = "custom",
    backend: str = "auto",
    smoke_rows: int = 8,
    probe_requests: int = 100,
    api_client: Any = None,
    kubeconfig: str = "",
    gcs_client: Any = None,
    poll_interval_s: float = 2.0,
    environment: str = "production",
    tracking_uri: str = "",
    git_repo: str = "",
    git_remote: str = "origin",
    registered_version: str = "",
) -> DeployResult:
    """Validate, render and roll out one model version; see the module docstring.

    Args:
        model_dir: Model artifact directory (model.h5 and/or model.tflite).
        preprocessor: Preprocessor JSON of split_and_preprocess.
        smoke_data: Raw rows (the load_dataset output); a few become smoke-test requests.
        target: ``local``, ``gitops`` or ``cluster``.
        strategy: ``canary``, ``blue-green`` or ``rolling``.
        model_name: Service name; sanitized to a Kubernetes name.
        namespace: Kubernetes namespace (cluster and GitOps).
        storage_uri: Where the cluster reads the model (``gs://`` is uploaded to), unless
            the registered version's own ``gs://`` copy holds the same files (then the
            InferenceService reads that; see :mod:`.storage`).
        traffic_steps: Canary percentages, e.g. ``"10,50,100"``.
        max_error_rate: Runbook limit per canary step (0.01 = 1 %).
        max_p95_ms: Runbook p95 latency limit per canary step.
        ready_timeout_s: How long a new version may take to become ready.
        gitops_dir: Repository folder for ``gitops``.
        state_dir: Folder of the local target's state.
        runtime: ``custom`` (our server image) or ``tensorflow`` (KServe's TF runtime).
        backend: Server backend: auto (tflite if present), keras or tflite.
        smoke_rows: Sample rows per smoke request.
        probe_requests: Requests per canary step.
        api_client: Kubernetes ``ApiClient`` for ``cluster`` (default: in-cluster/kubeconfig).
        kubeconfig: Kubeconfig path for ``cluster``.
        gcs_client: Storage client for the upload (default from the environment).
        poll_interval_s: Status poll interval for ``cluster``.
        environment: ``production`` (default) or ``staging``; staging keeps its own local
            state and GitOps folder (:func:`environment_dir`).
        tracking_uri: MLflow registry; with ``registered_version``, a successful staging
            deployment points the ``staging`` alias at that version.
        registered_version: The registered version being deployed (register_model's output).
        git_repo: For ``gitops``: a local Git clone; the written tree and a status file per
            version are committed there (and pushed when ``git_remote`` exists), so a
            rollback is a revert commit. Empty: files only.
        git_remote: Remote the gitops target pushes to, when the clone has it.

    Raises:
        ParameterError: On bad parameters or model files, before anything is deployed.
        DataValidationError: If smoke_data lacks the model's feature columns.
        RegistryError: If the alias is to be set and the registry is unreachable (checked
            before anything is deployed).
    """
    _check_params(target, strategy, ready_timeout_s, storage_uri, runtime, namespace)
    alias = check_environment(environment)
    set_alias = environment != "production" and bool(str(registered_version).strip())
    if set_alias:
        _check_alias_registry(tracking_uri, model_name, str(registered_version))
    steps = strategies.parse_traffic_steps(traffic_steps)
    thresholds = strategies.Thresholds(max_error_rate, max_p95_ms)
    thresholds.validate()
    model = placement.check_model(model_dir, preprocessor, model_name, backend, runtime)
    rows = sample_rows(smoke_data, model.pre, smoke_rows)

    registry = (tracking_uri, model_name, str(registered_version))
    release, docs, model_uri = _prepare_release(
        model, namespace, strategy, target, storage_uri, registry, gcs_client
    )
    access = _Access(
        state_dir, gitops_dir, git_repo, git_remote, api_client, kubeconfig, poll_interval_s
    )
    tgt = _build_target(target, model.name, namespace, environment, steps, access)
    smoke = _smoke_spec(model.pre, rows, probe_requests)
    outcome = strategies.run(tgt, release, strategy, smoke, steps, thresholds, ready_timeout_s)
    result = DeployResult(outcome, docs, release, model_uri, environment)
    if outcome.ok:
        result.url = _service_url(tgt)
        if set_alias:
            _set_alias(tracking_uri, model_name, alias, str(registered_version))
            result.alias = alias
    return result


@dataclass(frozen=True)
class _Access:
    """How each kind of target is reached: local state, the GitOps folder, the cluster API."""

    state_dir: str
    gitops_dir: str
    git_repo: str
    git_remote: str
    api_client: Any
    kubeconfig: str
    poll_interval_s: float


def _prepare_release(
    model: CheckedModel,
    namespace: str,
    strategy: str,
    target: str,
    storage_uri: str,
    registry: tuple[str, str, str],
    gcs_client: Any,
) -> tuple[Release, list[dict[str, Any]], str]:
    """Choose where the model is stored, render and upload it; returns (release, docs, uri)."""
    name, version, runtime = model.name, model.version, model.runtime
    log.info(
        "deploying %s %s (%s backend) to %s with %s", name, version, model.served, target, strategy
    )
    spec = None
    docs: list[dict[str, Any]] = []
    uri = ""
    if storage_uri:
        uri, in_registry = placement.model_uri(model, target, storage_uri, registry, gcs_client)
        spec = m.ServingSpec(
            name=name,
            namespace=namespace,
            version=version,
            storage_uri=uri,
            runtime=runtime,
            backend=model.backend,
        )
        docs = render_manifests(spec, strategy)
        if uri.startswith("gs://") and target != "local" and not in_registry:
            storage.upload_model(model.model_dir, model.preprocessor, uri, runtime, gcs_client)
    release = Release(
        name, version, str(model.model_dir), str(model.preprocessor), model.backend, spec
    )
    return release, docs, uri


def _build_target(
    target: str, name: str, namespace: str, environment: str, steps: list[int], access: _Access
) -> Target:
    """The local, GitOps or cluster target; staging keeps its own local and GitOps folders."""
    if target == "local":
        folder = access.state_dir or str(DEFAULT_STATE_DIR)
        return LocalTarget(environment_dir(folder, environment), name)
    if target == "gitops":
        # "or git_repo": with only a clone given, staging and production still get their
        # own folders in it.
        return GitOpsTarget(
            environment_dir(access.gitops_dir or access.git_repo, environment),
            name,
            steps,
            git_repo=access.git_repo,
            environment=environment,
            remote=access.git_remote,
        )
    return ClusterTarget(
        name, namespace, access.api_client, access.kubeconfig, access.poll_interval_s
    )


def _smoke_spec(pre: dict[str, Any], rows: list[dict], probe_requests: int) -> strategies.SmokeSpec:
    """What the smoke tests send (``rows``) and expect (the preprocessor's classes and inputs)."""
    return strategies.SmokeSpec(
        rows=rows,
        classes=[str(c) for c in pre["classes"]],
        inputs=smoke_inputs(pre),
        probe_requests=probe_requests,
    )


def _check_alias_registry(tracking_uri: str, model_name: str, version: str) -> None:
    """Before deploying: the registry answers and holds the version the alias will name."""
    from kfp_mlops.components.registry import common

    if not tracking_uri.strip():
        raise ParameterError(
            "registered_version is set but tracking_uri is empty: the staging alias cannot "
            "be recorded",
            "pass the MLflow tracking URI, or leave registered_version empty",
        )
    common.check_registry(tracking_uri)
    common.model_version(tracking_uri, model_name, version)  # a clear error if it is absent


def _set_alias(tracking_uri: str, model_name: str, alias: str, version: str) -> None:
    from kfp_mlops.components.registry import common

    common.client(tracking_uri).set_registered_model_alias(model_name, alias, version)
    log.info("%s: alias %s -> v%s", model_name, alias, version)


def _service_url(tgt: Target) -> str:
    """The URL clients reach the service at, or "" (GitOps, or a status without one)."""
    try:
        return tgt.route_url() or ""
    except Exception as exc:  # a missing URL must not fail a deployment that succeeded
        log.warning("could not read the service URL: %s", exc)
        return ""
