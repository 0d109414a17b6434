"""The two objects of a multi-node Horovod run: a ``TrainingRuntime`` and its ``TrainJob``.

Across nodes the Trainer's MPI plugin does the launching: from a ``TrainingRuntime`` it creates
a JobSet, generates the SSH key pair and the hostfile (``/etc/mpi/hostfile``, one line
``<node> slots=<procs>`` a node) and starts the launcher once every node's sshd is ready. The
launcher runs ``horovodrun --hostfile`` from the trainer env (Gloo between nodes over SSH, NCCL
inside a node); the nodes run only ``sshd`` until horovodrun starts their workers.

The runtime is namespaced and made for one job shape (GPUs, node selector, tolerations sit in
its node template, because the Trainer applies ``resourcesPerNode`` only to the launcher of an
MPI runtime). :func:`manifests` checks both (:mod:`.schema`) before returning them.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.k8s import (
    GCS_KEY_DIR,
    GCS_KEY_FILE,
    GCS_SECRET,
    MLFLOW_SECRET,
    MLFLOW_SECRET_ENV,
    k8s_name,
)
from kfp_mlops.components.common.versions import TRAINER_IMAGE
from kfp_mlops.components.training.train_model.launcher import (
    IMAGE_TRAINER_PYTHON,
    WORKER_MODULE,
)
from kfp_mlops.components.training.train_multinode.schema import API_VERSION, GROUP, validate

#: The Trainer copies a TrainJob's ``trainer`` (image, command, env) into the replicated job
#: carrying this label; for an MPI runtime that is the launcher.
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
#: Container and replicated-job names the MPI plugin looks for.
LAUNCHER = "launcher"
NODE = "node"

# What the trainer image provides (containers/trainer/Dockerfile): a non-root sshd on 2222.
USER_HOME = "/home/mlops"
SSH_AUTH_DIR = f"{USER_HOME}/.ssh"
SSHD_CONFIG = f"{USER_HOME}/.sshd/sshd_config"
SSH_PORT = 2222
TRAINER_BIN = IMAGE_TRAINER_PYTHON.rsplit("/", 1)[0]
HOSTFILE = "/etc/mpi/hostfile"
#: Per-node local log directory of the workers (pod logs keep their output too).
NODE_LOG_DIR = "/tmp/kfp-mlops-logs"  # noqa: S108 - inside the pod  # nosec B108
#: NCCL's shared memory: a memory-backed emptyDir mounted there, not a temp file we write.
SHM_DIR = "/dev/shm"  # noqa: S108  # nosec B108
#: Annotation on the TrainJob naming the worker config it runs.
CONFIG_ANNOTATION = "kfp-mlops.io/config-uri"
#: TrainJob names become JobSet, Job and pod host names: keep room for their suffixes.
MAX_NAME = 40


@dataclass
class TrainJobSpec:
    """Shape of one multi-node training job.

    Attributes:
        name: Base name of the TrainJob and its runtime (sanitized to RFC 1123).
        namespace: Namespace of both objects (a TrainJob may only use a namespaced runtime
            from its own namespace).
        config_uri: ``gs://`` URI of the WorkerConfig JSON every worker reads.
        num_nodes: Pods that train (each runs ``procs_per_node`` Horovod processes).
        procs_per_node: Horovod processes per node; GPUs per node when ``gpus_per_node`` > 0.
        gpus_per_node: GPUs requested by every node (0 = CPU training).
        accelerator_type: Extended-resource name of the GPUs, e.g. ``nvidia.com/gpu``.
        cpu: CPU request and limit of each node.
        memory: Memory request and limit of each node.
        image: Trainer image (both envs, Horovod with NCCL, sshd).
        node_selector: Node selector of the nodes, e.g. ``{"cloud.google.com/gke-accelerator":
            "nvidia-tesla-a100"}``.
        tolerations: Tolerations of the nodes (Kubernetes ``Toleration`` objects).
        shm_size: Size of the memory-backed /dev/shm NCCL needs.
        active_deadline_seconds: Stop the TrainJob after this long (0 = no deadline).
        labels: Extra labels on both objects.
    """

    name: str
    namespace: str
    config_uri: str
    num_nodes: int = 2
    procs_per_node: int = 1
    gpus_per_node: int = 0
    accelerator_type: str = "nvidia.com/gpu"
    cpu: str = "4"
    memory: str = "16Gi"
    image: str = TRAINER_IMAGE
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    shm_size: str = "8Gi"
    active_deadline_seconds: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def job_name(self) -> str:
        """The TrainJob's name."""
        return k8s_name(self.name, MAX_NAME)

    @property
    def runtime_name(self) -> str:
        """The TrainingRuntime's name: the job shape's digest, so equal shapes share one."""
        shape = json.dumps(
            [
                self.num_nodes,
                self.procs_per_node,
                self.gpus_per_node,
                self.accelerator_type,
                self.cpu,
                self.memory,
                self.image,
                self.node_selector,
                self.tolerations,
                self.shm_size,
            ],
            sort_keys=True,
        )
        digest = hashlib.sha256(shape.encode()).hexdigest()[:10]
        return f"kfp-mlops-horovod-{digest}"

    @property
    def world_size(self) -> int:
        """Horovod processes in all."""
        return self.num_nodes * self.procs_per_node


