"""How a model runs when it is served: one implementation for every place that runs one.

The model server (``components.serving``), ``evaluate_model``'s quality and latency numbers and
the optimization components' accuracy and latency checks all call these classes, so a
latency gate measures the code path users get, and a quantized model is (de)quantized the
same way everywhere.

Both take float32 features of shape ``(n, width)`` and return float32 raw outputs ``(n, k)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_KINDS = ("keras", "tflite")


class KerasModel:
    """A tf.keras model behind a traced concrete function, as a TensorFlow server runs it.

    The graph is ``model(x, training=False)`` with the signature ``[None, width]``. Calling the
    concrete function skips ``tf.function``'s per-call signature dispatch (about half of a
    ~0.5 ms call for the library's models); eager calls or ``predict()`` cost far more.

    Args:
        model: A loaded ``tf.keras`` model.
    """

    kind = "keras"

    def __init__(self, model: Any) -> None:
        from kfp_mlops.components.common.tf import import_tf

        tf = import_tf()
        self._tf = tf
        self.input_width = int(model.inputs[0].shape[-1])
        self.output_width = int(model.outputs[0].shape[-1])
        spec = tf.TensorSpec([None, self.input_width], tf.float32)
        traced = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        self._fn = traced.get_concrete_function()

    @classmethod
    def load(cls, path: str, threads: int | None = None) -> KerasModel:
        """Load an H5 file (uncompiled), optionally fixing TensorFlow's thread pools first.

        Args:
            path: The ``.h5`` file.
            threads: TensorFlow intra- and inter-op threads; ``None`` keeps TensorFlow's
                default (one per core). One thread is fastest for one-row online requests:
                idle pool threads otherwise spin on the cores the server's event loop needs.
                It takes effect only before TensorFlow runs its first op in the process.
        """
        from kfp_mlops.components.common.tf import import_tf

        tf = import_tf()
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError as exc:  # TensorFlow already ran an op in this process
                log.warning("keeping TensorFlow's thread settings: %s", exc)
        return cls(tf.keras.models.load_model(path, compile=False))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Raw outputs for ``features``."""
        x = self._tf.constant(np.asarray(features, dtype=np.float32))
        return self._fn(x).numpy()


class TFLiteModel:
    """A TFLite flatbuffer in LiteRT's interpreter (``ai_edge_litert``).

    Integer-quantized inputs are quantized with the input tensor's scale and zero point and
    integer outputs dequantized, so callers always pass and get float32. The input is resized
    to each batch's row count; a model whose input cannot be resized runs row by row.

    Args:
        model: The ``.tflite`` file's path, or its bytes.
        num_threads: Interpreter threads (1, as the server runs it, by default).

    Raises:
        ValueError: If the model does not have exactly one input and one output.
    """

    kind = "tflite"

    def __init__(self, model: str | Path | bytes, num_threads: int | None = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, bytes):
            self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
            self.source = f"<{len(model)} bytes of TFLite>"
        else:
            self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
            self.source = str(model)
        self.interpreter.allocate_tensors()
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"the TFLite model has {len(inputs)} inputs and {len(outputs)} outputs; "
                "serving needs exactly one of each (the serving signature)"
            )
        self.input, self.output = inputs[0], outputs[0]
        self.input_width = int(self.input["shape"][-1])
        self.output_width = int(self.output["shape"][-1])
        self._rows = int(self.input["shape"][0])
        self._resizable = True
        # The interpreter is not thread-safe; KServe calls predict from one event loop, but
        # the lock keeps it correct if that ever changes.
        self._lock = threading.Lock()

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float features -> the input tensor's dtype (scale/zero point for int8/uint8)."""
        dtype = self.input["dtype"]
        if not np.issubdtype(dtype, np.integer):
            return np.asarray(x, dtype=dtype)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(dtype)
        q = np.round(np.asarray(x, dtype=np.float32) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)

    def dequantize_output(self, out: np.ndarray) -> np.ndarray:
        """An output tensor as float32."""
        if not np.issubdtype(out.dtype, np.integer):
            return out.astype(np.float32)
        scale, zero_point = self.output["quantization"]
        return ((out.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def _ensure_rows(self, rows: int) -> bool:
        """Resize the input to ``rows``; False when the model cannot be resized."""
        if rows == self._rows:
            return True
        if not self._resizable:
            return False
        interp = self.interpreter
        try:
            interp.resize_tensor_input(self.input["index"], [rows, self.input_width])
            interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            log.warning("cannot resize %s to %d rows (%s): row by row", self.source, rows, exc)
            self._resizable = False
            interp.resize_tensor_input(self.input["index"], list(self.input["shape"]))
            interp.allocate_tensors()
            return rows == self._rows
        self.input = interp.get_input_details()[0]
        self.output = interp.get_output_details()[0]
        self._rows = rows
        return True

    def _invoke(self, features: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], self.quantize_input(features))
        self.interpreter.invoke()
        return self.dequantize_output(self.interpreter.get_tensor(self.output["index"]))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Raw outputs for ``features`` (one invoke, or one per row if not resizable)."""
        features = np.asarray(features, dtype=np.float32)
        with self._lock:
            if self._ensure_rows(len(features)):
                return self._invoke(features)
            return np.concatenate([self._invoke(features[i : i + 1]) for i in range(len(features))])

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Raw outputs for any number of rows, ``batch_size`` rows per invoke."""
        return np.concatenate([self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def runner(self, row: np.ndarray) -> Callable[[], None]:
        """A batch-1 inference on a pre-quantized row (set_tensor + invoke + get_tensor).

        ``row`` is one feature vector, or a batch whose first row is used.

        For timing the interpreter alone: no quantization, resizing or locking per call.
        """
        with self._lock:
            if not self._ensure_rows(1):
                raise ValueError(f"{self.source} cannot run a batch of one row")
        row = np.asarray(row, dtype=np.float32).reshape(-1, self.input_width)
        data = self.quantize_input(row[:1])
        interpreter = self.interpreter
        index_in, index_out = self.input["index"], self.output["index"]

        def run() -> None:
            interpreter.set_tensor(index_in, data)
            interpreter.invoke()
            interpreter.get_tensor(index_out)

        return run


Model = KerasModel | TFLiteModel


def load_model(kind: str, path: str, tf_threads: int | None = None) -> Model:
    """The model file at ``path`` as the server runs it.

    Args:
        kind: ``keras`` (an H5 file) or ``tflite``.
        path: The model file.
        tf_threads: TensorFlow threads for ``keras`` (see :meth:`KerasModel.load`).

    Raises:
        ValueError: If ``kind`` is neither.
    """
    if kind == "tflite":
        return TFLiteModel(path)
    if kind == "keras":
        return KerasModel.load(path, tf_threads)
    raise ValueError(f"unknown model kind '{kind}' (expected one of {', '.join(MODEL_KINDS)})")
