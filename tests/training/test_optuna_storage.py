"""Tests of tune_hyperparameters' Optuna storage: drivers, faults, and a real PostgreSQL 15.

A throwaway PostgreSQL server (tests/postgres.py) holds real studies: trials run into it, and a
tuning process killed mid-study resumes from it. A closed loopback port and a listener that
never answers stand in for an unreachable and a stuck server.
"""

import importlib.metadata
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from kfp_mlops.components.common.errors import ParameterError, ServiceUnavailableError
from kfp_mlops.components.training.tune_hyperparameters.core import tune
from kfp_mlops.components.training.tune_hyperparameters.storage import open_storage
from tests.postgres import missing_reason, start_postgres, stop_postgres

CONSTRAINTS = Path(__file__).resolve().parents[2] / "containers/pipeline/constraints.txt"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pinned(name: str) -> str:
    for line in CONSTRAINTS.read_text().splitlines():
        key, sep, version = line.partition("==")
        if sep and canonicalize_name(key) == name:
            return version
    raise AssertionError(f"{name} is not pinned in {CONSTRAINTS}")


def test_postgres_driver_is_in_the_pipeline_env():
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3: that is the driver the image must hold.
    from sqlalchemy.engine import make_url

    dialect = make_url("postgresql://optuna@db/optuna").get_dialect()
    assert dialect.driver == "psycopg"
    dbapi = dialect.import_dbapi()
    assert dbapi.pq.__impl__ == "binary"  # libpq from the wheel, no system libpq needed
    for name in ("psycopg", "psycopg-binary"):
        assert importlib.metadata.version(name) == _pinned(name)


def test_closed_port_is_a_clear_error():
    url = f"postgresql://optuna:secret@127.0.0.1:{_closed_port()}/optuna"
    with pytest.raises(ServiceUnavailableError, match="is unreachable") as info:
        open_storage(url)
    assert info.value.fault == "infrastructure"  # the URL may be right: a retry can help
    problem = info.value.problem
    assert "postgresql://optuna:***@127.0.0.1" in problem  # the URL, password hidden
    assert "secret" not in str(info.value)
    assert "storage_url" in info.value.fix


@pytest.mark.slow  # waits out the connect timeout (DB_CONNECT_TIMEOUT_S)
@pytest.mark.timeout(60)  # without connect_timeout it would hang here
def test_silent_server_times_out_with_a_clear_error():
    # Accepts TCP (the kernel completes the handshake) but never answers the login.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ServiceUnavailableError, match="timeout expired") as info:
            open_storage(f"postgresql://optuna:secret@127.0.0.1:{port}/optuna")
    assert f"'postgresql://optuna:***@127.0.0.1:{port}/optuna'" in info.value.problem
    assert "secret" not in str(info.value)
    assert "storage_url" in info.value.fix


@pytest.mark.parametrize(
    ("scheme", "module", "package"),
    [("mysql", "MySQLdb", "mysqlclient"), ("postgresql+psycopg2", "psycopg2", "psycopg2-binary")],
)
def test_missing_driver_is_a_clear_error(scheme, module, package):
    assert importlib.util.find_spec(module) is None, f"{module} is installed: pick another driver"
    # The port is closed too: the driver, which no retry can fix, is reported first.
    url = f"{scheme}://optuna:secret@127.0.0.1:{_closed_port()}/optuna"
    with pytest.raises(ParameterError, match=f"needs the Python module '{module}'") as info:
        open_storage(url)
    assert f"'{scheme}://optuna:***@127.0.0.1" in info.value.problem
    assert "secret" not in str(info.value)
    assert package in info.value.fix and "postgresql://" in info.value.fix


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("nosuchdb://optuna:secret@db/optuna", "unknown database backend 'nosuchdb'"),
        ("postgres ql://optuna:secret@db/optuna", "is not a database URL"),
    ],
)
def test_bad_url_hides_the_password(url, match):
    with pytest.raises(ParameterError, match=match) as info:
        open_storage(url)
    assert "secret" not in str(info.value)
    assert "optuna:***@" in info.value.problem


# ---------------------------------------------------------------- a real PostgreSQL 15 server


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL 15 on 127.0.0.1 with an ``optuna`` database; removed afterwards."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)


