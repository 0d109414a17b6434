"""The Kubernetes API client of components that talk to the cluster (deploy, multi-node train)."""

from __future__ import annotations

from typing import Any

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
