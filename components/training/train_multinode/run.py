"""One training run as a TrainJob: the worker config to GCS, the objects, the wait, the model.

:func:`run_on_cluster` is what ``train_model.core.train`` calls, instead of the local
launcher, when it is given a :class:`ClusterRun`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.k8s import default_api_client, to_yaml
from kfp_mlops.components.training.train_model.config import (
    HISTORY_FILE,
    METRICS_FILE,
    WorkerConfig,
)
from kfp_mlops.components.training.train_model.launcher import LaunchResult, TrainingError
from kfp_mlops.components.training.train_multinode.client import TrainJobClient
from kfp_mlops.components.training.train_multinode.manifests import (
    NODE_LOG_DIR,
    TrainJobSpec,
    manifests,
)


@dataclass
class ClusterRun:
    """Where and how ``train_model.core.train`` runs its workers as a TrainJob.

    Attributes:
        spec: Job shape (its ``config_uri`` is filled in by :func:`run_on_cluster`).
        work_uri: ``gs://`` prefix for the config, the model and the checkpoints.
        train_uri: ``gs://`` URI of the training Parquet (the pods read it directly).
        validation_uri: ``gs://`` URI of the validation Parquet.
        manifests_path: Where to write the applied manifests as YAML (None: nowhere).
        api_client: Kubernetes ``ApiClient`` (None: in-cluster or kubeconfig).
        gcs_client: ``google.cloud.storage.Client`` (None: default credentials).
        timeout_s: Give up waiting after this long.
        poll_interval_s: Seconds between status polls.
        crd_dir: Folder of the Trainer's published CRDs to check the objects against before
            they are sent ("": ``$KFP_MLOPS_CRD_DIR`` when set, else no CRD check).
    """

    spec: TrainJobSpec
    work_uri: str
    train_uri: str
    validation_uri: str
    manifests_path: str | None = None
    api_client: Any = None
    gcs_client: Any = None
    timeout_s: float = 6 * 3600
    poll_interval_s: float = 10.0
    crd_dir: str = ""


def stage_model_fn(model_fn: str, work_uri: str, gcs_client: Any = None) -> str:
    """Where the TrainJob's pods find the user's model file: a local ``.py`` is uploaded.

    The file exists only in this (the launching) pod; the workers copy a ``gs://`` model
    file for themselves (:mod:`..model_fn`). Built-ins, ``package.module:function`` names and
    ``gs://`` files are returned as they are.

    Raises:
        ParameterError: If the local file does not exist.
    """
    from kfp_mlops.components.common import io

    if not model_fn.endswith(".py") or model_fn.startswith("gs://"):
        return model_fn
    path = Path(model_fn)
    if not path.is_file():
        raise ParameterError(
            f"model_fn file '{model_fn}' does not exist in this pod",
            "pass a path inside the launching pod, or a gs:// URI",
        )
    uri = f"{work_uri.rstrip('/')}/model_fn/{path.name}"
    io.write_bytes(uri, path.read_bytes(), client=gcs_client)
    return uri


def run_on_cluster(config: WorkerConfig, cluster: ClusterRun) -> LaunchResult:
    """Train on the cluster: config to ``work_uri``, runtime + TrainJob, wait, fetch outputs.

    ``config``'s data paths become ``cluster``'s ``gs://`` URIs; its output, log and (unless
    given as ``gs://``) checkpoint locations are set here: ``<work_uri>/model``, a per-node
    local log directory and ``<work_uri>/checkpoints``. The model files are copied back into
    ``config.output_dir``'s original local directory.

    Raises:
        ParameterError: On a shape the Trainer would refuse or non-``gs://`` locations.
        launcher.TrainingError: If the TrainJob fails (its condition's message included).
        InfrastructureError: On API errors, invalid generated objects or the timeout.
    """
    from kfp_mlops.components.common import io

    spec, work_uri = cluster.spec, cluster.work_uri
    config.train_path, config.validation_path = cluster.train_uri, cluster.validation_uri
    for what, uri in (
        ("training data", config.train_path),
        ("validation data", config.validation_path),
        ("work location", work_uri),
    ):
        if not uri.startswith("gs://"):
            raise ParameterError(
                f"the {what} is at '{uri}', which the TrainJob's pods cannot read",
                "multi-node training needs gs:// locations: run the pipeline with a gs:// "
                "pipeline root",
            )
    local_out = config.output_dir
    work_uri = work_uri.rstrip("/")
    config.output_dir = f"{work_uri}/model"
    config.log_dir = NODE_LOG_DIR
    if not config.checkpoint_dir.startswith("gs://"):
        config.checkpoint_dir = f"{work_uri}/checkpoints"
    spec.config_uri = f"{work_uri}/config.json"
    config.model_fn = stage_model_fn(config.model_fn, work_uri, cluster.gcs_client)
    docs = manifests(spec, cluster.crd_dir or None)
    if cluster.manifests_path:
        Path(cluster.manifests_path).parent.mkdir(parents=True, exist_ok=True)
        Path(cluster.manifests_path).write_text(to_yaml(*docs), encoding="utf-8")
    io.write_bytes(spec.config_uri, config.to_json().encode(), client=cluster.gcs_client)

    api_client = cluster.api_client or default_api_client(allowed_to="create trainjobs")
    client = TrainJobClient(api_client, cluster.poll_interval_s)
    client.apply(docs)
    outcome = client.wait(spec.namespace, spec.job_name, cluster.timeout_s)
    if not outcome.succeeded:
        raise TrainingError(
            f"TrainJob {spec.namespace}/{spec.job_name} failed after {outcome.seconds:.0f} s: "
            f"{outcome.reason}: {outcome.message}",
            f"read the launcher's log: kubectl logs -n {spec.namespace} -l "
            f"jobset.sigs.k8s.io/jobset-name={spec.job_name} --all-containers",
        )
    io.download_tree(config.output_dir, local_out, client=cluster.gcs_client)
    out = Path(local_out)
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    history = json.loads((out / HISTORY_FILE).read_text(encoding="utf-8"))
    return LaunchResult(metrics=metrics, history=history, output_dir=local_out, log_dir="")