def _trials(server, study_name: str) -> list[tuple[int, str, float | None]]:
    """(number, state, value) of every trial of a study, read with SQL from Optuna's tables."""
    import psycopg

    query = (
        "SELECT t.number, t.state, v.value FROM trials t "
        "JOIN studies s ON s.study_id = t.study_id "
        "LEFT JOIN trial_values v ON v.trial_id = t.trial_id "
        "WHERE s.study_name = %s ORDER BY t.number"
    )
    with server.connect() as conn:
        try:
            return [
                (n, str(state), value) for n, state, value in conn.execute(query, (study_name,))
            ]
        except psycopg.errors.UndefinedTable:  # Optuna has not created its schema yet
            return []


@pytest.mark.slow
def test_wrong_password_is_a_clear_error(postgres):
    wrong = "not-the-password-4711"
    with pytest.raises(ParameterError, match="password authentication failed") as info:
        open_storage(postgres.url(password=wrong))
    assert wrong not in str(info.value)
    assert info.value.fault == "user"  # the server answered: the URL is wrong, not the server
    assert f"'postgresql+psycopg://optuna:***@127.0.0.1:{postgres.port}/optuna'" in str(info.value)
    assert "password" in info.value.fix


@pytest.mark.slow
def test_unknown_database_is_a_clear_error(postgres):
    url = postgres.url().rsplit("/", 1)[0] + "/nosuchdb"
    with pytest.raises(ParameterError, match='database "nosuchdb" does not exist') as info:
        open_storage(url)
    assert postgres.password not in str(info.value)
    assert "database name" in info.value.fix


@pytest.mark.slow
def test_trials_run_into_a_postgres_study(postgres, bc_splits):
    result = tune(
        *bc_splits, n_trials=2, epochs_per_trial=1, storage=postgres.url(), study_name="pg-run"
    )
    assert result.storage == f"postgresql+psycopg://optuna:***@127.0.0.1:{postgres.port}/optuna"
    assert result.n_trials_total == 2 and result.n_new_trials == 2
    # The trials are in the server's tables, as the result reports them.
    rows = _trials(postgres, "pg-run")
    assert [(n, state) for n, state, _ in rows] == [
        (h["number"], h["state"]) for h in result.history
    ]
    complete = [value for _, state, value in rows if state == "COMPLETE"]
    assert max(complete) == pytest.approx(result.best_value)


_RUN_STUDY = """
import logging, sys
from kfp_mlops.components.training.tune_hyperparameters.core import tune
logging.basicConfig(level=logging.INFO)
url, study, n_trials, train, validation = sys.argv[1:]
tune(train, validation, n_trials=int(n_trials), epochs_per_trial=2, storage=url, study_name=study)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_tuning_process_resumes_its_study(postgres, bc_splits, tmp_path):
    """SIGKILL the tuning process after its first complete trial; a new run finishes the study."""
    study, n_trials = "pg-resume", 4
    args = [sys.executable, "-c", _RUN_STUDY, postgres.url(), study, str(n_trials), *bc_splits]
    log_path = tmp_path / "first-run.log"
    with open(log_path, "wb") as log:
        first = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600  # TensorFlow's import alone is slow on a busy machine
        while first.poll() is None and time.monotonic() < deadline:
            if any(state == "COMPLETE" for _, state, _ in _trials(postgres, study)):
                break
            time.sleep(0.2)
        assert first.poll() is None, (
            f"the first run ended ({first.returncode}) before it could be killed; "
            f"its log:\n{log_path.read_text()[-3000:]}"
        )
        first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    before = _trials(postgres, study)
    finished_before = {n: value for n, state, value in before if state in ("COMPLETE", "PRUNED")}
    assert 1 <= len(finished_before) < n_trials

    resumed = tune(
        *bc_splits, n_trials=n_trials, epochs_per_trial=2, storage=postgres.url(), study_name=study
    )
    assert resumed.n_trials_total == n_trials
    assert resumed.n_new_trials == n_trials - len(finished_before)
    by_number = {h["number"]: h for h in resumed.history}
    for number, value in finished_before.items():  # the first run's trials are kept as they were
        assert by_number[number]["value"] == value
    after = _trials(postgres, study)
    numbers = [n for n, _, _ in after]
    assert len(numbers) == len(set(numbers))  # no trial number twice, complete ones included
    complete = [n for n, state, _ in after if state == "COMPLETE"]
    assert complete == [h["number"] for h in resumed.history if h["state"] == "COMPLETE"]
    # The trial the kill interrupted (if one was mid-fit) is left RUNNING until the heartbeat's
    # grace period marks it failed; it does not count towards n_trials.
    leftover = {state for n, state, _ in after if n not in by_number}
    assert leftover <= {"RUNNING"}
