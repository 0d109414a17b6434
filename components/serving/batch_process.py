"""Large requests answered end to end in a child process with its own copy of the model.

A thread cannot keep a large batch from stalling one-row requests: parsing an 8 MiB body,
encoding 10,000 rows and running them all hold the GIL the event loop needs, so single rows
waited hundreds of ms next to them. Here a body over ``limits.inline_bytes`` goes to one
worker process (its own interpreter, its own GIL) that parses it, checks the row limit, runs
the model and encodes the answer, and hands back the response bytes; the server's process
only copies bytes. Large requests queue behind each other in that one worker, so they never
take more than one core from the small ones.

A user's fault (400) or a limit (413) raised in the worker is raised again in the server as
the same exception, so its handlers answer as for a small request; anything else is a 500.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import orjson

from kfp_mlops.components.serving.limits import Limits, RequestTooLarge

log = logging.getLogger(__name__)
_WORKER: dict[str, Any] = {}  # the worker's model, under "model" (set by _init)


def _init(name: str, model_dir: str, preprocessor: str, backend: str, limits: Limits) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from kfp_mlops.components.serving.model import ClassifierModel

    # Everything inline in the worker: it is the batch process, a thread hop gains nothing.
    inline = replace(limits, inline_rows=limits.max_rows + 1, inline_bytes=limits.max_bytes + 1)
    model = ClassifierModel(name, model_dir, preprocessor, backend, limits=inline)
    model.load()
    _WORKER["model"] = model


def _ping() -> bool:
    return "model" in _WORKER and _WORKER["model"].ready


def _answer(kind: str, body: bytes, headers: dict[str, str], name: str) -> tuple[str, Any]:
    from kserve.errors import InvalidInput

    from kfp_mlops.components.serving import protocol

    model = _WORKER["model"]

    async def run() -> bytes:
        if kind == "v1":
            response, _ = await model(protocol.decode_v1(body), headers=headers)
            return orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
        payload = protocol.decode_v2(body, headers, name)
        response, _ = await model(payload, headers=headers)
        return orjson.dumps(response.to_rest()[0], option=orjson.OPT_SERIALIZE_NUMPY)

    try:
        return "ok", asyncio.run(run())
    except RequestTooLarge as exc:
        return "too_large", exc.reason
    except InvalidInput as exc:
        return "invalid", exc.reason
    except Exception as exc:  # a server fault: the traceback in the worker's log
        log.exception("large batch failed")
        return "fault", f"{type(exc).__name__} in the batch process: {exc}"


class BatchFault(RuntimeError):
    """The batch process failed on a request (answered 500 by the server's fault handler)."""


class BatchProcess:
    """One worker process serving ``kind`` (``v1``/``v2``) bodies of large requests.

    Args:
        name: The model's name (V2 responses carry it).
        model_dir: The model artifact directory or file.
        preprocessor: The preprocessor JSON path.
        backend: ``auto``, ``keras`` or ``tflite``.
        limits: The server's limits (the worker enforces ``max_rows``).
    """

    def __init__(
        self, name: str, model_dir: str, preprocessor: str, backend: str, limits: Limits
    ) -> None:
        self.limits = limits
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),  # the server has threads
            initializer=_init,
            initargs=(name, model_dir, preprocessor, backend, limits),
        )

    def warm(self) -> Future:
        """Start the worker and load its model now; the future says whether it is ready."""
        return self._pool.submit(_ping)

    async def answer(self, kind: str, body: bytes, headers: dict[str, str], name: str) -> bytes:
        """The response body for a large ``kind`` request, computed in the worker.

        Raises:
            RequestTooLarge: Over the row limit (413).
            kserve.errors.InvalidInput: The request's fault (400).
            BatchFault: Anything else (500).
        """
        from kserve.errors import InvalidInput

        loop = asyncio.get_running_loop()
        status, value = await loop.run_in_executor(self._pool, _answer, kind, body, headers, name)
        if status == "ok":
            return value
        if status == "too_large":
            raise RequestTooLarge(value)
        if status == "invalid":
            raise InvalidInput(value)
        raise BatchFault(value)

    def stop(self) -> None:
        """Stop the worker (requests in flight are cancelled)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
