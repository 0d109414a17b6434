"""Multi-node training as a Kubeflow Trainer TrainJob: manifests, API calls, and a real run.

No cluster here: the manifests are checked against the published Trainer API models
(kubeflow-trainer-api), the Kubernetes core schemas and, when the folder of published CRDs is
present, the Trainer's CRDs (every ``manifests()`` call below); the API calls go to a loopback
server answering like the API server (which admits objects against the same CRDs); the
launcher command of the generated TrainJob is run for real by horovodrun from the trainer env,
with the hostfile the Trainer would mount replaced by one naming localhost.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from kfp_mlops.components.common import crd
from kfp_mlops.components.common.errors import ComponentError, ParameterError
from kfp_mlops.components.training.train_model.launcher import TrainingError
from kfp_mlops.components.training.train_multinode import manifests as mf
from kfp_mlops.components.training.train_multinode import schema
from kfp_mlops.components.training.train_multinode.client import TrainJobClient
from kfp_mlops.components.training.train_multinode.core import (
    default_job_name,
    own_namespace,
    train_multinode,
)
from kfp_mlops.components.training.train_multinode.run import ClusterRun
from tests.conftest import free_port
from tests.training.trainjob_api import CRD_DIR, FakeTrainerApi, FakeTrainerServer

BUCKET = "kfp-mlops-test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def crd_checks(monkeypatch):
    """Every object generated here is also checked against its published CRD, when present."""
    if CRD_DIR is not None:
        monkeypatch.setenv(crd.CRD_DIR_ENV, str(CRD_DIR))


def gpu_spec(**changes) -> mf.TrainJobSpec:
    base = dict(
        name="train-model-abc",
        namespace="team-a",
        config_uri="gs://bucket/run/config.json",
        num_nodes=3,
        procs_per_node=4,
        gpus_per_node=4,
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        active_deadline_seconds=7200,
    )
    base.update(changes)
    return mf.TrainJobSpec(**base)


def jobs_of(runtime: dict) -> dict[str, dict]:
    return {j["name"]: j for j in runtime["spec"]["template"]["spec"]["replicatedJobs"]}


def pod_of(job: dict) -> dict:
    return job["template"]["spec"]["template"]["spec"]


# --------------------------------------------------------------------------- manifests


def test_gpu_manifests_pass_the_published_api_and_core_schemas():
    runtime, job = mf.manifests(gpu_spec())
    assert schema.validate_with_api(runtime) == []
    assert schema.validate_with_api(job) == []
    assert runtime["kind"] == "TrainingRuntime" and job["kind"] == "TrainJob"
    assert job["spec"]["runtimeRef"] == {
        "name": runtime["metadata"]["name"],
        "kind": "TrainingRuntime",
        "apiGroup": "trainer.kubeflow.org",
    }
    assert job["spec"]["trainer"]["numNodes"] == 3
    assert job["spec"]["trainer"]["numProcPerNode"] == 4
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    mpi = runtime["spec"]["mlPolicy"]["mpi"]
    assert mpi["numProcPerNode"] == 4 and mpi["runLauncherAsNode"] is False
    assert mpi["sshAuthMountPath"] == mf.SSH_AUTH_DIR


def test_gpus_selector_and_tolerations_sit_on_the_nodes_not_the_launcher():
    runtime = mf.training_runtime(gpu_spec())
    jobs = jobs_of(runtime)
    node, launcher = pod_of(jobs["node"]), pod_of(jobs["launcher"])
    limits = node["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "4"
    assert node["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert node["tolerations"][0]["key"] == "nvidia.com/gpu"
    shm = next(v for v in node["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert "nvidia.com/gpu" not in json.dumps(launcher["containers"][0]["resources"])
    assert "nodeSelector" not in launcher and "tolerations" not in launcher
    # The launcher starts only after every node's sshd answers.
    assert jobs["launcher"]["dependsOn"] == [{"name": "node", "status": "Ready"}]
    assert node["containers"][0]["readinessProbe"]["tcpSocket"]["port"] == mf.SSH_PORT
    assert jobs["launcher"]["template"]["metadata"]["labels"][mf.ANCESTOR_LABEL] == "trainer"


def test_pods_run_as_non_root_and_take_credentials_only_from_secrets():
    text = yaml.safe_dump_all(mf.manifests(gpu_spec()))
    for _, template in schema.pod_templates(mf.training_runtime(gpu_spec())):
        ctx = template["spec"]["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 1000
    assert "secretKeyRef" in text and "kfp-mlops-gcs" in text
    assert "password:" not in text.lower().replace("key: password", "")


def test_launcher_command_runs_horovodrun_over_the_trainer_hostfile():
    spec = gpu_spec()
    command = mf.launcher_command(spec)
    assert command[:2] == ["/bin/bash", "-c"]
    argv = shlex.split(command[2].split("exec ", 1)[1])
    assert argv[0] == "/opt/trainer-env/bin/horovodrun"
    assert argv[argv.index("-np") + 1] == "12"  # 3 nodes x 4 processes
    assert argv[argv.index("--hostfile") + 1] == "/etc/mpi/hostfile"
    assert argv[argv.index("--ssh-port") + 1] == str(mf.SSH_PORT)
    assert argv[-2:] == ["--config", "gs://bucket/run/config.json"]
    assert mf.WORKER_MODULE in argv


def test_runtime_name_follows_the_job_shape():
    a, b = gpu_spec(), gpu_spec(name="another-run", config_uri="gs://bucket/other/config.json")
    assert a.runtime_name == b.runtime_name  # same shape: one runtime serves both
    assert gpu_spec(gpus_per_node=8, procs_per_node=8).runtime_name != a.runtime_name


@pytest.mark.parametrize(
    "raw", ["Train My_Model!!", "-" * 90, "model/../../etc", "UPPER.case.name", "ÄÖÜ-模型"]
)
def test_hostile_names_become_valid_kubernetes_names(raw):
    _runtime, job = mf.manifests(gpu_spec(name=raw))
    name = job["metadata"]["name"]
    assert len(name) <= mf.MAX_NAME
    assert all(c.isdigit() or c == "-" or ("a" <= c <= "z") for c in name)
    assert name[0].isalpha() and name[-1].isalnum()


def test_cpu_shape_has_no_gpu_and_no_selector():
    runtime, _ = mf.manifests(gpu_spec(gpus_per_node=0, node_selector={}, tolerations=[]))
    node = pod_of(jobs_of(runtime)["node"])
    assert set(node["containers"][0]["resources"]["limits"]) == {"cpu", "memory"}
    assert "nodeSelector" not in node


def test_api_validation_catches_unknown_fields_and_wrong_types():
    job = mf.train_job(gpu_spec())
    job["spec"]["trainer"]["numNodez"] = 2
    assert schema.validate_with_api(job) == [
        "TrainJob.spec.trainer.numNodez: not a field of the published API"
    ]
    job = mf.train_job(gpu_spec())
    job["spec"]["trainer"]["numNodes"] = "3"
    assert any("numNodes" in p and "integer" in p for p in schema.validate_with_api(job))
    job = mf.train_job(gpu_spec())
    del job["spec"]["runtimeRef"]["name"]
    assert any("name" in p for p in schema.validate_with_api(job))


def test_core_schema_catches_a_bad_pod_field():
    runtime = mf.training_runtime(gpu_spec())
    pod_of(jobs_of(runtime)["node"])["containers"][0]["ports"][0]["containerPort"] = "ssh"
    with pytest.raises(ComponentError, match="containerPort"):
        schema.validate([runtime])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"num_nodes": 0}, "num_nodes is 0"),
        ({"procs_per_node": 8, "gpus_per_node": 4}, "one Horovod process per GPU"),
        ({"config_uri": "/tmp/config.json"}, "gs://"),
        ({"namespace": ""}, "namespace"),
    ],
)
def test_bad_shapes_are_refused_with_the_fix(changes, match):
    with pytest.raises(ParameterError, match=match):
        mf.manifests(gpu_spec(**changes))


# --------------------------------------------------------------------------- API calls


def test_client_creates_runtime_then_job_and_reports_completion():
    api = FakeTrainerApi()
    api.on_create = lambda obj: api.set_condition(
        "team-a", obj["metadata"]["name"], "Complete", "JobSetCompleted", "done"
    )
    docs = mf.manifests(gpu_spec())
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.05)
        client.apply(docs)
        outcome = client.wait("team-a", docs[1]["metadata"]["name"], timeout_s=10)
    assert outcome.succeeded and outcome.reason == "JobSetCompleted"
    base = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a"
    assert api.calls() == [("POST", f"{base}/trainingruntimes"), ("POST", f"{base}/trainjobs")]
    posted = [b for m, _, b in api.requests if m == "POST"]
    assert posted == docs


def test_a_retry_attaches_to_its_own_running_job():
    api = FakeTrainerApi()
    docs = mf.manifests(gpu_spec())
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.05)
        client.apply(docs)
        client.apply(docs)  # the retried step: runtime and job both exist
    assert [m for m, _ in api.calls()] == ["POST", "POST"]


def test_a_job_of_another_config_is_refused():
    api = FakeTrainerApi()
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.05)
        client.apply(mf.manifests(gpu_spec()))
        other = mf.manifests(gpu_spec(config_uri="gs://bucket/other-run/config.json"))
        with pytest.raises(
            ComponentError, match="runs another config.*kubectl delete trainjob"
        ) as clash:
            client.apply(other)
    assert clash.value.fault == "user"  # a job name that another run holds


def test_a_failed_job_is_deleted_and_created_again():
    api = FakeTrainerApi()
    docs = mf.manifests(gpu_spec())
    name = docs[1]["metadata"]["name"]
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.05)
        client.apply(docs)
        api.set_condition("team-a", name, "Failed", "BackoffLimitExceeded", "node-1 evicted")
        # The first attempt sees the failure (once the status catches up) and fails the step.
        assert not client.wait("team-a", name, timeout_s=10).succeeded
        client.apply(docs)  # the retry
    base = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a"
    assert api.calls()[-2:] == [
        ("DELETE", f"{base}/trainjobs/{name}"),
        ("POST", f"{base}/trainjobs"),
    ]
    assert "status" not in api.objects[("trainjobs", "team-a", name)]


def test_forbidden_names_the_rbac_fix():
    api = FakeTrainerApi(deny=403)
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.05)
        with pytest.raises(ComponentError, match="403.*service account") as refused:
            client.apply(mf.manifests(gpu_spec()))
    assert refused.value.fault == "infrastructure"  # not the user's data or parameters


def test_wait_gives_up_after_the_timeout_with_the_conditions_seen():
    api = FakeTrainerApi()
    docs = mf.manifests(gpu_spec())
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.05)
        client.apply(docs)
        with pytest.raises(ComponentError, match="did not finish within 0 s"):
            client.wait("team-a", docs[1]["metadata"]["name"], timeout_s=0.2)


def _splits_to_gcs(gcs, bc_splits, prefix: str) -> tuple[str, str]:
    uris = []
    for path in bc_splits:
        name = f"{prefix}/{Path(path).name}"
        gcs.bucket(BUCKET).blob(name).upload_from_filename(path)
        uris.append(f"gs://{BUCKET}/{name}")
    return uris[0], uris[1]


def _cpu_cluster(server, gcs, uris: tuple[str, str], prefix: str, **extra) -> ClusterRun:
    """Two CPU nodes on the stand-in Trainer API, working under ``gs://<bucket>/<prefix>/work``."""
    return ClusterRun(
        spec=gpu_spec(name=f"{prefix}-run", gpus_per_node=0, procs_per_node=1, num_nodes=2),
        work_uri=f"gs://{BUCKET}/{prefix}/work",
        train_uri=uris[0],
        validation_uri=uris[1],
        api_client=server.api_client(),
        gcs_client=gcs,
        poll_interval_s=0.05,
        **extra,
    )


