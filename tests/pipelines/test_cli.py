import pytest

from kfp_mlops.pipelines.tooling import cli
from kfp_mlops.pipelines.tooling.local_runner import parse_params


def test_parse_params():
    assert parse_params(["epochs=3", "source=builtin:digits", "flag=true", "x=1.5"]) == {
        "epochs": 3,
        "source": "builtin:digits",
        "flag": True,
        "x": 1.5,
    }
    with pytest.raises(ValueError, match="malformed --param 'epochs': write it as name=value"):
        parse_params(["epochs"])


def test_help_on_every_command(capsys):
    commands = ["compile", "list", "run-local", "stop-local", "submit", "schedule"]
    for command in [["--help"]] + [[c, "--help"] for c in commands]:
        with pytest.raises(SystemExit) as exc:
            cli.main(command)
        assert exc.value.code == 0
        assert "usage: kfp-mlops" in capsys.readouterr().out


def test_list_names_pipelines_and_components(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "data_validation_pipeline",
        "training_pipeline",
        "load_dataset",
        "split_and_preprocess",
    ):
        assert name in out


def test_errors_are_one_line_and_non_zero(capsys):
    assert cli.main(["run-local", "no_such_pipeline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kfp-mlops: error: unknown pipeline 'no_such_pipeline'; known:")
    assert "Traceback" not in err and err.count("\n") == 1
    assert cli.main(["run-local", "data_validation_pipeline", "--param", "oops"]) == 2
    assert "malformed --param 'oops'" in capsys.readouterr().err
    assert cli.main(["run-local", "data_validation_pipeline", "--param", "nope=1"]) == 2
    assert "has no parameter(s) ['nope']" in capsys.readouterr().err
    assert cli.main(["compile", "--output", "/tmp/x", "no_such"]) == 2
    assert "unknown pipeline or component ['no_such']" in capsys.readouterr().err


def test_stop_local_without_deployments(tmp_path, capsys):
    assert cli.main(["stop-local", "--pipeline-root", str(tmp_path)]) == 0
    assert "no local deployment" in capsys.readouterr().out
    assert cli.serving_endpoints(str(tmp_path)) == []
