"""``promtool test rules`` on the generated rules: each alert fires on bad series, never on
healthy ones, with the labels and annotations the rules promise.

The input series have the names and labels the real exporters write (the model server's
``/metrics``, the monitoring job's Pushgateway group), with the runbook's default
thresholds and ``for: 5m``. promtool evaluates the rules itself; this file only writes the
series and the expected alerts.
"""

import re
import subprocess
from dataclasses import dataclass, field

import yaml

from kfp_mlops.components.monitoring.alert_rules.core import build
from kfp_mlops.components.serving import metrics as served
from tests.monitoring.test_alert_rules import ALERTS, promtool

BUCKETS = ("0.001", "0.0025", "0.005", "0.01", "0.02", "0.05", "0.1", "0.25", "0.5", "1", "2.5")
SERVED = {"model": "churn", "version": "3"}  # what the model server's series carry
POD = {"job": "model-server", "instance": "10.0.0.7:8080"}  # added by the scrape
PUSHED = {"job": "monitoring", "model": "churn", "version": "3"}  # a Pushgateway group
MINUTES = 30  # each input series has a sample a minute for this long


def name_and_labels(name: str, labels: dict) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def steady(name: str, labels: dict, value: float) -> dict:
    return {"series": name_and_labels(name, labels), "values": f"{value}x{MINUTES}"}


def counter(name: str, labels: dict, per_minute: float) -> dict:
    return {"series": name_and_labels(name, labels), "values": f"0+{per_minute}x{MINUTES}"}


def serving(latency: dict[float, int], errors: int = 0, ready: str = f"1x{MINUTES}") -> list:
    """The server's series: ``latency`` maps seconds to requests a minute; ``errors`` of them
    a minute answer 500 (type ``inference_error``)."""
    total = sum(latency.values())
    labels = {**SERVED, **POD, "endpoint": "v1_predict"}
    out = [
        counter(f"{served.LATENCY_SERIES}_bucket", {**labels, "le": le}, per_minute)
        for le, per_minute in [
            (le, sum(n for s, n in latency.items() if s <= float(le))) for le in BUCKETS
        ]
        + [("+Inf", total)]
    ]
    out.append(counter(served.REQUESTS_SERIES, {**labels, "status": "200"}, total - errors))
    out.append(counter(served.REQUESTS_SERIES, {**labels, "status": "500"}, errors))
    out.append(counter(served.ERRORS_SERIES, {**labels, "type": "inference_error"}, errors))
    out.append({"series": name_and_labels(served.READY_SERIES, {**SERVED, **POD}), "values": ready})
    return out


def monitoring(accuracy=0.96, baseline=0.97, precision=0.95, recall=0.93, psi=0.01, age=2.0):
    """The monitoring job's pushed gauges (defaults: a healthy model)."""
    return [
        steady("model_monitor_accuracy", PUSHED, accuracy),
        steady("model_monitor_baseline_accuracy", PUSHED, baseline),
        steady("model_monitor_precision", PUSHED, precision),
        steady("model_monitor_recall", PUSHED, recall),
        steady("model_monitor_max_feature_psi", PUSHED, psi),
        steady("model_monitor_model_age_days", PUSHED, age),
    ]


def regressor(rmse: float, baseline: float = 50.0, psi: float = 0.01, age: float = 2.0):
    """A regression model's pushed gauges: RMSE and its baseline, no accuracy."""
    return [
        steady("model_monitor_rmse", PUSHED, rmse),
        steady("model_monitor_baseline_rmse", PUSHED, baseline),
        steady("model_monitor_max_feature_psi", PUSHED, psi),
        steady("model_monitor_model_age_days", PUSHED, age),
    ]


HEALTHY_LATENCY = {0.002: 100}


@dataclass
class Case:
    """Input series and, per alert, the value it fires with (absent: it must not fire)."""

    name: str
    series: list
    fires: dict[str, float] = field(default_factory=dict)
    eval_time: str = "20m"


