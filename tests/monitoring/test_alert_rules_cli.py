"""``kfp-mlops alert-rules``: the rules files written and checked by the real promtool."""

import shutil
import subprocess

import pytest
import yaml

from kfp_mlops.pipelines.tooling import cli


def test_cli_writes_rules_promtool_accepts(tmp_path, capsys):
    argv = [
        "alert-rules",
        "--model",
        "churn",
        "-t",
        "latency_p99_ms=200",
        "--output",
        str(tmp_path),
    ]
    assert cli.main(argv) == 0
    assert "PrometheusRule" in capsys.readouterr().out
    rule = yaml.safe_load((tmp_path / "kfp-mlops-churn-alerts.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    p99 = next(r for g in rule["spec"]["groups"] for r in g["rules"] if "P99" in r["alert"])
    assert p99["expr"].replace("\n", " ").endswith("* 1000 > 200")
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing: run `make system-deps`")
    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "kfp-mlops-churn-alerts.rules.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_cli_refuses_unknown_and_impossible_thresholds(tmp_path, capsys):
    assert cli.main(["alert-rules", "--model", "m", "-t", "latency_p100=1"]) == 2
    assert "known:" in capsys.readouterr().err
    argv = ["alert-rules", "--model", "m", "-t", "latency_p95_ms=1", "--output", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "p95" in capsys.readouterr().err.lower()
    assert not list(tmp_path.iterdir())
