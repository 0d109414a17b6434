"""Request parsing and limits as plain functions: every user fault is a 400 naming the input
and the fix, every limit a 413 naming the flag (no model, no server)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from kserve.errors import InvalidInput

from kfp_mlops.components.serving import protocol
from kfp_mlops.components.serving.limits import BodyLimitMiddleware, Limits, RequestTooLarge

COLUMNS = ["a", "b", "colour"]


def v2(*inputs: dict) -> bytes:
    return json.dumps({"inputs": list(inputs)}).encode()


def tensor(name, shape, data, datatype="FP32"):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_v2_per_feature_inputs_become_columns():
    body = v2(
        tensor("a", [2], [1.0, 2.0]),
        tensor("b", [2], [3, 4]),
        tensor("colour", [2], ["red", "blue"], "BYTES"),
    )
    request = protocol.decode_v2(body, {}, "clf")
    assert protocol.count_rows(request) == 2
    numeric, categorical = protocol.columns_from_v2(request, COLUMNS, 2, "clf")
    np.testing.assert_array_equal(numeric, [[1.0, 3.0], [2.0, 4.0]])
    assert categorical == [["red"], ["blue"]]


def features(a=None, b=None, colour=None) -> bytes:
    """A V2 body with one input per feature; each argument replaces that feature's input."""
    return v2(
        a or tensor("a", [2], [1.0, 2.0]),
        b or tensor("b", [2], [1, 2]),
        colour or tensor("colour", [2], ["x", "y"], "BYTES"),
    )


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            features(a=tensor("a", [3], [1.0, 2.0])),
            r"input 'a' has 2 values, which do not fit its shape \[3\] \(3 values\); send",
        ),
        (
            v2(tensor("rows", [2, 3], [1.0, 2.0, 3.0, 4.0])),
            r"input 'rows' has 4 values, which do not fit its shape \[2, 3\].*\[n, 3\]",
        ),
        (features(a=tensor("a", [2], ["big", "small"])), r"input 'a' has values that are not FP32"),
        (
            features(a=tensor("a", [2], [1.0, 2.0], "FLOAT")),
            r"input 'a' has datatype 'FLOAT', which the V2 protocol does not define; use FP32",
        ),
        (
            features(b=tensor("b", [1], [1])),
            r"input 'a' has 2 values, input 'b' 1\): send the same n rows for every feature",
        ),
    ],
)
def test_v2_data_that_does_not_fit_is_a_400_naming_the_input(body, match):
    request = protocol.decode_v2(body, {}, "clf")
    with pytest.raises(InvalidInput, match=match):
        protocol.columns_from_v2(request, COLUMNS, 2, "clf")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"instances=1", r"the body is not valid JSON .*of the form \{\"inputs\""),
        (
            b'{"inputs": [{"name": "a", "shape": [1], "data": [1]}]}',
            r"inputs\.0\.datatype: Field required",
        ),
        (b'{"rows": []}', r"inputs: Field required.*send \{\"inputs\""),
    ],
)
def test_a_body_that_is_not_a_v2_request_says_what_is_wrong(body, match):
    with pytest.raises(InvalidInput, match=match):
        protocol.decode_v2(body, {}, "clf")


def test_a_binary_v2_body_with_a_wrong_header_is_a_400():
    with pytest.raises(InvalidInput, match="does not match its inference-header-content-length"):
        protocol.decode_v2(b"{}", {protocol.BINARY_HEADER: "x"}, "clf")


def test_v1_bodies():
    assert protocol.count_rows(protocol.decode_v1(b'{"instances": [[1, 2, "x"]]}')) == 1
    with pytest.raises(InvalidInput, match="not valid JSON.*instances"):
        protocol.decode_v1(b"{'instances': []}")
    with pytest.raises(InvalidInput, match='must be \\{"instances"'):
        protocol.count_rows([1, 2])
    numeric, categorical = protocol.columns_from_v1(
        {"instances": [{"a": 1, "b": 2, "colour": "red"}, [3, 4, "blue"]]}, COLUMNS, 2, "clf"
    )
    assert numeric == [[1, 2], [3, 4]] and categorical == [["red"], ["blue"]]


