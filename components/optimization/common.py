"""Measurements and checks shared by prune_model, quantize_model and export_onnx.

Parameter checks, model and split loading, sizes (raw and gzipped), batch-1 latency,
predicted labels, the accuracy gate and the pass-through of a model an optimization cannot
handle live here so the three cores compare their models the same way; the TFLite
conversion is in :mod:`kfp_mlops.components.optimization.tflite`, the regression measure
and gate in :mod:`kfp_mlops.components.optimization.quality`.
"""

from __future__ import annotations

import functools
import gzip
import inspect
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ComponentError, ParameterError
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.metrics import latency_percentiles
from kfp_mlops.components.common.model_dir import TFLITE_FILE

# Re-exported while other areas' tests and benchmarks still import it from here; new code
# imports it from kfp_mlops.components.optimization.tflite.
from kfp_mlops.components.optimization.tflite import (  # noqa: F401
    UnsupportedModelError,
    tflite_convert,
)

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
    """Outcome of :func:`accuracy_gate` or :func:`.quality.rmse_gate`.

    Attributes:
        blessed: Whether the gate passed.
        change: Accuracy change in pp, or RMSE change in percent (positive = worse).
        metadata: Facts for the output artifact's metadata.
        key: The metrics key of ``change``.
    """

    blessed: bool
    change: float
    metadata: dict[str, Any]
    key: str = "accuracy_change_pp"

    @property
    def accuracy_change_pp(self) -> float:
        """``change`` under its classification name."""
        return self.change


# ------------------------------------------------------------------------------ parameters


