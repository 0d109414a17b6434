"""The local target: real model-server processes behind the weighted router.

Broken new versions are really broken (NaN weights, an output layer that does not fit the
preprocessor, a truncated file); each is rolled back while v1 keeps answering through the
router. A good canary walks 10 -> 50 -> 100 % and ends with v2 serving and v1 stopped.
No server outlives the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.deployment.deploy_model.targets import LocalTarget, stop_local

pytestmark = pytest.mark.slow


def processes_with(marker: str) -> list[int]:
    """Running processes whose command line mentions ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd and processes.is_alive(int(proc.name)):
                found.append(int(proc.name))
    return found


def state(state_dir: Path, name: str) -> dict:
    return json.loads((state_dir / name / "state.json").read_text())


def ask(state_dir: Path, name: str, rows) -> tuple[int, str | None, dict]:
    """A prediction through the router: status, version that answered, body."""
    url = f"http://127.0.0.1:{state(state_dir, name)['router']['port']}"
    r = request(url, "POST", f"/v1/models/{name}:predict", {"instances": rows}, timeout=30)
    return r.status, r.headers.get("x-served-by"), r.body


def run(models, state_dir, folder, name, **kw):
    kw.setdefault("ready_timeout_s", 240)
    return deploy(
        str(folder),
        str(models.preprocessor),
        models.raw.assign(target=models.classes[0]),
        target="local",
        model_name=name,
        state_dir=str(state_dir),
        max_p95_ms=10_000,  # a loaded CI machine must not fail the canary on latency
        probe_requests=40,
        **kw,
    )


@pytest.fixture(scope="module")
def service(models, tmp_path_factory):
    """v1 (TFLite) deployed and serving; everything stopped at the end, checked by /proc."""
    state_dir = tmp_path_factory.mktemp("local_state")
    try:
        first = run(models, state_dir, models.tflite, "svc")
        assert first.outcome.decision == "promoted", first.outcome.reason
        yield state_dir, first.outcome.version
    finally:
        stop_local(str(state_dir), "svc")
        assert processes_with(str(state_dir)) == []  # the router
        assert processes_with(str(models.root)) == []  # every model server


@pytest.mark.parametrize(
    ("folder", "strategy", "timeout", "reason"),
    [
        ("tflite_nan", "canary", 240, "non-finite probabilities"),
        ("tflite_wrong_shape", "blue-green", 25, "outputs 3 values per row but the preprocessor"),
        ("tflite_truncated", "rolling", 25, "not a valid Flatbuffer"),
    ],
)
def test_broken_v2_rolls_back_and_v1_keeps_serving(
    models, service, folder, strategy, timeout, reason
):
    state_dir, v1 = service
    before = state(state_dir, "svc")
    result = run(
        models,
        state_dir,
        getattr(models, folder),
        "svc",
        strategy=strategy,
        ready_timeout_s=timeout,
    )
    outcome = result.outcome
    assert outcome.decision == "rolled_back"
    assert outcome.previous == v1 and outcome.live == v1
    assert reason in outcome.reason
    with pytest.raises(Exception, match="rolled back"):
        outcome.raise_if_failed()
    after = state(state_dir, "svc")
    assert after["live"]["version"] == v1
    assert after["candidate"] is None
    assert after["routes"] == [{"port": after["live"]["port"], "version": v1, "weight": 100}]
    if strategy != "rolling":  # canary and blue-green never touched v1's process
        assert after["live"]["pid"] == before["live"]["pid"]
    status, served_by, body = ask(state_dir, "svc", models.rows(3))
    assert (status, served_by) == (200, v1)
    assert len(body["predictions"]) == 3
    assert processes_with(str(getattr(models, folder))) == []  # the broken server is gone


def test_a_dead_live_server_is_restarted_from_the_state_file(models, service):
    state_dir, v1 = service
    old_pid = state(state_dir, "svc")["live"]["pid"]
    processes.stop(old_pid)
    target = LocalTarget(str(state_dir), "svc")  # what the next deployment does first
    assert target.live().version == v1
    assert state(state_dir, "svc")["live"]["pid"] != old_pid
    assert ask(state_dir, "svc", models.rows(1))[:2] == (200, v1)


def test_good_canary_walks_the_steps_and_retires_v1(models, tmp_path):
    try:
        first = run(models, tmp_path, models.good, "canary-svc", backend="keras")
        assert first.outcome.decision == "promoted", first.outcome.reason
        v1_pid = state(tmp_path, "canary-svc")["live"]["pid"]
        assert ask(tmp_path, "canary-svc", models.rows(2))[:2] == (200, first.outcome.version)

        second = run(models, tmp_path, models.tflite_v2, "canary-svc", traffic_steps="10,50,100")
        outcome = second.outcome
        assert outcome.decision == "promoted", outcome.reason
        assert outcome.previous == first.outcome.version
        assert outcome.smoke.ok
        assert [s.percent for s in outcome.steps] == [10, 50, 100]
        # The router split the 40 probes of each step exactly by weight.
        assert [s.requests for s in outcome.steps] == [4, 20, 40]
        assert all(s.proceed and s.errors == 0 for s in outcome.steps)
        now = state(tmp_path, "canary-svc")
        assert now["live"]["version"] == outcome.version
        assert now["routes"] == [
            {"port": now["live"]["port"], "version": outcome.version, "weight": 100}
        ]
        assert not processes.is_alive(v1_pid)
        status, served_by, body = ask(tmp_path, "canary-svc", models.rows(4))
        assert (status, served_by) == (200, outcome.version)
        assert set(body["predictions"]) <= set(models.classes)
        assert [h["decision"] for h in now["history"]] == ["promoted", "promoted"]
    finally:
        stop_local(str(tmp_path), "canary-svc")
    assert processes_with(str(tmp_path)) == []