def test_failed_trainjob_fails_the_step_with_its_message_and_writes_no_model(
    gcs_emulator, bc_splits, tmp_path
):
    from kfp_mlops.components.training.train_model.core import train

    api = FakeTrainerApi()
    api.on_create = lambda obj: api.set_condition(
        "team-a", obj["metadata"]["name"], "Failed", "BackoffLimitExceeded", "node-0 OOMKilled"
    )
    train_uri, val_uri = _splits_to_gcs(gcs_emulator, bc_splits, "failing")
    model_dir = tmp_path / "model"
    with FakeTrainerServer(api) as server:
        cluster = _cpu_cluster(
            server,
            gcs_emulator,
            (train_uri, val_uri),
            "failing",
            manifests_path=str(tmp_path / "trainjob.yaml"),
        )
        with pytest.raises(TrainingError, match="OOMKilled.*kubectl logs"):
            train(*bc_splits, str(model_dir), num_workers=2, epochs=2, cluster=cluster)
    assert not (model_dir / "model.h5").exists()
    # What was applied is on record, and the config the workers would read is in GCS.
    applied = list(yaml.safe_load_all((tmp_path / "trainjob.yaml").read_text()))
    assert [d["kind"] for d in applied] == ["TrainingRuntime", "TrainJob"]
    config = json.loads(
        gcs_emulator.bucket(BUCKET).blob("failing/work/config.json").download_as_bytes()
    )
    assert config["train_path"] == train_uri and config["output_dir"].startswith("gs://")


