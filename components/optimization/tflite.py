"""Keras -> TFLite conversion: float32, dynamic range, float16 and full int8.

A conversion the converter refuses becomes an :class:`UnsupportedModelError` naming the op
(and layer) it cannot convert or quantize, and the fix; prune and quantize let it follow
their ``gate_mode`` (fail, or pass the float model through unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError


class UnsupportedModelError(ParameterError):
    """The model holds a layer or op an optimization cannot handle (named in the message)."""


TFLITE_MODES = ("float32", "dynamic_range", "int8", "float16")
IO_TYPES = ("int8", "uint8", "float32")

#: Ops that are float by design in a full-integer model (its float input/output boundary).
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


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
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
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
            raise UnsupportedModelError(
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


def converter_error(exc: BaseException, mode: str) -> UnsupportedModelError:
    """A converter exception as an UnsupportedModelError naming the op (and layer) and the fix."""
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
        return UnsupportedModelError(
            f"the TFLite converter cannot convert {where} in mode '{mode}': it is not a TFLite "
            "builtin op, so no mode (int8, dynamic_range, float16) can convert it",
            "replace it in the model with a TFLite builtin op (see "
            "https://ai.google.dev/edge/litert/models/ops_compatibility), or serve the Keras "
            "model or the ONNX export (export_onnx) instead",
        )
    return UnsupportedModelError(
        f"the TFLite converter cannot quantize {where} in mode '{mode}': {first.strip()[:300]}",
        "use mode='dynamic_range' or 'float16', or add the op to float_ops to let it run as "
        "a float32 TFLITE_BUILTINS kernel inside the int8 model",
    )
