"""TFLite conversion and quantization of a Keras model, evaluated with the LiteRT interpreter.

Modes: ``dynamic_range`` (int8 weights, float activations: no calibration data), ``int8``
(full integer, activations calibrated on rows of the training split; optionally after
quantization-aware training) and ``float16`` (half-size weights). The converted model is
compared with the input model's float32 TFLite conversion (size, gzipped size, batch-1
latency; prune_model's ``model.tflite`` when the input is its output, else converted here)
and with the input Keras model (test accuracy, or for regression, float labels in the
split, the relative change of test RMSE; calibration is the same). The output directory's
optimization record adds a ``quantization`` line to the input's.

An op the converter cannot convert or quantize (or a layer QAT cannot wrap) is named with
its layer; it fails the task, or with ``gate_mode="mark"`` the input model goes through
unchanged (not blessed) so the pipeline goes on with the float model.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.artifacts import KERAS_FILE, keras_file
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.model_dir import TFLITE_FILE
from kfp_mlops.components.optimization.batches import (
    calibration_sample,
    fit_inputs,
    open_split,
    validation_data,
)
from kfp_mlops.components.optimization.common import (
    OptimizationResult,
    UnsupportedModelError,
    gzipped_size,
    keras_outputs,
    kernel_sparsity,
    load_model,
    tflite_latency_ms,
    unless_unsupported,
    validate_gate,
    validate_positive,
)
from kfp_mlops.components.optimization.quality import MAX_RMSE_INCREASE_PCT, Quality
from kfp_mlops.components.optimization.record import (
    RECORD_FILE,
    reusable_float_tflite,
    write_record,
)
from kfp_mlops.components.optimization.tflite import (
    IO_TYPES,
    TFLITE_MODES,
    calibration_rows,
    parse_ops,
    tflite_convert,
)

log = logging.getLogger(__name__)

#: The modes a user may ask for (``float32`` is only the internal baseline).
MODES = TFLITE_MODES[1:]


@dataclass(frozen=True)
class _Conversion:
    """How the model is converted: TFLite mode, io type and float ops, and the optional QAT."""

    mode: str
    io_type: str
    float_ops: list[str]
    qat_epochs: int
    batch_size: int
    learning_rate: float
    seed: int


@dataclass(frozen=True)
class _Baseline:
    """The input model's test score, its float32 TFLite and the int8 calibration rows."""

    y_test: Any
    score: float
    #: None unless int8 calibration (or QAT, which implies int8) needs it.
    representative: Any
    float32_tflite: bytes
    float32_source: str


def validate_params(mode: str, io_type: str, rows: int, qat_epochs: int) -> None:
    """Reject unknown modes/io types, missing calibration rows and QAT outside int8."""
    if mode not in MODES:
        raise ParameterError(f"mode '{mode}' is not supported", f"use one of {MODES}")
    if io_type not in IO_TYPES:
        raise ParameterError(
            f"io_type '{io_type}' is not supported",
            f"use one of {IO_TYPES} (the int8 model's input/output tensor type)",
        )
    if mode == "int8" and rows < 1:
        raise ParameterError(
            f"representative_rows is {rows}",
            "int8 calibration needs representative data: set representative_rows to e.g. 100",
        )
    if qat_epochs < 0:
        raise ParameterError(f"qat_epochs is {qat_epochs}", "use 0 (no QAT) or more")
    if qat_epochs and mode != "int8":
        raise ParameterError(
            f"qat_epochs={qat_epochs} with mode '{mode}'",
            "quantization-aware training prepares a model for int8: set mode='int8' or "
            "qat_epochs=0",
        )


def quantization_aware(
    model: Any,
    train: dict[str, Any],
    validation: Any,
    quality: Quality,
    epochs: int,
    learning_rate: float,
    seed: int,
) -> Any:
    """Fine-tune ``model`` with fake-quant nodes (tfmot) so int8 loses less accuracy.

    ``train`` is Keras ``fit`` keyword arguments (:func:`..batches.fit_inputs`) and
    ``validation`` its ``validation_data``.

    Raises:
        UnsupportedModelError: If tfmot cannot wrap a layer (its message names it).
    """
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    import tensorflow_model_optimization as tfmot

    try:
        qat = tfmot.quantization.keras.quantize_model(model)
    except (RuntimeError, ValueError) as exc:
        raise UnsupportedModelError(
            f"quantization-aware training cannot wrap the model: {exc}",
            "set qat_epochs=0 (post-training int8 still works), or give the named layer a "
            "tfmot QuantizeConfig",
        ) from exc
    tf.keras.utils.set_random_seed(seed)
    loss, metrics, _ = quality.fit_settings(model)
    qat.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    qat.fit(**train, epochs=epochs, validation_data=validation, verbose=0)
    return qat