def test_a_local_model_file_is_checked_then_uploaded_for_the_nodes(
    gcs_emulator, bc_splits, tmp_path
):
    """The nodes cannot see the launching pod's files: the job's config names a gs:// copy."""
    from kfp_mlops.components.training.train_model.core import train
    from kfp_mlops.components.training.train_multinode.run import stage_model_fn

    example = ROOT / "examples" / "user_model" / "wide_and_deep.py"
    api = FakeTrainerApi()
    api.on_create = lambda obj: api.set_condition(
        "team-a", obj["metadata"]["name"], "Failed", "Stopped", "stopped by the test"
    )
    train_uri, val_uri = _splits_to_gcs(gcs_emulator, bc_splits, "user-model")
    with FakeTrainerServer(api) as server:
        cluster = _cpu_cluster(server, gcs_emulator, (train_uri, val_uri), "user-model")
        with pytest.raises(TrainingError, match="stopped by the test"):
            train(
                *bc_splits,
                str(tmp_path / "model"),
                num_workers=2,
                epochs=2,
                model_fn=str(example),
                cluster=cluster,
            )
    bucket = gcs_emulator.bucket(BUCKET)
    config = json.loads(bucket.blob("user-model/work/config.json").download_as_bytes())
    assert config["model_fn"] == f"gs://{BUCKET}/user-model/work/model_fn/wide_and_deep.py"
    staged = bucket.blob("user-model/work/model_fn/wide_and_deep.py").download_as_bytes()
    assert staged == example.read_bytes()
    # Names the nodes resolve themselves are passed on as they are; a missing file is named.
    for name in ("builtin:resnet_mlp", "my_models.tabular:build_model", "gs://b/m.py"):
        assert stage_model_fn(name, "gs://b/work") == name
    with pytest.raises(ParameterError, match="does not exist in this pod"):
        stage_model_fn(str(tmp_path / "absent.py"), "gs://b/work")


