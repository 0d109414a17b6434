"""The GitOps target with a real Git clone and a bare remote on disk.

Deployments are commits of exactly the files written, followed by a status commit, pushed
to the remote; a rollback is a ``git revert`` of the live version's deploy commit. Git runs
with no global or system configuration, so the commit author fallback is exercised too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from kfp_mlops.components.common import model_dir as bundle
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import strategies
from kfp_mlops.components.deployment.deploy_model.targets import GitOpsTarget, Release
from kfp_mlops.components.deployment.deploy_model.targets.git import DEFAULT_AUTHOR, GitError

NAME = "clf"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch, tmp_path):
    """No user or system git configuration: the target must set its own author."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repos(tmp_path):
    """A bare remote and a clone of it holding one unrelated commit; returns (remote, clone)."""
    remote, clone = tmp_path / "remote.git", tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
    git(clone, "checkout", "-q", "-b", "main")
    (clone / "README.md").write_text("# deployments\n")
    git(clone, "add", "README.md")
    git(clone, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "init")
    git(clone, "push", "-q", "origin", "main")
    return remote, clone


def release(inputs, model: str) -> Release:
    root, _ = inputs
    version = bundle.version_of(root / model, root / "preprocessor.json")
    spec = m.ServingSpec(NAME, "kubeflow-user", version, f"pvc://models/{NAME}/{version}")
    return Release(NAME, version, spec=spec)


def deploy(inputs, clone: Path, model: str, strategy: str = "canary") -> strategies.Outcome:
    target = GitOpsTarget("", NAME, [10, 50, 100], git_repo=str(clone), environment="staging")
    smoke = strategies.SmokeSpec(rows=[], classes=[], inputs=[])
    return strategies.run(target, release(inputs, model), strategy, smoke, [10, 50, 100])


def base_version(folder: Path) -> str:
    doc = yaml.safe_load((folder / NAME / "base" / "inferenceservice.yaml").read_text())
    return doc["metadata"]["annotations"][m.ANNOTATION_VERSION]


def status(clone: Path, version: str) -> dict:
    return json.loads((clone / NAME / "status" / f"{version}.json").read_text())


def test_deploy_commits_the_tree_then_its_status_and_pushes(file_inputs, repos, tmp_path):
    remote, clone = repos
    (clone / "NOTES.txt").write_text("mine, untracked\n")
    (clone / "staged.txt").write_text("mine, staged\n")
    git(clone, "add", "staged.txt")

    v1 = deploy(file_inputs, clone, "v1")
    v2 = deploy(file_inputs, clone, "v2", strategy="blue-green")
    assert (v1.decision, v2.decision) == ("written", "written")

    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log == [
        f"status {NAME} {v2.version}",
        f"deploy {NAME} {v2.version} (blue-green, staging)",
        f"status {NAME} {v1.version}",
        f"deploy {NAME} {v1.version} (canary, staging)",
        "init",
    ]
    assert git(clone, "log", "-1", "--format=%an <%ae>", "HEAD") == "{} <{}>".format(
        *DEFAULT_AUTHOR
    )
    record = status(clone, v2.version)
    deploy_commit = git(remote, "rev-parse", "main~1")
    assert record == {
        "model": NAME,
        "version": v2.version,
        "environment": "staging",
        "strategy": "blue-green",
        "status": "written",
        "timestamp": record["timestamp"],
        "commit": deploy_commit,
        "deploy_commit": deploy_commit,
    }
    # The deploy commit holds exactly the tree: v1's canary overlays out, the preview in.
    changed = git(clone, "show", "--name-status", "--format=", deploy_commit).splitlines()
    assert sorted(changed) == [
        f"A\t{NAME}/overlays/preview/inferenceservice.yaml",
        f"A\t{NAME}/overlays/preview/kustomization.yaml",
        f"D\t{NAME}/overlays/canary-010/kustomization.yaml",
        f"D\t{NAME}/overlays/canary-050/kustomization.yaml",
        f"M\t{NAME}/.kfp-mlops-files.json",
        f"M\t{NAME}/base/inferenceservice.yaml",
        f"M\t{NAME}/base/release-configmap.yaml",
    ]
    # The user's files were neither committed nor touched.
    assert git(clone, "status", "--porcelain") == "A  staged.txt\n?? NOTES.txt"
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(remote), str(fresh)], check=True)
    assert base_version(fresh) == v2.version


