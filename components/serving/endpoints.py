"""The inference endpoints, in front of KServe's: a large body is parsed off the event loop.

KServe's own handlers parse JSON on the event loop (and V2 bodies twice: JSON, then
pydantic), so a client posting megabytes stalls every other client for as long. These take
the same paths (registered first, so they match first), read the body as JSON whatever its
``content-type`` says, decode and encode large bodies in the model's batch thread, and run
the model's template methods through ``kserve.Model.__call__`` as KServe does.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from kserve.protocol.dataplane import DataPlane

from kfp_mlops.components.serving import protocol
from kfp_mlops.components.serving.explainer import ExplainUnavailable
from kfp_mlops.components.serving.model import ClassifierModel

log = logging.getLogger(__name__)


def _model(dataplane: DataPlane, name: str) -> ClassifierModel:
    model = dataplane.get_model_from_registry(name)  # ModelNotFound -> 404
    if not model.ready:
        raise model.not_ready()
    return model


def _dumps(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def register_inference_endpoints(app: FastAPI, dataplane: DataPlane) -> None:
    """Add ``POST /v1/models/{name}:predict``, ``:explain`` and ``/v2/models/{name}/infer``."""

    async def v1_predict(model_name: str, request: Request) -> Response:
        model = _model(dataplane, model_name)
        body = await request.body()
        large = len(body) > model.limits.inline_bytes
        if large and getattr(model, "batch_process", None):  # own process: see batch_process
            headers = dict(request.headers)
            content = await model.batch_process.answer("v1", body, headers, model_name)
            return Response(content=content, media_type="application/json")
        pieces = model.limits.inline_bytes * 4  # see protocol._array_in_pieces
        payload = await model.offload(large, protocol.decode_v1, body, pieces)
        response, _ = await model(payload, headers=dict(request.headers))
        content = await model.offload(large, _dumps, response)
        return Response(content=content, media_type="application/json")

    async def v2_infer(model_name: str, request: Request) -> Response:
        model = _model(dataplane, model_name)
        body = await request.body()
        headers = dict(request.headers)
        large = len(body) > model.limits.inline_bytes
        if large and getattr(model, "batch_process", None):
            content = await model.batch_process.answer("v2", body, headers, model_name)
            return Response(content=content, media_type="application/json")
        pieces = model.limits.inline_bytes * 4
        payload = await model.offload(large, protocol.decode_v2, body, headers, model_name, pieces)
        response, _ = await model(payload, headers=headers)
        content = await model.offload(large, lambda r: _dumps(r.to_rest()[0]), response)
        return Response(content=content, media_type="application/json")

    async def v1_explain(model_name: str, request: Request) -> Response:
        model = _model(dataplane, model_name)
        payload = protocol.decode_v1(await request.body())  # rows are few: bounded by the model
        try:
            response = await model.explain(payload, headers=dict(request.headers))
        except ExplainUnavailable as exc:
            return JSONResponse(status_code=HTTPStatus.NOT_IMPLEMENTED, content={"error": str(exc)})
        return Response(content=_dumps(response), media_type="application/json")

    app.add_api_route(
        "/v1/models/{model_name}:predict", v1_predict, methods=["POST"], response_model=None
    )
    app.add_api_route(
        "/v1/models/{model_name}:explain", v1_explain, methods=["POST"], response_model=None
    )
    app.add_api_route(
        "/v2/models/{model_name}/infer", v2_infer, methods=["POST"], response_model=None
    )


async def server_fault_handler(request: Request, exc: Exception) -> JSONResponse:
    """An exception nobody raised on purpose: a 500 that says so, the traceback in the log.

    (KServe's default answers ``"<Type> : <text>"``, which tells a client nothing it can act
    on and may leak internals.)
    """
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        status_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        content={
            "error": f"internal error of the model server ({type(exc).__name__}) while "
            f"answering {request.method} {request.url.path}: a server fault, not the "
            "request's; the server log has the traceback: report it with that log"
        },
    )
