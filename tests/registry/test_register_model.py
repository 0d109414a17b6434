"""Tests of register_model (and the shared registry helpers) against a real MLflow server."""

import json
from pathlib import Path

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.register_model import core
from tests.mlflow_server import closed_port_uri

CARD_SECTIONS = (
    "## Intended use",
    "## Data",
    "## Data validation",
    "## Metrics",
    "## Optimization",
    "## Limitations",
    "## Provenance",
)


def registered_names(uri: str) -> set[str]:
    return {m.name for m in common.client(uri).search_registered_models(max_results=1000)}


def test_register_sets_challenger_tags_and_round_trips_the_directory(
    mlflow_server, fresh_name, make_model_dir, evaluation, tmp_path
):
    model_dir = make_model_dir(b"weights-v1", tflite=True)
    data = tmp_path / "test.parquet"
    data.write_bytes(b"some rows")
    preprocessor = tmp_path / "prep"
    preprocessor.write_text('{"classes": ["benign", "malignant"]}')
    reg = core.register(
        model_dir,
        evaluation,
        tracking_uri=mlflow_server,
        name=fresh_name,
        blessed=True,
        pipeline_run_id="run-123",
        data_hash=core.sha256_of(str(data)),
        optimization="dynamic-range quantization",
        validation={"success": True, "success_percent": 100.0},
        preprocessor_path=str(preprocessor),
    )
    assert reg.version == "1"

    challenger = common.alias_version(mlflow_server, fresh_name, common.CHALLENGER)
    assert challenger.version == "1"
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION) is None
    tags = challenger.tags
    assert tags["pipeline_run_id"] == "run-123"
    assert tags["data_sha256"] == core.sha256_of(str(data)) != ""
    assert tags["metric.accuracy"] == "0.97"
    assert tags["metric.latency_single_p95_ms"] == "1.5"
    assert "metric.roc_auc" not in tags  # null metrics are not tagged
    assert tags["data_validation_success"] == "true"
    assert tags["optimization"] == "dynamic-range quantization"
    assert challenger.source == f"runs:/{reg.run_id}/model"

    downloaded = Path(common.load_registered(mlflow_server, fresh_name, common.CHALLENGER))
    assert (downloaded / "model.h5").read_bytes() == b"weights-v1"
    assert (downloaded / "saved_model" / "saved_model.pb").read_bytes() == b"pb-weights-v1"
    assert json.loads((downloaded / "preprocessor.json").read_text())["classes"][0] == "benign"

    run = common.client(mlflow_server).get_run(reg.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["accuracy"] == pytest.approx(0.97)


def test_model_card_has_every_section(mlflow_server, fresh_name, make_model_dir, evaluation):
    reg = core.register(
        make_model_dir(b"w", tflite=True),
        evaluation,
        tracking_uri=mlflow_server,
        name=fresh_name,
        blessed=True,
        intended_use="Triage of biopsy reports.",
        validation={"success": False, "success_percent": 87.5},
    )
    card = reg.model_card
    positions = [card.index(section) for section in CARD_SECTIONS]
    assert positions == sorted(positions)
    assert card.startswith(f"# Model card: {fresh_name} v1")
    assert "Triage of biopsy reports." in card
    assert "validation FAILED (87.5% of expectations met)" in card
    assert "| accuracy | 0.9700 |" in card
    assert "TFLite" in card and "Keras (H5)" in card
    assert core.DEFAULT_LIMITATIONS in card
    assert "- Pipeline run: `local`" in card  # no KFP_RUN_ID in the test env
    logged = common.client(mlflow_server).download_artifacts(reg.run_id, "model_card.md")
    assert Path(logged).read_text() == card


def test_second_registration_is_a_new_version_and_moves_challenger(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    first = core.register(
        make_model_dir(b"a", "m1"),
        evaluation,
        tracking_uri=mlflow_server,
        name=fresh_name,
        blessed=True,
    )
    second = core.register(
        make_model_dir(b"b", "m2"),
        evaluation,
        tracking_uri=mlflow_server,
        name=fresh_name,
        blessed=True,
    )
    assert (first.version, second.version) == ("1", "2")
    assert common.alias_version(mlflow_server, fresh_name, common.CHALLENGER).version == "2"


def test_unblessed_model_is_not_registered(mlflow_server, fresh_name, make_model_dir, evaluation):
    with pytest.raises(core.NotBlessedError, match="not blessed"):
        core.register(
            make_model_dir(b"w"),
            evaluation,
            tracking_uri=mlflow_server,
            name=fresh_name,
            blessed=False,
        )
    refused = {**evaluation, "blessed": False, "failures": ["accuracy 0.9 < min_accuracy 0.95"]}
    with pytest.raises(core.NotBlessedError, match="accuracy 0.9 < min_accuracy"):
        core.register(
            make_model_dir(b"w", "m2"),
            refused,
            tracking_uri=mlflow_server,
            name=fresh_name,
            blessed=True,
        )
    assert fresh_name not in registered_names(mlflow_server)


def test_unreachable_registry_errors_before_writing(make_model_dir, evaluation):
    uri = closed_port_uri()
    with pytest.raises(common.RegistryError, match="unreachable") as info:
        core.register(make_model_dir(b"w"), evaluation, tracking_uri=uri, blessed=True)
    assert uri in str(info.value)
    assert "nothing was written" in str(info.value)


def test_check_registry_probes_non_http_uris_and_rejects_empty_ones():
    with pytest.raises(common.RegistryError, match="nosuchscheme://x"):
        common.check_registry("nosuchscheme://x")
    with pytest.raises(ParameterError, match="tracking_uri is empty"):
        common.check_registry(" ")


def test_a_directory_without_a_model_is_refused(mlflow_server, fresh_name, tmp_path, evaluation):
    with pytest.raises(ParameterError, match="no Keras model"):
        core.register(
            str(tmp_path), evaluation, tracking_uri=mlflow_server, name=fresh_name, blessed=True
        )
    assert fresh_name not in registered_names(mlflow_server)


def test_load_registered_names_a_missing_alias(mlflow_server, fresh_name):
    with pytest.raises(common.RegistryError, match="has the alias 'champion'"):
        common.load_registered(mlflow_server, fresh_name, common.CHAMPION)
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION) is None


def test_sha256_of_a_directory_depends_on_names_and_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1")
    first = core.sha256_of(str(tmp_path / "a"))
    (tmp_path / "a" / "x").write_bytes(b"2")
    assert core.sha256_of(str(tmp_path / "a")) != first
    assert len(first) == 64


def test_optimization_falls_back_to_the_directory_metadata(tmp_path):
    assert core.describe_optimization(str(tmp_path)) == "none recorded"
    (tmp_path / "optimization.json").write_text('{"pruning": "50% sparsity"}')
    assert core.describe_optimization(str(tmp_path)) == "pruning: 50% sparsity"
    assert core.describe_optimization(str(tmp_path), "int8") == "int8"


@pytest.mark.slow
def test_component_runs_in_kfp_local(
    kfp_local, mlflow_server, fresh_name, make_model_dir, evaluation, tmp_path, capfd
):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Artifact, Dataset, Markdown, Model

    from kfp_mlops.components.registry.promote_model.component import promote_model
    from kfp_mlops.components.registry.register_model.component import register_model
    from kfp_mlops.components.registry.rollback_model.component import rollback_model

    model_dir = make_model_dir(b"kfp-weights")
    evaluation_path = tmp_path / "evaluation.json"
    evaluation_path.write_text(json.dumps(evaluation))
    data_path = tmp_path / "test.parquet"
    data_path.write_bytes(b"rows")
    validation_path = tmp_path / "validation.json"
    validation_path.write_text(json.dumps({"success": True, "success_percent": 100.0}))

    class Outputs(NamedTuple):
        version: str
        champion: str
        card: Markdown

    @dsl.pipeline(name="register-test")
    def pipe(tracking_uri: str, name: str) -> Outputs:
        model = dsl.importer(artifact_uri=model_dir, artifact_class=Model)
        ev = dsl.importer(artifact_uri=str(evaluation_path), artifact_class=Artifact)
        data = dsl.importer(artifact_uri=str(data_path), artifact_class=Dataset)
        val = dsl.importer(artifact_uri=str(validation_path), artifact_class=Artifact)
        reg = register_model(
            model=model.output,
            evaluation=ev.output,
            data=data.output,
            validation_result=val.output,
            tracking_uri=tracking_uri,
            registered_model_name=name,
            blessed=True,
            pipeline_run_id="kfp-local-run",
        )
        promoted = promote_model(
            tracking_uri=tracking_uri, registered_model_name=name, version=reg.outputs["Output"]
        )
        return Outputs(
            version=reg.outputs["Output"],
            champion=promoted.output,
            card=reg.outputs["model_card"],
        )

    run = pipe(tracking_uri=mlflow_server, name=fresh_name)
    assert run.outputs["version"] == "1"
    assert run.outputs["champion"] == "1"
    card = Path(run.outputs["card"].path).read_text()
    assert all(section in card for section in CARD_SECTIONS)
    assert "validation passed (100.0% of expectations met)" in card
    version = common.alias_version(mlflow_server, fresh_name, common.CHAMPION)
    assert version.tags["pipeline_run_id"] == "kfp-local-run"
    assert version.tags["data_sha256"] == core.sha256_of(str(data_path))

    # Only one champion ever: rollback has nothing to go back to, and says so.
    capfd.readouterr()
    with pytest.raises(RuntimeError):
        rollback_model(tracking_uri=mlflow_server, registered_model_name=fresh_name)
    captured = capfd.readouterr()
    assert "no 'previous_champion' tag" in captured.out + captured.err