def test_rollback_is_a_revert_commit_and_restores_the_tree(file_inputs, repos, tmp_path):
    remote, clone = repos
    v1 = deploy(file_inputs, clone, "v1").version
    v1_tree = git(clone, "rev-parse", f"HEAD:{NAME}/base")
    v2 = deploy(file_inputs, clone, "v2").version
    deploy_v2 = status(clone, v2)["deploy_commit"]

    target = GitOpsTarget("", NAME, git_repo=str(clone), environment="staging")
    sha = target.revert(v2, v1)

    assert git(clone, "log", "-1", "--format=%B", sha).splitlines()[:3] == [
        f"rollback {NAME} {v2} -> {v1} (staging)",
        "",
        f"This reverts commit {deploy_v2}.",
    ]
    assert git(clone, "rev-parse", f"{sha}:{NAME}/base") == v1_tree
    assert base_version(clone) == v1
    assert status(clone, v2)["status"] == "rolled_back"
    assert status(clone, v1)["status"] == "restored"
    assert status(clone, v1)["commit"] == sha == status(clone, v2)["commit"]
    assert git(remote, "rev-parse", "main") == git(clone, "rev-parse", "HEAD")  # pushed
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(remote), str(fresh)], check=True)
    assert base_version(fresh) == v1


def test_two_rollbacks_in_a_row_walk_back_the_history(file_inputs, repos, tmp_path):
    _, clone = repos
    root, _ = file_inputs
    (root / "v3").mkdir(exist_ok=True)
    (root / "v3" / "model.h5").write_bytes((root / "v1" / "model.h5").read_bytes() + b"\0")
    versions = [deploy(file_inputs, clone, v).version for v in ("v1", "v2", "v3")]
    target = GitOpsTarget("", NAME, git_repo=str(clone))
    target.revert(versions[2], versions[1])
    target.revert(versions[1], versions[0])
    assert base_version(clone) == versions[0]
    assert [status(clone, v)["status"] for v in versions] == [
        "restored",
        "rolled_back",
        "rolled_back",
    ]


def test_a_conflicting_revert_changes_nothing(file_inputs, repos):
    _, clone = repos
    v1 = deploy(file_inputs, clone, "v1").version
    v2 = deploy(file_inputs, clone, "v2").version
    isvc = clone / NAME / "base" / "inferenceservice.yaml"
    # A hotfix by hand on the very line the v2 deploy changed (the model's folder).
    isvc.write_text(isvc.read_text().replace(f"{NAME}/{v2}", f"{NAME}/{v2}-hotfix"))
    git(clone, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "hotfix")
    head, text = git(clone, "rev-parse", "HEAD"), isvc.read_text()

    with pytest.raises(GitError, match="does not apply cleanly"):
        GitOpsTarget("", NAME, git_repo=str(clone)).revert(v2, v1)
    assert git(clone, "rev-parse", "HEAD") == head
    assert isvc.read_text() == text
    assert git(clone, "status", "--porcelain") == ""


def test_without_a_recorded_deploy_commit_the_revert_is_refused(file_inputs, repos):
    _, clone = repos
    v1 = deploy(file_inputs, clone, "v1").version
    head = git(clone, "rev-parse", "HEAD")
    with pytest.raises(GitError, match="no deploy commit of clf v0"):
        GitOpsTarget("", NAME, git_repo=str(clone)).revert("v000000000", v1)
    assert git(clone, "rev-parse", "HEAD") == head


def test_a_stale_clone_is_fast_forwarded_before_writing(file_inputs, repos, tmp_path):
    remote, clone = repos
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(remote), str(other)], check=True)
    (other / "other-app.yaml").write_text("kind: Namespace\n")
    git(other, "add", "other-app.yaml")
    git(other, "-c", "user.name=o", "-c", "user.email=o@x", "commit", "-qm", "other app")
    git(other, "push", "-q", "origin", "main")

    deploy(file_inputs, clone, "v1")
    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    assert subjects[2:] == ["other app", "init"]


def test_a_clone_without_remote_commits_locally(file_inputs, tmp_path):
    clone = tmp_path / "solo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(clone)], check=True)
    outcome = deploy(file_inputs, clone, "v1")
    assert git(clone, "log", "--format=%s").splitlines() == [
        f"status {NAME} {outcome.version}",
        f"deploy {NAME} {outcome.version} (canary, staging)",
    ]


def test_bad_git_settings_are_clear_errors(tmp_path):
    with pytest.raises(ParameterError, match="not a git work tree"):
        GitOpsTarget("", NAME, git_repo=str(tmp_path))
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True)
    with pytest.raises(ParameterError, match="outside the git clone"):
        GitOpsTarget(str(tmp_path / "elsewhere"), NAME, git_repo=str(tmp_path / "r"))
