"""KServe model server for the library's classifiers (the serving image's entry point).

Run::

    python -m kfp_mlops.components.deployment.serve --model-dir DIR --preprocessor PATH \
        --model-name NAME --http-port 8080 [--backend auto|keras|tflite] [--tf-threads 1]

It serves raw rows: the JSON preprocessor of ``split_and_preprocess`` turns them into the
model's feature vector, so clients send the same columns as the training data.

- V1: ``POST /v1/models/<name>:predict`` with ``{"instances": [{"feature": value, ...}]}``
  (or rows as lists in the order of the metadata's inputs); answers ``predictions`` (class
  names) and ``probabilities``. Readiness: ``GET /v1/models/<name>``.
- V2: ``POST /v2/models/<name>/infer`` with one input per raw feature column (shape ``[n]``)
  or one ``[n, columns]`` FP32 input; readiness ``GET /v2/health/ready`` (503 until the model
  is loaded), metadata ``GET /v2/models/<name>``.
- ``GET /metrics``: KServe's histograms plus ours: requests by endpoint and status, request
  latency, predictions by class.

Errors: a malformed request or missing feature -> 400 naming it; model not loaded -> 503;
a model whose output is the wrong shape or not finite -> 500 with the reason.

The model loads in a background thread after the HTTP server starts, so liveness answers at
once and readiness only when the model is really usable; a model that fails to load keeps
the server unready (and says why in the log) instead of crash-looping.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.errors import InferenceError, InvalidInput, ModelNotReady
from kserve.protocol.dataplane import DataPlane
from prometheus_client import Counter, Gauge, Histogram

from kfp_mlops.components.common import inference
from kfp_mlops.components.deployment.bundle import (
    BACKENDS,
    check_model_file,
    check_preprocessor,
    resolve_backend,
)

log = logging.getLogger(__name__)

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


class FeatureEncoder:
    """The preprocessor's transform on plain lists and arrays, without pandas.

    :meth:`Preprocessor.transform_features` builds DataFrames, which cost tens of ms per request
    column-wise; this does the same arithmetic with numpy (a test checks they agree).
    """

    def __init__(self, preprocessor: Any) -> None:
        self.numeric = list(preprocessor.numeric_columns)
        self.categorical = list(preprocessor.categorical_columns)
        self.columns = self.numeric + self.categorical
        self.n_numeric = len(self.numeric)
        self.mean = np.asarray(preprocessor.mean, dtype=np.float64)
        self.scale = np.asarray(preprocessor.scale, dtype=np.float64)
        self.index = [{str(v): i for i, v in enumerate(c)} for c in preprocessor.categories]
        self.width = preprocessor.num_features

    def encode(self, numeric: Any, categorical: list[list[Any]]) -> np.ndarray:
        """Raw numeric values (n, numeric) and categorical values (n, categorical) -> features.

        Raises:
            InvalidInput: Naming the column of a non-numeric, null or infinite value.
        """
        n = len(categorical) if len(categorical) else len(numeric)
        try:
            values = np.asarray(numeric, dtype=np.float64).reshape(n, self.n_numeric)
        except (ValueError, TypeError):
            values = None
        if values is None or not np.isfinite(values).all():
            raise InvalidInput(self._bad_value(numeric))
        parts = [(values - self.mean) / self.scale]
        for j, index in enumerate(self.index):
            onehot = np.zeros((n, len(index)))
            for i, row in enumerate(categorical):
                code = index.get(str(row[j]), -1)  # unknown category -> all zeros
                if code >= 0:
                    onehot[i, code] = 1.0
            parts.append(onehot)
        return np.hstack(parts).astype(np.float32)

    def _bad_value(self, numeric: Any) -> str:
        for i, row in enumerate(numeric):
            for name, value in zip(self.numeric, row, strict=False):
                try:
                    ok = value is not None and np.isfinite(float(value))
                except (ValueError, TypeError):
                    ok = False
                if not ok:
                    return f"feature '{name}' of row {i} must be a finite number, got {value!r}"
        return "the numeric features could not be read as numbers"


@dataclass
class Batch:
    """What flows through preprocess -> predict -> postprocess for one request."""

    features: np.ndarray
    v2: bool
    request_id: str | None = None
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))


class ClassifierModel(Model):
    """Serves a classifier on raw rows (template method: load, preprocess, predict, postprocess).

    Args:
        name: Model name in the URLs.
        model_dir: Model artifact directory (model.h5 and/or model.tflite) or a model file.
        preprocessor: Path of the preprocessor JSON.
        backend: ``auto`` (tflite when present, else keras), ``keras`` or ``tflite``.
        tf_threads: TensorFlow threads for the Keras backend; ``None`` keeps TensorFlow's
            default.
    """

    def __init__(
        self,
        name: str,
        model_dir: str,
        preprocessor: str,
        backend: str = "auto",
        tf_threads: int | None = None,
    ):
        super().__init__(name)
        from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor

        check_preprocessor(preprocessor)  # fail fast: the server is useless without it
        self.preprocessor = Preprocessor.load(preprocessor)
        self.encoder = FeatureEncoder(self.preprocessor)
        self.columns = self.encoder.columns
        self.model_dir = model_dir
        self.backend_name = backend
        self.tf_threads = tf_threads
        self.backend: inference.Model | None = None
        self.load_error = ""
        self._load_lock = threading.Lock()
        self._load_started = False
        READY.labels(name).set(0)

    # -- load ---------------------------------------------------------------------------
    def load(self) -> bool:
        """Load the model file and check it fits the preprocessor; sets ``ready``.

        Called once (in a background thread by :func:`main`); a later call while loading or
        after a failure answers 503 instead of loading again.

        Raises:
            ModelNotReady: If loading is under way or failed.
        """
        with self._load_lock:
            if self.ready:
                return True
            if self._load_started:
                raise ModelNotReady(self.name, self.load_error or "The model is still loading.")
            self._load_started = True
        start = time.perf_counter()
        try:
            kind, path = resolve_backend(self.model_dir, self.backend_name)
            check_model_file(kind, path)
            backend = inference.load_model(kind, str(path), self.tf_threads)
            self._check_shapes(backend)
        except Exception as exc:
            self.load_error = f"loading '{self.model_dir}' failed: {exc}"
            log.error("model %s NOT ready: %s", self.name, self.load_error)
            raise ModelNotReady(self.name, self.load_error) from exc
        self.backend = backend
        self.ready = True
        READY.labels(self.name).set(1)
        log.info(
            "model %s ready: %s backend, %s, %d features -> %d classes (%.1f s)",
            self.name,
            kind,
            path,
            backend.input_width,
            self.preprocessor.num_classes,
            time.perf_counter() - start,
        )
        return True

    def start(self) -> None:
        """KServe's default marks the model ready here; readiness comes from :meth:`load`."""

    def _check_shapes(self, backend: inference.Model) -> None:
        if backend.input_width != self.preprocessor.num_features:
            raise ValueError(
                f"the model takes {backend.input_width} features but the preprocessor makes "
                f"{self.preprocessor.num_features}: they come from different pipeline runs"
            )
        k = self.preprocessor.num_classes
        allowed = (1, 2) if k == 2 else (k,)
        if backend.output_width not in allowed:
            raise ValueError(
                f"the model outputs {backend.output_width} values per row but the preprocessor "
                f"has {k} classes (expected {' or '.join(map(str, allowed))})"
            )

    # -- metadata -----------------------------------------------------------------------
    def get_input_types(self) -> list[dict[str, Any]]:
        """One V2 input per raw feature column (FP32 numeric, BYTES categorical)."""
        numeric = set(self.preprocessor.numeric_columns)
        return [
            {"name": c, "datatype": "FP32" if c in numeric else "BYTES", "shape": [-1]}
            for c in self.columns
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        """Class names and class probabilities."""
        return [
            {"name": "predictions", "datatype": "BYTES", "shape": [-1]},
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": [-1, self.preprocessor.num_classes],
            },
        ]

    # -- preprocess ---------------------------------------------------------------------
    def preprocess(self, payload: dict | InferRequest, headers: dict | None = None) -> Batch:
        """Raw rows (V1 dict or V2 InferRequest) -> float32 feature matrix.

        Raises:
            InvalidInput: On a malformed body, a missing feature or a non-numeric value.
        """
        if isinstance(payload, InferRequest):
            numeric, categorical = self._columns_from_v2(payload)
            return Batch(self.encoder.encode(numeric, categorical), True, payload.id)
        numeric, categorical = self._columns_from_v1(payload)
        return Batch(self.encoder.encode(numeric, categorical), False)

    def _columns_from_v1(self, payload: Any) -> tuple[list[list[Any]], list[list[Any]]]:
        if not isinstance(payload, dict) or "instances" not in payload:
            raise InvalidInput(
                'the body must be {"instances": [...]}: a list of rows, each a '
                f"{{feature: value}} object or a list of {len(self.columns)} values"
            )
        rows = payload["instances"]
        if not isinstance(rows, list) or not rows:
            raise InvalidInput('"instances" must be a non-empty list of rows')
        records = []
        for i, row in enumerate(rows):
            if isinstance(row, dict):
                try:
                    records.append([row[c] for c in self.columns])
                except KeyError:
                    missing = [c for c in self.columns if c not in row]
                    raise InvalidInput(
                        f"instance {i} is missing feature(s) {missing[:5]}"
                        + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                    ) from None
            elif isinstance(row, list):
                if len(row) != len(self.columns):
                    raise InvalidInput(
                        f"instance {i} has {len(row)} values but the model takes "
                        f"{len(self.columns)} features (in the order of GET /v2/models/{self.name})"
                    )
                records.append(row)
            else:
                raise InvalidInput(
                    f"instance {i} is a {type(row).__name__}: send an object or list"
                )
        k = self.encoder.n_numeric
        return [r[:k] for r in records], [r[k:] for r in records]

    def _columns_from_v2(self, request: InferRequest) -> tuple[Any, list[list[Any]]]:
        inputs = {i.name: i for i in request.inputs}
        k = self.encoder.n_numeric
        if len(inputs) == 1 and len(next(iter(inputs.values())).shape) == 2:
            # One [n, columns] tensor of raw values, columns in metadata order.
            (tensor,) = inputs.values()
            array = tensor.as_numpy()
            if array.shape[1] != len(self.columns):
                raise InvalidInput(
                    f"input '{tensor.name}' has {array.shape[1]} columns but the model takes "
                    f"{len(self.columns)} features"
                )
            return array[:, :k], array[:, k:].tolist()
        missing = [c for c in self.columns if c not in inputs]
        if missing:
            raise InvalidInput(
                f"inputs {missing[:5]} are missing"
                + (f" ({len(missing)} in all)" if len(missing) > 5 else "")
                + f": send one input per feature, as listed by GET /v2/models/{self.name}"
            )
        columns = [inputs[c].as_numpy().reshape(-1) for c in self.columns]
        lengths = {len(v) for v in columns}
        if len(lengths) != 1:
            raise InvalidInput(f"inputs have different lengths {sorted(lengths)}")
        n = lengths.pop()
        numeric = np.stack(columns[:k], axis=1) if k else np.zeros((n, 0))
        categorical = (
            [
                [v.decode() if isinstance(v, bytes) else v for v in row]
                for row in zip(*columns[k:], strict=True)
            ]
            if len(columns) > k
            else [[] for _ in range(n)]
        )
        return numeric, categorical

    # -- predict ------------------------------------------------------------------------
    def predict(self, payload: Batch, headers: dict | None = None) -> Batch:
        """Run the backend and turn its output into (n, classes) probabilities.

        Raises:
            ModelNotReady: If the model is not loaded.
            InferenceError: If the output has the wrong shape or is not finite.
        """
        if self.backend is None:
            raise ModelNotReady(self.name, self.load_error)
        out = np.asarray(self.backend(payload.features), dtype=np.float64)
        n, k = payload.features.shape[0], self.preprocessor.num_classes
        if out.ndim != 2 or out.shape[0] != n:
            raise InferenceError(f"the model returned shape {out.shape} for {n} rows")
        if out.shape[1] == 1 and k == 2:
            out = np.hstack([1.0 - out, out])
        if out.shape != (n, k):
            raise InferenceError(f"the model returned shape {out.shape}, expected ({n}, {k})")
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            raise InferenceError(
                f"the model produced non-finite probabilities for {int(bad.sum())} of {n} rows"
            )
        payload.probabilities = out.astype(np.float32)
        return payload

    # -- postprocess --------------------------------------------------------------------
    def postprocess(
        self, result: Batch, headers: dict | None = None, response_headers: dict | None = None
    ) -> dict | InferResponse:
        """Probabilities -> class names, in the request's protocol; counts predicted classes."""
        labels = self.preprocessor.decode_labels(result.probabilities.argmax(axis=1))
        for label, count in zip(*np.unique(labels, return_counts=True), strict=True):
            PREDICTIONS.labels(self.name, str(label)).inc(int(count))
        if not result.v2:
            return {"predictions": labels, "probabilities": result.probabilities.tolist()}
        n, k = result.probabilities.shape
        return InferResponse(
            response_id=result.request_id or "",
            model_name=self.name,
            infer_outputs=[
                InferOutput("predictions", [n], "BYTES", labels),
                InferOutput("probabilities", [n, k], "FP32", result.probabilities.tolist()),
            ],
        )


