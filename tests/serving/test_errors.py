"""Errors that say whose fault it is, and the request limits, on a real TFLite server:
400 for the request's faults, 413 over a limit (naming the flag), 500 for the server's own,
each with a message that names the problem and the fix; JSON is read as JSON whatever the
content-type (``curl -d``)."""

from __future__ import annotations

import asyncio
import http.client
import json

import pytest
from starlette.requests import Request

from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.serving.endpoints import server_fault_handler

MAX_BYTES, MAX_ROWS = 200_000, 100


@pytest.fixture(scope="module")
def server(models, serve):
    flags = ("--max-request-bytes", str(MAX_BYTES), "--max-request-rows", str(MAX_ROWS))
    return serve(models.tflite, models.preprocessor, *flags)


def post(url: str, path: str, body: bytes, headers: dict | None = None, chunked: bool = False):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        if chunked:  # no Content-Length: the server must count the bytes as they arrive
            pieces = (body[i : i + 16384] for i in range(0, len(body), 16384))
            conn.request("POST", path, body=pieces, headers=headers or {}, encode_chunked=True)
        else:
            conn.request("POST", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


V1, V2 = "/v1/models/clf:predict", "/v2/models/clf/infer"


def v2_body(models, rows: list[dict]) -> bytes:
    inputs = [
        {"name": c, "shape": [len(rows)], "datatype": "FP32", "data": [r[c] for r in rows]}
        for c in models.inputs
    ]
    return json.dumps({"inputs": inputs}).encode()


@pytest.mark.slow
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", None, "application/json; charset=utf-8"]
)
def test_json_is_read_as_json_whatever_the_content_type(models, server, content_type):
    rows = models.rows(3)
    expected = request(server, "POST", V1, {"instances": rows}).body
    headers = {"Content-Type": content_type} if content_type else {}
    status, body = post(server, V1, json.dumps({"instances": rows}).encode(), headers)
    assert (status, body) == (200, expected)
    status, body = post(server, V2, v2_body(models, rows), headers)
    assert status == 200, body
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert outputs["predictions"] == expected["predictions"]


@pytest.mark.slow
def test_v2_data_that_does_not_fit_its_shape_is_a_400_naming_the_input(models, server):
    body = json.loads(v2_body(models, models.rows(2)))
    body["inputs"][0]["shape"] = [3]
    status, answer = post(server, V2, json.dumps(body).encode())
    assert status == 400
    name = models.inputs[0]
    assert answer["error"].startswith(
        f"input '{name}' has 2 values, which do not fit its shape [3] (3 values); send shape [n]"
    )
    status, answer = post(server, V2, b'{"inputs": [{"name": "x"}]}')
    assert status == 400 and "inputs.0.shape: Field required" in answer["error"], answer
    status, answer = post(server, V1, b"instances=1&rows=2")
    assert status == 400 and answer["error"].startswith("the body is not valid JSON"), answer


@pytest.mark.slow
def test_too_many_rows_is_a_413_naming_the_limit_and_the_flag(models, server):
    rows = [[r[c] for c in models.inputs] for r in models.rows(1)] * (MAX_ROWS + 1)
    status, answer = post(server, V1, json.dumps({"instances": rows}).encode())
    assert status == 413
    assert answer["error"] == (
        f"the request has {MAX_ROWS + 1} rows, over this server's limit of {MAX_ROWS} rows per "
        f"request; send at most {MAX_ROWS} rows per request, or start the server with a larger "
        "--max-request-rows"
    )
    status, answer = post(server, V2, v2_body(models, models.rows(1) * (MAX_ROWS + 1)))
    assert status == 413 and "--max-request-rows" in answer["error"]
    assert post(server, V1, json.dumps({"instances": rows[:MAX_ROWS]}).encode())[0] == 200


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True])
def test_too_many_bytes_is_a_413_naming_the_limit_and_the_flag(models, server, chunked):
    body = json.dumps({"instances": models.rows(1), "padding": "x" * MAX_BYTES}).encode()
    status, answer = post(server, V1, body, chunked=chunked)
    assert status == 413
    size = f"over {MAX_BYTES:,} bytes" if chunked else f"{len(body):,} bytes"
    assert answer["error"].startswith(f"the request body is {size}, over this server's limit")
    assert "--max-request-bytes" in answer["error"]
    # The server keeps answering.
    assert request(server, "POST", V1, {"instances": models.rows(2)}).status == 200


def test_an_unexpected_exception_is_a_500_that_says_it_is_the_servers_fault():
    scope = {"type": "http", "method": "POST", "path": "/v1/models/clf:predict", "headers": []}
    response = asyncio.run(server_fault_handler(Request(scope), ZeroDivisionError("division")))
    assert response.status_code == 500
    error = json.loads(response.body)["error"]
    assert error.startswith("internal error of the model server (ZeroDivisionError) while")
    assert "not the request's" in error and "server log has the traceback" in error
    assert "division" not in error  # never the bare exception text
