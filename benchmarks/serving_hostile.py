"""Hostile load on the model server: one-row clients next to clients posting maximum-size
requests (``bench_serving --cases=hostile`` and tests/serving/test_hostile_load.py).

Every answer is checked against the server's own answer for the same rows.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class HostileResult:
    """What the clients of :func:`hostile_load` saw."""

    single_ms: list[float] = field(default_factory=list)
    single_wrong: list[str] = field(default_factory=list)
    big_answers: list[int] = field(default_factory=list)  # per big client
    big_wrong: list[str] = field(default_factory=list)
    big_rows: list[int] = field(default_factory=list)

    def p(self, q: float) -> float:
        """Single-row latency percentile (ms, nearest rank)."""
        ordered = sorted(self.single_ms)
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] if ordered else 0.0


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, Any, float]:
    """POST a JSON ``body``: the status, the decoded answer and the milliseconds it took."""
    start = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    return resp.status, json.loads(raw), (time.perf_counter() - start) * 1000


def max_size_bodies(rows: list[dict], max_bytes: int, max_rows: int) -> list[tuple[bytes, int]]:
    """The largest V1 body (row objects) and V2 body (one input per feature) under the limits.

    Rows repeat ``rows`` in order, so the answer for row i is the answer for ``rows[i % n]``.
    """
    columns = list(rows[0])

    def v1(n: int) -> bytes:
        return json.dumps({"instances": [rows[i % len(rows)] for i in range(n)]}).encode()

    def v2(n: int) -> bytes:
        data = {c: [rows[i % len(rows)][c] for i in range(n)] for c in columns}
        inputs = [{"name": c, "shape": [n], "datatype": "FP32", "data": data[c]} for c in columns]
        return json.dumps({"inputs": inputs}).encode()

    bodies = []
    for make in (v1, v2):
        n = max_rows
        while len(body := make(n)) > max_bytes:
            n = int(n * max_bytes / len(body) * 0.99)
        bodies.append((body, n))
    return bodies


def hostile_load(
    url: str,
    model: str,
    rows: list[dict],
    singles: int = 300,
    seconds: float = 10.0,
    max_bytes: int = 8 * 1024 * 1024,
    max_rows: int = 10_000,
    big_clients: int = 2,
) -> HostileResult:
    """One thread sends ``singles`` one-row requests while ``big_clients`` threads post
    maximum-size requests (V1 and V2 in turn) for ``seconds`` (and at least until the
    single-row thread is done, bounded by 10x ``seconds``). Every answer is checked against
    the server's own answer for the same rows, asked before the load starts."""
    host, port = url.removeprefix("http://").split(":")
    v1_path, v2_path = f"/v1/models/{model}:predict", f"/v2/models/{model}/infer"
    base = http.client.HTTPConnection(host, int(port), timeout=120)
    status, reference, _ = post(base, v1_path, json.dumps({"instances": rows}).encode())
    base.close()
    if status != 200:
        raise RuntimeError(f"reference request answered {status}: {reference}")
    expected, probs = reference["predictions"], np.array(reference["probabilities"])
    bodies = max_size_bodies(rows, max_bytes, max_rows)
    result = HostileResult(big_answers=[0] * big_clients, big_rows=[n for _, n in bodies])
    singles_done = threading.Event()
    start = time.monotonic()

    def check(got: list, got_probs: Any, n: int) -> str:
        want = [expected[i % len(rows)] for i in range(n)]
        if got != want:
            return f"{sum(a != b for a, b in zip(got, want, strict=False))} of {n} labels differ"
        want_p = probs[np.arange(n) % len(rows)]
        if not np.allclose(np.asarray(got_probs).reshape(want_p.shape), want_p, atol=1e-4):
            return "probabilities differ"
        return ""

    def big(client: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        turn = client
        while time.monotonic() - start < 10 * seconds and (
            time.monotonic() - start < seconds or not singles_done.is_set()
        ):
            is_v2 = turn % 2 == 1
            turn += 1
            body, n = bodies[is_v2]
            status, answer, _ = post(conn, v2_path if is_v2 else v1_path, body)
            if status != 200:
                result.big_wrong.append(f"client {client}: {status} {str(answer)[:200]}")
                continue
            if is_v2:
                out = {o["name"]: o["data"] for o in answer["outputs"]}
                problem = check(out["predictions"], out["probabilities"], n)
            else:
                problem = check(answer["predictions"], answer["probabilities"], n)
            if problem:
                result.big_wrong.append(f"client {client}: {problem}")
            result.big_answers[client] += 1
        conn.close()

    def single() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        for i in range(singles):
            body = json.dumps({"instances": [rows[i % len(rows)]]}).encode()
            status, answer, ms = post(conn, v1_path, body)
            result.single_ms.append(ms)
            if status != 200 or answer["predictions"] != [expected[i % len(rows)]]:
                result.single_wrong.append(f"request {i}: {status} {str(answer)[:200]}")
        conn.close()
        singles_done.set()

    threads = [threading.Thread(target=big, args=(c,)) for c in range(big_clients)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # the big clients' first bodies are on their way
    single()
    for t in threads:
        t.join()
    return result
