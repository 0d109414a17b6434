"""Golden tests on compiled/: deterministic, up to date, and safe to check into GitOps."""

import re
from pathlib import Path

import pytest
import yaml

from kfp_mlops.components.common import versions
from kfp_mlops.pipelines.tooling import catalog
from kfp_mlops.pipelines.tooling.compiler import compile_all, masked, stale_files

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "compiled"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled")
    compile_all(out)
    return out


def test_compiling_twice_is_byte_identical(fresh, tmp_path):
    compile_all(tmp_path)
    first = {p.relative_to(fresh): p.read_bytes() for p in fresh.rglob("*.yaml")}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.yaml")}
    assert first == second
    # Each pipeline also gets compiled/k8s/<pipeline>.yaml, plus one kustomization.yaml.
    assert len(first) == 2 * len(catalog.pipelines()) + len(catalog.components()) + 1


def test_compiled_folder_is_up_to_date():
    problems = stale_files(COMPILED)
    assert not problems, "compiled/ is stale; run `make compile` and commit:\n" + "\n".join(
        problems
    )


def test_golden_mask_hides_only_sdk_version(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("sdkVersion: kfp-2.17.0\nimage: x:1\n")
    b.write_text("sdkVersion: kfp-2.17.3\nimage: x:1\n")
    assert masked(a) == masked(b)
    b.write_text("sdkVersion: kfp-2.17.3\nimage: x:2\n")
    assert masked(a) != masked(b)


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_component_names_a_pinned_project_image(fresh):
    images = set()
    for path in fresh.rglob("*.yaml"):
        for doc in _docs(path):
            for executor in doc.get("deploymentSpec", {}).get("executors", {}).values():
                container = executor.get("container", {})
                images.add(container["image"])
                script = "\n".join(container.get("command", []) + container.get("args", []))
                assert "pip install" not in script, f"{path.name} installs packages at runtime"
    assert images, "no executors found"
    assert images <= set(versions.IMAGES.values()), images
    assert not any(i.endswith(":latest") or ":" not in i.rsplit("/", 1)[-1] for i in images)


def test_no_secret_values_in_compiled_yaml(fresh):
    pattern = re.compile(
        r"(?i)(password|secret_access_key|private_key|token)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{8,}"
    )
    for path in fresh.rglob("*.yaml"):
        text = path.read_text()
        assert not pattern.search(text), f"{path.name} looks like it holds a secret value"
        assert "BEGIN PRIVATE KEY" not in text


def test_credentials_come_from_kubernetes_secrets(fresh):
    docs = _docs(fresh / "data_validation_pipeline.yaml")
    platform = next(d for d in docs if "platforms" in d)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    loaders = [e for name, e in executors.items() if "load-dataset" in name]
    assert loaders
    for executor in loaders:
        assert executor["secretAsEnv"][0]["secretName"] == "kfp-mlops-mlflow"
        assert executor["secretAsEnv"][0]["optional"] is True
        assert executor["secretAsVolume"][0]["secretName"] == "kfp-mlops-gcs"


def test_component_docstrings_reach_the_ui(fresh):
    for path in (fresh / "components").glob("*.yaml"):
        doc = _docs(path)[0]
        component = next(iter(doc["components"].values()))
        described = [
            name
            for name, spec in {
                **component.get("inputDefinitions", {}).get("parameters", {}),
                **component.get("inputDefinitions", {}).get("artifacts", {}),
            }.items()
            if spec.get("description")
        ]
        assert described, f"{path.name}: parameters have no descriptions (docstring Args missing?)"
        assert "\n# Description: " in "\n" + path.read_text(), f"{path.name} has no description"
    for path in fresh.glob("*_pipeline.yaml"):
        assert _docs(path)[0]["pipelineInfo"].get("description"), f"{path.name} has no description"


def test_every_dag_declares_the_pipeline_inputs_its_tasks_use(fresh):
    """A task inside an ExitHandler or dsl.If may only read inputs its DAG declares.

    kfp's accelerator setters once left such references dangling (pipelines/k8s.py): the
    YAML compiled, but no backend could run it.
    """
    for path in fresh.glob("*_pipeline.yaml"):
        spec = _docs(path)[0]
        dags = {name: c for name, c in spec["components"].items() if "dag" in c}
        dags["root"] = spec["root"]
        for dag_name, dag in dags.items():
            defs = dag.get("inputDefinitions", {})
            declared = set(defs.get("parameters", {})) | set(defs.get("artifacts", {}))
            for task_name, task in dag["dag"]["tasks"].items():
                inputs = task.get("inputs", {})
                refs = [
                    v.get("componentInputParameter") for v in inputs.get("parameters", {}).values()
                ]
                refs += [
                    v.get("componentInputArtifact") for v in inputs.get("artifacts", {}).values()
                ]
                missing = {r for r in refs if r} - declared
                assert not missing, (
                    f"{path.name}: {dag_name}/{task_name} reads undeclared {missing}"
                )


def test_training_pipeline_exposes_gpu_settings_as_parameters(fresh):
    spec = _docs(fresh / "training_pipeline.yaml")
    pipeline, platform = spec[0], next(d for d in spec if "platforms" in d)
    for name in ("gpus", "accelerator_type", "node_selector_json", "tolerations_json"):
        assert name in pipeline["root"]["inputDefinitions"]["parameters"]
    executors = pipeline["deploymentSpec"]["executors"]
    train = next(e for n, e in executors.items() if "train-model" in n)
    accel = train["container"]["resources"]["accelerator"]
    assert "pipelinechannel--accelerator_type" in accel["resourceType"]
    assert "pipelinechannel--gpus" in accel["resourceCount"]
    k8s = next(
        e
        for n, e in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].items()
        if "train-model" in n
    )
    assert k8s["emptyDirMounts"][0]["mountPath"] == "/dev/shm"
    assert k8s["emptyDirMounts"][0]["medium"] == "Memory"
    assert "nodeSelector" in k8s and "tolerations" in k8s


def test_heavy_steps_request_resources(fresh):
    """Training, tuning and optimization steps must not run as best-effort pods."""
    for path in fresh.glob("*_pipeline.yaml"):
        executors = _docs(path)[0]["deploymentSpec"]["executors"]
        for name, executor in executors.items():
            if any(
                step in name
                for step in ("train-model", "tune-hyperparameters", "prune-model", "quantize-model")
            ):
                resources = executor["container"].get("resources", {})
                assert resources.get("resourceCpuRequest"), (
                    f"{path.name}: {name} has no CPU request"
                )
                assert resources.get("resourceMemoryRequest"), (
                    f"{path.name}: {name} has no memory request"
                )
