"""delivery_metrics on a history made by real runs: a real MLflow server and the real cores.

Versions are registered (register_model), promoted (promote_model) and rolled back
(rollback_model) on the server; every run's outcome is recorded by record_outcome's core with
the run's times. The numbers below follow from that history by hand:

=========  ========  ===========  ========================================  =================
run        trigger   hours        what happened                             lead time
=========  ========  ===========  ========================================  =================
run-0      manual    -288         FAILED, nothing registered (before the    (outside window)
                                  window: must not count)
run-1      manual    24 -> 25     v1 promoted; data snapshot at 22          3 h (snapshot)
run-2      schedule  96 -> 98     v2 promoted; nothing else recorded        2 h (run start)
run-3      drift     216 -> 217   v3 registered, run FAILED (canary)        failed change
run-4      manual    264 -> 270   v4 promoted; snapshot 240, commit 252     18 h (commit)
run-5      rollback  336 -> 336.5 champion v4 -> v2 (v4 is a failed change)
run-6      manual    360 -> 362   v5 promoted; snapshot at 356              6 h (snapshot)
run-7      schedule  400 -> 401   monitoring only, nothing shipped
other      manual    300 -> 301   FAILED, another model (must not count)
=========  ========  ===========  ========================================  =================

Deployments 4 in 30 days; attempts 5 (4 + run-3); failed changes 2 (v4, run-3): CFR 0.4.
Lead times 3, 2, 18, 6 h: median 4.5 h, mean 7.25 h. Incidents: run-3 (217) restored by
run-4 (270) = 53 h; run-5 (336.5) restored by run-6 (362) = 25.5 h: MTTR 39.25 h.
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from kfp_mlops.components.registry.delivery_metrics.core import compute, window
from kfp_mlops.components.registry.delivery_metrics.history import read_history
from kfp_mlops.components.registry.delivery_metrics.report import markdown
from kfp_mlops.components.registry.delivery_metrics.runner import measure
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.record_outcome import times
from kfp_mlops.components.registry.record_outcome.core import from_status, record
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.components.registry.rollback_model.core import rollback
from tests.monitoring.pushgateway import pushgateway  # noqa: F401 - a fixture
from tests.registry.conftest import EVALUATION

HOUR = 3600.0
EXPERIMENT = "dora-history"


class History(SimpleNamespace):
    """The recorded history: server, model, experiment and the window's end."""


def _register(uri: str, name: str, run_id: str, root: Path) -> str:
    model_dir = root / run_id
    model_dir.mkdir(parents=True)
    (model_dir / "model.h5").write_bytes(run_id.encode())
    return register(
        str(model_dir),
        EVALUATION,
        tracking_uri=uri,
        name=name,
        blessed=True,
        pipeline_run_id=run_id,
    ).version


@pytest.fixture(scope="module")
def history(mlflow_server, tmp_path_factory) -> History:
    """Record the runs of the module docstring's table on the real server."""
    root = tmp_path_factory.mktemp("dora")
    name = f"dora-{datetime.now().strftime('%H%M%S%f')}"
    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(
        days=20
    )

    def at(hours: float) -> str:
        return times.iso(base + timedelta(hours=hours))

    def outcome(job, state, trigger, start, end, model=name, error="", **fields):
        status = SimpleNamespace(state=state, pipeline_job_resource_name=job, error_message=error)
        result = from_status(
            status,
            trigger=trigger,
            start_time=at(start),
            end_time=at(end),
            pipeline_run_id=job,
            model_name=model,
            **{k: at(v) for k, v in fields.items()},
        )
        return record(result, str(root / f"{job}.json"), mlflow_server, EXPERIMENT, webhook_url="")

    def ship(job, trigger, start, end, **fields):
        promote(mlflow_server, name, _register(mlflow_server, name, job, root))
        assert outcome(job, "SUCCEEDED", trigger, start, end, **fields).promoted

    outcome("run-0", "FAILED", "manual", -289, -288, error="validate-data failed")
    ship("run-1", "manual", 24, 25, data_snapshot_time=22)
    ship("run-2", "schedule", 96, 98)
    _register(mlflow_server, name, "run-3", root)
    failed = outcome("run-3", "FAILED", "drift", 216, 217, error="canary failed")
    assert failed.model_version == "3" and not failed.promoted
    ship("run-4", "manual", 264, 270, data_snapshot_time=240, code_commit_time=252)
    outcome("other", "FAILED", "manual", 300, 301, model=f"{name}-other")
    assert rollback(mlflow_server, name).version == "2"
    rolled = outcome("run-5", "SUCCEEDED", "rollback", 336, 336.5)
    assert (rolled.model_version, rolled.rolled_back_version) == ("2", "4")
    ship("run-6", "manual", 360, 362, data_snapshot_time=356)
    outcome("run-7", "SUCCEEDED", "schedule", 400, 401)
    until = base + timedelta(days=20, hours=1)  # after every registration (made just now)
    return History(uri=mlflow_server, name=name, until=times.iso(until), base=base)


