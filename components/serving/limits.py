"""Request limits: the most bytes and rows one request may carry, and what "large" means.

One client posting a huge batch must not stall everyone else. Bytes are capped before the
body is parsed (by ``Content-Length``, or by counting a chunked body as it streams in), rows
once the JSON is read; either answers 413 with the limit and the flag that raises it. A
batch over ``inline_rows`` rows runs off the event loop, ``chunk_rows`` rows at a time
(see :mod:`kfp_mlops.components.serving.model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

MIB = 1024 * 1024
#: Paths whose bodies are capped (the inference endpoints; everything else has no body).
_INFERENCE_SUFFIXES = (":predict", ":explain", "/infer")


@dataclass(frozen=True)
class Limits:
    """What one request may carry and how large batches run.

    Args:
        max_bytes: Largest request body, in bytes (``--max-request-bytes``).
        max_rows: Most rows in one request (``--max-request-rows``).
        inline_rows: Batches up to this many rows run on the event loop (a thread hop costs
            more than they take); larger ones run in the batch thread.
        chunk_rows: Rows per model call in the batch thread, so its locks and the GIL are
            held for a bounded time.
        inline_bytes: Bodies up to this size are parsed on the event loop; larger ones in
            the batch thread.
    """

    max_bytes: int = 8 * MIB
    max_rows: int = 10_000
    inline_rows: int = 256
    chunk_rows: int = 1024
    inline_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        """Reject limits the server cannot work with."""
        for name in ("max_bytes", "max_rows", "inline_rows", "chunk_rows"):
            if getattr(self, name) < 1:
                flag = {"max_bytes": "--max-request-bytes", "max_rows": "--max-request-rows"}
                raise ValueError(f"{flag.get(name, name)} must be >= 1, got {getattr(self, name)}")

    def check_rows(self, rows: int) -> None:
        """Raise :class:`RequestTooLarge` if ``rows`` is over :attr:`max_rows`."""
        if rows > self.max_rows:
            raise RequestTooLarge(
                f"the request has {rows:,} rows, over this server's limit of "
                f"{self.max_rows:,} rows per request; send at most {self.max_rows:,} rows per "
                "request, or start the server with a larger --max-request-rows"
            )

    def too_many_bytes(self, size: int, exact: bool = True) -> RequestTooLarge:
        """The 413 error for a body of ``size`` bytes (at least ``size`` if not ``exact``)."""
        amount = f"{size:,} bytes" if exact else f"over {self.max_bytes:,} bytes"
        return RequestTooLarge(
            f"the request body is {amount}, over this server's limit of {self.max_bytes:,} "
            f"bytes ({self.max_bytes / MIB:g} MiB); send fewer rows per request, or start the "
            "server with a larger --max-request-bytes"
        )


class RequestTooLarge(Exception):
    """A request over a limit: answered 413 with the limit and how to raise it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def request_too_large_handler(_: Any, exc: RequestTooLarge) -> JSONResponse:
    """FastAPI exception handler: 413 with the reason."""
    return JSONResponse(
        status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE, content={"error": exc.reason}
    )


async def _send_413(send: Any, exc: RequestTooLarge) -> None:
    await JSONResponse(
        status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        content={"error": exc.reason},
        headers={"connection": "close"},  # the rest of the body is never read
    )({"type": "http"}, None, send)


class BodyLimitMiddleware:
    """Pure ASGI middleware: refuse an inference body over ``limits.max_bytes`` with a 413.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is read;
    a chunked body is counted as it arrives and refused as soon as it passes the limit. The
    body is then handed on in one piece (the endpoints read it whole anyway).
    """

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Check the size of an inference request's body, then pass the request on."""
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not scope.get("path", "").endswith(_INFERENCE_SUFFIXES)
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limits.max_bytes:
            await _send_413(send, self.limits.too_many_bytes(int(declared)))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limits.max_bytes:
                await _send_413(send, self.limits.too_many_bytes(size, exact=False))
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