def test_local_paths_are_refused_before_anything_is_created(bc_splits, tmp_path):
    from kfp_mlops.components.training.train_model.core import train

    api = FakeTrainerApi()
    with FakeTrainerServer(api) as server:
        cluster = ClusterRun(
            spec=gpu_spec(gpus_per_node=0, procs_per_node=1, num_nodes=2),
            work_uri=str(tmp_path / "work"),
            train_uri=bc_splits[0],
            validation_uri=bc_splits[1],
            api_client=server.api_client(),
        )
        with pytest.raises(ParameterError, match="gs:// pipeline root"):
            train(*bc_splits, str(tmp_path / "model"), num_workers=2, epochs=2, cluster=cluster)
    assert api.requests == []


def multinode_before_the_cluster(bc_splits, tmp_path, server, **params):
    """``train_multinode`` on the local splits, for a test where it must fail before GCS is used."""
    return train_multinode(
        *bc_splits,
        "gs://b/train.parquet",
        "gs://b/validation.parquet",
        str(tmp_path / "model"),
        "gs://b/model",
        namespace="team-a",
        api_client=server.api_client(),
        **params,
    )


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("node_selector_json", "{not json", "node_selector_json is not valid JSON"),
        ("node_selector_json", "[1]", "must be a JSON object"),
        ("tolerations_json", '{"key": "x"}', "must be a JSON list"),
    ],
)
def test_multinode_refuses_bad_scheduling_json_before_any_call(
    bc_splits, tmp_path, field, value, match
):
    api = FakeTrainerApi()
    with FakeTrainerServer(api) as server:
        with pytest.raises(ParameterError, match=match):
            multinode_before_the_cluster(bc_splits, tmp_path, server, **{field: value})
    assert api.requests == []