def test_history_is_read_back_from_mlflow(history):
    read = read_history(history.uri, history.name, EXPERIMENT)
    assert [o.pipeline_job for o in read.outcomes] == [
        "run-0", "run-1", "run-2", "run-3", "run-4", "run-5", "run-6", "run-7",
    ]  # fmt: skip
    assert [v.version for v in read.versions] == ["1", "2", "3", "4", "5"]
    assert [v.version for v in read.versions if v.rolled_back_to] == ["4"]
    run4 = read.outcomes[4]
    assert run4.code_commit_time == history.base + timedelta(hours=252)
    assert (run4.trigger, run4.promoted, run4.model_version) == ("manual", True, "4")


def test_the_four_keys_from_the_recorded_history(history):
    start, end = window(30, history.until)
    m = compute(read_history(history.uri, history.name, EXPERIMENT), start, end)
    assert (m.runs, m.failed_runs, m.rollbacks, m.versions_registered) == (7, 1, 1, 5)
    assert m.deployments == 4
    assert m.deployment_frequency_per_day == pytest.approx(4 / 30)
    assert [t.version for t in m.lead_times] == ["1", "2", "4", "5"]
    assert [t.seconds / HOUR for t in m.lead_times] == [3.0, 2.0, 18.0, 6.0]
    assert [t.measured_from for t in m.lead_times] == [
        "data snapshot", "run start", "code commit", "data snapshot",
    ]  # fmt: skip
    assert m.lead_time_median_s == 4.5 * HOUR and m.lead_time_mean_s == 7.25 * HOUR
    assert (m.failed_changes, m.deployment_attempts) == (2, 5)
    assert m.change_failure_rate == pytest.approx(0.4)
    assert [(i.seconds / HOUR, i.restored_by) for i in m.incidents] == [
        (53.0, "run-4"),
        (25.5, "run-6"),
    ]
    assert m.mttr_s == 39.25 * HOUR and m.open_incidents == 0


def test_report_pushgateway_and_cli_agree(history, pushgateway, tmp_path, capsys):  # noqa: F811
    from kfp_mlops.pipelines.tooling.cli import main

    report = tmp_path / "dora.md"
    m = measure(
        history.uri,
        history.name,
        experiment_name=EXPERIMENT,
        until=history.until,
        report_path=str(report),
        pushgateway_url=pushgateway.url,
    )
    text = report.read_text()
    assert text == markdown(m)
    assert "| Change failure rate | 40.0% | 2 failed / 5 attempts |" in text
    assert "| Lead time for changes (median) | 4 h 30 min |" in text
    assert "| Time to restore service (mean) | 1 d 15 h 15 min |" in text
    assert "failed changes / deployment attempts" in text  # the formulas are in the report
    series = pushgateway.series("kfp-mlops-delivery")
    model = frozenset({("model", history.name)})
    assert series[("dora_change_failure_rate", model)] == pytest.approx(0.4)
    assert series[("dora_deployments", model)] == 4.0
    assert series[("dora_lead_time_seconds", model)] == 4.5 * HOUR
    assert series[("dora_time_to_restore_seconds", model)] == 39.25 * HOUR
    where = ["--tracking-uri", history.uri, "--model", history.name]
    code = main(
        ["delivery-metrics", *where, "--experiment", EXPERIMENT, "--until", history.until, "--json"]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures == pytest.approx(m.figures())
    assert (
        main(["delivery-metrics", *where, "--experiment", EXPERIMENT, "--until", history.until])
        == 0
    )
    assert capsys.readouterr().out == text  # the same report, printed


def test_a_shorter_window_sees_only_its_runs(history):
    # (run-5, run-7]: only run-6 and run-7; the rollback before it is outside.
    until = history.base + timedelta(hours=401)
    m = compute(read_history(history.uri, history.name, EXPERIMENT), *window(64.5 / 24, until))
    assert (m.runs, m.deployments, m.incidents) == (2, 1, [])
    assert m.change_failure_rate == 0.0 and m.mttr_s is None


def test_bad_inputs_name_the_fix(history, capsys):
    from kfp_mlops.components.common.errors import ParameterError
    from kfp_mlops.components.registry.common import RegistryError
    from kfp_mlops.pipelines.tooling.cli import main
    from tests.mlflow_server import closed_port_uri

    with pytest.raises(RegistryError, match="experiment 'nope' does not exist"):
        measure(history.uri, history.name, experiment_name="nope")
    with pytest.raises(ParameterError, match="window_days must be positive"):
        measure(history.uri, history.name, window_days=0)
    down = closed_port_uri()
    assert main(["delivery-metrics", "--tracking-uri", down, "--model", history.name]) == 2
    assert "unreachable" in capsys.readouterr().err


@pytest.mark.slow
def test_component_runs_in_kfp_local(history, kfp_local):
    from kfp_mlops.components.registry.delivery_metrics.component import delivery_metrics

    task = delivery_metrics(
        tracking_uri=history.uri,
        registered_model_name=history.name,
        experiment_name=EXPERIMENT,
        until=history.until,
    )
    assert task.outputs["Output"] == (
        "4 deployments (0.133/day), lead time 4 h 30 min, change failure rate 40%, "
        "MTTR 1 d 15 h 15 min"
    )
    metrics = task.outputs["metrics"].metadata
    assert metrics["change_failure_rate"] == pytest.approx(0.4)
    assert metrics["mean_time_to_restore_seconds"] == 39.25 * HOUR
    assert "## Definitions (Google DORA four keys)" in Path(task.outputs["report"].path).read_text()
