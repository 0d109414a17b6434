"""Multi-node Horovod training as a Kubeflow Trainer ``TrainJob`` (trainer.kubeflow.org/v1alpha1).

Across nodes the Trainer's MPI plugin does the launching: from a ``TrainingRuntime`` it creates
a JobSet, generates the SSH key pair and the hostfile (``/etc/mpi/hostfile``, one line
``<node> slots=<procs>`` a node) and starts the launcher once every node's sshd is ready. The
launcher runs ``horovodrun --hostfile`` from the trainer env (Gloo between nodes over SSH, NCCL
inside a node); the nodes run only ``sshd`` until horovodrun starts their workers. Nothing here
starts a process: this module writes the two objects and, given a cluster, creates them and
waits for the TrainJob's ``Complete`` or ``Failed`` condition.

The runtime is namespaced and made for one job shape (GPUs, node selector, tolerations sit in
its node template, because the Trainer applies ``resourcesPerNode`` only to the launcher of an
MPI runtime). Both objects are checked against the published Trainer API (the
``kubeflow-trainer-api`` models, generated from the Trainer's OpenAPI spec) and their pod
templates against the Kubernetes core schemas before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ComponentError, ParameterError
from kfp_mlops.components.common.k8s import (
    GCS_KEY_DIR,
    GCS_KEY_FILE,
    GCS_SECRET,
    MLFLOW_SECRET,
    MLFLOW_SECRET_ENV,
    default_api_client,
    k8s_name,
    lost_paths,
    to_yaml,
    validate_core,
)
from kfp_mlops.components.common.versions import TRAINER_IMAGE
from kfp_mlops.components.training.train_model.config import (
    HISTORY_FILE,
    METRICS_FILE,
    WorkerConfig,
)
from kfp_mlops.components.training.train_model.launcher import LaunchResult, TrainingError

log = logging.getLogger(__name__)

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
TRAINJOB_PLURAL = "trainjobs"
RUNTIME_PLURAL = "trainingruntimes"
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
TRAINER_BIN = "/opt/trainer-env/bin"
HOSTFILE = "/etc/mpi/hostfile"
WORKER_MODULE = "kfp_mlops.components.training.train_model.worker"
#: Per-node local log directory of the workers (pod logs keep their output too).
NODE_LOG_DIR = "/tmp/kfp-mlops-logs"  # noqa: S108 - inside the pod  # nosec B108
#: NCCL's shared memory: a memory-backed emptyDir mounted there, not a temp file we write.
SHM_DIR = "/dev/shm"  # noqa: S108  # nosec B108
#: Annotation on the TrainJob naming the worker config it runs.
CONFIG_ANNOTATION = "kfp-mlops.io/config-uri"
#: TrainJob names become JobSet, Job and pod host names: keep room for their suffixes.
MAX_NAME = 40
K8S_VERSION = "1.30"


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


def manifests(spec: TrainJobSpec) -> list[dict[str, Any]]:
    """The runtime and the TrainJob, checked (see :func:`validate`)."""
    check_spec(spec)
    docs = [training_runtime(spec), train_job(spec)]
    validate(docs)
    return docs


# --------------------------------------------------------------------------- validation


def validate_with_api(obj: dict[str, Any]) -> list[str]:
    """Problems of a TrainJob or TrainingRuntime against the published Trainer API models.

    The models reject wrong types and missing required fields; a round trip back to a dict
    catches fields the API does not have (the models drop them silently).
    """
    from kubeflow_trainer_api import models
    from pydantic import ValidationError

    model = {
        "TrainJob": models.TrainerV1alpha1TrainJob,
        "TrainingRuntime": models.TrainerV1alpha1TrainingRuntime,
    }.get(obj.get("kind", ""))
    if model is None:
        return [f"kind {obj.get('kind')!r} is not a Trainer object"]
    if obj.get("apiVersion") != API_VERSION:
        return [f"apiVersion {obj.get('apiVersion')!r} is not {API_VERSION}"]
    try:
        back = model.from_dict(obj).to_dict()
    except ValidationError as exc:
        kind = obj["kind"]
        return [f"{kind} {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    # The models' fields are strict (StrictInt, StrictStr): a value cannot change type on the
    # way, so a lost path is a field the API does not have.
    return [f"{p}: not a field of the published API" for p in lost_paths(obj, back, obj["kind"])]


def _pod_templates(runtime: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    jobs = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    return [(job["name"], job["template"]["spec"]["template"]) for job in jobs]


def validate(docs: list[dict[str, Any]]) -> None:
    """Check both objects against the Trainer API and their pod templates against Kubernetes.

    Raises:
        ComponentError: Listing every problem found.
    """
    problems: list[str] = []
    for doc in docs:
        problems += validate_with_api(doc)
        if doc.get("kind") == "TrainingRuntime":
            for job, template in _pod_templates(doc):
                pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": job}}
                pod["template"] = template
                problems += [f"{job}: {p}" for p in validate_core(pod, K8S_VERSION)]
    if problems:
        raise ComponentError(
            "the generated TrainJob manifests are invalid: " + "; ".join(problems[:10]),
            "this is a bug in kfp-mlops: report it with the parameters used",
        )


# --------------------------------------------------------------------------- cluster


@dataclass
class JobOutcome:
    """How a TrainJob ended."""

    succeeded: bool
    reason: str
    message: str
    seconds: float


class TrainJobClient:
    """Creates the runtime and the TrainJob and waits for the TrainJob to finish.

    Args:
        api_client: A ``kubernetes.client.ApiClient`` (tests pass one pointed at a loopback
            server; in a pod, :func:`default_api_client` gives the in-cluster one).
        poll_interval_s: Seconds between status polls.
        sleep: Sleep function (tests may speed polling up).
    """

    def __init__(
        self,
        api_client: Any,
        poll_interval_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from kubernetes import client

        self.api = client.CustomObjectsApi(api_client)
        self.poll_interval_s = poll_interval_s
        self.sleep = sleep

    def _get(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _api_error(exc, f"reading {plural}/{name}") from exc

    def apply(self, docs: list[dict[str, Any]]) -> None:
        """Create the runtime (reused when one of the same shape exists) and the TrainJob.

        A retried step finds its own TrainJob (same name and config): a running or completed
        one is attached to, a failed one is deleted and created again, and the new job resumes
        from the checkpoints the failed one left.

        Raises:
            ComponentError: If a TrainJob of that name runs another config (another run's
                job), or the API refuses an object.
        """
        from kubernetes.client.exceptions import ApiException

        for doc in docs:
            plural = RUNTIME_PLURAL if doc["kind"] == "TrainingRuntime" else TRAINJOB_PLURAL
            ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
            existing = self._get(ns, plural, name)
            if existing is not None:
                if plural == RUNTIME_PLURAL:
                    log.info("TrainingRuntime %s/%s exists: reusing it", ns, name)
                    continue
                if not self._take_over(existing, doc):
                    continue
            try:
                self.api.create_namespaced_custom_object(GROUP, VERSION, ns, plural, doc)
            except ApiException as exc:
                raise _api_error(exc, f"creating {doc['kind']} {ns}/{name}") from exc
            log.info("created %s %s/%s", doc["kind"], ns, name)

    def _take_over(self, existing: dict[str, Any], doc: dict[str, Any]) -> bool:
        """Deal with an existing TrainJob of our name; True when it must be created anew."""
        from kubernetes.client.exceptions import ApiException

        ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
        ours = doc["metadata"]["annotations"][CONFIG_ANNOTATION]
        theirs = (existing["metadata"].get("annotations") or {}).get(CONFIG_ANNOTATION)
        if theirs != ours:
            raise ComponentError(
                f"TrainJob {ns}/{name} already exists and runs another config ({theirs})",
                f"delete it (kubectl delete trainjob -n {ns} {name}) or use another job name",
            )
        failed = _true_condition(existing, "Failed")
        if not failed:
            log.info("TrainJob %s/%s exists for this step (a retry): waiting for it", ns, name)
            return False
        log.info(
            "TrainJob %s/%s failed before (%s): deleting and re-creating it",
            ns,
            name,
            failed.get("message", ""),
        )
        try:
            self.api.delete_namespaced_custom_object(
                GROUP, VERSION, ns, TRAINJOB_PLURAL, name, propagation_policy="Foreground"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(exc, f"deleting the failed TrainJob {ns}/{name}") from exc
        deadline = time.monotonic() + 300
        while self._get(ns, TRAINJOB_PLURAL, name) is not None:
            if time.monotonic() > deadline:
                raise ComponentError(
                    f"the failed TrainJob {ns}/{name} was not deleted within 300 s",
                    f"check its finalizers: kubectl get trainjob -n {ns} {name} -o yaml",
                )
            self.sleep(self.poll_interval_s)
        return True

    def wait(self, namespace: str, name: str, timeout_s: float) -> JobOutcome:
        """Poll the TrainJob until its Complete or Failed condition is True.

        Raises:
            ComponentError: If the TrainJob vanishes or ``timeout_s`` passes first.
        """
        start = time.monotonic()
        last_state = ""
        while True:
            obj = self._get(namespace, TRAINJOB_PLURAL, name)
            if obj is None:
                raise ComponentError(
                    f"TrainJob {namespace}/{name} disappeared while it was watched",
                    "check who deleted it (kubectl get events) and run the step again",
                )
            for kind, ok in (("Complete", True), ("Failed", False)):
                cond = _true_condition(obj, kind)
                if cond:
                    return JobOutcome(
                        ok,
                        cond.get("reason", ""),
                        cond.get("message", ""),
                        time.monotonic() - start,
                    )
            conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions", [])}
            state = ", ".join(f"{k}={c.get('status')}" for k, c in sorted(conditions.items()))
            if state != last_state:
                log.info("TrainJob %s/%s: %s", namespace, name, state or "no conditions yet")
                last_state = state
            if time.monotonic() - start > timeout_s:
                raise ComponentError(
                    f"TrainJob {namespace}/{name} did not finish within {timeout_s:.0f} s "
                    f"(conditions: {state or 'none'})",
                    "inspect it with kubectl describe trainjob; raise timeout_minutes or check "
                    "that the cluster has nodes with the requested GPUs",
                )
            self.sleep(self.poll_interval_s)


def _true_condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The object's ``kind`` condition when its status is True."""
    for cond in (obj.get("status") or {}).get("conditions", []):
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _api_error(exc: Any, doing: str) -> ComponentError:
    if exc.status in (401, 403):
        fix = (
            "grant the pipeline's service account create/get on trainjobs and trainingruntimes "
            f"({GROUP})"
        )
    elif exc.status == 404:
        fix = "install Kubeflow Trainer (its CRDs are missing) or check the namespace"
    else:
        fix = "see the API server's message above"
    return ComponentError(f"Kubernetes API error {exc.status} {doing}: {exc.reason}", fix)


# --------------------------------------------------------------------------- the whole run


@dataclass
class ClusterRun:
    """Where and how :func:`core.train <..core.train>` runs its workers as a TrainJob.

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


def run_on_cluster(config: WorkerConfig, cluster: ClusterRun) -> LaunchResult:
    """Train on the cluster: config to ``work_uri``, runtime + TrainJob, wait, fetch outputs.

    ``config``'s data paths become ``cluster``'s ``gs://`` URIs; its output, log and (unless
    given as ``gs://``) checkpoint locations are set here: ``<work_uri>/model``, a per-node
    local log directory and ``<work_uri>/checkpoints``. The model files are copied back into
    ``config.output_dir``'s original local directory.

    Raises:
        ParameterError: On a shape the Trainer would refuse or non-``gs://`` locations.
        launcher.TrainingError: If the TrainJob fails (its condition's message included).
        ComponentError: On API errors or the timeout.
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
    docs = manifests(spec)
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