def test_multinode_defaults_come_from_the_pod_and_the_output_location(tmp_path):
    ns_file = tmp_path / "namespace"
    ns_file.write_text("kubeflow-user-example-com\n")
    assert own_namespace(str(ns_file)) == "kubeflow-user-example-com"
    assert own_namespace(str(tmp_path / "absent")) == ""
    a = default_job_name("gs://root/run-1/train/model")
    assert a == default_job_name("gs://root/run-1/train/model")
    assert a != default_job_name("gs://root/run-2/train/model")
    assert mf.manifests(gpu_spec(name=a))[1]["metadata"]["name"] == a


# --------------------------------------------------------------------------- a real run


def dockerfile_sshd_config() -> list[str]:
    """The sshd_config lines the trainer image writes (containers/trainer/Dockerfile)."""
    text = (ROOT / "containers" / "trainer" / "Dockerfile").read_text()
    block = text.split(f"> {mf.SSHD_CONFIG}")[0].rsplit("printf '%s\\n'", 1)[1]
    return re.findall(r'"([^"]+)"', block)


@pytest.fixture(scope="module")
def node_sshd(tmp_path_factory):
    """The image's sshd config, run here on loopback as the nodes' sshd would run in the pods.

    Paths and the port are this test's; 127.0.0.2 stands for a second node (same machine,
    another address, so horovodrun reaches it over SSH). Keys are made as the Trainer's MPI
    plugin makes them: an RSA pair, the public key as authorized_keys.
    """
    sshd = Path("/usr/sbin/sshd")
    if not sshd.exists() or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        pytest.fail("openssh-server/openssh-client missing: run `make system-deps`")
    base = tmp_path_factory.mktemp("sshd")
    for args in (
        ["-t", "ed25519", "-f", base / "host_key"],
        ["-t", "rsa", "-b", "2048", "-f", base / "id_rsa"],
    ):
        subprocess.run(["ssh-keygen", "-q", "-N", "", *map(str, args)], check=True)
    (base / "authorized_keys").write_text((base / "id_rsa.pub").read_text())
    port = free_port()
    replace = {
        "Port": str(port),
        "HostKey": str(base / "host_key"),
        "PidFile": str(base / "sshd.pid"),
        "AuthorizedKeysFile": str(base / "authorized_keys"),
        # The image runs sshd as uid 1000; CI runs tests as root.
        "PermitRootLogin": "prohibit-password" if os.geteuid() == 0 else "no",
    }
    lines = []
    for line in dockerfile_sshd_config():
        key = line.split()[0]
        lines.append(f"{key} {replace[key]}" if key in replace else line)
    assert {line.split()[0] for line in lines} >= set(replace), lines
    lines += ["ListenAddress 127.0.0.1", "ListenAddress 127.0.0.2"]
    (base / "sshd_config").write_text("\n".join(lines) + "\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    log_file = base / "sshd.log"
    proc = subprocess.Popen(
        [str(sshd), "-D", "-e", "-f", str(base / "sshd_config"), "-E", str(log_file)]
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.2", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(
                    f"sshd did not start: {log_file.read_text() if log_file.exists() else ''}"
                )
            time.sleep(0.2)
    try:
        yield {"port": port, "identity": str(base / "id_rsa"), "log": log_file}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _controller(api: FakeTrainerApi, gcs, trainer_python: str, work: Path, sshd: dict):
    """Plays the Trainer controller: runs the TrainJob's launcher command on this machine.

    The hostfile the MPI plugin would mount names two nodes, 127.0.0.1 and 127.0.0.2, one slot
    each: horovodrun starts rank 0 locally and rank 1 over SSH through the image's sshd
    config (``node_sshd``), with the key pair the Trainer would mount. The image's trainer env
    is the local one, and the workers read and write file:// URIs that stand in for the
    gs:// ones (TensorFlow's GCS client cannot talk to the emulator); their output is then
    copied to the gs:// location the job was told to write to.
    """

    def run(obj: dict) -> None:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        script = obj["spec"]["trainer"]["command"][2]
        argv = shlex.split(script.split("exec ", 1)[1])
        config_uri = argv[-1]
        config = json.loads(
            gcs.bucket(BUCKET).blob(config_uri.split("/", 3)[3]).download_as_bytes()
        )
        for key in ("train_path", "validation_path"):
            local = work / Path(config[key]).name
            gcs.bucket(BUCKET).blob(config[key].split("/", 3)[3]).download_to_filename(local)
            config[key] = f"file://{local}"
        gs_output = config["output_dir"]
        config["output_dir"] = f"file://{work / 'out'}"
        config["log_dir"] = str(work / "logs")
        config["checkpoint_dir"] = str(work / "ckpt")
        (work / "config.json").write_text(json.dumps(config))
        (work / "hostfile").write_text("127.0.0.1 slots=1\n127.0.0.2 slots=1\n")
        bindir = str(Path(trainer_python).parent)
        argv = [a.replace("/opt/trainer-env/bin", bindir) for a in argv]
        argv[argv.index("--hostfile") + 1] = str(work / "hostfile")
        argv[argv.index("--ssh-port") + 1] = str(sshd["port"])
        argv[argv.index("--ssh-identity-file") + 1] = sshd["identity"]
        argv[-1] = str(work / "config.json")
        env = {**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"]}
        env.update(TF_USE_LEGACY_KERAS="0", OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run(
            argv, check=False, env=env, capture_output=True, text=True, timeout=600
        )
        (work / "launcher.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            api.set_condition(ns, name, "Failed", "JobFailed", proc.stderr[-500:])
            return
        prefix = gs_output.split("/", 3)[3]
        for path in (work / "out").rglob("*"):
            if path.is_file():
                rel = path.relative_to(work / "out").as_posix()
                gcs.bucket(BUCKET).blob(f"{prefix}/{rel}").upload_from_filename(str(path))
        api.set_condition(ns, name, "Complete", "JobSetCompleted", "all replicas succeeded")

    return run


@pytest.mark.slow
@pytest.mark.trainer
def test_trainjob_launcher_command_trains_and_the_model_comes_back(
    gcs_emulator, bc_splits, trainer_python, node_sshd, tmp_path
):
    import numpy as np

    from kfp_mlops.components.common.artifacts import load_keras

    work = tmp_path / "controller"
    work.mkdir()
    api = FakeTrainerApi()
    api.on_create = _controller(api, gcs_emulator, trainer_python, work, node_sshd)
    train_uri, val_uri = _splits_to_gcs(gcs_emulator, bc_splits, "e2e")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with FakeTrainerServer(api) as server:
        result = train_multinode(
            *bc_splits,
            train_uri,
            val_uri,
            str(model_dir),
            f"gs://{BUCKET}/e2e/model",
            manifests_path=str(tmp_path / "manifests.yaml"),
            num_nodes=2,
            procs_per_node=1,
            gpus_per_node=0,
            namespace="team-a",
            timeout_minutes=10,
            api_client=server.api_client(),
            gcs_client=gcs_emulator,
            poll_interval_s=0.2,
            epochs=3,
            warmup_epochs=1,
            grad_accum_steps=1,
            export_saved_model=False,
        )
    job = list(yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()))[1]
    assert job["metadata"]["name"] == default_job_name(f"gs://{BUCKET}/e2e/model")
    log = (work / "launcher.log").read_text()
    assert result.metrics["workers"] == 2, log
    # Rank 1 ran on the "second node": horovodrun logged in through the image's sshd config.
    assert "Accepted publickey" in node_sshd["log"].read_text(), log
    assert result.metrics["epochs_run"] == 3
    assert result.metrics["val_accuracy"] > 0.85
    # The worker wrote through its URI path (file:// here, gs:// on the cluster).
    assert (work / "out" / "metrics.json").exists()
    model = load_keras(str(model_dir))
    probe = json.loads((model_dir / "probe_predictions.json").read_text())
    got = model.predict(np.asarray(probe["inputs"], dtype="float32"), verbose=0)
    np.testing.assert_allclose(got, np.asarray(probe["outputs"]), atol=1e-5)
    assert (model_dir / "model_config.json").exists()
