"""alert_rules: the runbook's defaults, bad input refused, and files promtool accepts."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from kfp_mlops.components.monitoring.alert_rules.core import build, labels_from_json
from kfp_mlops.components.monitoring.alert_rules.thresholds import (
    AlertRuleError,
    RuleOptions,
    Thresholds,
)
from tests.prometheus_services import need

ALERTS = [
    "ModelLatencyP50High",
    "ModelLatencyP95High",
    "ModelLatencyP99High",
    "ModelErrorRateHigh",
    "ModelNotReady",
    "ModelAccuracyWarning",
    "ModelAccuracyCritical",
    "ModelRmseWarning",
    "ModelRmseCritical",
    "ModelPrecisionLow",
    "ModelRecallLow",
    "ModelDriftWarning",
    "ModelDriftCritical",
    "ModelTooOld",
]


def promtool() -> str:
    """The path of Debian's promtool, or skip saying how to install it."""
    return need("promtool")


def rules_by_name(rules) -> dict[str, dict]:
    return {r["alert"]: r for group in rules.groups for r in group["rules"]}


def test_defaults_are_the_runbooks():
    rules = rules_by_name(build("churn"))
    assert list(rules) == ALERTS
    assert rules["ModelLatencyP50High"]["expr"].endswith("* 1000 > 10")
    assert rules["ModelLatencyP95High"]["expr"].endswith("* 1000 > 50")
    assert rules["ModelLatencyP99High"]["expr"].endswith("* 1000 > 100")
    assert rules["ModelErrorRateHigh"]["expr"].endswith("> 0.01")
    assert "model_errors_total{" in rules["ModelErrorRateHigh"]["expr"]
    warn, crit = rules["ModelAccuracyWarning"]["expr"], rules["ModelAccuracyCritical"]["expr"]
    assert warn.endswith("< 0.95) >= 0.9") and crit.endswith("< 0.9")
    assert "model_monitor_baseline_accuracy{" in crit
    rmse = 'model_monitor_rmse{model="churn"} / model_monitor_baseline_rmse{model="churn"}'
    assert rules["ModelRmseWarning"]["expr"] == f"({rmse} > 1.05) <= 1.1"
    assert rules["ModelRmseCritical"]["expr"] == f"{rmse} > 1.1"
    assert rules["ModelPrecisionLow"]["expr"] == 'model_monitor_precision{model="churn"} < 0.9'
    assert rules["ModelRecallLow"]["expr"] == 'model_monitor_recall{model="churn"} < 0.85'
    drift = 'model_monitor_max_feature_psi{model="churn"}'
    assert rules["ModelDriftWarning"]["expr"] == f"({drift} >= 0.05) <= 0.15"
    assert rules["ModelDriftCritical"]["expr"] == f"{drift} > 0.15"
    assert rules["ModelTooOld"]["expr"] == 'model_monitor_model_age_days{model="churn"} > 7'
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["labels"]["model"] == "churn"
        assert rule["for"] == "5m"
        assert {"summary", "description", "action"} <= set(rule["annotations"])


def test_a_version_and_a_fixed_baseline_are_selected_and_labelled():
    options = RuleOptions(model="x", version="7", baseline_accuracy=0.97, runbook_url="http://rb")
    rules = rules_by_name(build("churn", options=options))
    crit = rules["ModelAccuracyCritical"]
    assert crit["expr"] == 'model_monitor_accuracy{model="churn",version="7"} / 0.97 < 0.9'
    assert crit["labels"] == {"severity": "critical", "model": "churn", "version": "7"}
    assert crit["annotations"]["runbook_url"] == "http://rb"
    latency = rules["ModelLatencyP95High"]["expr"]
    assert '{model="churn",version="7",endpoint=~"v1_predict|v2_infer"}' in latency


def test_thresholds_json_overrides_by_name():
    t = Thresholds.from_json('{"latency_p95_ms": 80, "error_rate": 0.02}', latency_p50_ms=20)
    assert (t.latency_p50_ms, t.latency_p95_ms, t.error_rate) == (20, 80, 0.02)
    assert t.latency_p99_ms == 100  # the runbook's default stays


