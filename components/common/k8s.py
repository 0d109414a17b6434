"""Kubernetes pieces shared by the components that talk to a cluster (deploy, multi-node train).

The API client, the Secrets pods mount, RFC 1123 names, deterministic YAML and the offline
checks of core objects (``kubernetes-validate``) and of model round trips.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import yaml

from kfp_mlops.components.common.errors import ParameterError

# The optional Secrets every pod that touches MLflow or GCS mounts (README, "Secrets"): the
# pipeline's tasks (pipelines/k8s.py) and the pods of a multi-node TrainJob alike.
#: Secret with MLflow credentials.
MLFLOW_SECRET = "kfp-mlops-mlflow"  # noqa: S105 - a Secret's name, not a value
#: Its keys and the variables MLflow reads them from.
MLFLOW_SECRET_ENV = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"}
#: Secret with a GCS service-account key (key ``key.json``), mounted read-only.
GCS_SECRET = "kfp-mlops-gcs"  # noqa: S105 - a Secret's name, not a value
GCS_KEY_DIR = "/var/secrets/gcs"
GCS_KEY_FILE = f"{GCS_KEY_DIR}/key.json"
#: RFC 1123 label limit.
MAX_NAME = 63
#: Kubernetes version whose schemas are used (kubernetes-validate picks the closest it has).
K8S_VERSION = "1.30"


def default_api_client(kubeconfig: str = "", allowed_to: str = "") -> Any:
    """The in-cluster API client, else one from ``kubeconfig`` (or ``~/.kube/config``).

    Args:
        kubeconfig: Path of a kubeconfig file (empty: the default one).
        allowed_to: What the service account must be allowed to do, for the error message
            (e.g. ``"manage inferenceservices"``).

    Raises:
        ParameterError: If neither in-cluster credentials nor a kubeconfig are available.
    """
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig or None)
        except (config.ConfigException, OSError) as exc:
            raise ParameterError(
                f"no Kubernetes credentials: not in a pod and no kubeconfig ({exc})",
                f"run in the cluster with a service account allowed to {allowed_to or 'do this'}"
                ", or pass a kubeconfig",
            ) from exc
    return client.ApiClient()


def k8s_name(raw: str, max_len: int = MAX_NAME) -> str:
    """Turn any string into an RFC 1123 / DNS-1035 label usable as a Kubernetes name.

    Lowercase, ``[a-z0-9-]``, starts with a letter (KServe requires DNS-1035), ends with
    a letter or digit, at most ``max_len`` characters. Accents are folded (``é`` -> ``e``);
    other characters become ``-``. When the result had to be shortened, or nothing usable
    was left, an 8-hex-digit hash of the original keeps distinct inputs distinct.

    Raises:
        ParameterError: If ``raw`` is empty or only whitespace.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ParameterError(
            f"the name {raw!r} is empty",
            "set model_name to something like 'breast-cancer-classifier'",
        )
    if max_len < 12:
        raise ParameterError(f"max_len {max_len} is too short", "use at least 12")
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:8]
    ascii_ = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    if not name:
        return f"m-{digest}"
    if not name[0].isalpha():
        name = f"m-{name}"
    if len(name) > max_len:
        name = name[: max_len - 9].rstrip("-") + "-" + digest
    return name


def to_yaml(*docs: dict[str, Any]) -> str:
    """Deterministic multi-document YAML (sorted keys)."""
    return yaml.safe_dump_all(list(docs), sort_keys=True, default_flow_style=False)


def from_yaml(text: str) -> list[dict[str, Any]]:
    """All documents of a YAML string."""
    return [d for d in yaml.safe_load_all(text) if d]


def validate_core(obj: dict[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Problems of a core Kubernetes object per ``kubernetes-validate`` (strict)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return [f"{obj.get('kind')} {where}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def lost_paths(original: Any, back: Any, path: str) -> list[str]:
    """Paths of ``original`` whose value did not survive a model round trip.

    Fields the model adds with defaults are fine; a field it does not know is lost.
    """
    if isinstance(original, dict):
        if not isinstance(back, dict):
            return [path]
        return [p for k, v in original.items() for p in lost_paths(v, back.get(k), f"{path}.{k}")]
    if isinstance(original, list):
        if not isinstance(back, list) or len(back) != len(original):
            return [path]
        return [p for i, v in enumerate(original) for p in lost_paths(v, back[i], f"{path}[{i}]")]
    return [] if original == back and type(original) is type(back) else [path]
