"""models.yaml: checking, compiling, scheduling (KFP API contract server) and a local run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kfp_mlops.pipelines.tooling import cli
from kfp_mlops.pipelines.tooling.fleet import ConfigError, load_config, parse_config
from kfp_mlops.pipelines.tooling.fleet_ops import compile_fleet, monitoring_items, schedule_fleet
from tests.kfp_api_server import KfpApiServer
from tests.monitoring.conftest import champion  # noqa: F401 - a fixture

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet" / "models.yaml"


def _two(**extra) -> dict:
    return {
        "models": [
            {"name": "a", "source": "builtin:breast_cancer", "schedule": "0 3 * * *", **extra},
            {"name": "b", "source": "builtin:wine", "thresholds": {"min_accuracy": 0.8}},
        ]
    }


def test_the_example_config_is_valid_and_defaults_merge():
    config = load_config(EXAMPLE)
    assert [m.name for m in config.models] == ["breast-cancer", "diabetes"]
    bc = config.model("breast-cancer")
    # Defaults merge under each model's own thresholds; reference defaults to the source.
    assert bc.thresholds == {
        "drift_threshold": 0.1,
        "max_latency_p99_ms": 100,
        "min_accuracy": 0.95,
    }
    assert bc.reference_source == "builtin:breast_cancer"
    assert config.model("diabetes").task == "regression"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"models": [{"name": "a", "source": "x"}, {"name": "a", "source": "y"}]},
            r"name 'a' is also models\[0\]",
        ),
        (_two(shedule="0 3 * * *"), r"unknown key 'shedule' \(did you mean 'schedule'\?\)"),
        (_two(schedule="61 3 * * *"), r"models\[0\]: schedule: .*61 is out of range"),
        (_two(task="ranking"), r"task 'ranking' is not one of"),
        (_two(environment="qa"), r"environment 'qa' is not one of"),
        (_two(thresholds={"min_acuracy": 0.9}), r"thresholds: unknown key 'min_acuracy'"),
        (_two(thresholds={"epochs": 3}), r"'epochs' is not a threshold"),
        (_two(params={"epochz": 3}), r"params: unknown key 'epochz' \(did you mean 'epochs'\?\)"),
        (_two(name="Bad_Name"), r"name 'Bad_Name' must be"),
        (
            _two(task="regression", thresholds={"min_accuracy": 0.9}),
            r"regression model is gated on max_rmse",
        ),
        ({"model": []}, r"expected a mapping with a 'models' list"),
        ({"models": []}, r"'models' is empty"),
    ],
)
def test_bad_configs_name_the_problem(data, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(data, "models.yaml")


def test_every_problem_is_listed_at_once():
    data = _two(shedule="x", task="ranking")
    data["models"].append({"name": "a", "source": "z"})
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert "3 problem(s)" in str(info.value)


def test_missing_and_non_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def _default(compiled: Path, name: str):
    spec = next(yaml.safe_load_all(compiled.read_text()))
    return spec["root"]["inputDefinitions"]["parameters"][name].get("defaultValue")


def test_compile_writes_each_models_pipelines_with_its_settings(tmp_path):
    config = load_config(EXAMPLE)
    written = compile_fleet(config, tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    for model in ("breast-cancer", "diabetes"):
        assert f"{model}/training_pipeline.yaml" in names
        assert f"{model}/retraining_pipeline.yaml" in names
        assert f"k8s/{model}-training-pipeline.yaml" in names
    assert "fleet_monitoring_pipeline.yaml" in names
    bc = tmp_path / "breast-cancer" / "training_pipeline.yaml"
    assert _default(bc, "registered_model_name") == "breast-cancer"
    assert _default(bc, "min_accuracy") == 0.95
    diabetes = tmp_path / "diabetes" / "retraining_pipeline.yaml"
    assert _default(diabetes, "current_source") == "builtin:diabetes"
    assert _default(diabetes, "model_fn") == "builtin:resnet_mlp"
    assert next(yaml.safe_load_all(bc.read_text()))["pipelineInfo"]["name"] == (
        "breast-cancer-training-pipeline"
    )
    fleet = _default(tmp_path / "fleet_monitoring_pipeline.yaml", "models")
    assert [m["registered_model_name"] for m in fleet] == ["breast-cancer", "diabetes"]
    kustomization = yaml.safe_load((tmp_path / "k8s" / "kustomization.yaml").read_text())
    assert "diabetes-retraining-pipeline.yaml" in kustomization["resources"]
    # Deterministic: compiling again gives the same bytes.
    again = tmp_path / "again"
    compile_fleet(config, again)
    for path in written:
        assert path.read_bytes() == (again / path.relative_to(tmp_path)).read_bytes(), path


def test_schedule_is_idempotent_and_updates_a_changed_model(tmp_path):
    config = parse_config(_two(), "models.yaml")
    with KfpApiServer() as server:
        first = schedule_fleet(config, server.url, monitoring_cron="@hourly")
        assert [r.action for r in first] == ["created", "created"]
        assert len(server.recurring_runs) == 2
        again = schedule_fleet(config, server.url, monitoring_cron="@hourly")
        assert [r.action for r in again] == ["unchanged", "unchanged"]
        assert len(server.recurring_runs) == 2
        changed = parse_config(_two(schedule="0 4 * * *"), "models.yaml")
        third = schedule_fleet(changed, server.url, monitoring_cron="@hourly")
        assert [r.action for r in third] == ["updated", "unchanged"]
        crons = sorted(r.trigger.cron_schedule.cron for r in server.recurring_runs.values())
        assert crons == ["0 0 4 * * *", "@hourly"]  # descriptors pass through as KFP takes them
        run = next(r for r in server.recurring_runs.values() if r.display_name.startswith("a "))
        assert run.runtime_config.parameters["registered_model_name"] == "a"
        assert run.runtime_config.parameters["current_source"] == "builtin:breast_cancer"
    assert server.violations == []


def test_cli_compile_and_schedule_with_config(tmp_path, capsys):
    assert cli.main(["compile", "--config", str(EXAMPLE), "--output", str(tmp_path)]) == 0
    assert "for 2 models" in capsys.readouterr().out
    with KfpApiServer() as server:
        argv = ["schedule", "--config", str(EXAMPLE), "--host", server.url]
        assert cli.main(argv) == 0
        assert "2 recurring runs up to date" in capsys.readouterr().out
        assert cli.main([*argv, "--cron", "@daily"]) == 2
        assert "come from the config" in capsys.readouterr().err
    bad = tmp_path / "dup.yaml"
    bad.write_text(json.dumps({"models": [{"name": "a", "source": "x"}] * 2}))
    assert cli.main(["compile", "--config", str(bad)]) == 2
    assert "names must be unique" in capsys.readouterr().err


@pytest.mark.slow
def test_fleet_monitoring_runs_two_models_locally(tmp_path, monkeypatch, champion):  # noqa: F811
    """Two registered champions, one drifted window: the fleet report retrains only that one."""
    from kfp_mlops.components.registry.promote_model.core import promote
    from kfp_mlops.components.registry.register_model.core import register
    from kfp_mlops.pipelines.tooling.local_runner import run_local
    from tests.monitoring.helpers import drifted, recent_window

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    store = f"sqlite:///{root / 'mlflow.db'}"  # where run_local points tracking_uri
    evaluation = {"blessed": True, "failures": [], "metrics": dict(champion.baseline)}
    for name in ("steady", "shifted"):
        reg = register(
            str(champion.model_dir),
            evaluation,
            tracking_uri=store,
            name=name,
            blessed=True,
            preprocessor_path=str(champion.preprocessor_path),
        )
        promote(store, name, reg.version)
    window = recent_window(champion.reference)
    window.to_csv(tmp_path / "steady.csv", index=False)
    drifted(window).to_csv(tmp_path / "shifted.csv", index=False)
    champion.reference.to_csv(tmp_path / "reference.csv", index=False)
    models = [
        {
            "name": n,
            "source": str(tmp_path / f"{n}.csv"),
            "reference_source": str(tmp_path / "reference.csv"),
            "target_column": "target",
        }
        for n in ("steady", "shifted")
    ]
    items = monitoring_items(parse_config({"models": models}))
    run = run_local("fleet_monitoring_pipeline", {"models": items}, pipeline_root=str(root))
    report = next(t for t in run.tasks if t.task.startswith("fleet-report"))
    monitors = [t for t in run.tasks if t.task.startswith("monitor-model [for-loop-1-iteration-")]
    assert len(monitors) == 2  # each model's tasks are in the run's summary too
    assert report.parameters["Output"] == ["shifted"]
    text = Path(report.artifacts["report"]).read_text()
    assert "| steady | ok | False |" in text and "| shifted |" in text
    assert report.metrics["models"] == 2 and report.metrics["shifted.retrain"] == 1
