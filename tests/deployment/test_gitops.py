"""The GitOps target: kustomize-ready files, nothing else touched, deterministic output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.deployment.deploy_model import validation
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.deployment.deploy_model.report import report_markdown


@pytest.fixture
def inputs(file_inputs):
    return file_inputs


def run(inputs, out: Path, model="v1", **kw):
    root, frame = inputs
    kw.setdefault("storage_uri", "pvc://models/serving")  # no upload
    return deploy(
        str(root / model),
        str(root / "preprocessor.json"),
        frame,
        target="gitops",
        gitops_dir=str(out),
        model_name="Breast Cancer",
        **kw,
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_canary_tree_is_kustomize_ready(inputs, tmp_path):
    result = run(inputs, tmp_path)
    assert result.outcome.decision == "written"
    files = tree(tmp_path / "breast-cancer")
    assert sorted(files) == [
        ".kfp-mlops-files.json",
        "base/inferenceservice.yaml",
        "base/kustomization.yaml",
        "base/release-configmap.yaml",
        "overlays/canary-010/kustomization.yaml",
        "overlays/canary-050/kustomization.yaml",
    ]
    base = yaml.safe_load(files["base/kustomization.yaml"])
    assert base["resources"] == ["inferenceservice.yaml", "release-configmap.yaml"]
    isvc = yaml.safe_load(files["base/inferenceservice.yaml"])
    assert validation.validate_inference_service(isvc) == []
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    version = result.outcome.version
    env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
    assert env["STORAGE_URI"] == f"pvc://models/serving/breast-cancer/{version}"
    overlay = yaml.safe_load(files["overlays/canary-010/kustomization.yaml"])
    assert overlay["resources"] == ["../../base"]
    patch = yaml.safe_load(overlay["patches"][0]["patch"])
    assert patch == [{"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 10}]
    assert overlay["patches"][0]["target"] == {"kind": "InferenceService", "name": "breast-cancer"}
    assert validation.validate_core(yaml.safe_load(files["base/release-configmap.yaml"])) == []
    assert "📝 written" in report_markdown(result)


def test_unrelated_files_are_untouched(inputs, tmp_path):
    unrelated = {
        "README.md": b"# my deployments\n",
        "other-app/base/kustomization.yaml": b"resources: []\n",
        "breast-cancer/NOTES.txt": b"hand-written notes\n",
    }
    for rel, data in unrelated.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    stamps = {rel: (tmp_path / rel).stat().st_mtime_ns for rel in unrelated}
    run(inputs, tmp_path)
    run(inputs, tmp_path, model="v2", strategy="blue-green")  # rewrites our files
    for rel, data in unrelated.items():
        assert (tmp_path / rel).read_bytes() == data
        assert (tmp_path / rel).stat().st_mtime_ns == stamps[rel]
    files = tree(tmp_path / "breast-cancer")
    # The canary overlays of the first run are gone, the preview overlay is there.
    assert not any(p.startswith("overlays/canary") for p in files)
    assert "overlays/preview/kustomization.yaml" in files
    assert not (tmp_path / "breast-cancer" / "overlays" / "canary-010").exists()


def test_output_is_deterministic(inputs, tmp_path):
    run(inputs, tmp_path / "a")
    run(inputs, tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_same_version_again_is_unchanged(inputs, tmp_path):
    first = run(inputs, tmp_path)
    again = run(inputs, tmp_path)
    assert again.outcome.decision == "unchanged"
    assert again.outcome.previous == first.outcome.version


def test_upload_to_gcs(inputs, tmp_path, gcs_emulator):
    result = run(inputs, tmp_path, storage_uri="gs://kfp-mlops-test/models/")
    prefix = f"models/breast-cancer/{result.outcome.version}/"
    names = sorted(b.name for b in gcs_emulator.bucket("kfp-mlops-test").list_blobs(prefix=prefix))
    assert names == [prefix + "model.h5", prefix + "preprocessor.json"]
    blob = gcs_emulator.bucket("kfp-mlops-test").blob(prefix + "model.h5")
    assert blob.download_as_bytes() == (inputs[0] / "v1" / "model.h5").read_bytes()


def test_a_version_already_stored_is_not_uploaded_again(
    inputs, tmp_path, gcs_emulator, monkeypatch
):
    """Staging then production, a redeploy, a rollback: the same version's bytes stay put."""
    from kfp_mlops.components.common import io
    from kfp_mlops.components.deployment.deploy_model.storage import upload_model

    root = inputs[0]
    uri = "gs://kfp-mlops-test/reuse/m/v1"
    uploads = []
    real = io.write_bytes
    monkeypatch.setattr(
        io, "write_bytes", lambda u, d, client=None: (uploads.append(u), real(u, d, client=client))
    )
    first = upload_model(
        str(root / "v1"), str(root / "preprocessor.json"), uri, client=gcs_emulator
    )
    assert sorted(uploads) == sorted(first) == [f"{uri}/model.h5", f"{uri}/preprocessor.json"]
    uploads.clear()
    assert (
        upload_model(str(root / "v1"), str(root / "preprocessor.json"), uri, client=gcs_emulator)
        == first
    )
    assert uploads == []  # every object already held the same bytes
    # A file whose stored bytes differ (a damaged or partial upload) is written again.
    gcs_emulator.bucket("kfp-mlops-test").blob("reuse/m/v1/model.h5").upload_from_string(b"partial")
    upload_model(str(root / "v1"), str(root / "preprocessor.json"), uri, client=gcs_emulator)
    assert uploads == [f"{uri}/model.h5"]
    stored = gcs_emulator.bucket("kfp-mlops-test").blob("reuse/m/v1/model.h5").download_as_bytes()
    assert stored == (root / "v1" / "model.h5").read_bytes()
    assert io.holds(f"{uri}/model.h5", stored, client=gcs_emulator)
    assert not io.holds(f"{uri}/absent", b"x", client=gcs_emulator)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"gitops_dir": ""}, ParameterError, "needs gitops_dir"),
        ({"storage_uri": ""}, ParameterError, "needs storage_uri"),
        ({"traffic_steps": "50,10"}, ParameterError, "strictly increasing"),
        ({"strategy": "shadow"}, ParameterError, "strategy 'shadow'"),
        ({"namespace": "Kube_Flow"}, ParameterError, "namespace"),
        ({"max_error_rate": 2.0}, ParameterError, "max_error_rate"),
        ({"model_name": ""}, ParameterError, "empty"),
    ],
)
def test_bad_parameters_fail_before_writing(inputs, tmp_path, kw, error, match):
    root, frame = inputs
    args = {"gitops_dir": str(tmp_path / "out"), "storage_uri": "s3://b/m", "model_name": "m", **kw}
    with pytest.raises(error, match=match):
        deploy(str(root / "v1"), str(root / "preprocessor.json"), frame, target="gitops", **args)
    assert not (tmp_path / "out").exists()


def test_smoke_data_without_feature_columns(inputs, tmp_path):
    root, frame = inputs
    with pytest.raises(DataValidationError, match="lacks the feature columns"):
        deploy(
            str(root / "v1"),
            str(root / "preprocessor.json"),
            frame[["target"]],
            target="gitops",
            gitops_dir=str(tmp_path),
            storage_uri="gs://b/m",
        )
