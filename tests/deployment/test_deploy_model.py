"""The deploy_model component: report and outputs, then kfp.local runs of the wrapper."""

import json

import pytest
import yaml

from kfp_mlops.components.deployment.deploy_model.core import deploy, sample_rows
from kfp_mlops.components.deployment.deploy_model.report import report_markdown, write_outputs
from kfp_mlops.components.deployment.deploy_model.targets import stop_local


def test_sample_rows_drop_the_target_and_incomplete_rows(file_inputs):
    root, frame = file_inputs
    pre = json.loads((root / "preprocessor.json").read_text())
    broken = frame.copy()
    broken.loc[0, "mean_radius"] = None
    rows = sample_rows(broken, pre, n=3)
    assert len(rows) == 3
    assert all("target" not in r and len(r) == 30 for r in rows)
    assert rows[0]["mean_radius"] == frame.loc[1, "mean_radius"]  # row 0 was skipped


def test_outputs_of_a_gitops_run(file_inputs, tmp_path):
    root, frame = file_inputs
    result = deploy(
        str(root / "v1"),
        str(root / "preprocessor.json"),
        frame,
        target="gitops",
        gitops_dir=str(tmp_path / "repo"),
        storage_uri="pvc://models",
        model_name="clf",
    )
    write_outputs(result, str(tmp_path / "manifests.yaml"), str(tmp_path / "report.md"))
    docs = list(yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["InferenceService", "ConfigMap"]
    report = (tmp_path / "report.md").read_text()
    assert "| strategy | canary |" in report
    assert f"| new version | `{result.outcome.version}` |" in report
    assert report == report_markdown(result)


def pipeline_inputs(tmp_path, frame):
    path = tmp_path / "raw.parquet"
    frame.to_parquet(path, index=False)
    return str(path)


@pytest.mark.slow
def test_component_gitops_in_kfp_local(kfp_local, file_inputs, tmp_path):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Artifact, Dataset, Markdown, Model

    from kfp_mlops.components.deployment.deploy_model.component import deploy_model

    root, frame = file_inputs
    raw = pipeline_inputs(tmp_path, frame)
    repo = tmp_path / "repo"

    class Outputs(NamedTuple):
        decision: str
        manifests: Artifact
        report: Markdown

    @dsl.pipeline(name="deploy-gitops-test")
    def pipe() -> Outputs:
        model = dsl.importer(artifact_uri=str(root / "v1"), artifact_class=Model)
        pre = dsl.importer(artifact_uri=str(root / "preprocessor.json"), artifact_class=Model)
        data = dsl.importer(artifact_uri=raw, artifact_class=Dataset)
        task = deploy_model(
            model=model.output,
            preprocessor=pre.output,
            smoke_data=data.output,
            target="gitops",
            strategy="canary",
            model_name="Breast Cancer",
            storage_uri="pvc://models",
            gitops_dir=str(repo),
        )
        return Outputs(task.outputs["Output"], task.outputs["manifests"], task.outputs["report"])

    run = pipe()
    decision, version = run.outputs["decision"].split(":")
    assert decision == "written"
    docs = list(yaml.safe_load_all(open(run.outputs["manifests"].path).read()))
    assert docs[0]["metadata"]["annotations"]["kfp-mlops.io/version"] == version
    assert (repo / "breast-cancer" / "overlays" / "canary-050" / "kustomization.yaml").exists()
    assert "📝 written" in open(run.outputs["report"].path).read()


@pytest.mark.slow
def test_component_local_in_kfp_local(kfp_local, models, tmp_path, capfd):
    from kfp import dsl
    from kfp.dsl import Dataset, Model

    from kfp_mlops.components.deployment.deploy_model.component import deploy_model

    raw = pipeline_inputs(tmp_path, models.raw.assign(target=models.classes[0]))
    state_dir = tmp_path / "state"

    @dsl.pipeline(name="deploy-local-test")
    def pipe():
        pre = dsl.importer(artifact_uri=str(models.preprocessor), artifact_class=Model)
        data = dsl.importer(artifact_uri=raw, artifact_class=Dataset)
        good = dsl.importer(artifact_uri=str(models.tflite), artifact_class=Model)
        broken = dsl.importer(artifact_uri=str(models.tflite_nan), artifact_class=Model)
        common = {
            "preprocessor": pre.output,
            "smoke_data": data.output,
            "target": "local",
            "model_name": "clf",
            "state_dir": str(state_dir),
            "max_p95_ms": 10_000.0,
            "ready_timeout_s": 240.0,
        }
        first = deploy_model(model=good.output, **common)
        deploy_model(model=broken.output, **common).after(first)

    try:
        with pytest.raises(RuntimeError):
            pipe()  # the second deployment fails its smoke test
        logs = capfd.readouterr()
        text = logs.out + logs.err
        assert "failed and was rolled back" in text
        assert "non-finite probabilities" in text
        state = json.loads((state_dir / "clf" / "state.json").read_text())
        live = state["live"]["version"]
        from kfp_mlops.components.deployment.deploy_model.smoke import request

        url = f"http://127.0.0.1:{state['router']['port']}"
        r = request(url, "POST", "/v1/models/clf:predict", {"instances": models.rows(2)})
        assert (r.status, r.headers["x-served-by"]) == (200, live)
    finally:
        stop_local(str(state_dir), "clf")
