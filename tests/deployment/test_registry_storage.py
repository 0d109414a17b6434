"""The InferenceService reads the registry's own copy when it can: a real `mlflow server` whose
artifact root is a bucket (the GCS emulator), register_model writing there, deploy_model
pointing storageUri at that folder and uploading nothing; different bytes or a proxied
store fall back to uploading under storage_uri."""

from __future__ import annotations

import pytest
import yaml

from kfp_mlops.components.deployment.deploy_model import storage
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.registry.register_model.core import register
from tests.registry.conftest import EVALUATION

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bucket_registry(gcs_emulator, tmp_path_factory):
    """An MLflow server whose clients write artifacts to gs://mlflow-store/artifacts."""
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    gcs_emulator.create_bucket("mlflow-store")
    gcs_emulator.create_bucket("serving-models")
    url, process = start_mlflow_server(
        tmp_path_factory.mktemp("mlflow-gcs"), artifact_root="gs://mlflow-store/artifacts"
    )
    try:
        yield url
    finally:
        stop_mlflow_server(process)


def _registered(url, inputs, name, model="v1"):
    root, _ = inputs
    reg = register(
        str(root / model),
        dict(EVALUATION),
        tracking_uri=url,
        name=name,
        blessed=True,
        preprocessor_path=str(root / "preprocessor.json"),
    )
    return reg.version


def _deploy(url, inputs, out, version, model="v1"):
    root, frame = inputs
    return deploy(
        str(root / model),
        str(root / "preprocessor.json"),
        frame,
        target="gitops",
        gitops_dir=str(out),
        model_name="registry-served",
        storage_uri="gs://serving-models/models",
        tracking_uri=url,
        registered_version=version,
    )


def _storage_uri(out):
    """The custom runtime's STORAGE_URI (KServe's storage initializer downloads from it)."""
    isvc = yaml.safe_load((out / "registry-served" / "base" / "inferenceservice.yaml").read_text())
    env = isvc["spec"]["predictor"]["containers"][0]["env"]
    return next(e["value"] for e in env if e["name"] == "STORAGE_URI")


def test_the_registry_copy_is_served_and_nothing_is_uploaded(
    bucket_registry, file_inputs, gcs_emulator, tmp_path
):
    version = _registered(bucket_registry, file_inputs, "registry-served")
    where = storage.registry_location(
        bucket_registry,
        "registry-served",
        version,
        str(file_inputs[0] / "v1"),
        str(file_inputs[0] / "preprocessor.json"),
    )
    assert where.startswith("gs://mlflow-store/artifacts/") and where.endswith("/model")
    result = _deploy(bucket_registry, file_inputs, tmp_path / "tree", version)
    assert result.outcome.decision == "written"
    assert _storage_uri(tmp_path / "tree") == where == result.storage_uri
    assert list(gcs_emulator.list_blobs("serving-models")) == []  # no second copy
    # What the InferenceService reads is what was registered, byte for byte.
    stored = {b.name.rsplit("/", 1)[-1] for b in gcs_emulator.list_blobs("mlflow-store")}
    assert {"model.h5", "preprocessor.json"} <= stored


def test_different_bytes_fall_back_to_uploading(
    bucket_registry, file_inputs, gcs_emulator, tmp_path
):
    version = _registered(bucket_registry, file_inputs, "registry-served", model="v1")
    # The version registered holds v1; deploying v2 under its number must not serve v1.
    result = _deploy(bucket_registry, file_inputs, tmp_path / "tree", version, model="v2")
    uri = _storage_uri(tmp_path / "tree")
    assert uri.startswith("gs://serving-models/models/registry-served/")
    names = {b.name for b in gcs_emulator.list_blobs("serving-models")}
    assert any(n.endswith("/model.h5") for n in names) and result.storage_uri == uri


def test_a_proxied_registry_store_falls_back_to_uploading(file_inputs, tmp_path):
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path / "mlflow")  # mlflow-artifacts:/ store
    try:
        version = _registered(url, file_inputs, "proxied")
        root = file_inputs[0]
        where = storage.registry_location(
            url, "proxied", version, str(root / "v1"), str(root / "preprocessor.json")
        )
        assert where == ""
        # An unreachable registry is no reason to fail a deployment: it uploads.
        assert (
            storage.registry_location(
                "http://127.0.0.1:9", "proxied", version, str(root / "v1"), str(root / "v1")
            )
            == ""
        )
    finally:
        stop_mlflow_server(process)
