"""The HTTP side of the integration test: replay rows over V1 or V2, time single rows.

Standard library HTTP through the deploy step's client (:mod:`...deploy_model.smoke`), so
the requests are what any KServe client sends to the live server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.metrics import latency_percentiles
from kfp_mlops.components.deployment.deploy_model.smoke import (
    _connection,
    _v2_request,
    request,
)

if TYPE_CHECKING:
    from kfp_mlops.components.deployment.integration_test.core import Sample

#: Single-row requests sent before timing starts (connection set-up, lazy initialisation).
WARMUP_REQUESTS = 5


@dataclass
class Replay:
    """The answers of one protocol to every row.

    ``predictions`` is ``None`` at a row whose request failed.
    """

    protocol: str
    predictions: list[Any] = field(default_factory=list)
    probabilities: list[list[float] | None] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)


def _v1_batch(url: str, name: str, rows: list[dict], timeout: float) -> tuple[Any, str]:
    """(predictions, probabilities) of one V1 request, or (None, problem)."""
    r = request(url, "POST", f"/v1/models/{name}:predict", {"instances": rows}, timeout)
    body = r.body if isinstance(r.body, dict) else {}
    preds = body.get("predictions")
    if not r.ok or not isinstance(preds, list) or len(preds) != len(rows):
        return None, f"V1 HTTP {r.status}: {str(r.body)[:200]}"
    return (preds, body.get("probabilities")), ""


def _v2_batch(url: str, name: str, rows: list[dict], inputs: list[str], timeout: float):
    """(predictions, probabilities) of one V2 request, or (None, problem)."""
    r = request(url, "POST", f"/v2/models/{name}/infer", _v2_request(rows, inputs), timeout)
    outputs = r.body.get("outputs", []) if isinstance(r.body, dict) else []
    by_name = {o.get("name"): o for o in outputs if isinstance(o, dict)}
    preds = by_name.get("predictions", {}).get("data")
    if not r.ok or not isinstance(preds, list) or len(preds) != len(rows):
        return None, f"V2 HTTP {r.status}: {str(r.body)[:200]}"
    flat = by_name.get("probabilities", {}).get("data")
    probs = None
    if isinstance(flat, list) and flat and len(flat) % len(rows) == 0:
        k = len(flat) // len(rows)
        probs = [flat[i * k : (i + 1) * k] for i in range(len(rows))]
    return (preds, probs), ""


def replay(
    url: str, name: str, sample: Sample, protocol: str, batch_size: int = 32, timeout: float = 30
) -> Replay:
    """Send every row of ``sample`` in batches over ``protocol`` (``v1`` or ``v2``)."""
    out = Replay(protocol)
    for start in range(0, len(sample.rows), batch_size):
        rows = sample.rows[start : start + batch_size]
        if protocol == "v1":
            answer, problem = _v1_batch(url, name, rows, timeout)
        else:
            answer, problem = _v2_batch(url, name, rows, sample.inputs, timeout)
        out.requests += 1
        if answer is None:
            out.errors += 1
            out.problems.append(problem)
            out.predictions += [None] * len(rows)
            out.probabilities += [None] * len(rows)
            continue
        preds, probs = answer
        out.predictions += list(preds)
        out.probabilities += list(probs) if isinstance(probs, list) else [None] * len(rows)
    return out


def measure_latency(
    url: str, name: str, sample: Sample, protocol: str, n_requests: int, timeout: float = 30
) -> tuple[dict[str, float], int]:
    """Single-row latency percentiles (ms) on the live server, and the failed requests.

    One keep-alive connection, sequential requests: the latency a client sees per row,
    which is what the evaluation gate's ``latency_single_*`` limits are about.
    """
    conn = _connection(url, timeout)
    samples: list[float] = []
    errors = 0
    try:
        for i in range(WARMUP_REQUESTS + n_requests):
            row = [sample.rows[i % len(sample.rows)]]
            if protocol == "v2":
                r = request(
                    url, "POST", f"/v2/models/{name}/infer", _v2_request(row, sample.inputs),
                    timeout, conn=conn,
                )  # fmt: skip
            else:
                r = request(
                    url, "POST", f"/v1/models/{name}:predict", {"instances": row}, timeout, conn
                )
            if i < WARMUP_REQUESTS:
                continue
            if r.ok:
                samples.append(r.latency_ms)
            else:
                errors += 1
    finally:
        conn.close()
    if not samples:
        return {}, errors
    pct = latency_percentiles(samples)
    return {f"latency_single_{k}_ms": v for k, v in pct.items()}, errors