CASES = [
    Case("healthy", serving(HEALTHY_LATENCY) + monitoring()),
    # All answers take 200 ms: interpolated in the (0.1, 0.25] s bucket.
    Case(
        "slow",
        serving({0.2: 100}) + monitoring(),
        {"ModelLatencyP50High": 175.0, "ModelLatencyP95High": 242.5, "ModelLatencyP99High": 248.5},
    ),
    # 6 % of answers at 75 ms: p95 58.3 ms fires, p99 91.7 ms and p50 1.8 ms do not.
    Case("p95 only", serving({0.002: 94, 0.075: 6}) + monitoring(), {"ModelLatencyP95High": 58.3}),
    Case(
        "5 % errors",
        serving(HEALTHY_LATENCY, errors=5) + monitoring(),
        {"ModelErrorRateHigh": 0.05},
    ),
    Case("0.5 % errors", serving({0.002: 1000}, errors=5) + monitoring()),
    Case(
        "accuracy 0.948 x baseline",
        serving(HEALTHY_LATENCY) + monitoring(accuracy=0.91, baseline=0.96),
        {"ModelAccuracyWarning": 0.91 / 0.96},
    ),
    Case(
        "accuracy 0.833 x baseline",
        serving(HEALTHY_LATENCY) + monitoring(accuracy=0.8, baseline=0.96),
        {"ModelAccuracyCritical": 0.8 / 0.96},
    ),
    Case("regressor at its baseline", serving(HEALTHY_LATENCY) + regressor(rmse=51.0)),
    Case(
        "rmse 1.07 x baseline",
        serving(HEALTHY_LATENCY) + regressor(rmse=53.5),
        {"ModelRmseWarning": 53.5 / 50},
    ),
    Case(
        "rmse 1.2 x baseline",
        serving(HEALTHY_LATENCY) + regressor(rmse=60.0),
        {"ModelRmseCritical": 60.0 / 50},
    ),
    Case(
        "precision and recall",
        serving(HEALTHY_LATENCY) + monitoring(precision=0.85, recall=0.8),
        {"ModelPrecisionLow": 0.85, "ModelRecallLow": 0.8},
    ),
    Case(
        "drift warning", serving(HEALTHY_LATENCY) + monitoring(psi=0.1), {"ModelDriftWarning": 0.1}
    ),
    Case(
        "drift critical",
        serving(HEALTHY_LATENCY) + monitoring(psi=0.3),
        {"ModelDriftCritical": 0.3},
    ),
    Case("old model", serving(HEALTHY_LATENCY) + monitoring(age=10.0), {"ModelTooOld": 10.0}),
    # Unready from minute 18: still pending at 20m (for: 5m), firing at 25m.
    Case("unready 2 min", serving(HEALTHY_LATENCY, ready="1x17 0x13") + monitoring()),
    Case(
        "unready 7 min",
        serving(HEALTHY_LATENCY, ready="1x17 0x13") + monitoring(),
        {"ModelNotReady": 0.0},
        eval_time="25m",
    ),
]


def render(template: str, labels: dict, value: float) -> str:
    """Prometheus's expansion of the few template forms the rules use."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    text = re.sub(r'\{\{ \$value \| printf "([^"]+)" \}\}', lambda m: m.group(1) % value, text)
    text = text.replace("{{ $value | humanizePercentage }}", f"{value * 100:.4g}%")
    assert "{{" not in text, text
    return text


def expected(rule: dict, value: float) -> dict:
    """The alert promtool must report: series labels (as the expression keeps them) and
    the rule's labels, annotations expanded."""
    name = rule["alert"]
    if name.startswith(("ModelLatency", "ModelError")):
        labels = dict(SERVED)  # aggregated by model and version
    elif name == "ModelNotReady":
        labels = {**SERVED, **POD}
    else:
        labels = dict(PUSHED)
    labels.update(rule["labels"])
    annotations = {k: render(v, labels, value) for k, v in rule["annotations"].items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def test_each_alert_fires_on_bad_series_and_none_on_healthy_ones(tmp_path):
    binary = promtool()
    rules = build("churn")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules.rules_file()))
    by_name = {r["alert"]: r for g in rules.groups for r in g["rules"]}
    assert set(by_name) == set(ALERTS)
    fired = {name for case in CASES for name in case.fires}
    assert fired == set(ALERTS)  # every alert is shown to fire in some case
    tests = []
    for case in CASES:
        checks = [
            {
                "eval_time": case.eval_time,
                "alertname": name,
                "exp_alerts": [expected(by_name[name], case.fires[name])]
                if name in case.fires
                else [],
            }
            for name in ALERTS
        ]
        tests.append({"interval": "1m", "input_series": case.series, "alert_rule_test": checks})
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    done = subprocess.run(
        [binary, "test", "rules", "tests.yml"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "SUCCESS" in done.stdout


def test_the_unit_tests_can_fail(tmp_path):
    """A healthy case expecting an alert makes promtool fail: the test above is not vacuous."""
    binary = promtool()
    rules = build("churn")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules.rules_file()))
    rule = next(r for g in rules.groups for r in g["rules"] if r["alert"] == "ModelErrorRateHigh")
    test = {
        "interval": "1m",
        "input_series": serving(HEALTHY_LATENCY) + monitoring(),
        "alert_rule_test": [
            {
                "eval_time": "20m",
                "alertname": "ModelErrorRateHigh",
                "exp_alerts": [expected(rule, 0.05)],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [test]})
    )
    done = subprocess.run(
        [binary, "test", "rules", "tests.yml"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "ModelErrorRateHigh" in done.stdout + done.stderr
