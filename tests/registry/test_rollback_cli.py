"""``kfp-mlops rollback`` against a real MLflow server (alias-only and the refusals)."""

from __future__ import annotations

from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.pipelines.tooling.cli import main


def _ship(mlflow_server, name, make_model_dir, evaluation, n: int) -> None:
    for i in range(n):
        version = register(
            make_model_dir(f"w{i}".encode(), f"m{i}"),
            evaluation,
            tracking_uri=mlflow_server,
            name=name,
            blessed=True,
        ).version
        promote(mlflow_server, name, version)


def test_rollback_command_moves_the_champion_back(
    mlflow_server, fresh_name, make_model_dir, evaluation, capsys
):
    _ship(mlflow_server, fresh_name, make_model_dir, evaluation, 2)
    code = main(["rollback", fresh_name, "--tracking-uri", mlflow_server, "--target", "none"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"rolled back {fresh_name}: champion v2 -> v1" in out
    assert "recovery time" in out
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "1"


def test_rollback_command_without_a_previous_version_changes_nothing(
    mlflow_server, fresh_name, make_model_dir, evaluation, capsys
):
    _ship(mlflow_server, fresh_name, make_model_dir, evaluation, 1)
    code = main(["rollback", fresh_name, "--tracking-uri", mlflow_server, "--target", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no 'previous_champion' tag" in err and "nothing was changed" in err
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "1"


def test_rollback_command_with_nothing_deployed_locally(
    mlflow_server, fresh_name, make_model_dir, evaluation, capsys, tmp_path
):
    _ship(mlflow_server, fresh_name, make_model_dir, evaluation, 2)
    code = main(
        ["rollback", fresh_name, "--tracking-uri", mlflow_server, "--pipeline-root", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no local deployment of 'reg-test-rollback-command" in err
    assert str(tmp_path / "serving") in err and "nothing was changed" in err
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "2"
