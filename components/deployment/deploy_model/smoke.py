"""HTTP checks of a running model server: readiness wait, smoke tests and traffic probes.

Standard library only (``http.client``), so the deploy component does not import the
server's stack. Every function takes a base URL such as ``http://127.0.0.1:8080`` and a
model name, and works against any KServe V1/V2 server that serves raw rows.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kfp_mlops.components.common.errors import ComponentError

log = logging.getLogger(__name__)

#: Response header the local router sets to the version that answered.
SERVED_BY = "x-served-by"


class DeploymentError(ComponentError):
    """A deployment step failed (server not ready, smoke test or canary check failed)."""


class ReadyTimeout(DeploymentError):
    """A server or service did not become ready in time."""


@dataclass
class HttpResult:
    """One HTTP exchange; ``status`` 0 means no answer (connection refused, timeout)."""

    status: int
    body: Any
    latency_ms: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


def _connection(base_url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname or "localhost", parts.port, timeout=timeout)


def request(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 10.0,
    conn: http.client.HTTPConnection | None = None,
) -> HttpResult:
    """Send one JSON request; never raises for HTTP or connection errors (see ``status``)."""
    own = conn is None
    conn = conn or _connection(base_url, timeout)
    prefix = urlsplit(base_url).path.rstrip("/")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    start = time.perf_counter()
    try:
        conn.request(method, prefix + path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        latency = (time.perf_counter() - start) * 1000
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return HttpResult(
            resp.status, parsed, latency, {k.lower(): v for k, v in resp.getheaders()}
        )
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return HttpResult(0, f"{type(exc).__name__}: {exc}", (time.perf_counter() - start) * 1000)
    finally:
        if own:
            conn.close()


def wait_ready(
    base_url: str,
    model_name: str,
    timeout_s: float,
    alive: Callable[[], str | None] | None = None,
    interval_s: float = 0.5,
) -> float:
    """Poll ``/v2/health/ready`` and ``/v1/models/<name>`` until both answer 200.

    Args:
        base_url: Server URL.
        model_name: Model name.
        timeout_s: Give up after this many seconds.
        alive: Optional check called each poll; returning a message means the server is gone
            (e.g. its process exited) and waiting stops at once.
        interval_s: Poll interval.

    Returns:
        Seconds waited.

    Raises:
        ReadyTimeout: On timeout or when ``alive`` reports the server gone.
    """
    start = time.monotonic()
    last = HttpResult(0, "no answer yet", 0.0)
    while True:
        if alive is not None:
            gone = alive()
            if gone:
                raise ReadyTimeout(
                    f"the server for '{model_name}' at {base_url} stopped before it was ready: "
                    f"{gone}",
                    "check the model files and the server log",
                )
        last = request(base_url, "GET", "/v2/health/ready", timeout=5)
        if last.ok:
            last = request(base_url, "GET", f"/v1/models/{model_name}", timeout=5)
            if last.ok:
                return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise ReadyTimeout(
                f"'{model_name}' at {base_url} was not ready after {timeout_s:g} s "
                f"(last answer: {last.status} {str(last.body)[:200]})",
                "check the server log for the load error, or raise ready_timeout_s",
            )
        time.sleep(interval_s)


@dataclass
class SmokeCheck:
    """One smoke-test check."""

    name: str
    ok: bool
    detail: str


@dataclass
class SmokeReport:
    """All checks of one smoke test."""

    url: str
    checks: list[SmokeCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def reason(self) -> str:
        """The failed checks, or empty."""
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)


def _probabilities_ok(probs: Any, n: int, k: int) -> str:
    """Empty when ``probs`` is an (n, k) table of finite probabilities summing to ~1."""
    if not isinstance(probs, list) or len(probs) != n:
        return f"probabilities has {len(probs) if isinstance(probs, list) else type(probs)} rows"
    for i, row in enumerate(probs):
        if not isinstance(row, list) or len(row) != k:
            return f"row {i} of probabilities is not {k} values: {str(row)[:80]}"
        if not all(isinstance(p, int | float) and math.isfinite(p) for p in row):
            return f"row {i} of probabilities is not finite: {row}"
        if abs(sum(row) - 1.0) > 0.05:  # int8 models dequantize to roughly 1
            return f"row {i} of probabilities sums to {sum(row):.3f}"
    return ""


def _numbers_ok(values: Any, n: int) -> str:
    """Empty when ``values`` holds ``n`` finite numbers (a regression model's answer)."""
    if not isinstance(values, list) or len(values) != n:
        return f"predictions is not {n} values: {str(values)[:80]}"
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return f"predictions are not all finite numbers: {str(values)[:80]}"
    return ""


def _v1_problem(r: HttpResult, n: int, classes: Sequence[str]) -> str:
    """What is wrong with a V1 ``:predict`` answer for ``n`` rows ("" if nothing).

    No classes means a regression model: the predictions must be finite numbers.
    """
    k = len(classes)
    problem = ""
    if not r.ok:
        problem = f"HTTP {r.status}: {str(r.body)[:200]}"
    elif not isinstance(r.body, dict) or not isinstance(r.body.get("predictions"), list):
        problem = f"no predictions list in {str(r.body)[:200]}"
    elif len(r.body["predictions"]) != n:
        problem = f"{len(r.body['predictions'])} predictions for {n} rows"
    elif not k:
        problem = _numbers_ok(r.body["predictions"], n)
    elif not set(map(str, r.body["predictions"])) <= set(classes):
        problem = f"unknown classes {sorted(set(map(str, r.body['predictions'])) - set(classes))}"
    else:
        problem = _probabilities_ok(r.body.get("probabilities"), n, k)
    return problem


def _v2_request(rows: Sequence[dict[str, Any]], inputs: Sequence[str]) -> dict[str, Any]:
    """A V2 ``infer`` body: one tensor per raw input column (images: base64 BYTES)."""

    def tensor(c: str) -> dict[str, Any]:
        values = [row[c] for row in rows]
        if values and isinstance(values[0], dict):  # {"b64": ...}: an encoded image
            values, datatype = [v["b64"] for v in values], "BYTES"
        else:
            datatype = "BYTES" if any(isinstance(v, str) for v in values) else "FP32"
        return {"name": c, "shape": [len(rows)], "datatype": datatype, "data": values}

    return {"inputs": [tensor(c) for c in inputs]}


def _v2_problem(r: HttpResult, n: int, k: int) -> str:
    """What is wrong with a V2 ``infer`` answer for ``n`` rows of ``k`` classes ("" if nothing)."""
    problem = ""
    if not r.ok:
        problem = f"HTTP {r.status}: {str(r.body)[:200]}"
    else:
        outputs = (
            {o.get("name"): o for o in r.body.get("outputs", [])}
            if isinstance(r.body, dict)
            else {}
        )
        pred = outputs.get("predictions", {})
        prob = outputs.get("probabilities", {})
        if pred.get("shape") != [n] or len(pred.get("data", [])) != n:
            problem = f"predictions output has shape {pred.get('shape')}, expected [{n}]"
        elif not k:  # regression: numbers, no probabilities
            problem = _numbers_ok(pred.get("data"), n)
        elif prob.get("shape") != [n, k]:
            problem = f"probabilities output has shape {prob.get('shape')}, expected [{n}, {k}]"
    return problem


def smoke_test(
    base_url: str,
    model_name: str,
    rows: Sequence[dict[str, Any]],
    classes: Sequence[str],
    inputs: Sequence[str],
    timeout: float = 30.0,
) -> SmokeReport:
    """Readiness, metadata, and V1 + V2 predictions on sample rows with the expected shape.

    Args:
        base_url: Server URL.
        model_name: Model name.
        rows: Raw sample rows (feature -> value, no target).
        classes: Class names the predictions must come from (empty: a regression model,
            whose predictions must be finite numbers).
        inputs: Raw feature column names the metadata must list, in order.
        timeout: Per-request timeout in seconds.
    """
    report = SmokeReport(base_url)
    add = report.checks.append
    n = len(rows)

    r = request(base_url, "GET", "/v2/health/ready", timeout=timeout)
    add(SmokeCheck("server ready", r.ok, f"{r.status} {str(r.body)[:120]}"))
    r = request(base_url, "GET", f"/v1/models/{model_name}", timeout=timeout)
    ready = r.ok and isinstance(r.body, dict) and r.body.get("ready") is True
    add(SmokeCheck("model ready (V1)", ready, f"{r.status} {str(r.body)[:120]}"))

    r = request(base_url, "GET", f"/v2/models/{model_name}", timeout=timeout)
    names = [i.get("name") for i in r.body.get("inputs", [])] if isinstance(r.body, dict) else []
    meta_ok = r.ok and names == list(inputs)
    add(
        SmokeCheck(
            "metadata (V2)",
            meta_ok,
            f"{len(names)} inputs"
            if meta_ok
            else f"{r.status}: inputs {names[:5]} != {list(inputs)[:5]}",
        )
    )

    r = request(
        base_url, "POST", f"/v1/models/{model_name}:predict", {"instances": list(rows)}, timeout
    )
    problem = _v1_problem(r, n, classes)
    add(SmokeCheck("predict (V1)", not problem, problem or f"{n} rows in {r.latency_ms:.0f} ms"))

    body = _v2_request(rows, inputs)
    r = request(base_url, "POST", f"/v2/models/{model_name}/infer", body, timeout)
    problem = _v2_problem(r, n, len(classes))
    add(SmokeCheck("infer (V2)", not problem, problem or f"{n} rows in {r.latency_ms:.0f} ms"))
    return report


@dataclass
class StepMetrics:
    """Requests observed in one canary step (for one version, or all)."""

    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        """Errors / requests (0 when there were none)."""
        return self.errors / self.requests if self.requests else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (nearest rank); 0 without requests."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(q / 100.0 * len(ordered)))
        return ordered[rank - 1]

    @property
    def p95_ms(self) -> float:
        """95th-percentile latency in ms."""
        return self.percentile(95)

    def add(self, result: HttpResult) -> None:
        """Count one response (5xx and no answer are errors; 4xx are the client's fault)."""
        self.requests += 1
        self.statuses[result.status] = self.statuses.get(result.status, 0) + 1
        if result.status == 0 or result.status >= 500:
            self.errors += 1
        self.latencies_ms.append(result.latency_ms)


def probe(
    base_url: str,
    model_name: str,
    rows: Sequence[dict[str, Any]],
    n_requests: int,
    concurrency: int = 4,
    timeout: float = 10.0,
) -> dict[str, StepMetrics]:
    """Send ``n_requests`` one-row V1 predictions through ``base_url`` from a few threads.

    Returns:
        Metrics keyed by the version that answered (the ``x-served-by`` header, where a
        router sets it) plus ``"all"``.
    """
    results: list[HttpResult] = []
    lock = threading.Lock()
    counter = iter(range(n_requests))

    def worker() -> None:
        conn = _connection(base_url, timeout)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                row = rows[i % len(rows)]
                r = request(
                    base_url,
                    "POST",
                    f"/v1/models/{model_name}:predict",
                    {"instances": [row]},
                    timeout,
                    conn=conn,
                )
                with lock:
                    results.append(r)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out: dict[str, StepMetrics] = {"all": StepMetrics()}
    for r in results:
        out["all"].add(r)
        version = r.headers.get(SERVED_BY)
        if version:
            out.setdefault(version, StepMetrics()).add(r)
    return out
