"""The model files :func:`..core.deploy` checked, and where the cluster reads them from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfp_mlops.components.common import model_dir as bundle
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import storage


@dataclass(frozen=True)
class CheckedModel:
    """A checked Model directory: its files, service name, content version and backend."""

    model_dir: str
    #: The preprocessor JSON's path; ``pre`` is its checked content.
    preprocessor: str
    pre: dict[str, Any]
    #: The Kubernetes-safe service name.
    name: str
    version: str
    #: The backend the files will be served with (``bundle.preflight``).
    served: str
    runtime: str
    backend: str


def check_model(
    model_dir: str, preprocessor: str, model_name: str, backend: str, runtime: str
) -> CheckedModel:
    """Check the model files and the preprocessor before anything is deployed.

    Raises:
        ParameterError: On missing or unservable model files or a bad preprocessor.
    """
    name = m.k8s_name(model_name, m.MAX_ISVC_NAME)
    served = bundle.preflight(model_dir, preprocessor, backend)
    if runtime == "tensorflow":
        bundle.check_saved_model_signature(model_dir)
    pre = bundle.check_preprocessor(preprocessor)
    version = bundle.version_of(model_dir, preprocessor, backend)
    return CheckedModel(model_dir, preprocessor, pre, name, version, served, runtime, backend)


def model_uri(
    model: CheckedModel,
    target: str,
    storage_uri: str,
    registry: tuple[str, str, str],
    gcs_client: Any,
) -> tuple[str, bool]:
    """The folder the cluster reads the model from, and whether it is the registry's copy.

    ``registry`` is (tracking_uri, model_name, registered_version); the registered
    version's own folder is used when it holds the same files (:mod:`.storage`), else
    ``<storage_uri>/<name>/<version>``.
    """
    tracking_uri, _, registered_version = registry
    registered = bool(tracking_uri.strip() and registered_version.strip())
    in_registry = ""
    if registered and target != "local":  # the registry's copy, when KServe can read it
        in_registry = storage.registry_location(
            *registry, model.model_dir, model.preprocessor, model.runtime, gcs_client
        )
    uri = in_registry or f"{storage_uri.rstrip('/')}/{model.name}/{model.version}"
    return uri, bool(in_registry)
