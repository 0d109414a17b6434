"""Rollback end to end on the GitOps target, against a real MLflow server.

With a clone the rollback is a pushed ``git revert`` commit of the live version's deploy
commit (a bare remote on disk); without git the previous tree is written again, byte for
byte as its deployment wrote it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from kfp_mlops.components.common import model_dir as bundle
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import strategies
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.deployment.deploy_model.targets import GitOpsTarget, Release
from kfp_mlops.components.registry.rollback_model.redeploy import Settings, rollback_and_redeploy
from tests.deployment.test_rollback import NS, champion, ship


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield url
    finally:
        stop_mlflow_server(process)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_gitops_rollback_is_a_pushed_revert_commit(mlflow, file_inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    root, _ = file_inputs
    remote, clone = tmp_path / "remote.git", tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], capture_output=True, check=True)
    git(clone, "checkout", "-q", "-b", "main")
    name = "rb-gitops"

    def deployer(folder: Path):
        version = bundle.version_of(folder, root / "preprocessor.json")
        spec = m.ServingSpec(name, NS, version, f"pvc://models/{name}/{version}")
        target = GitOpsTarget("", name, git_repo=str(clone))
        outcome = strategies.run(
            target,
            Release(name, version, spec=spec),
            "canary",
            strategies.SmokeSpec(rows=[], classes=[], inputs=[]),
        )
        return SimpleNamespace(outcome=outcome)

    for folder in ("v1", "v2"):
        ship(mlflow, name, root / folder, root / "preprocessor.json", deployer)
    v1 = bundle.version_of(root / "v1", root / "preprocessor.json")

    result = rollback_and_redeploy(
        mlflow, name, Settings(target="gitops", git_repo=str(clone), environment="production")
    )

    assert result.commit == git(remote, "rev-parse", "main~1")  # then the status commit
    assert git(clone, "log", "-1", "--format=%s", result.commit).startswith(f"rollback {name} ")
    isvc = yaml.safe_load((clone / name / "base" / "inferenceservice.yaml").read_text())
    assert isvc["metadata"]["annotations"][m.ANNOTATION_VERSION] == v1 == result.serving_now
    status = json.loads((clone / name / "status" / f"{v1}.json").read_text())
    assert (status["status"], status["commit"]) == ("restored", result.commit)
    assert champion(mlflow, name) == "1"


def test_gitops_rollback_without_git_writes_the_previous_tree(mlflow, file_inputs, tmp_path):
    root, frame = file_inputs
    name = "rb-files"
    out = tmp_path / "gitops"

    def deployer(folder: Path):
        return deploy(
            str(folder),
            str(root / "preprocessor.json"),
            frame,
            target="gitops",
            gitops_dir=str(out),
            model_name=name,
            storage_uri="pvc://models/serving",
        )

    ship(mlflow, name, root / "v1", root / "preprocessor.json", deployer)
    v1_base = (out / name / "base" / "inferenceservice.yaml").read_bytes()
    ship(mlflow, name, root / "v2", root / "preprocessor.json", deployer)
    assert (out / name / "base" / "inferenceservice.yaml").read_bytes() != v1_base

    settings = Settings(target="gitops", gitops_dir=str(out), storage_uri="pvc://models/serving")
    result = rollback_and_redeploy(mlflow, name, settings)

    assert result.decision == "written"
    assert (out / name / "base" / "inferenceservice.yaml").read_bytes() == v1_base
    assert champion(mlflow, name) == "1"
