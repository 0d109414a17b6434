"""The server's own Prometheus metrics and the ASGI middleware that records them.

Every series carries the ``model`` (name in the URLs) and ``version`` labels of the served
model, so alert rules (``components/monitoring/alert_rules``) can page per model version.
The version is registered by the server (:func:`register_served`) before the model loads;
model code keeps calling ``READY.labels(name)`` and ``PREDICTIONS.labels(name, cls)``: the
version is added here.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

#: Series names as Prometheus stores them (the alert rules import these).
REQUESTS_SERIES = "kfp_mlops_requests_total"
LATENCY_SERIES = "kfp_mlops_request_latency_seconds"
ERRORS_SERIES = "model_errors_total"
PREDICTIONS_SERIES = "kfp_mlops_predictions_total"
READY_SERIES = "kfp_mlops_model_ready"
#: Endpoints whose latency and errors the alerts watch (``:explain`` is slow by design).
PREDICT_ENDPOINTS = ("v1_predict", "v2_infer")
#: Endpoints whose faults count in ``model_errors_total``.
INFERENCE_ENDPOINTS = (*PREDICT_ENDPOINTS, "v1_explain")
#: ``model_errors_total{type=...}`` by HTTP status; other 4xx/5xx fall in the last two.
ERROR_TYPES = {
    400: "invalid_input",
    404: "model_not_found",
    413: "request_too_large",
    500: "inference_error",
    501: "not_implemented",
    503: "model_not_ready",
}
CLIENT_ERROR, SERVER_ERROR = "client_error", "server_error"
#: Version label of a model that was never registered (a test building a model alone).
UNKNOWN_VERSION = "unknown"

REQUESTS = Counter(
    REQUESTS_SERIES,
    "HTTP requests by endpoint and status code",
    ["endpoint", "status", "model", "version"],
)
LATENCY = Histogram(
    LATENCY_SERIES,
    "HTTP request latency by endpoint",
    ["endpoint", "model", "version"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ERRORS = Counter(
    ERRORS_SERIES,
    "Failed inference requests by error type (from the HTTP status)",
    ["model", "version", "type", "endpoint"],
)

_served: dict[str, str] = {}  # model name -> version
_lock = threading.Lock()


def served_version(model: str) -> str:
    """The registered version of ``model`` (``unknown`` when it was never registered)."""
    return _served.get(model, UNKNOWN_VERSION)


class _Versioned:
    """A metric whose first label is the model: ``labels(model, *rest)`` adds its version."""

    def __init__(self, metric: Counter | Gauge) -> None:
        self.metric = metric

    def labels(self, model: str, *rest: str) -> Any:
        """The child of ``model``, its served version and ``rest``."""
        return self.metric.labels(model, served_version(model), *rest)


PREDICTIONS = _Versioned(
    Counter(
        PREDICTIONS_SERIES,
        "Predicted class counts",
        ["model", "version", "predicted_class"],
    )
)
READY = _Versioned(
    Gauge(READY_SERIES, "1 when the model is loaded and serving", ["model", "version"])
)


def register_served(model: str, version: str) -> None:
    """Label ``model``'s series with ``version`` from now on; start its error counters at 0.

    A readiness series set before the version was known is moved to the version, so no
    stale ``version="unknown"`` series is left for a rule to fire on.

    Raises:
        ValueError: If ``version`` is empty.
    """
    if not version:
        raise ValueError(f"model {model!r}: the version label must not be empty")
    with _lock:
        old = _served.get(model, UNKNOWN_VERSION)
        _served[model] = version
        if old != version:
            ready = _gauge_value(READY.metric, model=model, version=old)
            if ready is not None:
                READY.metric.remove(model, old)
            READY.metric.labels(model, version).set(ready or 0.0)
    # A counter series that appears at 1 hides its first increase from rate(): start at 0.
    for endpoint in PREDICT_ENDPOINTS:
        for kind in (*ERROR_TYPES.values(), CLIENT_ERROR, SERVER_ERROR):
            ERRORS.labels(model, version, kind, endpoint)


def _gauge_value(gauge: Gauge, **labels: str) -> float | None:
    for family in gauge.collect():
        for sample in family.samples:
            if sample.labels == labels:
                return sample.value
    return None


def error_type(status: int) -> str | None:
    """The ``type`` label of a failed request's status; ``None`` for a success."""
    if status < 400:
        return None
    return ERROR_TYPES.get(status, CLIENT_ERROR if status < 500 else SERVER_ERROR)


def endpoint_of(path: str) -> str:
    """A low-cardinality label for a request path."""
    if path.endswith(":predict"):
        return "v1_predict"
    if path.endswith(":explain"):
        return "v1_explain"
    if path.endswith("/infer"):
        return "v2_infer"
    if "/health/" in path or path.endswith("/ready") or path.startswith("/v1/models/"):
        return "health"
    if path.startswith("/v2/models/"):
        return "metadata"
    if path == "/metrics":
        return "metrics"
    return "other"


_MODEL_IN_PATH = re.compile(r"^/v[12]/models/([^/:]+)")


def model_of(path: str) -> tuple[str, str]:
    """``(model, version)`` labels of a path: empty unless it names a registered model.

    Names nobody registered (a client's typo, a scanner) stay unlabelled, so they cannot
    grow the number of series without bound.
    """
    found = _MODEL_IN_PATH.match(path)
    if found and found.group(1) in _served:
        return found.group(1), _served[found.group(1)]
    return "", ""


class MetricsMiddleware:
    """Pure ASGI middleware: counts every request by endpoint and status and times it.

    (Starlette's ``@app.middleware("http")`` wraps each request in extra tasks and costs
    about half a millisecond; this adds a few microseconds.)
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Pass the request on, noting the response status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before answering

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            record(scope.get("path", ""), status, time.perf_counter() - start)


def record(path: str, status: int, seconds: float) -> None:
    """Count one answered request (and its error type) and observe its latency."""
    endpoint = endpoint_of(path)
    model, version = model_of(path)
    REQUESTS.labels(endpoint, str(status), model, version).inc()
    LATENCY.labels(endpoint, model, version).observe(seconds)
    kind = error_type(status)
    if kind is not None and endpoint in INFERENCE_ENDPOINTS:
        ERRORS.labels(model, version, kind, endpoint).inc()
