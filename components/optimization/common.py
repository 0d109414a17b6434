"""Measurements and checks shared by prune_model, quantize_model and export_onnx.

Parameter checks, model and split loading, sizes (raw and gzipped), batch-1 latency,
predicted labels and the accuracy gate live here so the three cores compare their models
the same way; the TFLite conversion is in :mod:`kfp_mlops.components.optimization.tflite`.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ComponentError, ParameterError
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.metrics import latency_percentiles

# Re-exported while other areas' tests and benchmarks still import it from here; new code
# imports it from kfp_mlops.components.optimization.tflite.
from kfp_mlops.components.optimization.tflite import tflite_convert  # noqa: F401

log = logging.getLogger(__name__)

GATE_MODES = ("fail", "mark")


class OptimizationGateError(ComponentError):
    """An optimized model misses its bar: accuracy drop, sparsity or output parity."""


@dataclass
class OptimizationResult:
    """What a core hands its KFP wrapper.

    Attributes:
        metrics: Scalar metrics to log (sizes in bytes, accuracy, pp, ms, ratios).
        blessed: False when the accuracy gate failed in ``gate_mode="mark"``.
        metadata: Extra facts for the output Model artifact's metadata.
    """

    metrics: dict[str, float]
    blessed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateResult:
    """Outcome of :func:`accuracy_gate`."""

    blessed: bool
    accuracy_change_pp: float
    metadata: dict[str, Any]


# ------------------------------------------------------------------------------ parameters


def validate_gate(max_accuracy_drop: float, gate_mode: str) -> None:
    """Reject a negative allowed drop or an unknown gate mode."""
    if gate_mode not in GATE_MODES:
        raise ParameterError(
            f"gate_mode '{gate_mode}' is not supported", f"use one of {GATE_MODES}"
        )
    if max_accuracy_drop < 0:
        raise ParameterError(
            f"max_accuracy_drop {max_accuracy_drop} is negative",
            "give the largest accuracy loss you accept in percentage points, e.g. 0.5",
        )


def validate_positive(**values: int) -> None:
    """Raise naming the first parameter that is below 1."""
    for name, value in values.items():
        if int(value) < 1:
            raise ParameterError(f"{name} is {value}", f"set {name} to 1 or more")


# ------------------------------------------------------------------------------ inputs


def load_model(model_path: str) -> Any:
    """Load a Model artifact's Keras model, or say why the path is not one."""
    from kfp_mlops.components.common.artifacts import keras_file, load_keras

    file = keras_file(model_path)
    if file.suffix == ".h5":
        import h5py

        # Checked before TensorFlow is imported: a wrong file fails in a second, clearly.
        if not h5py.is_hdf5(str(file)):
            raise ParameterError(
                f"'{file}' is not a Keras model: it is not an HDF5 file",
                "pass the model output of train_model or prune_model (a directory with a "
                "model.h5 saved by Keras)",
            )
    model = load_keras(model_path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ParameterError(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs",
            "the optimization components handle single-input, single-output classifiers "
            "such as train_model's",
        )
    return model


def load_split(path: str, split: str, model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a processed split, checked against the model's input width."""
    from kfp_mlops.components.common.artifacts import load_xy

    x, y, _ = load_xy(path)
    width = int(model.inputs[0].shape[-1])
    if x.shape[1] != width:
        raise ParameterError(
            f"the {split} split has {x.shape[1]} feature columns but the model's input "
            f"'{model.inputs[0].name}' expects {width}",
            "pass the splits the model was trained on (same split_and_preprocess output)",
        )
    return x, y


def dense_sparsity(model: Any) -> tuple[float, dict[str, float]]:
    """Share of exactly-zero weights over all Dense kernels, and per Dense layer."""
    tf = _tf()
    zeros = total = 0
    per_layer: dict[str, float] = {}
    for layer in _flat_layers(model):
        if isinstance(layer, tf.keras.layers.Dense):
            kernel = np.asarray(layer.kernel.numpy())
            layer_zeros = int(np.count_nonzero(kernel == 0))
            per_layer[layer.name] = layer_zeros / kernel.size
            zeros += layer_zeros
            total += kernel.size
    return (zeros / total if total else 0.0), per_layer


def _flat_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        if hasattr(layer, "layers") and layer is not model:
            yield from _flat_layers(layer)
        else:
            yield layer


def _tf() -> Any:
    from kfp_mlops.components.common.tf import import_tf

    return import_tf()


# ------------------------------------------------------------------------------ sizes & time


def size_bytes(path: str | Path) -> int:
    """Size of a file in bytes."""
    return Path(path).stat().st_size


def gzipped_size(data: bytes | str | Path) -> int:
    """Bytes after gzip -9 of a file or a byte string (what a registry or CDN would store)."""
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    return len(gzip.compress(raw, compresslevel=9, mtime=0))


def p50_latency_ms(run: Callable[[], Any], runs: int = 200, warmup: int = 20) -> float:
    """Median wall time of ``run()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return latency_percentiles(times, to_ms=1e-6)["p50"]


# ------------------------------------------------------------------------------ predictions


def predicted_labels(outputs: np.ndarray) -> np.ndarray:
    """Class labels from model outputs: one sigmoid column is thresholded at 0.5."""
    outputs = np.asarray(outputs, dtype="float64")
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        return (outputs.reshape(-1) > 0.5).astype("int64")
    return outputs.argmax(axis=-1).astype("int64")


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose predicted label equals ``labels``."""
    return float(np.mean(predicted_labels(outputs) == np.asarray(labels)))


def keras_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """Keras model outputs (inference mode) as float32."""
    return np.asarray(model.predict(x, batch_size=1024, verbose=0), dtype="float32")


def keras_latency_ms(model: Any, row: np.ndarray, runs: int = 200) -> float:
    """Batch-1 p50 latency of ``model.predict_on_batch`` (no tf.data overhead of predict)."""
    return p50_latency_ms(lambda: model.predict_on_batch(row), runs=runs)


def tflite_latency_ms(runtime: TFLiteModel, row: np.ndarray, runs: int = 200) -> float:
    """Batch-1 p50 latency of the interpreter alone (:meth:`TFLiteModel.runner`)."""
    return p50_latency_ms(runtime.runner(row), runs=runs)


# ------------------------------------------------------------------------------ the gate


def accuracy_gate(
    baseline: float, optimized: float, max_drop_pp: float, gate_mode: str, what: str
) -> GateResult:
    """Compare accuracies (fractions); raise or mark when the drop exceeds ``max_drop_pp``.

    Raises:
        OptimizationGateError: With ``gate_mode="fail"``, when the accuracy dropped by more
            than ``max_drop_pp`` percentage points.
    """
    change = (optimized - baseline) * 100.0
    passed = -change <= max_drop_pp + 1e-9
    metadata: dict[str, Any] = {
        "blessed": passed,
        "gate": f"accuracy drop <= {max_drop_pp} pp",
        "accuracy_change_pp": round(change, 4),
    }
    if passed:
        log.info("%s: accuracy %+.2f pp, gate passed", what, change)
        return GateResult(True, change, metadata)
    reason = (
        f"{what} lost {-change:.2f} pp of test accuracy ({baseline:.4f} -> {optimized:.4f}), "
        f"more than max_accuracy_drop={max_drop_pp} pp"
    )
    fix = "fine-tune longer, lower the sparsity, use a gentler mode (dynamic_range/float16), "
    fix += "or raise max_accuracy_drop"
    if gate_mode == "fail":
        raise OptimizationGateError(reason, fix)
    log.warning("%s; not blessed (gate_mode='mark')", reason)
    metadata["gate_reason"] = reason
    return GateResult(False, change, metadata)
