"""Measurements and checks shared by prune_model, quantize_model and export_onnx.

Sizes (raw and gzipped), batch-1 latency, TFLite conversion, LiteRT evaluation (with int8
input quantization and output dequantization) and the accuracy gate live here so the three
cores compare their models the same way.
"""

from __future__ import annotations

import gzip
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ComponentError, ParameterError
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.metrics import latency_percentiles

log = logging.getLogger(__name__)

GATE_MODES = ("fail", "mark")
TFLITE_MODES = ("float32", "dynamic_range", "int8", "float16")
IO_TYPES = ("int8", "uint8", "float32")
TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"

#: Ops that are float by design in a full-integer model (its float input/output boundary).
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


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


# ------------------------------------------------------------------------------ TFLite


def parse_ops(value: str | Sequence[str]) -> list[str]:
    """``"sin, cumsum"`` or a list -> ``["SIN", "CUMSUM"]`` (TFLite builtin op names)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [v.strip().upper() for v in items if v and v.strip()]


def calibration_rows(x_train: np.ndarray, rows: int, seed: int = 0) -> np.ndarray:
    """Up to ``rows`` training rows drawn at random: the int8 calibration set.

    Raises:
        ParameterError: If ``rows`` < 1 or the training split has no rows.
    """
    if rows < 1:
        raise ParameterError(
            f"representative_rows is {rows}",
            "int8 calibration needs representative data: set representative_rows to e.g. 100",
        )
    if len(x_train) == 0:
        raise ParameterError(
            "the train split has no rows, so there is no representative data for int8 calibration",
            "pass a non-empty train split, or use mode='dynamic_range' or 'float16' "
            "(no calibration data needed)",
        )
    pick = np.random.default_rng(seed).permutation(len(x_train))[:rows]
    return np.asarray(x_train[pick], dtype="float32")


def tflite_convert(
    model: Any,
    mode: str = "float32",
    representative: np.ndarray | None = None,
    io_type: str = "float32",
    float_ops: Sequence[str] = (),
) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer.

    Args:
        model: A tf.keras model.
        mode: ``float32`` (no optimization), ``dynamic_range`` (int8 weights, float
            activations), ``float16`` (float16 weights) or ``int8`` (full integer, calibrated
            on ``representative``).
        representative: Calibration rows (float32), needed by ``int8``.
        io_type: Input/output tensor type of an ``int8`` model: int8, uint8 or float32.
        float_ops: TFLite builtin ops allowed to stay float32 in an ``int8`` model
            (TFLITE_BUILTINS fallback); any other unquantized op is an error.

    Raises:
        ParameterError: On an unknown mode or io_type, missing calibration data, or an op
            the converter cannot convert or quantize (named, with the fix).
    """
    if mode not in TFLITE_MODES:
        raise ParameterError(f"mode '{mode}' is not supported", f"use one of {TFLITE_MODES[1:]}")
    if io_type not in IO_TYPES:
        raise ParameterError(f"io_type '{io_type}' is not supported", f"use one of {IO_TYPES}")
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if representative is None or len(representative) == 0:
            raise ParameterError(
                "mode 'int8' has no representative data",
                "pass calibration rows from the train split, or use mode='dynamic_range'",
            )
        rows = np.asarray(representative, dtype="float32")

        def calibration() -> Iterator[list[np.ndarray]]:
            for i in range(len(rows)):
                yield [rows[i : i + 1]]

        converter.representative_dataset = calibration
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if float_ops:
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
        converter.target_spec.supported_ops = ops
        if io_type != "float32":
            converter.inference_input_type = getattr(tf, io_type)
            converter.inference_output_type = getattr(tf, io_type)
    try:
        content = converter.convert()
    except Exception as exc:  # ConverterError and friends: the message names the op
        raise converter_error(exc, mode) from exc
    if mode == "int8":
        allowed = set(parse_ops(float_ops))
        bad = [(op, layer) for op, layer in float_ops_of(content) if op not in allowed]
        if bad:
            named = ", ".join(f"{op} (layer '{layer}')" for op, layer in bad)
            raise ParameterError(
                f"the converter cannot quantize op {named} to int8: it stayed float32",
                "use mode='dynamic_range' or 'float16', or add the op to float_ops "
                f"(e.g. float_ops='{','.join(sorted({op for op, _ in bad}))}') to allow its "
                "float32 kernel (TFLITE_BUILTINS fallback) inside the int8 model",
            )
    return content


def float_ops_of(content: bytes) -> list[tuple[str, str]]:
    """(op, layer) of every non-boundary op with a float32 output in a TFLite model."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(content, 0)
    found = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            if name in _BOUNDARY_OPS:
                continue
            for j in range(op.OutputsLength()):
                tensor = graph.Tensors(op.Outputs(j))
                if tensor.Type() == schema.TensorType.FLOAT32:
                    found.append((name, _layer_of(tensor.Name().decode())))
                    break
    return found


def _layer_of(tensor_name: str) -> str:
    """``model/lam_sin/Sin;...`` -> ``lam_sin`` (the Keras layer that produced the tensor)."""
    parts = tensor_name.split(";", maxsplit=1)[0].split("/")
    return parts[1] if len(parts) >= 3 else parts[0]


_OP_PATTERNS = (
    re.compile(r"'tfl?\.(\w+)' op is neither a custom op nor a flex op"),
    re.compile(r"Quantization not yet supported for op: '?(?:tfl?\.)?(\w+)'?"),
    re.compile(r"Failed to quantize op:? '?(?:tfl?\.)?(\w+)'?"),
    re.compile(r"'tfl?\.(\w+)' op"),
)


def converter_error(exc: BaseException, mode: str) -> ParameterError:
    """A converter exception as a ParameterError naming the op (and layer) and the fix."""
    message = str(exc)
    ops: list[str] = []
    for pattern in _OP_PATTERNS:
        ops = list(dict.fromkeys(pattern.findall(message)))
        if ops:
            break
    layers = [
        layer
        for op in ops
        for layer in re.findall(r'"[\w.-]+/([\w.-]+)/' + re.escape(op) + r"@", message)
    ]
    where = f"op {', '.join(repr(op) for op in ops)}" if ops else "an op"
    if layers:
        where += f" (layer {', '.join(repr(x) for x in dict.fromkeys(layers))})"
    first = next((line for line in message.splitlines() if "error" in line.lower()), message)
    if "ERROR_NEEDS_FLEX_OPS" in message or "neither a custom op nor a flex op" in message:
        return ParameterError(
            f"the TFLite converter cannot convert {where} in mode '{mode}': it is not a TFLite "
            "builtin op, so no mode (int8, dynamic_range, float16) can convert it",
            "replace it in the model with a TFLite builtin op (see "
            "https://ai.google.dev/edge/litert/models/ops_compatibility), or serve the Keras "
            "model or the ONNX export (export_onnx) instead",
        )
    return ParameterError(
        f"the TFLite converter cannot quantize {where} in mode '{mode}': {first.strip()[:300]}",
        "use mode='dynamic_range' or 'float16', or add the op to float_ops to let it run as "
        "a float32 TFLITE_BUILTINS kernel inside the int8 model",
    )


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