def test_limits_say_the_limit_and_the_flag():
    limits = Limits(max_bytes=1000, max_rows=10)
    limits.check_rows(10)
    with pytest.raises(RequestTooLarge, match="11 rows, over this server.s limit of 10 rows"):
        limits.check_rows(11)
    assert "--max-request-bytes" in limits.too_many_bytes(2000).reason
    with pytest.raises(ValueError, match="--max-request-rows must be >= 1, got 0"):
        Limits(max_rows=0)


class _App:
    """An ASGI app that reads the whole body and answers 200 with its length."""

    def __init__(self):
        self.called = False

    async def __call__(self, scope, receive, send):
        self.called = True
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _call(limits, chunks, declared=None, path="/v1/models/clf:predict"):
    app = _App()
    headers = [(b"content-length", str(declared).encode())] if declared is not None else []
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    received = []

    async def receive():
        received.append(1)
        return messages.pop(0)

    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(BodyLimitMiddleware(app, limits)(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, app.called, len(received)


def test_body_limit_middleware():
    limits = Limits(max_bytes=100)
    assert _call(limits, [b"x" * 60, b"x" * 40], declared=100)[:3] == (200, b"100", True)
    status, body, called, reads = _call(limits, [b"x" * 60] * 5, declared=300)
    assert (status, called, reads) == (413, False, 0)  # refused before reading the body
    assert "300 bytes, over this server's limit of 100 bytes" in json.loads(body)["error"]
    status, body, called, reads = _call(limits, [b"x" * 60] * 5)  # chunked: no length
    assert (status, called, reads) == (413, False, 2)  # refused as soon as it passed the limit
    assert "over 100 bytes" in json.loads(body)["error"]
    assert _call(limits, [b"x" * 300], path="/v2/health/ready")[:3] == (200, b"300", True)


@pytest.mark.parametrize(
    "rows",
    [
        [{"a": i * 0.5, "b": i, "colour": "red"} for i in range(3000)],  # objects
        [[i * 0.5, i, "blue"] for i in range(3000)],  # lists
        # A cut inside a string or a nested value does not parse: it falls back, still right.
        [{"a": i, "b": 1, "colour": '},{"x": [1],'} for i in range(3000)],
        [{"a": {"nested": i}, "b": [1, {"c": 2}], "colour": "x"} for i in range(3000)],
    ],
)
def test_large_bodies_parsed_in_pieces_equal_the_whole_parse(rows):
    body = json.dumps({"instances": rows}).encode()
    assert len(body) > 40_000
    assert protocol.decode_v1(body, piece_bytes=4096) == {"instances": rows}
    spaced = json.dumps({"instances": rows}, indent=2).encode()
    assert protocol.decode_v1(spaced, piece_bytes=4096) == {"instances": rows}


def test_a_large_v2_body_parsed_in_pieces_equals_the_whole_parse():
    n = 4000
    body = v2(
        tensor("a", [n], [i * 0.5 for i in range(n)]),
        tensor("b", [n], list(range(n))),
        tensor("colour", [n], ["red"] * n, "BYTES"),
    )
    whole = protocol.decode_v2(body, {}, "clf")
    pieces = protocol.decode_v2(body, {}, "clf", piece_bytes=4096)
    assert [(i.name, i.shape, i.datatype) for i in pieces.inputs] == [
        (i.name, i.shape, i.datatype) for i in whole.inputs
    ]
    for got, want in zip(pieces.inputs, whole.inputs, strict=True):
        np.testing.assert_array_equal(got.as_numpy(), want.as_numpy())
    bad = json.loads(body)
    del bad["inputs"][2]["datatype"]
    with pytest.raises(InvalidInput, match=r"inputs\.2\.datatype: Field required"):
        protocol.decode_v2(json.dumps(bad).encode(), {}, "clf", piece_bytes=4096)