def check_spec(spec: TrainJobSpec) -> None:
    """Reject a job shape the Trainer or Horovod would fail on later.

    Raises:
        ParameterError: Naming the parameter and the fix.
    """
    if spec.num_nodes < 1:
        raise ParameterError(f"num_nodes is {spec.num_nodes}", "use 1 or more nodes")
    if spec.procs_per_node < 1:
        raise ParameterError(f"procs_per_node is {spec.procs_per_node}", "use 1 or more")
    if spec.gpus_per_node < 0:
        raise ParameterError(f"gpus_per_node is {spec.gpus_per_node}", "use 0 (CPU) or more")
    if spec.gpus_per_node and spec.procs_per_node > spec.gpus_per_node:
        raise ParameterError(
            f"procs_per_node={spec.procs_per_node} exceeds gpus_per_node={spec.gpus_per_node}",
            "run one Horovod process per GPU: set procs_per_node to gpus_per_node",
        )
    if not spec.config_uri.startswith("gs://"):
        raise ParameterError(
            f"the worker config is at '{spec.config_uri}', which other pods cannot read",
            "multi-node training reads its data and config from gs://: use a gs:// pipeline "
            "root (or pass gs:// URIs)",
        )
    if not spec.namespace:
        raise ParameterError("no namespace given", "name the namespace of the TrainJob")


def launcher_command(spec: TrainJobSpec) -> list[str]:
    """The launcher container's command: horovodrun over the hostfile the Trainer mounts.

    The GCS key is exported only when its optional Secret is mounted (otherwise Workload
    Identity supplies credentials); horovodrun forwards the environment to every worker.
    """
    horovodrun = [
        f"{TRAINER_BIN}/horovodrun",
        "-np",
        str(spec.world_size),
        "--hostfile",
        HOSTFILE,
        "--gloo",
        "--ssh-port",
        str(SSH_PORT),
        "--ssh-identity-file",
        f"{SSH_AUTH_DIR}/id_rsa",
        "--start-timeout",
        "600",
        f"{TRAINER_BIN}/python",
        "-m",
        WORKER_MODULE,
        "--config",
        spec.config_uri,
    ]
    script = (
        f"if [ -f {GCS_KEY_FILE} ]; then export GOOGLE_APPLICATION_CREDENTIALS={GCS_KEY_FILE}; "
        f"fi; exec {shlex.join(horovodrun)}"
    )
    return ["/bin/bash", "-c", script]


def _credentials(pod_spec: dict[str, Any], container: dict[str, Any], node: bool) -> None:
    """The optional GCS and MLflow Secrets, as the pipeline's own pods get them.

    Every pod mounts the GCS key (the workers read it); only the launcher gets the MLflow
    variables: horovodrun forwards the launcher's environment to the workers, and sshd
    sessions do not inherit a node container's.
    """
    pod_spec.setdefault("volumes", []).append(
        {"name": "gcs-key", "secret": {"secretName": GCS_SECRET, "optional": True}}
    )
    container.setdefault("volumeMounts", []).append(
        {"name": "gcs-key", "mountPath": GCS_KEY_DIR, "readOnly": True}
    )
    if node:
        return
    container.setdefault("env", []).extend(
        {
            "name": env,
            "valueFrom": {"secretKeyRef": {"name": MLFLOW_SECRET, "key": key, "optional": True}},
        }
        for key, env in MLFLOW_SECRET_ENV.items()
    )


