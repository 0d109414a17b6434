"""Tests of tune_hyperparameters' Optuna storage: drivers, unreachable and silent databases.

No database server runs here; a closed loopback port and a listener that never answers stand in
for an unreachable and a stuck one.
"""

import importlib.metadata
import importlib.util
import socket
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.tune_hyperparameters.storage import open_storage

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
    with pytest.raises(ParameterError, match="is unreachable") as info:
        open_storage(url)
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
        with pytest.raises(ParameterError, match="timeout expired") as info:
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
