"""The shared stages' settings objects, and the two ways to start the CLI."""

import configparser
import dataclasses
import subprocess
import sys

import pytest

from kfp_mlops.pipelines import stages
from kfp_mlops.pipelines.monitoring import retraining_pipeline
from kfp_mlops.pipelines.training import training_pipeline
from tests.conftest import ROOT


def _names(settings_cls) -> set[str]:
    return {f.name for f in dataclasses.fields(settings_cls)}


def test_from_inputs_picks_fields_by_name_and_applies_overrides():
    inputs = {
        "tracking_uri": "sqlite:///x.db",
        "experiment_name": "e",
        "registered_model_name": "m",
        "deploy_target": "local",
        "deploy_strategy": "rolling",
        "namespace": "ns",
        "storage_uri": "",
        "gitops_dir": "g",
        "serving_state_dir": "s",
        "canary_max_p95_ms": 1e9,
        "seed": 1,  # not a DeploySettings field: ignored
    }
    deploy = stages.DeploySettings.from_inputs(inputs, deploy_strategy="canary")
    assert deploy.deploy_strategy == "canary" and deploy.serving_state_dir == "s"
    assert not hasattr(deploy, "seed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        deploy.namespace = "other"  # type: ignore[misc]


def test_from_inputs_names_a_missing_setting():
    with pytest.raises(TypeError, match="history_uri"):
        stages.MonitorSettings.from_inputs({"current_source": "a", "reference_source": "b"})


@pytest.mark.parametrize(
    ("pipeline", "settings", "defaulted"),
    [
        (training_pipeline, stages.TrainSettings, {"min_improvement"}),
        (training_pipeline, stages.DeploySettings, set()),
        (retraining_pipeline, stages.TrainSettings, set()),
        (retraining_pipeline, stages.DeploySettings, {"deploy_strategy"}),
        (retraining_pipeline, stages.MonitorSettings, set()),
    ],
)
def test_every_setting_is_a_pipeline_parameter(pipeline, settings, defaulted):
    # A renamed pipeline parameter would otherwise silently fall back to a default.
    params = set(pipeline.component_spec.inputs)
    assert _names(settings) - params == defaulted


@pytest.mark.parametrize("pipeline", [training_pipeline, retraining_pipeline])
def test_latency_limits_are_pipeline_parameters_of_the_gate_and_the_canary(pipeline):
    # Tests (and slow machines) pass lenient limits; the tasks must take them from the run.
    tasks = _tasks(pipeline.pipeline_spec)
    gate = tasks["evaluate-model"].inputs.parameters
    for name in ("max_latency_p50_ms", "max_latency_p95_ms", "max_latency_p99_ms"):
        assert gate[name].component_input_parameter.startswith("pipelinechannel--" + name)
    canary = tasks["deploy-model"].inputs.parameters["max_p95_ms"]
    assert canary.component_input_parameter.startswith("pipelinechannel--canary_max_p95_ms")


def _tasks(spec) -> dict:
    """Every task of a compiled pipeline spec, nested DAGs included, by name."""
    found = {}
    for component in [spec.root, *spec.components.values()]:
        found.update(component.dag.tasks)
    return found


def test_console_script_and_module_shim_run_the_same_cli():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"]
    assert "kfp-mlops = kfp_mlops.pipelines.tooling.cli:main" in scripts
    out = subprocess.run(
        [sys.executable, "-m", "kfp_mlops.pipelines.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert out.startswith("usage: kfp-mlops")
    for command in ("compile", "run-local", "submit", "schedule"):
        assert command in out


def _production(task) -> bool:
    env = task.inputs.parameters.get("environment")
    return env is None or env.runtime_value.constant.string_value == "production"


def test_every_production_deploy_is_followed_by_its_alert_rules():
    """Both release paths (single environment, through staging) generate the deployed
    model's Prometheus rules after the production deploy, with the pipeline's latency
    limits; staging gets none (its alerts would page for a model nobody uses yet)."""
    for pipeline in (training_pipeline, retraining_pipeline):
        tasks = _tasks(pipeline.pipeline_spec)
        rules = {n: t for n, t in tasks.items() if n.startswith("alert-rules")}

        deploys = {n for n, t in tasks.items() if n.startswith("deploy-model") and _production(t)}
        assert sorted(d for t in rules.values() for d in t.dependent_tasks) == sorted(deploys)
        # training_pipeline: the single-environment and the staging release paths.
        assert len(deploys) >= (2 if pipeline is training_pipeline else 1)
        for task in rules.values():
            params = task.inputs.parameters
            for ours, theirs in (("latency_p95_ms", "max_latency_p95_ms"),
                                 ("model_name", "registered_model_name")):  # fmt: skip
                channel = params[ours].component_input_parameter
                assert channel.endswith(theirs), (ours, channel)