def _pod_template(
    spec: TrainJobSpec, container: dict[str, Any], node: bool, labels: dict[str, str]
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
        },
        "containers": [container],
    }
    _credentials(pod_spec, container, node)
    if node:
        pod_spec["volumes"].append(
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}}
        )
        container["volumeMounts"].append({"name": "dshm", "mountPath": SHM_DIR})
        if spec.node_selector:
            pod_spec["nodeSelector"] = dict(spec.node_selector)
        if spec.tolerations:
            pod_spec["tolerations"] = [dict(t) for t in spec.tolerations]
    return {"metadata": {"labels": dict(labels)}, "spec": pod_spec}


def _node_resources(spec: TrainJobSpec) -> dict[str, Any]:
    amounts: dict[str, Any] = {"cpu": spec.cpu, "memory": spec.memory}
    if spec.gpus_per_node:
        amounts[spec.accelerator_type] = str(spec.gpus_per_node)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _labels(spec: TrainJobSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": "kfp-mlops",
        "app.kubernetes.io/component": "horovod-training",
        **spec.labels,
    }


def training_runtime(spec: TrainJobSpec) -> dict[str, Any]:
    """The namespaced ``TrainingRuntime``: an MPI policy over a launcher job and node jobs."""
    labels = _labels(spec)
    node_container = {
        "name": NODE,
        "image": spec.image,
        "command": ["/usr/sbin/sshd"],
        "args": ["-De", "-f", SSHD_CONFIG],
        "ports": [{"name": "ssh", "containerPort": SSH_PORT}],
        "readinessProbe": {"tcpSocket": {"port": SSH_PORT}, "initialDelaySeconds": 2},
        "resources": _node_resources(spec),
    }
    launcher_container = {
        "name": NODE,  # the name the Trainer copies the TrainJob's image and command into
        "image": spec.image,
        "command": launcher_command(spec),
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingRuntime",
        "metadata": {
            "name": spec.runtime_name,
            "namespace": spec.namespace,
            "labels": {**labels, "trainer.kubeflow.org/framework": "horovod"},
        },
        "spec": {
            "mlPolicy": {
                "numNodes": spec.num_nodes,
                "mpi": {
                    "numProcPerNode": spec.procs_per_node,
                    "mpiImplementation": "OpenMPI",  # the hostfile format horovodrun reads
                    "sshAuthMountPath": SSH_AUTH_DIR,
                    "runLauncherAsNode": False,
                },
            },
            "template": {
                "spec": {
                    "network": {"publishNotReadyAddresses": True},
                    "successPolicy": {"operator": "All", "targetReplicatedJobs": [LAUNCHER]},
                    "replicatedJobs": [
                        {
                            "name": NODE,
                            "template": {
                                "spec": {
                                    "template": _pod_template(spec, node_container, True, labels)
                                }
                            },
                        },
                        {
                            "name": LAUNCHER,
                            "dependsOn": [{"name": NODE, "status": "Ready"}],
                            "template": {
                                "metadata": {"labels": {ANCESTOR_LABEL: "trainer"}},
                                "spec": {
                                    "backoffLimit": 0,
                                    "template": _pod_template(
                                        spec, launcher_container, False, labels
                                    ),
                                },
                            },
                        },
                    ],
                }
            },
        },
    }


def train_job(spec: TrainJobSpec) -> dict[str, Any]:
    """The ``TrainJob`` that runs ``spec`` on its runtime."""
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {
            "name": spec.job_name,
            "namespace": spec.namespace,
            "labels": _labels(spec),
            # Identifies the run that owns the job: a retried task finds its own job by it.
            "annotations": {CONFIG_ANNOTATION: spec.config_uri},
        },
        "spec": {
            "runtimeRef": {"name": spec.runtime_name, "kind": "TrainingRuntime", "apiGroup": GROUP},
            "trainer": {
                "image": spec.image,
                "command": launcher_command(spec),
                "numNodes": spec.num_nodes,
                "numProcPerNode": spec.procs_per_node,
            },
        },
    }
    if spec.active_deadline_seconds:
        body["spec"]["activeDeadlineSeconds"] = spec.active_deadline_seconds
    return body


def manifests(spec: TrainJobSpec, crd_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The runtime and the TrainJob, checked (see :func:`.schema.validate`).

    Args:
        spec: The job shape.
        crd_dir: Folder of the Trainer's published CRDs to check both against (None:
            ``$KFP_MLOPS_CRD_DIR`` when set).
    """
    check_spec(spec)
    docs = [training_runtime(spec), train_job(spec)]
    validate(docs, crd_dir)
    return docs
