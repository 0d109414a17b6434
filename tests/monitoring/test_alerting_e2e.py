"""Alerting end to end on loopback: model servers -> Prometheus (the generated rules) ->
Alertmanager (routing by severity) -> the test's webhook receiver.

Real processes throughout: three model servers of one model ``churn`` (a healthy stable
version ``v1``, a canary ``v2`` whose model answers NaN, so every prediction is a 500, and a
canary ``v3`` whose model is slow), Debian's Prometheus scraping them and a Pushgateway every
second, and Alertmanager sending critical alerts to ``/pager`` and warnings to
``/tickets``. The rules are :mod:`alert_rules`' with the runbook's thresholds, ``for: 0s``
and a 15 s rate window so the test is quick. Every wait is bounded.
"""

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.monitoring.alert_rules.core import build
from kfp_mlops.components.monitoring.alert_rules.thresholds import RuleOptions
from kfp_mlops.components.monitoring.monitor_model.pushgateway import push_metrics
from tests import prometheus_services as ps
from tests.deployment.conftest import Models, models  # noqa: F401 - the servers' models
from tests.monitoring.helpers import flip_labels, run

pytestmark = pytest.mark.slow
MODEL = "churn"
FIRE_TIMEOUT = 120.0  # seconds for an alert to reach the receiver (usually a few)
QUIET_SECONDS = 15.0  # healthy traffic watched for alerts: 15 evaluations


@dataclass
class Stack:
    """The running services."""

    prometheus: ps.Prometheus
    alertmanager: ps.Service
    pushgateway: ps.Service
    receiver: ps.WebhookReceiver
    servers: dict[str, ps.Service]
    rows: list[dict]

    def alerts_of(self, version: str) -> list[tuple[str, dict]]:
        """Alerts received for ``version`` of the model."""
        return [
            (p, a)
            for p, a in self.receiver.alerts()
            if a["labels"].get("model") == MODEL and a["labels"].get("version") == version
        ]


def slow_model(served: Models, folder: Path) -> Path:
    """A TFLite model that is slow because it is big: 250 passes through a 2048-wide layer
    (about 1 G multiply-adds a row; 3-row requests take ~200 ms here, twice the p99 limit
    with room for a faster CPU: a 1024-wide layer measured a p99 of 99 ms, just under the
    limit; the file is 16 MB as the layer is shared; more passes overflow Keras' recursion)."""
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor

    tf = import_tf()
    width = Preprocessor.load(str(served.preprocessor)).num_features
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((width,))
    hidden = tf.keras.layers.Dense(2048, activation="tanh")(inputs)
    shared = tf.keras.layers.Dense(2048, activation="tanh")
    for _ in range(250):
        hidden = shared(hidden)
    outputs = tf.keras.layers.Dense(2, activation="softmax")(hidden)
    model = tf.keras.Model(inputs, outputs)
    folder.mkdir(parents=True)
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    (folder / "model.tflite").write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def stack(models, tmp_path_factory):  # noqa: F811 - the fixture imported above
    for binary in (ps.PROMETHEUS, ps.ALERTMANAGER, ps.PUSHGATEWAY):
        ps.need(binary)
    root = tmp_path_factory.mktemp("alerting")
    started: list = []
    try:
        receiver = ps.start_receiver()
        started.append(receiver)
        routes = {"critical": receiver.url + "/pager", "warning": receiver.url + "/tickets"}
        alertmanager = ps.start_alertmanager(
            root / "am", ps.alertmanager_config(routes, receiver.url + "/other")
        )
        started.append(alertmanager)
        pushgateway = ps.start_pushgateway(root / "pgw")
        started.append(pushgateway)
        servers = {}
        for version, model_dir in (
            ("v1", models.tflite),
            ("v2", models.tflite_nan),
            ("v3", slow_model(models, root / "slow")),
        ):
            servers[version] = ps.start_model_server(
                root / "servers", model_dir, models.preprocessor, MODEL, version
            )
            started.append(servers[version])
        rules = build(MODEL, options=RuleOptions(MODEL, for_duration="0s", rate_window="15s"))
        (root / "prom").mkdir()
        (root / "prom" / "rules.yml").write_text(yaml.safe_dump(rules.rules_file()))
        config = ps.prometheus_config(
            {"model-servers": [ps.host_port(s.url) for s in servers.values()]},
            [str(root / "prom" / "rules.yml")],
            alertmanager=ps.host_port(alertmanager.url),
            pushgateway=ps.host_port(pushgateway.url),
        )
        prometheus = ps.start_prometheus(root / "prom", config)
        started.append(prometheus)
        ps.wait_until(prometheus.targets_up, 30, "every scrape target up")
        yield Stack(prometheus, alertmanager, pushgateway, receiver, servers, models.rows(3))
    finally:
        for service in reversed(started):
            service.stop()


