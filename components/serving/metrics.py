"""The server's own Prometheus metrics and the ASGI middleware that records them."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "kfp_mlops_requests_total", "HTTP requests by endpoint and status code", ["endpoint", "status"]
)
LATENCY = Histogram(
    "kfp_mlops_request_latency_seconds",
    "HTTP request latency by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter(
    "kfp_mlops_predictions_total", "Predicted class counts", ["model", "predicted_class"]
)
READY = Gauge("kfp_mlops_model_ready", "1 when the model is loaded and serving", ["model"])


def endpoint_of(path: str) -> str:
    """A low-cardinality label for a request path."""
    if path.endswith(":predict"):
        return "v1_predict"
    if path.endswith("/infer"):
        return "v2_infer"
    if "/health/" in path or path.endswith("/ready") or path.startswith("/v1/models/"):
        return "health"
    if path.startswith("/v2/models/"):
        return "metadata"
    if path == "/metrics":
        return "metrics"
    return "other"


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
            endpoint = endpoint_of(scope.get("path", ""))
            REQUESTS.labels(endpoint, str(status)).inc()
            LATENCY.labels(endpoint).observe(time.perf_counter() - start)
