"""Export a Keras model to ONNX with tf2onnx and prove onnxruntime reproduces it.

``tf2onnx.convert.from_keras`` works with tf-keras on TensorFlow 2.21; if it fails for a
model, the export falls back to tracing ``model(x, training=False)`` as a ``tf.function``
(``tf2onnx.convert.from_function``). onnxruntime then runs the test split and every output
must match the Keras model's within ``atol``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.model_dir import ONNX_FILE
from kfp_mlops.components.optimization.batches import open_split
from kfp_mlops.components.optimization.common import (
    OptimizationGateError,
    OptimizationResult,
    accuracy,
    accuracy_gate,
    gzipped_size,
    keras_latency_ms,
    keras_outputs,
    kernel_sparsity,
    load_model,
    p50_latency_ms,
    validate_gate,
    validate_positive,
)

log = logging.getLogger(__name__)

#: ONNX opsets tf2onnx 1.17 can target.
MIN_OPSET, MAX_OPSET = 13, 18


def to_onnx(model: Any, path: str, opset: int = 17) -> str:
    """Write ``model`` as ONNX to ``path``; return the converter used.

    Raises:
        ParameterError: If neither tf2onnx path can convert the model.
    """
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    import tf2onnx

    tensor = model.inputs[0]
    spec = (tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name="features"),)
    try:
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=path)
        return "from_keras"
    except Exception as exc:  # tf2onnx raises plain Exceptions of many kinds
        log.warning("tf2onnx.convert.from_keras failed (%s); tracing a tf.function", exc)
    function = tf.function(lambda x: model(x, training=False), input_signature=spec)
    try:
        tf2onnx.convert.from_function(function, input_signature=spec, opset=opset, output_path=path)
    except Exception as exc:
        raise ParameterError(
            f"tf2onnx cannot convert the model at opset {opset}: {exc}",
            f"try another opset ({MIN_OPSET}-{MAX_OPSET}); an op tf2onnx does not support "
            "(named above) must be replaced in the model",
        ) from exc
    return "from_function"


def check_parity(got: np.ndarray, expected: np.ndarray, atol: float) -> float:
    """Largest absolute difference of ONNX and Keras outputs; raise above ``atol``."""
    if got.shape != expected.shape:
        raise OptimizationGateError(
            f"onnxruntime returned shape {got.shape} where Keras returns {expected.shape}",
            f"try another opset ({MIN_OPSET}-{MAX_OPSET})",
        )
    max_abs_diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    if max_abs_diff > atol:
        worst = np.unravel_index(int(np.argmax(np.abs(got - expected))), got.shape)
        raise OptimizationGateError(
            f"onnxruntime outputs differ from Keras by up to {max_abs_diff:.3g} (row "
            f"{int(worst[0])}), more than atol={atol}",
            f"try another opset ({MIN_OPSET}-{MAX_OPSET}), or raise atol if the difference "
            "is float rounding you accept",
        )
    return max_abs_diff


class OnnxModel:
    """An onnxruntime CPU session with a float32 ``predict`` and batch-1 latency."""

    def __init__(self, path: str, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 outputs for float32 features."""
        return np.asarray(
            self.session.run(None, {self.input_name: np.asarray(x, dtype="float32")})[0],
            dtype="float32",
        )

    def latency_ms(self, row: np.ndarray, runs: int = 200) -> float:
        """Batch-1 p50 latency of ``session.run``."""
        feed = {self.input_name: np.asarray(row[:1], dtype="float32")}
        return p50_latency_ms(lambda: self.session.run(None, feed), runs=runs)


def export(
    model_path: str,
    test_path: str,
    output_dir: str,
    opset: int = 17,
    atol: float = 1e-4,
    max_accuracy_drop: float = 0.5,
    gate_mode: str = "fail",
    latency_runs: int = 200,
) -> OptimizationResult:
    """Convert to ONNX, check parity on the test split and write ``model.onnx``.

    Args:
        model_path: Model artifact (directory with model.h5, or the file).
        test_path: Test split run through both Keras and onnxruntime.
        output_dir: Directory that receives model.onnx.
        opset: ONNX opset, 13-18.
        atol: Largest accepted absolute difference between Keras and ONNX outputs.
        max_accuracy_drop: Largest accepted test-accuracy loss, percentage points.
        gate_mode: ``fail`` raises when the accuracy gate fails; ``mark`` returns
            blessed=False. Output parity beyond ``atol`` always raises: the export is wrong.
        latency_runs: Timed batch-1 inferences per latency measurement.

    Returns:
        Metrics, blessed flag and metadata.

    Raises:
        ParameterError: On bad parameters, a path that is not a Keras model or a model
            tf2onnx cannot convert.
        OptimizationGateError: When outputs differ by more than ``atol``, or
            (``gate_mode="fail"``) when accuracy drops too much.
    """
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ParameterError(
            f"opset {opset} is outside {MIN_OPSET}-{MAX_OPSET}",
            "use e.g. opset=17 (onnxruntime 1.32 runs all of them)",
        )
    if not atol > 0:
        raise ParameterError(f"atol {atol} is not positive", "use e.g. atol=1e-4")
    validate_positive(latency_runs=latency_runs)
    validate_gate(max_accuracy_drop, gate_mode)

    model = load_model(model_path)
    # The test split is read in batches (bounded memory); only outputs and labels stay.
    test = open_split(test_path, "test", model)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / ONNX_FILE
    converter = to_onnx(model, str(onnx_path), opset)

    runtime = OnnxModel(str(onnx_path))
    outputs, y_test = test.outputs(
        {"keras": lambda x: keras_outputs(model, x), "onnx": runtime.predict}
    )
    expected, got = outputs["keras"], outputs["onnx"]
    max_abs_diff = check_parity(got, expected, atol)
    log.info("ONNX parity: max |diff| %.3g <= atol %g", max_abs_diff, atol)

    row = test.head(1)
    latency = runtime.latency_ms(row, latency_runs)
    keras_latency = keras_latency_ms(model, row, latency_runs)
    baseline_accuracy, onnx_accuracy = accuracy(expected, y_test), accuracy(got, y_test)
    gate = accuracy_gate(
        baseline_accuracy, onnx_accuracy, max_accuracy_drop, gate_mode, "ONNX model"
    )
    metrics = {
        "size_bytes": onnx_path.stat().st_size,
        "gzipped_size_bytes": gzipped_size(onnx_path),
        "sparsity": kernel_sparsity(model)[0],
        "accuracy": onnx_accuracy,
        "baseline_accuracy": baseline_accuracy,
        "accuracy_change_pp": gate.accuracy_change_pp,
        "max_abs_diff": max_abs_diff,
        "latency_p50_ms": latency,
        "keras_latency_p50_ms": keras_latency,
        "latency_ratio": latency / keras_latency if keras_latency else 0.0,
    }
    metadata = {
        **gate.metadata,
        "format": "onnx",
        "files": [ONNX_FILE],
        "opset": opset,
        "converter": f"tf2onnx.convert.{converter}",
        "atol": atol,
        "latency_runtime": "onnxruntime CPU, batch 1, 1 thread (baseline: Keras predict_on_batch)",
    }
    return OptimizationResult(metrics=metrics, blessed=gate.blessed, metadata=metadata)