class Traffic:
    """Predictions sent to one server in a background thread until stopped."""

    def __init__(self, url: str, rows: list[dict]) -> None:
        self.url, self.rows = url, rows
        self.statuses: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        while not self.done.is_set():
            body = {"instances": self.rows}
            answer = request(self.url, "POST", f"/v1/models/{MODEL}:predict", body, timeout=10)
            self.statuses.append(answer.status)
            self.done.wait(0.05)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=15)


def fired(stack: Stack, alertname: str, version: str, path: str) -> dict:
    """Wait for ``alertname`` of ``version`` at the receiver's ``path``."""

    def match(at: str, alert: dict) -> bool:
        labels = alert["labels"]
        return (
            at == path
            and alert["status"] == "firing"
            and labels["alertname"] == alertname
            and labels.get("model") == MODEL
            and labels.get("version") == version
        )

    return stack.receiver.wait_for(match, FIRE_TIMEOUT, f"{alertname} for {MODEL} {version}")


def test_a_healthy_model_fires_nothing(stack):
    with Traffic(stack.servers["v1"].url, stack.rows) as traffic:
        # Wait until Prometheus sees the traffic, then watch a few rule evaluations.
        ps.wait_until(
            lambda: stack.prometheus.query(
                f'sum(rate(kfp_mlops_requests_total{{model="{MODEL}",version="v1"}}[15s])) > 0'
            ),
            60,
            "v1's request rate in Prometheus",
        )
        time.sleep(QUIET_SECONDS)
    assert traffic.statuses and set(traffic.statuses) == {200}
    firing = [a for a in stack.prometheus.alerts() if a["labels"].get("version") == "v1"]
    assert firing == []
    assert stack.alerts_of("v1") == []


def test_a_canary_answering_errors_pages(stack):
    with Traffic(stack.servers["v2"].url, stack.rows) as broken:
        with Traffic(stack.servers["v1"].url, stack.rows):
            alert = fired(stack, "ModelErrorRateHigh", "v2", "/pager")
    assert set(broken.statuses) == {500}  # the NaN model's InferenceError
    assert alert["labels"]["severity"] == "critical"
    assert "of predictions fail (limit 1 %)" in alert["annotations"]["summary"]
    assert "roll back" in alert["annotations"]["action"]
    assert stack.alerts_of("v1") == []  # the healthy stable version beside it: nothing


def test_a_slow_canary_fires_the_latency_alerts(stack):
    # Alone: the slow model keeps a core busy, and the healthy version's latency next to it
    # would measure this machine's load, not the rules (its own test is above).
    with Traffic(stack.servers["v3"].url, stack.rows) as slow:
        p99 = fired(stack, "ModelLatencyP99High", "v3", "/pager")
        p50 = fired(stack, "ModelLatencyP50High", "v3", "/tickets")
    assert set(slow.statuses) == {200}  # slow, not failing
    assert p99["labels"]["severity"] == "critical" and p50["labels"]["severity"] == "warning"
    assert "latency" in p99["annotations"]["summary"]
    assert not [
        a for _, a in stack.alerts_of("v3") if a["labels"]["alertname"].startswith("ModelError")
    ]
    assert stack.alerts_of("v1") == []


def test_the_monitoring_jobs_critical_accuracy_pages(stack, champion):
    # A healthy run of v1 and a run of v4 on mislabelled traffic, pushed as the monitoring
    # job pushes them (separate jobs: one group per job and model).
    gateway = stack.pushgateway.url
    healthy = run(champion, champion.reference, latency_samples=0)
    assert healthy.level == 0, healthy.reasons
    pushed = push_metrics(
        healthy.summary(), gateway, "stable", model=MODEL, version="v1", baseline=champion.baseline
    )
    assert pushed
    bad = run(champion, flip_labels(champion.reference, share=0.3), latency_samples=0)
    assert bad.level == 2  # critical: accuracy far below the baseline
    pushed = push_metrics(
        bad.summary(), gateway, "canary", model=MODEL, version="v4", baseline=champion.baseline
    )
    assert pushed
    alert = fired(stack, "ModelAccuracyCritical", "v4", "/pager")
    assert alert["labels"]["job"] == "canary"  # the pushed labels survived the scrape
    assert "x its baseline" in alert["annotations"]["summary"]
    assert stack.alerts_of("v1") == []
