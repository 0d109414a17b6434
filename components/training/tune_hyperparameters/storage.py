"""Where a study lives: an Optuna RDB storage opened from a URL, its driver and server checked.

A wrong URL, a missing driver module or a silent server fails in seconds with the problem and
the fix; the password of a URL is never printed.
"""

from __future__ import annotations

import logging
import re
import socket
import warnings
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError, ServiceUnavailableError

log = logging.getLogger(__name__)

#: File name of the study when ``storage`` is empty and a work dir is given.
DEFAULT_DB_NAME = "optuna-study.db"
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
_CONNECT_TIMEOUT_S = 3.0
#: Seconds a database login may take (TCP, TLS, auth) before the storage is reported unreachable.
DB_CONNECT_TIMEOUT_S = 5
# SQLAlchemy driver name -> its connect() timeout keyword; drivers not named get no timeout.
_TIMEOUT_ARGS = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pg8000": "timeout",
    "mysqldb": "connect_timeout",
    "pymysql": "connect_timeout",
}
# Driver module -> the PyPI package that provides it (for the fix of a missing-driver error).
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "pyodbc": "pyodbc",
    "oracledb": "oracledb",
}
_URL_EXAMPLES = "use sqlite:///path/study.db or postgresql://user:pass@host:5432/db"
# Words of a driver's message when the server answered and refused the login or the database:
# the URL is wrong (a user fault), whereas a timeout or a lost connection is the server's.
_REFUSED = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "access denied",
    "unknown database",
)
_UNREACHABLE_FIX = (
    "check the host and port, that the database is running and that the pod may reach it "
    "(NetworkPolicy), or leave storage_url empty for a local sqlite file"
)


def _check_driver(url: Any, shown: str) -> None:
    """Fail when the URL's backend is unknown or its driver module is not installed."""
    import sqlalchemy

    try:
        dialect = url.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError as exc:
        raise ParameterError(
            f"the Optuna storage '{shown}' names an unknown database backend '{url.drivername}'",
            _URL_EXAMPLES,
        ) from exc
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = exc.name or url.get_driver_name()
        package = _DRIVER_PACKAGES.get(module.split(".")[0], module)
        raise ParameterError(
            f"the Optuna storage '{shown}' needs the Python module '{module}' (the "
            f"'{url.get_driver_name()}' driver of {url.get_backend_name()}), which is not "
            "installed",
            f"use postgresql://... (the pipeline image has its driver, psycopg), add {package} to "
            "an image built from the pipeline image, or leave storage_url empty for a local "
            "sqlite file",
        ) from exc


def _tcp_check(host: str, port: int, what: str, fix: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            return
    except OSError as exc:
        raise ServiceUnavailableError(
            f"{what} at {host}:{port} is unreachable ({exc})", fix
        ) from exc


def _parse_url(storage: str) -> Any:
    """Parse an SQLAlchemy URL; a malformed one is reported with its password hidden."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        return make_url(storage)
    except sqlalchemy.exc.ArgumentError as exc:
        hidden = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", storage)  # a password, unparsed
        raise ParameterError(f"storage '{hidden}' is not a database URL", _URL_EXAMPLES) from exc


def _check_reachable(url: Any, shown: str) -> None:
    """Create a sqlite file's directory, or probe a database server's TCP port."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ParameterError(
                    f"cannot create the directory of sqlite storage '{shown}': {exc}",
                    "point the URL at a writable path",
                ) from exc
    elif url.host:
        port = url.port or _DEFAULT_PORTS.get(backend)
        if port:
            _tcp_check(url.host, port, f"the Optuna storage '{shown}'", _UNREACHABLE_FIX)


def _engine_kwargs(url: Any) -> dict[str, Any] | None:
    """SQLAlchemy engine options: pre-ping pooled connections and bound the login time."""
    if url.get_backend_name() == "sqlite":
        return None
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    timeout_arg = _TIMEOUT_ARGS.get(url.get_driver_name())
    # A server that accepts TCP but never answers (a stuck proxy) would hang the task.
    if timeout_arg:
        engine_kwargs["connect_args"] = {timeout_arg: DB_CONNECT_TIMEOUT_S}
    return engine_kwargs


def open_storage(storage: str, work_dir: str | None = None) -> tuple[Any, str]:
    """Open the Optuna storage; return it and a printable URL (password hidden).

    Args:
        storage: ``""`` uses ``<work_dir>/optuna-study.db`` (or memory when there is no work
            dir); anything else is an SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``).
        work_dir: Directory of the default sqlite file.

    Returns:
        The Optuna storage and its URL with the password hidden (``"memory"`` for memory).

    Raises:
        ParameterError: On a malformed URL, a missing driver, or a login or database the
            server refused.
        ServiceUnavailableError: When the server is unreachable or does not answer the login.
    """
    import optuna
    import sqlalchemy

    if not storage:
        if not work_dir:
            log.info("no storage and no work dir: the study is kept in memory (not resumable)")
            return optuna.storages.InMemoryStorage(), "memory"
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{Path(work_dir).resolve() / DEFAULT_DB_NAME}"
    url = _parse_url(storage)
    shown = url.render_as_string(hide_password=True)
    # A missing driver is a fault of the image that no retry fixes: report it before the network.
    _check_driver(url, shown)
    _check_reachable(url, shown)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            # The heartbeat marks trials of a killed pod as failed and re-queues their params.
            rdb = optuna.storages.RDBStorage(
                storage,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=30,
                grace_period=120,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1
                ),
            )
        except sqlalchemy.exc.SQLAlchemyError as exc:
            # The driver's own message (e.g. "timeout expired", "password authentication
            # failed") on one line, without SQLAlchemy's link; drivers never print the password.
            detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
            problem = f"cannot open the Optuna storage '{shown}': {detail}"
            if any(words in detail.lower() for words in _REFUSED):
                raise ParameterError(
                    problem, "check the user, password and database name in storage_url"
                ) from exc
            raise ServiceUnavailableError(problem, _UNREACHABLE_FIX) from exc
    return rdb, shown