@unless_unsupported("quantization")
def quantize(
    model_path: str,
    train_path: str,
    validation_path: str,
    test_path: str,
    output_dir: str,
    mode: str = "int8",
    io_type: str = "int8",
    representative_rows: int = 100,
    qat_epochs: int = 0,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    float_ops: str = "",
    max_accuracy_drop: float = 0.5,
    gate_mode: str = "fail",
    latency_runs: int = 200,
    seed: int = 42,
    max_rmse_increase_pct: float = MAX_RMSE_INCREASE_PCT,
) -> OptimizationResult:
    """Convert to TFLite in ``mode``, evaluate with LiteRT and write ``model.tflite``.

    Args:
        model_path: Model artifact (directory with model.h5, or the file).
        train_path: Processed training split: calibration rows and QAT data.
        validation_path: Validation split, monitored during QAT.
        test_path: Test split on which the Keras and TFLite models are compared.
        output_dir: Directory that receives model.tflite, model.h5 (a copy of the input
            Keras model, before any QAT) so the directory stays a complete Model artifact,
            and optimization.json (the input's record plus a ``quantization`` line).
        mode: ``int8``, ``dynamic_range`` or ``float16``.
        io_type: Input/output tensor type of an ``int8`` model: int8, uint8 or float32
            (ignored by the other modes, whose tensors are float32).
        representative_rows: Training rows used to calibrate ``int8`` activations.
        qat_epochs: Epochs of quantization-aware training before an ``int8`` conversion;
            0 converts the model as it is.
        batch_size: QAT batch size.
        learning_rate: QAT Adam learning rate.
        float_ops: Comma-separated TFLite builtin ops (e.g. ``"SIN"``) allowed to stay
            float32 inside an ``int8`` model; any other unquantized op is an error.
        max_accuracy_drop: Largest accepted test-accuracy loss, percentage points
            (classification).
        gate_mode: ``fail`` raises when the gate fails or an op cannot be converted or
            quantized; ``mark`` returns blessed=False (the input model passed through
            unchanged in the second case).
        latency_runs: Timed batch-1 inferences per latency measurement.
        seed: Seed of the calibration sample and of QAT.
        max_rmse_increase_pct: Largest accepted test-RMSE increase, percent of the input
            model's (regression).

    Returns:
        Metrics, blessed flag and metadata.

    Raises:
        ParameterError: On bad parameters, a path that is not a Keras model or no
            calibration data.
        UnsupportedModelError: With ``gate_mode="fail"``, on an op the converter cannot
            convert or quantize (named with its layer) or a layer QAT cannot wrap.
        OptimizationGateError: With ``gate_mode="fail"``, when accuracy drops (or RMSE
            grows) too much.
    """
    validate_params(mode, io_type, representative_rows, qat_epochs)
    validate_positive(batch_size=batch_size, latency_runs=latency_runs)
    validate_gate(max_accuracy_drop, gate_mode, max_rmse_increase_pct)
    conversion = _Conversion(
        mode, io_type, parse_ops(float_ops), qat_epochs, batch_size, learning_rate, seed
    )
    model = load_model(model_path)
    # The test split is read in batches (bounded memory); only outputs and labels stay.
    test = open_split(test_path, "test", model)
    quality = Quality(test.regression, max_accuracy_drop, max_rmse_increase_pct)
    calibration = representative_rows if mode == "int8" or qat_epochs else None
    base = _measure_baseline(model, model_path, train_path, test, quality, calibration, seed)

    content = _convert(model, conversion, base.representative, quality, train_path, validation_path)
    runtime = TFLiteModel(content)
    rows = 0 if base.representative is None else len(base.representative)
    _write_outputs(output_dir, model_path, content, describe(mode, runtime, rows, qat_epochs))

    tflite_outputs = test.outputs({"tflite": runtime.predict})[0]["tflite"]
    tflite_score = quality.measure(tflite_outputs, base.y_test)
    gate = quality.gate(base.score, tflite_score, gate_mode, f"{mode} TFLite model")
    metrics = {
        **_size_and_latency(content, base.float32_tflite, test.head(1), latency_runs),
        "sparsity": kernel_sparsity(model)[0],
        quality.metric: tflite_score,
        f"baseline_{quality.metric}": base.score,
        gate.key: gate.change,
    }
    log.info("quantized (%s): %s", mode, metrics)
    metadata = _metadata(gate.metadata, conversion, runtime, rows, base.float32_source)
    return OptimizationResult(metrics=metrics, blessed=gate.blessed, metadata=metadata)


