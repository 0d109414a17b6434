"""KServe's ModelServer, bound to a chosen address, with our endpoints, limits and metrics."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.model_server import ModelServer
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.rest.server import RESTServer

from kfp_mlops.components.common.model_dir import PREPROCESSOR_FILE, version_of
from kfp_mlops.components.serving.endpoints import (
    register_inference_endpoints,
    server_fault_handler,
)
from kfp_mlops.components.serving.limits import (
    BodyLimitMiddleware,
    Limits,
    RequestTooLarge,
    request_too_large_handler,
)
from kfp_mlops.components.serving.metrics import UNKNOWN_VERSION, MetricsMiddleware, register_served

log = logging.getLogger(__name__)
#: Environment variable naming the served version (the deployer's version label).
VERSION_ENV = "KFP_MLOPS_MODEL_VERSION"


class _ReadinessDataPlane(DataPlane):
    """``/v2/health/ready`` answers 503 until every registered model is ready."""

    async def ready(self) -> bool:
        models = list(self.model_registry.get_models().values())
        return bool(models) and all([await m.healthy() for m in models])


class _RESTServer(RESTServer):
    """KServe's REST server with our inference endpoints first and our error handlers."""

    def _register_endpoints(self, app: Any) -> None:
        register_inference_endpoints(app, self.dataplane)  # first: they match first
        super()._register_endpoints(app)

    def _add_exception_handlers(self, app: Any) -> None:
        super()._add_exception_handlers(app)
        app.add_exception_handler(RequestTooLarge, request_too_large_handler)
        app.add_exception_handler(Exception, server_fault_handler)


class ClassifierServer(ModelServer):
    """KServe's ModelServer: one process, REST only, on ``host`` (KServe binds 0.0.0.0).

    Args:
        http_port: The port.
        host: The address to listen on: ``127.0.0.1`` keeps a laptop's model off the network;
            a pod passes ``0.0.0.0`` so the kubelet's probes and the traffic reach it.
        limits: Request limits (bytes are enforced by middleware, rows by the model).
        grace_period: Seconds to finish requests in flight on SIGTERM.
        model_version: The ``version`` label of the served model's metrics; ``None``: the
            ``KFP_MLOPS_MODEL_VERSION`` variable, else :func:`served_version_of`.
    """

    def __init__(
        self,
        http_port: int,
        host: str = "127.0.0.1",
        limits: Limits | None = None,
        grace_period: int = 10,
        model_version: str | None = None,
    ) -> None:
        super().__init__(
            http_port=http_port,
            enable_grpc=False,
            workers=1,
            grace_period=grace_period,
            enable_latency_logging=False,
        )
        self.host = host
        self.limits = limits or Limits()
        self.dataplane = _ReadinessDataPlane(model_registry=self.registered_models)
        self.model_version = model_version

    def register_model(self, model: Any, name: str | None = None) -> None:
        """Register ``model`` and label its metrics with its name and version."""
        super().register_model(model, name)
        version = self.model_version or os.environ.get(VERSION_ENV) or served_version_of(model)
        register_served(name or model.name, version)
        log.info("model %s: metrics labelled version=%s", name or model.name, version)

    def install_middleware(self, app: Any) -> None:
        """Count and time every request (413s too), and cap the inference bodies' size."""
        app.add_middleware(BodyLimitMiddleware, limits=self.limits)
        app.add_middleware(MetricsMiddleware)  # added last: outermost

    def start(self, models: list[Any]) -> None:
        """Serve until SIGTERM/SIGINT: KServe's single-process start, on :attr:`host`."""
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = _RESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=1,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
        )
        self._rest_server.config.host = self.host
        self.servers.append(self._rest_server.start())
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


def served_version_of(model: Any) -> str:
    """The deploy's content version of a model whose preprocessor sits beside it.

    That is the layout of a registered model and of a pod's ``/mnt/models``; otherwise the
    version is ``unknown`` (the deployer passes it in ``KFP_MLOPS_MODEL_VERSION``).
    """
    model_dir = getattr(model, "model_dir", None)
    if model_dir is None or not Path(model_dir).is_dir():
        return UNKNOWN_VERSION
    preprocessor = Path(model_dir) / PREPROCESSOR_FILE
    if not preprocessor.is_file():
        return UNKNOWN_VERSION
    try:
        return version_of(model_dir, preprocessor, getattr(model, "backend_name", "auto"))
    except (OSError, ValueError):  # an unservable directory: loading will say why
        return UNKNOWN_VERSION