def validate_gate(
    max_accuracy_drop: float, gate_mode: str, max_rmse_increase_pct: float = 0.0
) -> None:
    """Reject a negative allowed drop or RMSE increase, or an unknown gate mode."""
    if gate_mode not in GATE_MODES:
        raise ParameterError(
            f"gate_mode '{gate_mode}' is not supported", f"use one of {GATE_MODES}"
        )
    if max_accuracy_drop < 0:
        raise ParameterError(
            f"max_accuracy_drop {max_accuracy_drop} is negative",
            "give the largest accuracy loss you accept in percentage points, e.g. 0.5",
        )
    if max_rmse_increase_pct < 0:
        raise ParameterError(
            f"max_rmse_increase_pct {max_rmse_increase_pct} is negative",
            "give the largest RMSE increase you accept in percent of the input's, e.g. 2",
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
    """Features and labels of a processed split, checked against the model's input width.

    Labels are int64 class codes, or float32 regression targets when the split's label
    column is float (the split contract's two kinds).
    """
    from kfp_mlops.components.common.artifacts import LABEL, read_split

    frame = read_split(path, split, regression=_float_labels(path))
    names = [c for c in frame.columns if c != LABEL]
    x = frame[names].to_numpy(dtype="float32")
    labels = frame[LABEL]
    y = labels.to_numpy("float32" if labels.dtype.kind == "f" else "int64")
    width = int(model.inputs[0].shape[-1])
    if x.shape[1] != width:
        raise ParameterError(
            f"the {split} split has {x.shape[1]} feature columns but the model's input "
            f"'{model.inputs[0].name}' expects {width}",
            "pass the splits the model was trained on (same split_and_preprocess output)",
        )
    return x, y


def _float_labels(path: str) -> bool:
    """Whether the split's label column is float (False if unreadable: the reader says why)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kfp_mlops.components.common.artifacts import LABEL

    try:
        schema = pq.read_schema(path)
        return pa.types.is_floating(schema.field(LABEL).type)
    except (OSError, KeyError, pa.ArrowException):
        return False


def is_pruned_kind(layer: Any) -> bool:
    """Layers whose ``kernel`` prune_model prunes: Dense and convolutions (1D/2D/3D, transposed).

    tfmot's PruneRegistry prunes the kernels of these; other built-in layers (batch norm,
    pooling, reshapes) are left as they are.
    """
    layers = _tf().keras.layers
    kinds = (layers.Dense, layers.Conv1D, layers.Conv2D, layers.Conv3D)
    return isinstance(layer, kinds)


def kernel_sparsity(model: Any) -> tuple[float, dict[str, float]]:
    """Share of exactly-zero weights over all pruned kernels (Dense and conv), and per layer."""
    zeros = total = 0
    per_layer: dict[str, float] = {}
    for layer in _flat_layers(model):
        if is_pruned_kind(layer):
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
    reason = (
        f"{what} lost {-change:.2f} pp of test accuracy ({baseline:.4f} -> {optimized:.4f}), "
        f"more than max_accuracy_drop={max_drop_pp} pp"
    )
    fix = "fine-tune longer, lower the sparsity, use a gentler mode (dynamic_range/float16), "
    return gate_outcome(
        passed,
        change,
        metadata,
        "accuracy_change_pp",
        reason,
        fix + "or raise max_accuracy_drop",
        gate_mode,
    )


def gate_outcome(
    passed: bool,
    change: float,
    metadata: dict[str, Any],
    key: str,
    reason: str,
    fix: str,
    gate_mode: str,
) -> GateResult:
    """The gate's result; a failure raises (``fail``) or is marked in the metadata (``mark``).

    Raises:
        OptimizationGateError: With ``gate_mode="fail"`` when not ``passed``.
    """
    if passed:
        return GateResult(True, change, metadata, key)
    if gate_mode == "fail":
        raise OptimizationGateError(reason, fix)
    log.warning("%s; not blessed (gate_mode='mark')", reason)
    metadata["gate_reason"] = reason
    return GateResult(False, change, metadata, key)


# ------------------------------------------------------------------------------ pass-through


def pass_through(
    model_path: str, output_dir: str, step: str, exc: UnsupportedModelError
) -> OptimizationResult:
    """``gate_mode="mark"`` for a model the step cannot handle: the input, unchanged.

    Every file of the input Model directory (model.h5, a float32 model.tflite, the record)
    is copied to ``output_dir``, and the record's ``step`` line says why nothing was done,
    so the pipeline goes on with the float model; the result is not blessed.
    """
    from kfp_mlops.components.common.artifacts import keras_file
    from kfp_mlops.components.optimization.record import RECORD_FILE, write_record

    source = Path(model_path)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # A conversion this step wrote before it failed must not be served as its output.
    (out / TFLITE_FILE).unlink(missing_ok=True)
    files = [p for p in source.iterdir() if p.is_file()] if source.is_dir() else []
    for file in files or [keras_file(model_path)]:
        if file.name != RECORD_FILE:
            shutil.copy2(file, out / file.name)
    reason = f"{step} skipped: {exc.problem}"
    write_record(out, model_path, **{step: f"none ({reason})"})
    log.warning("%s; the input model goes on unchanged (gate_mode='mark')", reason)
    metadata = {
        "blessed": False,
        "gate": f"{step} could not be applied",
        "gate_reason": reason,
        "fix": exc.fix,
        "skipped": True,
        "files": sorted(p.name for p in out.iterdir() if p.is_file()),
    }
    return OptimizationResult(metrics={"skipped": 1.0}, blessed=False, metadata=metadata)


def unless_unsupported(step: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a core whose model may hold a layer or op ``step`` cannot handle.

    The core's :class:`UnsupportedModelError` is raised again with ``gate_mode="fail"``;
    with ``mark`` the input model is passed through (:func:`pass_through`). The core must
    take ``model_path``, ``output_dir`` and ``gate_mode`` arguments.
    """

    def decorate(core: Callable[..., OptimizationResult]) -> Callable[..., OptimizationResult]:
        signature = inspect.signature(core)

        @functools.wraps(core)
        def run(*args: Any, **kwargs: Any) -> OptimizationResult:
            try:
                return core(*args, **kwargs)
            except UnsupportedModelError as exc:
                given = signature.bind(*args, **kwargs)
                given.apply_defaults()
                if given.arguments["gate_mode"] == "fail":
                    raise
                return pass_through(
                    given.arguments["model_path"], given.arguments["output_dir"], step, exc
                )

        return run

    return decorate
