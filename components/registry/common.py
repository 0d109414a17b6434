"""What the registry components and ``evaluate_model`` share: the probe, the client, the loader.

Models live in an MLflow 3 model registry and are addressed by aliases (``challenger``,
``champion``), never by the deprecated stages. A registered version's source is
``runs:/<run_id>/model``: the Model artifact directory (``model.h5`` and whatever sits beside
it) logged as plain run artifacts, so :func:`load_registered` gives back exactly the
directory that ``train_model`` wrote.

Every function takes the tracking URI explicitly and never touches MLflow's global tracking
or registry URI, so one process can talk to several servers (tests do).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from kfp_mlops.components.common.errors import (
    ComponentError,
    ParameterError,
    ServiceUnavailableError,
)
from kfp_mlops.components.common.http import probe

log = logging.getLogger(__name__)

#: The run artifact path the Model directory is logged under.
MODEL_ARTIFACT_PATH = "model"
CHAMPION = "champion"
CHALLENGER = "challenger"
#: Model-version tag on a champion that names the version it replaced (for rollback).
PREVIOUS_CHAMPION_TAG = "previous_champion"
DEFAULT_MODEL_NAME = "kfp-mlops-classifier"
PROBE_TIMEOUT_S = 5.0


class RegistryError(ComponentError):
    """The model registry is unreachable, or lacks the model, version or alias asked for."""


class RegistryUnavailableError(ServiceUnavailableError, RegistryError):
    """The registry does not answer: an infrastructure fault, not a bad parameter."""


@contextlib.contextmanager
def _fail_fast(timeout_s: float) -> Iterator[None]:
    """No retries and a short timeout for MLflow HTTP calls inside the block."""
    keys = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(timeout_s))),
    }
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _unreachable(tracking_uri: str, detail: object) -> RegistryError:
    return RegistryUnavailableError(
        f"the MLflow registry at '{tracking_uri}' is unreachable ({detail})",
        "check that the MLflow server is running and that tracking_uri is its URL as seen "
        "from the pipeline pod (e.g. http://mlflow.mlflow.svc.cluster.local:5000); "
        "nothing was written",
    )


def check_registry(tracking_uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast, before anything is written, when the registry cannot be reached.

    HTTP(S) servers are probed with ``GET <uri>/health``; other URIs (``sqlite:///...``)
    and servers without that endpoint with one cheap registry call, without retries.

    Raises:
        ParameterError: If ``tracking_uri`` is empty.
        RegistryError: If the registry does not answer; the message names the URI and the fix.
    """
    if not tracking_uri.strip():
        raise ParameterError(
            "tracking_uri is empty",
            "pass the MLflow tracking server URL, e.g. http://mlflow.mlflow.svc:5000",
        )
    if tracking_uri.startswith(("http://", "https://")):
        found = probe(tracking_uri, ("/health",), timeout_s)
        if found.ok:
            return
        if not found.answered:
            raise _unreachable(tracking_uri, found.detail)
        # Some deployments (auth proxies, static prefixes) do not expose /health:
        # fall through to a real registry call.
        log.info("%s/health answered %s; probing the registry API", tracking_uri, found.detail)
    try:
        with _fail_fast(timeout_s):
            client(tracking_uri).search_registered_models(max_results=1)
    except Exception as exc:
        raise _unreachable(tracking_uri, exc) from exc


def client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` bound to ``tracking_uri`` for both tracking and the registry."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def experiment_id(mlflow_client: Any, name: str) -> str:
    """The id of MLflow experiment ``name``, created when it does not exist yet."""
    experiment = mlflow_client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else mlflow_client.create_experiment(name)


def _is_missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def alias_version(tracking_uri: str, name: str, alias: str) -> Any | None:
    """The ``ModelVersion`` that ``alias`` points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(tracking_uri)
    try:
        model = mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise
    version = model.aliases.get(alias)
    if version is None:
        return None
    return mlflow_client.get_model_version(name, str(version))


def model_version(tracking_uri: str, name: str, version: str) -> Any:
    """A ``ModelVersion``.

    Raises:
        RegistryError: If the model or the version does not exist.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client(tracking_uri).get_model_version(name, str(version))
    except MlflowException as exc:
        if _is_missing(exc):
            raise RegistryError(
                f"model '{name}' has no version '{version}' at {tracking_uri}",
                "pass a version that register_model returned",
            ) from exc
        raise


def load_registered(
    tracking_uri: str, name: str, alias: str = CHAMPION, dst_dir: str | None = None
) -> str:
    """Download the Model directory that ``models:/<name>@<alias>`` points at.

    The alias is resolved through the client (MLflow's ``models:/`` artifact resolver
    would use the process-wide registry URI instead of ``tracking_uri``).

    Args:
        tracking_uri: The MLflow server.
        name: Registered model name.
        alias: Alias to resolve, e.g. ``champion``.
        dst_dir: Where to download; a new temporary directory by default.

    Returns:
        A local directory with ``model.h5`` and the files logged beside it.

    Raises:
        RegistryError: If the model or the alias does not exist.
    """
    import mlflow

    version = alias_version(tracking_uri, name, alias)
    if version is None:
        raise RegistryError(
            f"no version of model '{name}' has the alias '{alias}' at {tracking_uri}",
            f"register a model and set '{alias}' (promote_model sets champion)",
        )
    uri = client(tracking_uri).get_model_version_download_uri(name, version.version)
    dst = dst_dir or tempfile.mkdtemp(prefix=f"{name}-v{version.version}-")
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=dst, tracking_uri=tracking_uri
    )
    log.info("downloaded %s@%s (version %s) to %s", name, alias, version.version, path)
    return path