def _measure_baseline(
    model: Any,
    model_path: str,
    train_path: str,
    test: Any,
    quality: Quality,
    calibration: int | None,
    seed: int,
) -> _Baseline:
    """Draw ``calibration`` rows, score the input model and get its float32 TFLite."""
    representative = None
    if calibration is not None:
        representative = _calibration(train_path, model, calibration, seed)
    baseline, y_test = test.outputs({"keras": lambda x: keras_outputs(model, x)})
    baseline_score = quality.measure(baseline["keras"], y_test)
    # prune_model's output already holds the float32 conversion of these weights.
    float32_tflite = reusable_float_tflite(model_path, keras_file(model_path))
    float32_source = "reused from the input model directory" if float32_tflite else "converted"
    if float32_tflite is None:
        float32_tflite = tflite_convert(model)
    return _Baseline(y_test, baseline_score, representative, float32_tflite, float32_source)


def _convert(
    model: Any,
    conversion: _Conversion,
    representative: Any,
    quality: Quality,
    train_path: str,
    validation_path: str,
) -> bytes:
    """The quantized TFLite model, after quantization-aware training when asked for."""
    to_convert = model
    if conversion.qat_epochs:
        # Held in memory when small, else streamed chunk by chunk (:func:`..batches.fit_inputs`).
        train, _ = fit_inputs(train_path, "train", model, conversion.batch_size, conversion.seed)
        validation = validation_data(validation_path, model, conversion.batch_size)
        to_convert = quantization_aware(
            model,
            train,
            validation,
            quality,
            conversion.qat_epochs,
            conversion.learning_rate,
            conversion.seed,
        )
    return tflite_convert(
        to_convert,
        mode=conversion.mode,
        representative=representative,
        io_type=conversion.io_type if conversion.mode == "int8" else "float32",
        float_ops=conversion.float_ops,
    )


def _metadata(
    gate_metadata: dict[str, Any],
    conversion: _Conversion,
    runtime: TFLiteModel,
    rows: int,
    float32_source: str,
) -> dict[str, Any]:
    """The gate's metadata, then the files, the conversion settings and the float32 baseline."""
    return {
        **gate_metadata,
        "format": "tflite",
        "files": [TFLITE_FILE, KERAS_FILE, RECORD_FILE],
        "mode": conversion.mode,
        "io_type": runtime.input["dtype"].__name__,
        "qat_epochs": conversion.qat_epochs,
        "representative_rows": rows,
        "float_ops": conversion.float_ops,
        "float32_baseline": float32_source,
        "latency_runtime": "LiteRT interpreter, batch 1, 1 thread",
    }


def describe(mode: str, runtime: TFLiteModel, rows: int, qat_epochs: int) -> str:
    """The record's ``quantization`` text, e.g. ``int8 post-training quantization (TFLite) ...``."""
    how = f"quantization-aware training ({qat_epochs} epochs)" if qat_epochs else "post-training"
    text = f"{mode} {how} quantization (TFLite)"
    if mode == "int8":
        text += f", {runtime.input['dtype'].__name__} input/output, {rows} calibration rows"
    return text


def _write_outputs(output_dir: str, model_path: str, content: bytes, quantization: str) -> None:
    """model.tflite, a copy of the input's model.h5 and the optimization record."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / TFLITE_FILE).write_bytes(content)
    # Keep the float Keras model beside the TFLite file: the registry, a later champion
    # evaluation and the model server's Keras fallback all read the same Model directory.
    shutil.copy2(keras_file(model_path), out / KERAS_FILE)
    write_record(out, model_path, quantization=quantization)


def _size_and_latency(
    content: bytes, float32_tflite: bytes, row: Any, latency_runs: int
) -> dict[str, float]:
    """Sizes and batch-1 latency of the quantized model against the float32 TFLite one."""
    latency = tflite_latency_ms(TFLiteModel(content), row, latency_runs)
    float32_latency = tflite_latency_ms(TFLiteModel(float32_tflite), row, latency_runs)
    gz, float32_gz = gzipped_size(content), gzipped_size(float32_tflite)
    return {
        "size_bytes": len(content),
        "gzipped_size_bytes": gz,
        "float32_size_bytes": len(float32_tflite),
        "float32_gzipped_size_bytes": float32_gz,
        "gzipped_size_ratio": float32_gz / gz,
        "latency_p50_ms": latency,
        "float32_latency_p50_ms": float32_latency,
        "latency_ratio": latency / float32_latency if float32_latency else 0.0,
    }


def _calibration(train_path: str, model: Any, rows: int, seed: int) -> Any:
    """The int8 calibration rows, streamed from the training split (not held whole).

    Raises:
        ParameterError: If the training split has no rows (nothing to calibrate on).
    """
    import numpy as np

    from kfp_mlops.components.training.train_model import split_stream

    if split_stream.describe(train_path, "train").rows == 0:
        width = int(model.inputs[0].shape[-1])
        return calibration_rows(np.zeros((0, width), dtype="float32"), rows, seed)
    return calibration_sample(open_split(train_path, "train", model), rows, seed)
