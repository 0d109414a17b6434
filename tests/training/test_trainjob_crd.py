"""The generated Trainer objects against the published CRDs, and the API stand-in made strict.

The ``kubeflow-trainer-api`` models check types and field names but not the CRD's enums,
bounds or CEL rules: the cases below pass the models and are refused by the CRD, as the API
server would refuse them. The stand-in API server admits objects against the same CRDs and
lags behind writes like a real one, and each of its behaviours is shown catching the client
bug it exists for.
"""

from __future__ import annotations

import copy

import pytest

from kfp_mlops.components.common import crd
from kfp_mlops.components.common.errors import ComponentError, ParameterError
from kfp_mlops.components.training.train_multinode import manifests as mf
from kfp_mlops.components.training.train_multinode import schema
from kfp_mlops.components.training.train_multinode.client import TrainJobClient
from tests.training.test_trainjob import gpu_spec, jobs_of, multinode_before_the_cluster
from tests.training.trainjob_api import CRD_DIR, FakeTrainerApi, FakeTrainerServer, needs_crds

pytestmark = needs_crds
needs_cel = pytest.mark.skipif(not crd.cel_available(), reason="cel-python is not installed")
BASE = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a"


@pytest.fixture(autouse=True)
def no_crd_env(monkeypatch):
    """Each test names its CRD folder itself."""
    monkeypatch.delenv(crd.CRD_DIR_ENV, raising=False)


SHAPES = {
    "gpu": {},
    "cpu": {"gpus_per_node": 0, "procs_per_node": 1, "node_selector": {}, "tolerations": []},
    "one node": {"num_nodes": 1, "active_deadline_seconds": 0},
    "hostile name": {"name": "ÄÖÜ Train_Model!!" + "-x" * 40},
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_every_generated_shape_passes_its_published_crd(shape):
    runtime, job = mf.manifests(gpu_spec(**SHAPES[shape]), CRD_DIR)
    assert schema.validate_with_crd(runtime, CRD_DIR) == []
    assert schema.validate_with_crd(job, CRD_DIR) == []


def _runtime_with(change):
    runtime = mf.training_runtime(gpu_spec())
    change(runtime)
    return runtime


def _job_with(change):
    job = mf.train_job(gpu_spec())
    change(job)
    return job


def _mpi(runtime):
    return runtime["spec"]["mlPolicy"]["mpi"]


# Bugs a change to the builders could bring in; the API models let every one of them through.
MISSED_BY_THE_MODELS = {
    "mpi implementation misspelled": (
        lambda: _runtime_with(lambda r: _mpi(r).update(mpiImplementation="OpenMPl")),
        "mpiImplementation: 'OpenMPl' is not one of",
    ),
    "dependsOn status not an enum value": (
        lambda: _runtime_with(
            lambda r: jobs_of(r)["launcher"]["dependsOn"][0].update(status="Running")
        ),
        "dependsOn[0].status: 'Running' is not one of ['Ready', 'Complete']",
    ),
    "a zero deadline": (
        lambda: _job_with(lambda j: j["spec"].update(activeDeadlineSeconds=0)),
        "activeDeadlineSeconds: 0 is below the minimum 1",
    ),
    "CEL: InOrder startup next to dependsOn": (
        lambda: _runtime_with(
            lambda r: r["spec"]["template"]["spec"].update(
                startupPolicy={"startupPolicyOrder": "InOrder"}
            )
        ),
        "StartupPolicy and DependsOn APIs are mutually exclusive",
    ),
    "CEL: zero processes per node": (
        lambda: _runtime_with(lambda r: _mpi(r).update(numProcPerNode=0)),
        "NumProcPerNode in mpiPolicy must be >= 1",
    ),
    "CEL: a name starting with a digit": (
        lambda: _job_with(lambda j: j["metadata"].update(name="1-train-model")),
        "metadata.name must match RFC 1035 DNS label format",
    ),
}


@pytest.mark.parametrize("case", MISSED_BY_THE_MODELS, ids=list(MISSED_BY_THE_MODELS))
def test_the_crd_catches_what_the_api_models_miss(case):
    if case.startswith("CEL") and not crd.cel_available():
        pytest.skip("cel-python is not installed: the CRD's CEL rules cannot run")
    make, expected = MISSED_BY_THE_MODELS[case]
    obj = make()
    assert schema.validate_with_api(obj) == []  # the models' check alone passes it
    problems = schema.validate_with_crd(obj, CRD_DIR)
    assert any(expected in p for p in problems), problems


def test_the_crd_names_a_misspelled_field_and_a_wrong_type():
    job = _job_with(lambda j: j["spec"]["trainer"].update(numNodez=3))
    assert schema.validate_with_crd(job, CRD_DIR) == [
        "TrainJob (CRD) $.spec.trainer.numNodez: unknown field (did you mean 'numNodes'?)"
    ]
    job = _job_with(lambda j: j["spec"]["trainer"].update(numNodes="3"))
    assert schema.validate_with_crd(job, CRD_DIR) == [
        "TrainJob (CRD) $.spec.trainer.numNodes: expected integer, got string '3'"
    ]


@needs_cel
def test_the_component_refuses_a_builder_bug_before_any_call(bc_splits, tmp_path, monkeypatch):
    build = mf.training_runtime

    def in_order(spec):  # a plausible edit: start the nodes before the launcher "in order"
        runtime = build(spec)
        runtime["spec"]["template"]["spec"]["startupPolicy"] = {"startupPolicyOrder": "InOrder"}
        return runtime

    monkeypatch.setattr(mf, "training_runtime", in_order)
    api = FakeTrainerApi()
    with FakeTrainerServer(api) as server:
        with pytest.raises(ComponentError, match="StartupPolicy and DependsOn.*bug in kfp-mlops"):
            multinode_before_the_cluster(
                bc_splits, tmp_path, server, gpus_per_node=0, crd_dir=str(CRD_DIR), epochs=1
            )
    assert api.requests == []


def test_the_crd_folder_comes_from_the_argument_or_the_environment(monkeypatch, tmp_path):
    assert schema.crd_folder() is None  # nothing named: the CRD check is skipped
    monkeypatch.setenv(crd.CRD_DIR_ENV, str(CRD_DIR))
    assert schema.crd_folder() == CRD_DIR
    with pytest.raises(ParameterError, match=r"does not exist.*mount the Trainer's published"):
        schema.crd_folder(str(tmp_path / "absent"))
    with pytest.raises(ParameterError, match="no CRD for TrainingRuntime"):
        schema.validate(mf.manifests(gpu_spec()), tmp_path)  # a folder without the Trainer's


# --------------------------------------------------------------------------- the stand-in


def test_the_api_refuses_an_invalid_body_with_422_and_the_client_says_why():
    runtime, job = mf.manifests(gpu_spec(), CRD_DIR)
    _mpi(runtime)["mpiImplementation"] = "OpenMPl"  # changed after the component's check
    api = FakeTrainerApi()
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.01)
        with pytest.raises(ComponentError, match=r"422 creating TrainingRuntime.*'OpenMPl'"):
            client.apply([runtime, job])
    assert api.objects == {}


