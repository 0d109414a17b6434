"""A throwaway PostgreSQL 15 server on loopback for tests (``initdb`` + ``pg_ctl``).

PostgreSQL refuses to run as root, and CI runs the tests as root: then the server runs as the
unprivileged ``nobody`` user (through ``setpriv``), in a temporary directory that user owns.
The server listens on 127.0.0.1 only, on a free port, with its Unix socket in that directory;
logins over TCP need a password (scram-sha-256).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: The unprivileged user that runs the server when the tests run as root.
SERVER_USER = "nobody"
_START_TIMEOUT_S = 60


@dataclass
class PostgresServer:
    """A running server and the database created for the test."""

    port: int
    database: str
    user: str
    password: str
    base: Path
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def url(self, driver: str = "postgresql+psycopg", password: str | None = None) -> str:
        """SQLAlchemy URL of the test database (``password`` overrides the right one)."""
        secret = self.password if password is None else password
        return f"{driver}://{self.user}:{secret}@{self.host}:{self.port}/{self.database}"

    def connect(self) -> Any:
        """A psycopg connection to the test database (autocommit)."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            autocommit=True,
            connect_timeout=5,
        )


def missing_reason() -> str:
    """Why a server cannot be started here, or "" when it can."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL 15 is not installed ({PG_BIN / tool} is missing; make system-deps)"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return "running as root and setpriv (util-linux) is missing to drop to a plain user"
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL as"
    return ""


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    entry = pwd.getpwnam(SERVER_USER)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], log: Path) -> None:
    """Run a PostgreSQL tool as the server user; raise with its log when it fails."""
    with open(log, "ab") as out:
        done = subprocess.run(
            [*_as_server_user(), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=_START_TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{log.read_text()[-3000:]}")


def start_postgres(database: str = "optuna", user: str = "optuna") -> PostgresServer:
    """Create a cluster in a new temporary directory, start it, create ``user`` and ``database``.

    Returns:
        The running server; stop it with :func:`stop_postgres`.

    Raises:
        RuntimeError: If ``initdb`` or ``pg_ctl`` fails (their log included).
    """
    import psycopg

    base = Path(tempfile.mkdtemp(prefix="kfp-mlops-pg-"))  # /tmp: reachable by the server user
    _chown(base)
    superuser_password = secrets.token_hex(12)
    pwfile = base / "pwfile"
    pwfile.write_text(superuser_password + "\n")
    _chown(pwfile)
    log = base / "server.log"
    log.touch()
    _chown(log)
    server = PostgresServer(_free_port(), database, user, secrets.token_hex(12), base)
    initdb = [str(PG_BIN / "initdb"), "-D", str(server.data_dir), "-U", "postgres"]
    auth = [f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"]
    _run([*initdb, *auth, "-E", "UTF8", "--no-sync"], log)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # throwaway data
    )
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(server.data_dir), "-l", str(log)]
    _run([*pg_ctl, "-w", "-t", str(_START_TIMEOUT_S), "-o", options, "start"], log)
    try:
        with psycopg.connect(
            host=server.host,
            port=server.port,
            user="postgres",
            password=superuser_password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as admin:
            admin.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{server.password}'")
            admin.execute(f"CREATE DATABASE {database} OWNER {user}")
    except BaseException:
        stop_postgres(server)
        raise
    return server


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server (fast shutdown; killed if it does not stop) and delete its directory."""
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(server.data_dir), "-m", "fast", "-w", "stop"]
    try:
        _run([*pg_ctl, "-t", "30"], server.base / "server.log")
    except (RuntimeError, subprocess.TimeoutExpired):
        pid_file = server.data_dir / "postmaster.pid"
        if pid_file.exists():  # the postmaster's pid is the file's first line
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    shutil.rmtree(server.base, ignore_errors=True)
