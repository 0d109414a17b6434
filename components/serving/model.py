"""The served classifier as a ``kserve.Model``: load, preprocess, predict, postprocess.

It serves raw rows: the JSON preprocessor of ``split_and_preprocess`` turns them into the
model's feature vector, so clients send the same columns as the training data; an image
model's clients send images (base64 PNG/JPEG or pixels 0-255, see :mod:`.images`).

Whose fault an error is decides its status: a request the server cannot use is an
``InvalidInput`` (400), a model that fails or answers nonsense an ``InferenceError`` (500),
a model not loaded (yet, or at all) ``ModelNotReady`` (503); each names the problem and the
fix. A batch over ``limits.inline_rows`` rows is encoded, run and decoded in one batch
thread, ``limits.chunk_rows`` rows per model call and on its own TFLite interpreter, so the
event loop keeps answering small requests meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kserve.errors import InferenceError, InvalidInput, ModelNotReady
from kserve.model import Model
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from kfp_mlops.components.common import inference
from kfp_mlops.components.common.model_dir import (
    check_model_file,
    check_preprocessor,
    resolve_backend,
)
from kfp_mlops.components.serving import explainer, protocol
from kfp_mlops.components.serving.features import FeatureEncoder
from kfp_mlops.components.serving.images import EXPLAIN_UNSUPPORTED, ImageEncoder
from kfp_mlops.components.serving.limits import Limits
from kfp_mlops.components.serving.metrics import PREDICTIONS, READY

log = logging.getLogger(__name__)
#: What to do about a model that fails to load (unless its error names its own fix).
LOAD_FIX = "fix or replace the model file (or its preprocessor) and restart the server"


@dataclass
class Batch:
    """What flows through preprocess -> predict -> postprocess for one request."""

    features: np.ndarray
    v2: bool
    request_id: str | None = None
    large: bool = False  # over limits.inline_rows: runs in the batch thread
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))


class ClassifierModel(Model):
    """Serves a classifier on raw rows (template method: load, preprocess, predict, postprocess).

    Args:
        name: Model name in the URLs.
        model_dir: Model artifact directory (model.h5 and/or model.tflite) or a model file.
        preprocessor: Path of the preprocessor JSON.
        backend: ``auto`` (tflite when present, else keras), ``keras`` or ``tflite``.
        tf_threads: TensorFlow threads for the Keras backend (``None``: TensorFlow's default).
        limits: Request limits and the large-batch thresholds.
        explain_rows: Most rows one ``:explain`` request may carry (more: 400).
    """

    def __init__(
        self,
        name: str,
        model_dir: str,
        preprocessor: str,
        backend: str = "auto",
        tf_threads: int | None = None,
        limits: Limits | None = None,
        explain_rows: int = explainer.MAX_EXPLAIN_ROWS,
    ):
        super().__init__(name)
        from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor

        check_preprocessor(preprocessor)  # fail fast: the server is useless without it
        self.preprocessor = Preprocessor.load(preprocessor)
        self.encoder = FeatureEncoder(self.preprocessor)
        self.columns = self.encoder.columns
        self.images = ImageEncoder.of(self.preprocessor, name)  # None: a tabular model
        self.model_dir = model_dir
        self.backend_name = backend
        self.tf_threads = tf_threads
        self.limits = limits or Limits()
        self.backend: inference.Model | None = None
        self.batch_backend: inference.Model | None = None
        self.load_error = ""
        self.explain_rows = explain_rows
        self.explainer: explainer.ServingExplainer | None = None
        self.explain_error = ""
        self._load_lock = threading.Lock()
        self._load_started = False
        # One thread for every large batch: they queue behind each other instead of taking
        # the cores the event loop needs.
        self._batch_thread = ThreadPoolExecutor(1, thread_name_prefix="large-batch")
        READY.labels(name).set(0)

    # -- load ---------------------------------------------------------------------------
    def load(self) -> bool:
        """Load the model file and check it fits the preprocessor; sets ``ready``.

        Called once (in a background thread by the entry point); a later call while loading
        or after a failure answers 503 instead of loading again.

        Raises:
            ModelNotReady: If loading is under way or failed.
        """
        with self._load_lock:
            if self.ready:
                return True
            if self._load_started:
                raise self.not_ready()
            self._load_started = True
        start = time.perf_counter()
        try:
            kind, path = resolve_backend(self.model_dir, self.backend_name)
            check_model_file(kind, path)
            backend = inference.load_model(kind, str(path), self.tf_threads)
            self._check_shapes(backend)
            # A TFLite interpreter runs one call at a time: large batches get their own, so a
            # one-row request never waits for a 10,000-row one. TensorFlow is thread-safe.
            batch = inference.load_model(kind, str(path)) if kind == "tflite" else backend
        except Exception as exc:  # a fault that knows its fix (e.g. no TensorFlow) says it
            problem, fix = getattr(exc, "problem", exc), getattr(exc, "fix", "") or LOAD_FIX
            self.load_error = f"loading '{self.model_dir}' failed: {problem}; {fix}"
            log.error("model %s NOT ready: %s", self.name, self.load_error)
            raise ModelNotReady(self.name, self.load_error) from exc
        self.backend, self.batch_backend = backend, batch
        self._build_explainer()
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

    def _build_explainer(self) -> None:
        """The ``:explain`` explainer, from the stored background sample.

        Without one, predict still serves and ``:explain`` answers 501 with the reason (an
        explainer that cannot be built must never take predict down with it).
        """
        if self.images is not None:
            self.explain_error = EXPLAIN_UNSUPPORTED
            return
        try:
            self.explainer = explainer.ServingExplainer.from_model_dir(
                self.model_dir, self.preprocessor, self.explained_outputs, self.explain_rows
            )
        except Exception as exc:
            self.explain_error = str(exc)
            log.warning("model %s cannot explain: %s", self.name, exc)

    def explained_outputs(self, features: np.ndarray) -> np.ndarray:
        """What ``:explain`` attributes: probabilities, or the target in its units."""
        out = self._probabilities(self._run_chunked(features), len(features))
        if self.regression:
            return self.preprocessor.task_spec.decode_target(out.astype(np.float64))
        return out

    def not_ready(self) -> ModelNotReady:
        """The 503 for a request that arrives before the model is usable."""
        return ModelNotReady(
            self.name,
            self.load_error
            or "The model is still loading; retry when GET /v2/health/ready answers 200.",
        )

    def start(self) -> None:
        """KServe's default marks the model ready here; readiness comes from :meth:`load`."""

    def stop(self) -> None:
        """Let a large batch in flight finish, then stop the batch thread."""
        self._batch_thread.shutdown(wait=False, cancel_futures=True)

    def _check_shapes(self, backend: inference.Model) -> None:
        if backend.input_width != self.preprocessor.num_features:
            raise ValueError(
                f"the model takes {backend.input_width} features but the preprocessor makes "
                f"{self.preprocessor.num_features}: they come from different pipeline runs"
            )
        k = self.preprocessor.num_classes
        allowed = (1,) if self.regression else (1, 2) if k == 2 else (k,)
        if backend.output_width not in allowed:
            what = "a regression target" if self.regression else f"{k} classes"
            raise ValueError(
                f"the model outputs {backend.output_width} values per row but the preprocessor "
                f"has {what} (expected {' or '.join(map(str, allowed))})"
            )

    @property
    def regression(self) -> bool:
        """Whether the task predicts a number (the preprocessor's task spec says so)."""
        return self.preprocessor.task_spec.task_type == "regression"

    async def offload(self, large: bool, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the event loop for a small request, in the batch thread if large."""
        if not large:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._batch_thread, fn, *args)

    # -- metadata -----------------------------------------------------------------------
    def get_input_types(self) -> list[dict[str, Any]]:
        """One V2 input per raw feature column (FP32 numeric, BYTES categorical), or the image."""
        if self.images is not None:
            return self.images.input_types()
        numeric = set(self.preprocessor.numeric_columns)
        return [
            {"name": c, "datatype": "FP32" if c in numeric else "BYTES", "shape": [-1]}
            for c in self.columns
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        """Class names and class probabilities (regression: the predicted numbers)."""
        if self.regression:
            return [{"name": "predictions", "datatype": "FP32", "shape": [-1]}]
        return [
            {"name": "predictions", "datatype": "BYTES", "shape": [-1]},
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": [-1, self.preprocessor.num_classes],
            },
        ]

    # -- preprocess ---------------------------------------------------------------------
    async def preprocess(self, payload: dict | InferRequest, headers: dict | None = None) -> Batch:
        """Raw rows (V1 dict or V2 InferRequest) -> float32 feature matrix.

        Raises:
            InvalidInput: On a malformed body, a missing feature or a non-numeric value.
            RequestTooLarge: Over ``limits.max_rows`` rows (413).
        """
        count = self.images.count_rows if self.images is not None else protocol.count_rows
        rows = count(payload)
        self.limits.check_rows(rows)
        large = rows > self.limits.inline_rows
        return await self.offload(large, self._encode, payload, large)

    def _encode(self, payload: dict | InferRequest, large: bool) -> Batch:
        if self.images is not None:
            v2 = isinstance(payload, InferRequest)
            return Batch(self.images.encode(payload), v2, payload.id if v2 else None, large=large)
        k = self.encoder.n_numeric
        if isinstance(payload, InferRequest):
            numeric, categorical = protocol.columns_from_v2(payload, self.columns, k, self.name)
            request_id, v2 = payload.id, True
        else:
            numeric, categorical = protocol.columns_from_v1(payload, self.columns, k, self.name)
            request_id, v2 = None, False
        if not large:
            return Batch(self.encoder.encode(numeric, categorical), v2, request_id)
        step = self.limits.chunk_rows
        try:  # in chunks: converting 10,000 rows at once holds the GIL for tens of ms
            parts = [
                self.encoder.encode(numeric[i : i + step], categorical[i : i + step])
                for i in range(0, len(categorical), step)
            ]
        except InvalidInput:
            self.encoder.encode(numeric, categorical)  # the message with the row's real number
            raise
        return Batch(np.concatenate(parts), v2, request_id, large=True)

    # -- predict ------------------------------------------------------------------------
    async def predict(self, payload: Batch, headers: dict | None = None) -> Batch:
        """Run the backend and turn its output into (n, classes) probabilities.

        Raises:
            ModelNotReady: If the model is not loaded.
            InferenceError: If the backend fails, or its output has the wrong shape or is not
                finite.
        """
        if self.backend is None or self.batch_backend is None:
            raise self.not_ready()
        if payload.large:
            out = await self.offload(True, self._run_chunked, payload.features)
        else:
            out = self._run(self.backend, payload.features)
        payload.probabilities = self._probabilities(out, len(payload.features))
        return payload

    def _run(self, backend: inference.Model, features: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(backend(features), dtype=np.float64)
        except Exception as exc:  # the model's own failure, never the request's
            raise InferenceError(
                f"the {backend.kind} model failed on a batch of {len(features)} rows "
                f"({type(exc).__name__}: {exc}); the model file does not run in this server's "
                "runtime: re-export it with the pipeline's optimization step and redeploy"
            ) from exc

    def _run_chunked(self, features: np.ndarray) -> np.ndarray:
        step, backend = self.limits.chunk_rows, self.batch_backend
        parts = [self._run(backend, features[i : i + step]) for i in range(0, len(features), step)]
        return np.concatenate(parts)

    def _probabilities(self, out: np.ndarray, n: int) -> np.ndarray:
        k = 1 if self.regression else self.preprocessor.num_classes
        fix = "the model does not match the preprocessor: redeploy the pair from one pipeline run"
        if out.ndim != 2 or out.shape[0] != n:
            raise InferenceError(f"the model returned shape {out.shape} for {n} rows; {fix}")
        if out.shape[1] == 1 and k == 2:
            out = np.hstack([1.0 - out, out])
        if out.shape != (n, k):
            raise InferenceError(
                f"the model returned shape {out.shape}, expected ({n}, {k}); {fix}"
            )
        bad = ~np.isfinite(out).all(axis=1)
        what = "values" if self.regression else "probabilities"
        if bad.any():
            raise InferenceError(
                f"the model produced non-finite {what} for {int(bad.sum())} of {n} rows; "
                "its weights or its quantization are broken (a diverged training run?): "
                "retrain or re-optimize it and redeploy"
            )
        return out.astype(np.float32)

    # -- explain ------------------------------------------------------------------------
    async def explain(self, payload: dict, headers: dict | None = None) -> dict:
        """KServe's V1 explain verb: per-row attributions of raw columns (Shapley values).

        Rows are encoded by the same path as predict; the attributions are computed in the
        batch thread and timed apart from predict (``kfp_mlops_explain_latency_seconds``).

        Raises:
            ModelNotReady: If the model is not loaded.
            ExplainUnavailable: If the model directory has no usable background sample (501).
            InvalidInput: On a malformed body or more than ``explain_rows`` rows.
        """
        if self.backend is None:
            raise self.not_ready()
        if self.explainer is None:
            raise explainer.ExplainUnavailable(self.explain_error)
        rows = protocol.count_rows(payload)
        if rows > self.explainer.max_rows:
            raise InvalidInput(
                f"':explain' takes at most {self.explainer.max_rows} rows per request (each "
                f"row costs thousands of model calls), got {rows}: split the rows over several "
                "requests, or use ':predict' for predictions alone"
            )
        features = self._encode(payload, large=False).features
        start = time.perf_counter()
        explained = await self.offload(True, self.explainer.explain, features)
        explainer.EXPLAIN_LATENCY.labels(self.name).observe(time.perf_counter() - start)
        return {
            "explanations": [e.to_json() for e in explained],
            "method": self.explainer.method,
            "background_rows": len(self.explainer.background),
        }

    # -- postprocess --------------------------------------------------------------------
    async def postprocess(
        self, result: Batch, headers: dict | None = None, response_headers: dict | None = None
    ) -> dict | InferResponse:
        """Probabilities -> class names, in the request's protocol; counts predicted classes."""
        return await self.offload(result.large, self._decode, result)

    def _decode(self, result: Batch) -> dict | InferResponse:
        if self.regression:
            return self._decode_numbers(result)
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

    def _decode_numbers(self, result: Batch) -> dict | InferResponse:
        """Regression: the model's outputs in the target's units (standardisation undone)."""
        values = self.preprocessor.decode_labels(result.probabilities[:, 0])
        if not result.v2:
            return {"predictions": values}
        return InferResponse(
            response_id=result.request_id or "",
            model_name=self.name,
            infer_outputs=[InferOutput("predictions", [len(values)], "FP32", values)],
        )
