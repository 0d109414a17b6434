"""KServe ``InferenceService`` manifests and the Kubernetes names they use.

Two predictor forms:

- ``custom`` (default): the library's own server image (``versions.SERVING_IMAGE``, running
  :mod:`kfp_mlops.components.serving`), which applies the JSON preprocessor to raw
  rows. KServe's storage initializer downloads ``STORAGE_URI`` (a folder with ``model.h5``
  or ``model.tflite`` and ``preprocessor.json``) to ``/mnt/models``.
- ``tensorflow``: KServe's TensorFlow Serving runtime on a SavedModel (``model.storageUri``);
  clients then send preprocessed feature vectors.

Everything here is plain dicts, deterministic (no timestamps), so manifests diff cleanly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.k8s import from_yaml, k8s_name, to_yaml  # noqa: F401 - re-exported
from kfp_mlops.components.common.versions import SERVING_IMAGE, __version__

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceService"
PLURAL = "inferenceservices"
RUNTIMES = ("custom", "tensorflow")
#: Where KServe's storage initializer puts the model in the predictor pod.
MOUNT = "/mnt/models"
SERVING_PORT = 8080
#: InferenceService names stay shorter: KServe and Knative derive longer names from them
#: (``<name>-predictor-00001-private`` must still fit in 63 characters).
MAX_ISVC_NAME = 39
ANNOTATION_VERSION = "kfp-mlops.io/version"
# Kubernetes' resource.Quantity syntax (as in the published schemas): 500m, 2, 1.5Gi, 1e3.
_NUMBER = r"(\d+(\.\d*)?|\.\d+)"
_QUANTITY = re.compile(rf"^[+-]?{_NUMBER}([KMGTPE]i|[numkMGTPE]|[eE][+-]?{_NUMBER})?$")
LABEL_MANAGED = "app.kubernetes.io/managed-by"


@dataclass
class ServingSpec:
    """What to deploy and how big.

    Attributes:
        name: InferenceService name (already sanitized with :func:`k8s_name`).
        namespace: Kubernetes namespace.
        version: Content version of the model (``bundle.version_of``).
        storage_uri: Folder with the model files (``gs://``, ``s3://``, ``pvc://``).
        runtime: ``custom`` (our server image) or ``tensorflow`` (KServe's TF runtime).
        image: Serving image for ``custom``.
        backend: Server backend for ``custom``: auto, keras or tflite.
        cpu_request / memory_request / cpu_limit / memory_limit: Kubernetes quantities.
        min_replicas / max_replicas: Autoscaling bounds.
        canary_traffic_percent: Share of traffic for this spec's new revision; ``None``
            routes all of it.
        tag_routing: Give the latest and previous revisions their own URLs (for smoke
            tests of a canary before it takes traffic).
        model_name: Name the server answers to in its URLs; defaults to ``name`` (a
            blue-green preview service keeps the main service's model name).
    """

    name: str
    namespace: str
    version: str
    storage_uri: str
    runtime: str = "custom"
    image: str = SERVING_IMAGE
    backend: str = "auto"
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    cpu_limit: str = "2"
    memory_limit: str = "2Gi"
    min_replicas: int = 1
    max_replicas: int = 3
    canary_traffic_percent: int | None = None
    tag_routing: bool = True
    model_name: str = ""

    def validate(self) -> None:
        """Raise :class:`ParameterError` naming the bad field."""
        if self.name != k8s_name(self.name, MAX_ISVC_NAME):
            raise ParameterError(
                f"'{self.name}' is not a valid InferenceService name",
                f"use k8s_name(...) -> '{k8s_name(self.name, MAX_ISVC_NAME)}'",
            )
        if self.namespace != k8s_name(self.namespace):
            raise ParameterError(
                f"namespace '{self.namespace}' is not a valid Kubernetes name",
                f"use '{k8s_name(self.namespace)}'",
            )
        if self.runtime not in RUNTIMES:
            raise ParameterError(
                f"runtime '{self.runtime}' is not supported", f"use one of {RUNTIMES}"
            )
        if not re.match(r"^[a-z0-9]+://", self.storage_uri or ""):
            raise ParameterError(
                f"storage_uri '{self.storage_uri}' is not a URI the cluster can download",
                "use gs://bucket/path (or s3://, pvc://) holding the model files",
            )
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ParameterError(
                f"replicas min={self.min_replicas} max={self.max_replicas} are inconsistent",
                "use 0 <= min_replicas <= max_replicas and max_replicas >= 1",
            )
        for field in ("cpu_request", "memory_request", "cpu_limit", "memory_limit"):
            value = getattr(self, field)
            if not isinstance(value, str) or not _QUANTITY.match(value):
                raise ParameterError(
                    f"{field} {value!r} is not a Kubernetes quantity",
                    "use e.g. '500m' or '2' for CPU, '512Mi' or '2Gi' for memory",
                )
        pct = self.canary_traffic_percent
        if pct is not None and not 0 <= pct <= 100:
            raise ParameterError(f"canaryTrafficPercent {pct} is outside 0..100", "use 0..100")


def preview_name(name: str) -> str:
    """Name of the blue-green preview service of ``name``."""
    return k8s_name(f"{name}-preview", MAX_ISVC_NAME)


def labels(spec: ServingSpec) -> dict[str, str]:
    """Labels shared by everything deployed for one model."""
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/version": spec.version,
        LABEL_MANAGED: "kfp-mlops",
    }


def _resources(spec: ServingSpec) -> dict[str, Any]:
    return {
        "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request},
        "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit},
    }


def predictor(spec: ServingSpec) -> dict[str, Any]:
    """The ``spec.predictor`` block."""
    block: dict[str, Any] = {"minReplicas": spec.min_replicas, "maxReplicas": spec.max_replicas}
    if spec.canary_traffic_percent is not None:
        block["canaryTrafficPercent"] = spec.canary_traffic_percent
    if spec.runtime == "tensorflow":
        block["model"] = {
            "modelFormat": {"name": "tensorflow"},
            "storageUri": spec.storage_uri.rstrip("/") + "/saved_model",
            "resources": _resources(spec),
        }
        return block
    block["containers"] = [
        {
            "name": "kserve-container",
            "image": spec.image,
            # Explicit, so the args never depend on the image's CMD/ENTRYPOINT.
            "command": ["python", "-m", "kfp_mlops.components.serving"],
            "args": [
                "--model-dir",
                MOUNT,
                "--preprocessor",
                f"{MOUNT}/preprocessor.json",
                "--model-name",
                spec.model_name or spec.name,
                "--http-port",
                str(SERVING_PORT),
                "--host",
                "0.0.0.0",  # noqa: S104  # nosec B104: in a pod, probes and traffic come from outside
                "--backend",
                spec.backend,
            ],
            "env": [
                # KServe's storage initializer downloads this to /mnt/models.
                {"name": "STORAGE_URI", "value": spec.storage_uri},
                {"name": "TF_USE_LEGACY_KERAS", "value": "1"},
                # Labels the server's metrics, so an alert names the version it is about.
                {"name": "KFP_MLOPS_MODEL_VERSION", "value": spec.version},
            ],
            "ports": [{"containerPort": SERVING_PORT, "protocol": "TCP"}],
            "readinessProbe": {
                # 503 until the model is loaded: no traffic to a pod that cannot answer.
                "httpGet": {"path": "/v2/health/ready", "port": SERVING_PORT},
                "periodSeconds": 5,
                "failureThreshold": 3,
            },
            "resources": _resources(spec),
        }
    ]
    return block


def inference_service(spec: ServingSpec) -> dict[str, Any]:
    """A ``serving.kserve.io/v1beta1`` InferenceService for ``spec``."""
    spec.validate()
    annotations = {ANNOTATION_VERSION: spec.version, "kfp-mlops.io/library": __version__}
    if spec.tag_routing:
        annotations["serving.kserve.io/enable-tag-routing"] = "true"
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels(spec),
            "annotations": annotations,
        },
        "spec": {"predictor": predictor(spec)},
    }


def release_configmap(spec: ServingSpec, isvc: dict[str, Any], strategy: str) -> dict[str, Any]:
    """A ConfigMap recording what was deployed (the manifest itself, version, strategy)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": k8s_name(f"{spec.name}-release"),
            "namespace": spec.namespace,
            "labels": labels(spec),
        },
        "data": {
            "version": spec.version,
            "strategy": strategy,
            "inferenceservice.yaml": to_yaml(isvc),
        },
    }