def test_unknown_fields_are_refused_only_for_a_strict_client():
    """The server drops unknown fields by default: a client must ask for Strict validation."""
    from kubernetes import client as k8s

    _, job = mf.manifests(gpu_spec(), CRD_DIR)
    job["spec"]["trainer"]["numNodez"] = 3
    api = FakeTrainerApi()
    with FakeTrainerServer(api) as server:
        ours = TrainJobClient(server.api_client(), poll_interval_s=0.01)
        with pytest.raises(ComponentError, match=r'400.*unknown field "spec.trainer.numNodez"'):
            ours.apply([job])
        assert api.objects == {}
        # A client that does not ask for Strict: created, and the field silently gone.
        raw = k8s.CustomObjectsApi(server.api_client())
        raw.create_namespaced_custom_object(
            "trainer.kubeflow.org", "v1alpha1", "team-a", "trainjobs", copy.deepcopy(job)
        )
    stored = api.objects[("trainjobs", "team-a", job["metadata"]["name"])]
    assert "numNodez" not in stored["spec"]["trainer"]
    assert api.warnings == ['unknown field "spec.trainer.numNodez"']


class EagerClient(TrainJobClient):
    """A client that re-creates a failed TrainJob as soon as it has asked for its deletion."""

    def _take_over(self, existing, doc):
        meta = doc["metadata"]
        self.api.delete_namespaced_custom_object(
            "trainer.kubeflow.org", "v1alpha1", meta["namespace"], "trainjobs", meta["name"]
        )
        return True


def _retry_after_failure(api: FakeTrainerApi, client_class: type[TrainJobClient]) -> list:
    docs = mf.manifests(gpu_spec(), CRD_DIR)
    name = docs[1]["metadata"]["name"]
    with FakeTrainerServer(api) as server:
        client = client_class(server.api_client(), poll_interval_s=0.01)
        client.apply(docs)
        api.set_condition("team-a", name, "Failed", "BackoffLimitExceeded", "node-1 evicted")
        assert not client.wait("team-a", name, timeout_s=10).succeeded
        client.apply(docs)  # the retried step
    return docs


def test_a_lingering_deletion_catches_a_client_that_recreates_too_early():
    with pytest.raises(ComponentError, match="409 creating TrainJob.*being deleted"):
        _retry_after_failure(FakeTrainerApi(), EagerClient)
    # Without the lag (an API server that deletes at once) the same bug would go unnoticed.
    _retry_after_failure(FakeTrainerApi(stale_polls=0), EagerClient)


def test_the_client_waits_for_the_deletion_before_it_recreates():
    api = FakeTrainerApi(stale_polls=3)
    docs = _retry_after_failure(api, TrainJobClient)
    job = f"{BASE}/trainjobs/{docs[1]['metadata']['name']}"
    verbs = [(m, p) for m, p, _ in api.requests if p in (job, f"{BASE}/trainjobs")]
    after_delete = [m for m, _ in verbs[verbs.index(("DELETE", job)) :]]
    # Three reads still see the dying job, the fourth gets 404, then the job is created.
    assert after_delete == ["DELETE", "GET", "GET", "GET", "GET", "POST"]
    assert "status" not in api.objects[("trainjobs", "team-a", docs[1]["metadata"]["name"])]


def test_a_read_right_after_a_write_shows_the_status_from_before_it():
    api = FakeTrainerApi()
    api.on_create = lambda obj: api.set_condition(
        "team-a", obj["metadata"]["name"], "Complete", "JobSetCompleted", "done"
    )
    docs = mf.manifests(gpu_spec(), CRD_DIR)
    name = docs[1]["metadata"]["name"]
    with FakeTrainerServer(api) as server:
        client = TrainJobClient(server.api_client(), poll_interval_s=0.01)
        client.apply(docs)
        first = client._get("team-a", "trainjobs", name)
        outcome = client.wait("team-a", name, timeout_s=10)
    # The controller had finished, but the first read still shows no status: a client that
    # decides on one read is wrong; the polling one sees Complete once the status catches up.
    assert "status" not in first
    assert outcome.succeeded and outcome.reason == "JobSetCompleted"