class _ReadinessDataPlane(DataPlane):
    """``/v2/health/ready`` answers 503 until every registered model is ready."""

    async def ready(self) -> bool:
        models = list(self.model_registry.get_models().values())
        return bool(models) and all([await m.healthy() for m in models])


class ClassifierServer(ModelServer):
    """KServe's ModelServer with model-aware server readiness and our request metrics."""

    def __init__(self, http_port: int, grace_period: int = 10) -> None:
        super().__init__(
            http_port=http_port,
            enable_grpc=False,
            workers=1,
            grace_period=grace_period,
            enable_latency_logging=False,
        )
        self.dataplane = _ReadinessDataPlane(model_registry=self.registered_models)


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


def install_metrics_middleware(app: Any) -> None:
    """Count and time every request (all statuses, 4xx/5xx too)."""
    app.add_middleware(MetricsMiddleware)


def _load_in_background(model: ClassifierModel) -> None:
    try:
        model.load()
    except ModelNotReady:
        pass  # already logged with the reason; readiness stays 503


def build_parser() -> argparse.ArgumentParser:
    """The command line (kebab-case, so KServe's own snake_case flags never collide)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-dir", required=True, help="model artifact directory or file")
    parser.add_argument("--preprocessor", required=True, help="preprocessor JSON path")
    parser.add_argument("--model-name", default="model", help="name in the URLs")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument(
        "--tf-threads",
        type=int,
        default=1,
        help="TensorFlow threads for the Keras backend (1 suits one-row online requests; "
        "0 = one per core, for large batch requests)",
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the server; blocks until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from kserve import model_server

    try:
        if args.tf_threads < 0:
            raise ValueError(f"--tf-threads must be >= 0, got {args.tf_threads}")
        model = ClassifierModel(
            args.model_name,
            args.model_dir,
            args.preprocessor,
            args.backend,
            tf_threads=args.tf_threads or None,
        )
    except Exception as exc:  # bad flag or preprocessor: nothing to serve, say why and exit
        log.error("cannot start: %s", exc)
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    server = ClassifierServer(http_port=args.http_port)
    # KServe logs two timing lines per request; the Prometheus histograms carry the same.
    logging.getLogger("kserve.trace").setLevel(logging.WARNING)
    if args.no_access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    server.register_model(model)
    install_metrics_middleware(model_server.app)
    threading.Thread(target=_load_in_background, args=(model,), daemon=True).start()
    # No model is passed to start(): it would mark it ready before it is loaded.
    server.start([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
