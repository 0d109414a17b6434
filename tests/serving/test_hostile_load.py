"""One client posting maximum-size requests must not stall the others (bounded in count and
time, loopback only). No timing assertion: the benchmark's ``hostile`` case prints p99 alone
vs next to max-size clients; here every answer must come back, and be right.

Large bodies (over ``inline_bytes``) are answered by the batch process
(:mod:`kfp_mlops.components.serving.batch_process`): its answers, 400s and 413s are checked
against the server's own answers for small requests."""

from __future__ import annotations

import http.client
import json

import pytest

from benchmarks.serving_hostile import hostile_load, max_size_bodies

V1 = "/v1/models/clf:predict"


def post(url: str, path: str, body: bytes) -> tuple[int, dict]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    return resp.status, answer


@pytest.fixture(scope="module")
def url(models, serve):
    url = serve(models.tflite, models.preprocessor)  # the default limits: 8 MiB, 10,000 rows
    body, _ = max_size_bodies(models.rows(50), 8 * 1024 * 1024, 10_000)[0]
    assert post(url, V1, body)[0] == 200  # the batch process is up before the load starts
    return url


@pytest.mark.slow
def test_single_row_clients_keep_their_answers_next_to_max_size_clients(models, url):
    result = hostile_load(url, "clf", models.rows(50), singles=300, seconds=10)
    p50, p99 = result.p(50), result.p(99)
    print(f"single-row p50 {p50:.1f} ms, p99 {p99:.1f} ms next to {result.big_answers} max-size")
    assert len(result.single_ms) == 300
    assert result.single_wrong == []
    assert result.big_wrong == []
    assert all(n >= 1 for n in result.big_answers), result.big_answers
    # The max-size requests really were at the limits: 10,000 V2 rows, V1 just under 8 MiB.
    assert result.big_rows[1] == 10_000 and result.big_rows[0] > 5_000


@pytest.mark.slow
def test_a_large_body_gets_the_same_400_and_413_as_a_small_one(models, url):
    rows = models.rows(1) * 2_000  # well over inline_bytes: the batch process answers
    bad = [dict(r) for r in rows]
    bad[1234][models.inputs[0]] = "abc"
    status, large = post(url, V1, json.dumps({"instances": bad}).encode())
    status_small, small = post(url, V1, json.dumps({"instances": bad[1234:1235]}).encode())
    assert (status, status_small) == (400, 400)
    assert models.inputs[0] in large["error"] and models.inputs[0] in small["error"]
    lists = [[r[c] for c in models.inputs] for r in models.rows(1)] * 10_001  # under 8 MiB
    status, answer = post(url, V1, json.dumps({"instances": lists}).encode())
    assert status == 413 and "--max-request-rows" in answer["error"]
    assert "10,001 rows" in answer["error"]


@pytest.mark.slow
def test_without_the_batch_process_large_requests_still_get_right_answers(models, serve):
    url = serve(models.tflite, models.preprocessor, "--no-batch-process")
    rows = models.rows(50)
    status, reference = post(url, V1, json.dumps({"instances": rows}).encode())
    status_large, large = post(url, V1, json.dumps({"instances": rows * 40}).encode())
    assert (status, status_large) == (200, 200)
    assert large["predictions"] == reference["predictions"] * 40
