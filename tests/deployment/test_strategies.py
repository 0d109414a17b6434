"""Decision rules of the strategies (pure functions) and the outcome contract."""

from __future__ import annotations

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.deployment.deploy_model.smoke import (
    DeploymentError,
    HttpResult,
    StepMetrics,
)
from kfp_mlops.components.deployment.deploy_model.strategies import (
    Outcome,
    Thresholds,
    evaluate_step,
    parse_traffic_steps,
)


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("10,50,100", [10, 50, 100]),
        (" 5 ; 25;100 ", [5, 25, 100]),
        ("100", [100]),
        ([1, 100], [1, 100]),
    ],
)
def test_parse_traffic_steps(text, steps):
    assert parse_traffic_steps(text) == steps


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("10,fifty,100", "not a comma-separated list"),
        ("0,100", "outside 1..100"),
        ("10,150", "outside 1..100"),
        ("50,10,100", "not strictly increasing"),
        ("10,10,100", "not strictly increasing"),
        ("10,50", "does not end at 100"),
    ],
)
def test_parse_traffic_steps_rejects(text, match):
    with pytest.raises(ParameterError, match=match):
        parse_traffic_steps(text)


def metrics(statuses: list[int], latency_ms: float = 5.0) -> StepMetrics:
    out = StepMetrics()
    for s in statuses:
        out.add(HttpResult(s, None, latency_ms))
    return out


def test_healthy_step_proceeds():
    decision = evaluate_step(metrics([200] * 100), Thresholds())
    assert decision.proceed
    assert "error rate 0.0%" in decision.reason


def test_error_rate_runbook_boundary():
    # 1 % exactly is allowed, anything above fails (the runbook says "> 1 % fails").
    assert evaluate_step(metrics([200] * 99 + [500]), Thresholds(max_error_rate=0.01)).proceed
    d = evaluate_step(metrics([200] * 98 + [500, 503]), Thresholds(max_error_rate=0.01))
    assert not d.proceed
    assert "error rate 2.0% (2/100)" in d.reason


def test_client_errors_do_not_count_but_no_answer_does():
    m = metrics([200, 400, 404, 0])
    assert (m.requests, m.errors) == (4, 1)


def test_latency_threshold_uses_p95():
    m = StepMetrics()
    for i in range(100):
        m.add(HttpResult(200, None, 200.0 if i >= 90 else 10.0))  # 10 % slow -> p95 slow
    assert m.p95_ms == 200.0
    d = evaluate_step(m, Thresholds(max_p95_ms=100))
    assert not d.proceed and "p95 latency 200.0 ms is above 100 ms" in d.reason
    assert evaluate_step(m, Thresholds(max_p95_ms=250)).proceed


def test_no_traffic_to_new_version_fails_and_unmeasured_is_recorded():
    assert not evaluate_step(StepMetrics(), Thresholds()).proceed
    d = evaluate_step(None, Thresholds())
    assert d.proceed and "not measured" in d.reason


@pytest.mark.parametrize(
    "kwargs", [{"max_error_rate": 1.5}, {"max_error_rate": -0.1}, {"max_p95_ms": 0}]
)
def test_thresholds_validate(kwargs):
    with pytest.raises(ParameterError):
        Thresholds(**kwargs).validate()


def test_outcome_raises_with_reason_only_when_rolled_back():
    ok = Outcome("canary", "local", "clf", "v2", "v1", decision="promoted")
    ok.raise_if_failed()
    bad = Outcome(
        "canary", "local", "clf", "v2", "v1", decision="rolled_back", reason="smoke test failed"
    )
    with pytest.raises(DeploymentError, match=r"rolled back \(v1 is live\): smoke test failed"):
        bad.raise_if_failed()
