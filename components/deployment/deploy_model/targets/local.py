"""The local target: real model-server processes on loopback behind a weighted router.

A JSON state file remembers which version is live on which port, so the next deployment
finds it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.smoke import (
    DeploymentError,
    ReadyTimeout,
    request,
    wait_ready,
)
from kfp_mlops.components.deployment.deploy_model.targets.base import Release, Target

log = logging.getLogger(__name__)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # atomic: the router never reads half a file


class LocalTarget(Target):
    """Model servers as local processes behind a weighted router, state in a JSON file.

    ``<state_dir>/<name>/state.json`` records the router and the live version (pid, port,
    model files); the router and the live server keep running after the deployment so the
    service stays up, and :func:`stop_local` stops them. Servers that a failed deployment
    started are always stopped.
    """

    kind = "local"

    def __init__(self, state_dir: str, name: str, router_timeout_s: float = 30.0) -> None:
        if not state_dir:
            raise ParameterError("target=local needs state_dir", "set state_dir to a folder")
        self.name = name
        self.folder = Path(state_dir) / name
        self.state_file = self.folder / "state.json"
        self.state: dict[str, Any] = {"name": name, "live": None, "routes": [], "history": []}
        if self.state_file.exists():
            self.state.update(json.loads(self.state_file.read_text(encoding="utf-8")))
        self.candidate: dict[str, Any] | None = None
        self._strategy = ""
        self._ensure_router(router_timeout_s)
        self._ensure_live()

    # state helpers
    def _save(self) -> None:
        _write_json(self.state_file, self.state)

    def _set_routes(self, weights: list[tuple[dict[str, Any], int]]) -> None:
        self.state["routes"] = [
            {"version": r["version"], "port": r["port"], "weight": w} for r, w in weights if w > 0
        ]
        self._save()

    def _ensure_router(self, timeout_s: float) -> None:
        router = self.state.get("router")
        if router and processes.is_alive(router["pid"]):
            return
        proc = processes.start_router(self.state_file, self.folder / "router.log")
        self.state["router"] = proc.to_json()
        self._save()
        deadline = time.monotonic() + timeout_s
        while request(proc.url, "GET", "/router/routes", timeout=2).status != 200:
            if time.monotonic() > deadline or not processes.is_alive(proc.pid):
                raise DeploymentError(
                    f"the local router did not start: {processes.log_tail(proc.log_path)}",
                    "check that python can run kfp_mlops.components.deployment.deploy_model.router",
                )
            time.sleep(0.2)

    def _spawn(self, record: dict[str, Any]) -> dict[str, Any]:
        version = record["version"]
        proc = processes.start_server(
            record["model_dir"],
            record["preprocessor"],
            self.name,
            self.folder / f"server-{version}-{int(time.time())}.log",
            backend=record.get("backend", "auto"),
            version=str(version),
        )
        return {**record, **proc.to_json()}

    def _ensure_live(self) -> None:
        """Restart the recorded live version if its process is gone (e.g. after a reboot)."""
        live = self.state.get("live")
        if live and not processes.is_alive(live["pid"]):
            log.warning(
                "live version %s (pid %d) is not running: restarting it",
                live["version"],
                live["pid"],
            )
            live = self._spawn(live)
            self.state["live"] = live
            self._set_routes([(live, 100)])
            wait_ready(
                f"http://127.0.0.1:{live['port']}",
                self.name,
                300,
                alive=lambda: processes.exit_message(live["pid"], live["log_path"]),
            )

    def release_dir(self, version: str) -> Path:
        """A folder in the state dir for files a server needs after the run (a rollback's)."""
        return self.folder / "releases" / version

    @property
    def router_url(self) -> str:
        """The service URL clients use."""
        return f"http://127.0.0.1:{self.state['router']['port']}"

    # Target interface
    def live(self) -> Release | None:
        """The live version from the state file."""
        live = self.state.get("live")
        if not live:
            return None
        return Release(
            self.name,
            live["version"],
            live["model_dir"],
            live["preprocessor"],
            live.get("backend", "auto"),
        )

    def start(self, release: Release, strategy: str) -> None:
        """Start the new version's server; ``rolling`` routes everything to it at once."""
        self._strategy = strategy
        record = {
            "version": release.version,
            "model_dir": str(Path(release.model_dir).resolve()),
            "preprocessor": str(Path(release.preprocessor).resolve()),
            "backend": release.backend,
        }
        self.candidate = self._spawn(record)
        self.state["candidate"] = self.candidate
        self._save()
        live = self.state.get("live")
        if strategy == "rolling" and live:
            self._set_routes([(self.candidate, 100)])  # replace directly
            processes.stop(live["pid"])

    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Poll the new server; fail at once if its process exits."""
        cand = self.candidate or {}
        try:
            wait_ready(
                f"http://127.0.0.1:{cand['port']}",
                self.name,
                timeout_s,
                alive=lambda: processes.exit_message(cand["pid"], cand["log_path"]),
            )
        except ReadyTimeout as exc:
            # The server logs why the model did not load: put that in the error.
            lines = Path(cand["log_path"]).read_text(errors="replace").splitlines()
            cause = next((ln for ln in reversed(lines) if "NOT ready" in ln), "")
            if cause:
                raise ReadyTimeout(
                    f"{exc.problem}; server log: {cause.split('NOT ready: ', 1)[-1]}", exc.fix
                ) from exc
            raise

    def endpoint(self, release: Release) -> str | None:
        """The new server directly (not through the router)."""
        return f"http://127.0.0.1:{self.candidate['port']}" if self.candidate else None

    def route_url(self) -> str | None:
        """The router."""
        return self.router_url

    def set_traffic(self, release: Release, percent: int) -> None:
        """Weights ``percent`` / ``100 - percent`` between the new and the live server."""
        live = self.state.get("live")
        weights = [(self.candidate, percent)]
        if live and percent < 100:
            weights.append((live, 100 - percent))
        self._set_routes(weights)

    def promote(self, release: Release) -> None:
        """All traffic to the new server, stop the old one, record the new one as live."""
        old = self.state.get("live")
        self._set_routes([(self.candidate, 100)])
        if old and self._strategy != "rolling":
            processes.stop(old["pid"])
        self.state["live"] = self.candidate
        self.state["candidate"] = None
        self.state["history"].append(
            {"version": release.version, "decision": "promoted", "strategy": self._strategy}
        )
        self._save()
        self.candidate = None

    def rollback(self, release: Release, previous: Release | None) -> None:
        """Route back to the live server (restarted after a rolling replace); stop the new one."""
        live = self.state.get("live")
        if live and self._strategy == "rolling":
            live = self._spawn(live)  # it was replaced: start the previous version again
            self.state["live"] = live
            wait_ready(
                f"http://127.0.0.1:{live['port']}",
                self.name,
                300,
                alive=lambda: processes.exit_message(live["pid"], live["log_path"]),
            )
        self._set_routes([(live, 100)] if live else [])
        if self.candidate:
            processes.stop(self.candidate["pid"])
        self.state["candidate"] = None
        self.state["history"].append(
            {"version": release.version, "decision": "rolled_back", "strategy": self._strategy}
        )
        self._save()
        self.candidate = None

    def close(self) -> None:
        """Stop a new server that was neither promoted nor rolled back (e.g. on a crash)."""
        if self.candidate and processes.is_alive(self.candidate["pid"]):
            processes.stop(self.candidate["pid"])
            self.state["candidate"] = None
            self._save()
        self.candidate = None


def stop_local(state_dir: str, name: str) -> list[int]:
    """Stop the router and servers of a local deployment; returns the ids stopped."""
    state_file = Path(state_dir) / name / "state.json"
    if not state_file.exists():
        return []
    state = json.loads(state_file.read_text(encoding="utf-8"))
    stopped = []
    for key in ("candidate", "live", "router"):
        rec = state.get(key)
        if rec and processes.stop(rec["pid"]):
            stopped.append(rec["pid"])
    state.update({"live": None, "candidate": None, "routes": [], "router": None})
    _write_json(state_file, state)
    return stopped
