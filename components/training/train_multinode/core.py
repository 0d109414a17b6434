"""Multi-node Horovod training: the parameters of the KFP wrapper turned into a TrainJob run.

Everything but the parameter parsing lives in :mod:`..train_model.core` (validation, config,
report) and the modules beside this one: :mod:`.manifests` (the TrainingRuntime and TrainJob),
:mod:`.schema` (checks against the Trainer API), :mod:`.client` (create, attach, retry, watch)
and :mod:`.run` (config to GCS, the job, the model back).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.train_model.core import TrainResult, train
from kfp_mlops.components.training.train_multinode.manifests import TrainJobSpec
from kfp_mlops.components.training.train_multinode.run import ClusterRun

#: Where a pod finds its own namespace.
NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _json(text: str, name: str, kind: type) -> Any:
    try:
        value = json.loads(text or ("{}" if kind is dict else "[]"))
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{name} is not valid JSON ({exc.msg})", f"fix {name}") from exc
    if not isinstance(value, kind):
        raise ParameterError(
            f"{name} must be a JSON {'object' if kind is dict else 'list'}, got {text!r}",
            'e.g. {"cloud.google.com/gke-accelerator": "nvidia-l4"}'
            if kind is dict
            else 'e.g. [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]',
        )
    return value


def own_namespace(path: str = NAMESPACE_FILE) -> str:
    """The namespace of the pod this runs in ("" outside a pod)."""
    file = Path(path)
    return file.read_text(encoding="utf-8").strip() if file.exists() else ""


def default_job_name(model_uri: str) -> str:
    """A TrainJob name unique to the output location (so to the run and task)."""
    return "kfp-mlops-train-" + hashlib.sha256(model_uri.encode()).hexdigest()[:12]


def train_multinode(
    train_path: str,
    validation_path: str,
    train_uri: str,
    validation_uri: str,
    model_dir: str,
    model_uri: str,
    *,
    manifests_path: str | None = None,
    curves_path: str | None = None,
    best_params_path: str | None = None,
    num_nodes: int = 2,
    procs_per_node: int = 1,
    gpus_per_node: int = 1,
    accelerator_type: str = "nvidia.com/gpu",
    cpu: str = "8",
    memory: str = "32Gi",
    node_selector_json: str = "{}",
    tolerations_json: str = "[]",
    namespace: str = "",
    job_name: str = "",
    image: str = "",
    timeout_minutes: int = 360,
    api_client: Any = None,
    gcs_client: Any = None,
    poll_interval_s: float = 10.0,
    crd_dir: str = "",
    **training: Any,
) -> TrainResult:
    """Run :func:`..train_model.core.train` as a Kubeflow Trainer TrainJob across nodes.

    Long only by the wrapper's parameters it mirrors (signature and Args); the body is short.

    Args:
        train_path: Local copy of the training Parquet (checked before anything is created).
        validation_path: Local copy of the validation Parquet.
        train_uri: ``gs://`` URI of the training Parquet, read by every node.
        validation_uri: ``gs://`` URI of the validation Parquet.
        model_dir: Local directory that receives the model files.
        model_uri: ``gs://`` URI of the Model artifact; the job works under
            ``<model_uri>-trainjob``.
        manifests_path: Where to write the applied TrainingRuntime and TrainJob YAML.
        curves_path: Where to write the HTML training curves.
        best_params_path: Tuning result JSON (see ``train_model``).
        num_nodes: Nodes (pods) that train.
        procs_per_node: Horovod processes per node (one per GPU).
        gpus_per_node: GPUs each node requests (0 = CPU nodes).
        accelerator_type: GPU resource name.
        cpu: CPU request and limit of each node.
        memory: Memory request and limit of each node.
        node_selector_json: JSON object of node labels.
        tolerations_json: JSON list of Kubernetes tolerations.
        namespace: Namespace of the TrainJob ("" = this pod's namespace).
        job_name: TrainJob name ("" = derived from ``model_uri``).
        image: Trainer image ("" = the library's pinned trainer image).
        timeout_minutes: Give up waiting for the TrainJob after this long.
        api_client: Kubernetes ``ApiClient`` (None: in-cluster or kubeconfig).
        gcs_client: ``google.cloud.storage.Client`` (None: default credentials).
        poll_interval_s: Seconds between TrainJob status polls.
        crd_dir: Folder of the Trainer's published CRDs to check the objects against ("":
            ``$KFP_MLOPS_CRD_DIR`` when set, else only the API models and Kubernetes schemas).
        **training: ``train_model.core.train`` parameters (epochs, batch_size, precision, ...).

    Raises:
        ParameterError: On a bad parameter, before anything is created.
    """
    namespace = namespace or own_namespace()
    spec = TrainJobSpec(
        name=job_name or default_job_name(model_uri),
        namespace=namespace,
        config_uri="",  # filled in by run_on_cluster
        num_nodes=int(num_nodes),
        procs_per_node=int(procs_per_node),
        gpus_per_node=int(gpus_per_node),
        accelerator_type=accelerator_type,
        cpu=cpu,
        memory=memory,
        node_selector=_json(node_selector_json, "node_selector_json", dict),
        tolerations=_json(tolerations_json, "tolerations_json", list),
        **({"image": image} if image else {}),
    )
    cluster = ClusterRun(
        spec=spec,
        work_uri=f"{model_uri.rstrip('/')}-trainjob",
        train_uri=train_uri,
        validation_uri=validation_uri,
        manifests_path=manifests_path,
        api_client=api_client,
        gcs_client=gcs_client,
        timeout_s=timeout_minutes * 60.0,
        poll_interval_s=poll_interval_s,
        crd_dir=crd_dir,
    )
    return train(
        train_path,
        validation_path,
        model_dir,
        curves_path=curves_path,
        best_params_path=best_params_path,
        num_workers=spec.world_size,
        cluster=cluster,
        **training,
    )