@pytest.mark.parametrize(
    ("overrides", "named", "fix"),
    [
        ({"latency_p95_ms": 5}, "p95 5 ms", "latency_p50_ms <= latency_p95_ms"),
        ({"latency_p99_ms": 40}, "p99 40 ms", "latency_p95_ms <= latency_p99_ms"),
        ({"latency_p50_ms": -1}, "latency_p50_ms = -1", "positive"),
        ({"error_rate": 5}, "error_rate = 5 is above 1", "0.01 is 1 %"),
        ({"error_rate": 0}, "error_rate = 0", "positive"),
        ({"min_recall": 85}, "min_recall = 85", "fraction"),
        ({"accuracy_critical_ratio": 0.97}, "accuracy_critical_ratio 0.97", "warning 0.95"),
        ({"drift_warning": 0.2}, "drift_warning 0.2", "0.05"),
        ({"max_model_age_days": float("nan")}, "max_model_age_days = nan", "positive"),
        ({"latency_p95": 50}, "unknown alert threshold 'latency_p95'", "latency_p95_ms"),
        ({"error_rate": "1%"}, "'error_rate' is '1%', not a number", "number"),
    ],
)
def test_impossible_or_unknown_thresholds_name_the_problem_and_fix(overrides, named, fix):
    with pytest.raises(AlertRuleError) as raised:
        Thresholds.from_json(json.dumps(overrides))
    assert named in raised.value.problem
    assert fix in raised.value.fix


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (RuleOptions(model="x", drift_metric="psi"), "unknown drift metric 'psi'"),
        (RuleOptions(model="x", for_duration="5 minutes"), "for_duration '5 minutes'"),
        (RuleOptions(model="x", rate_window="0s"), "rate_window '0s' is zero"),
        (RuleOptions(model="x", baseline_accuracy=97), "baseline_accuracy 97"),
        (RuleOptions(model="x", version='1"} or vector(1)'), "model version"),
    ],
)
def test_bad_options_are_refused(options, named):
    with pytest.raises(AlertRuleError) as raised:
        build("churn", options=options)
    assert named in raised.value.problem and raised.value.fix


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: build('churn"}'), "model name"),
        (lambda: build("churn", namespace="Monitoring"), "namespace 'Monitoring'"),
        (lambda: build("churn", labels={"release": "a b"}), "release='a b'"),
        (lambda: build("churn", evaluation_interval="1 s"), "evaluation_interval"),
        (lambda: labels_from_json("[1]"), "must be a JSON object"),
        (lambda: Thresholds.from_json("{"), "not valid JSON"),
    ],
)
def test_bad_names_are_refused(call, named):
    with pytest.raises(AlertRuleError) as raised:
        call()
    assert named in raised.value.problem


def test_prometheus_rule_object(tmp_path):
    rules = build("Churn_v2", labels=labels_from_json('{"release": "kube-prometheus-stack"}'))
    rules.write(tmp_path / "rules.yml", tmp_path / "rule.yaml")
    obj = yaml.safe_load((tmp_path / "rule.yaml").read_text())
    assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "PrometheusRule"
    assert obj["metadata"]["name"] == "kfp-mlops-churn-v2-alerts"
    assert obj["metadata"]["namespace"] == "monitoring"
    assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert obj["metadata"]["labels"]["kfp-mlops.io/model"] == "Churn_v2"
    assert obj["spec"] == yaml.safe_load((tmp_path / "rules.yml").read_text())


def test_promtool_checks_the_rules_file_and_the_objects_spec(tmp_path):
    binary = promtool()
    rules = build("churn", options=RuleOptions(model="churn", version="3"))
    rules.write(tmp_path / "rules.yml", tmp_path / "rule.yaml")
    # The Operator hands Prometheus the object's spec: it must pass the same check.
    spec = yaml.safe_load((tmp_path / "rule.yaml").read_text())["spec"]
    (tmp_path / "spec.yml").write_text(yaml.safe_dump(spec))
    for name in ("rules.yml", "spec.yml"):
        done = subprocess.run(
            [binary, "check", "rules", str(tmp_path / name)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_promtool_rejects_a_broken_rule(tmp_path):
    """The check above can fail: a rule with a PromQL syntax error does not pass."""
    binary = promtool()
    rules = build("churn").rules_file()
    rules["groups"][0]["rules"][0]["expr"] += " >"
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        [binary, "check", "rules", str(tmp_path / "bad.yml")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0


@pytest.mark.slow
def test_component_writes_both_files_in_kfp_local(kfp_local):
    from kfp import dsl

    from kfp_mlops.components.monitoring.alert_rules.component import alert_rules

    @dsl.pipeline(name="alert-rules-test")
    def pipe() -> str:
        task = alert_rules(
            model_name="churn", latency_p95_ms=80.0, thresholds_json='{"min_recall": 0.8}'
        )
        return task.outputs["Output"]

    run = pipe()
    assert run.output == "kfp-mlops-churn-alerts"
    [rule_file] = list(Path(kfp_local).glob("alert-rules-test-*/alert-rules/prometheus_rule"))
    obj = yaml.safe_load(rule_file.read_text())
    rules = {r["alert"]: r for g in obj["spec"]["groups"] for r in g["rules"]}
    assert rules["ModelLatencyP95High"]["expr"].endswith("> 80")
    assert rules["ModelRecallLow"]["expr"].endswith("< 0.8")
    [plain] = list(Path(kfp_local).glob("alert-rules-test-*/alert-rules/rules_file"))
    assert yaml.safe_load(plain.read_text()) == obj["spec"]


@pytest.mark.slow
def test_component_fails_on_an_impossible_threshold_before_writing(kfp_local):
    from kfp import dsl

    from kfp_mlops.components.monitoring.alert_rules.component import alert_rules

    @dsl.pipeline(name="alert-rules-bad")
    def pipe():
        alert_rules(model_name="churn", latency_p50_ms=60.0)  # above p95's 50

    with pytest.raises(RuntimeError):
        pipe()
    assert not list(Path(kfp_local).glob("alert-rules-bad-*/alert-rules/prometheus_rule"))
