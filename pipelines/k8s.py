"""Kubernetes settings for pipeline tasks (kfp-kubernetes), defined once.

Credentials reach pods only through Kubernetes Secrets, never as pipeline parameters, so
no secret value can appear in compiled YAML. Both Secrets are optional: a pod without
them uses Workload Identity / in-cluster defaults, and kfp.local ignores these settings.
"""

from __future__ import annotations

from typing import Any

from kfp import kubernetes
from kfp.dsl.pipeline_channel import PipelineChannel

from kfp_mlops.components.common.k8s import (
    GCS_KEY_DIR,
    GCS_KEY_FILE,
    GCS_SECRET,
    MLFLOW_SECRET,
    MLFLOW_SECRET_ENV,
)
from kfp_mlops.components.common.notify import NOTIFY_SECRET, NOTIFY_SECRET_KEY, WEBHOOK_ENV


def with_credentials(task: Any) -> Any:
    """Mount the optional MLflow and GCS Secrets into ``task``."""
    kubernetes.use_secret_as_env(
        task,
        secret_name=MLFLOW_SECRET,
        secret_key_to_env=dict(MLFLOW_SECRET_ENV),
        optional=True,
    )
    kubernetes.use_secret_as_volume(
        task, secret_name=GCS_SECRET, mount_path=GCS_KEY_DIR, optional=True
    )
    task.set_env_variable("KFP_MLOPS_GCS_KEY_FILE", GCS_KEY_FILE)
    return task


def with_notification_secret(
    task: Any, secret_name: str = NOTIFY_SECRET, key: str = NOTIFY_SECRET_KEY
) -> Any:
    """Fill the webhook URL variable of ``task`` from a key of an (optional) Secret.

    The URL embeds the receiver's token, so it reaches the pod only as an environment
    variable (``KFP_MLOPS_WEBHOOK_URL``) taken from the Secret, never as a pipeline parameter.
    Without the Secret the task runs and sends nothing. Create it with
    ``kubectl create secret generic kfp-mlops-notify --from-literal=webhook_url=https://...``.
    """
    kubernetes.use_secret_as_env(
        task, secret_name=secret_name, secret_key_to_env={key: WEBHOOK_ENV}, optional=True
    )
    return task


def resources(
    task: Any, cpu: str = "1", memory: str = "2Gi", cpu_limit: str = "", memory_limit: str = ""
) -> Any:
    """Set CPU and memory requests (and limits) on a task."""
    task.set_cpu_request(cpu).set_memory_request(memory)
    task.set_cpu_limit(cpu_limit or cpu).set_memory_limit(memory_limit or memory)
    return task


def gpu_training(
    task: Any,
    gpus: Any,
    accelerator_type: Any,
    node_selector_json: Any,
    tolerations_json: Any,
    shm_size: str = "8Gi",
) -> Any:
    """GPUs, accelerator type, node selector and tolerations from pipeline parameters.

    A memory-backed ``emptyDir`` at /dev/shm gives NCCL the shared memory it needs (the
    container default of 64 MiB makes multi-GPU all-reduce fail).
    """
    task.set_accelerator_type(accelerator_type).set_accelerator_limit(gpus)
    # kfp 2.17's accelerator setters turn a channel into a placeholder string without
    # registering it, so a task inside an ExitHandler or dsl.If would reference a pipeline
    # input its enclosing DAG never declares (a broken spec on a cluster, and kfp.local fails
    # with "Parent pipeline input argument ... not found"). Register them explicitly.
    channels = [c for c in (gpus, accelerator_type) if isinstance(c, PipelineChannel)]
    task.register_pipeline_channels(channels)
    kubernetes.add_node_selector_json(task, node_selector_json)
    kubernetes.add_toleration_json(task, tolerations_json)
    kubernetes.empty_dir_mount(
        task,
        volume_name="dshm",
        mount_path="/dev/shm",  # noqa: S108 - NCCL shared memory, not a temp file  # nosec B108
        medium="Memory",
        size_limit=shm_size,
    )
    return task
