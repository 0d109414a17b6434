"""Tests of quantize_model: parameter errors, LiteRT evaluation of each mode, the gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.optimization.common import OptimizationGateError
from kfp_mlops.components.optimization.quantize_model.core import quantize, validate_params


@pytest.mark.parametrize(
    ("kwargs", "match", "fix"),
    [
        ({"mode": "int4"}, "mode 'int4' is not supported", "dynamic_range"),
        ({"io_type": "int16"}, "io_type 'int16' is not supported", "uint8"),
        ({"rows": 0}, "representative_rows is 0", "representative data"),
        ({"mode": "float16", "qat_epochs": 2}, "qat_epochs=2 with mode 'float16'", "int8"),
        ({"qat_epochs": -1}, "qat_epochs is -1", "0"),
    ],
)
def test_bad_parameters_are_rejected_with_the_fix(kwargs, match, fix):
    args = {"mode": "int8", "io_type": "int8", "rows": 100, "qat_epochs": 0, **kwargs}
    with pytest.raises(ParameterError, match=match) as err:
        validate_params(**args)
    assert fix in err.value.fix


def test_random_file_is_not_a_keras_model(not_a_model, unread_splits, tmp_path):
    with pytest.raises(ParameterError, match="is not a Keras model"):
        quantize(not_a_model, *unread_splits, str(tmp_path / "q"))


@pytest.mark.slow
def test_empty_train_split_means_no_representative_data(trained_model, splits, tmp_path):
    empty = tmp_path / "empty.parquet"
    splits.frames["train"].iloc[:0].to_parquet(empty, index=False)
    with pytest.raises(ParameterError, match="no representative data") as err:
        quantize(trained_model, str(empty), splits.validation, splits.test, str(tmp_path / "q"))
    assert "dynamic_range" in err.value.fix


def _run(trained_model, splits, tmp_path, **kwargs):
    kwargs.setdefault("latency_runs", 20)
    kwargs.setdefault("gate_mode", "mark")
    out = tmp_path / kwargs.get("mode", "int8")
    return out, quantize(
        trained_model, splits.train, splits.validation, splits.test, str(out), **kwargs
    )


@pytest.mark.slow
def test_int8_is_much_smaller_and_litert_accuracy_matches_keras(trained_model, splits, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    out, result = _run(trained_model, splits, tmp_path, mode="int8", io_type="int8")
    m = result.metrics
    content = (out / "model.tflite").read_bytes()
    assert m["size_bytes"] == len(content)
    assert m["size_bytes"] < 0.4 * m["float32_size_bytes"]
    assert m["gzipped_size_ratio"] > 2.5
    assert abs(m["accuracy_change_pp"]) <= 2.5  # at most two of ~86 test rows differ
    assert m["accuracy"] > 0.9
    assert result.blessed == (m["accuracy_change_pp"] >= -0.5)
    assert result.metadata["io_type"] == "int8"
    # The Model directory stays complete: the float Keras model sits beside the TFLite file.
    assert (out / "model.h5").read_bytes() == (Path(trained_model) / "model.h5").read_bytes()
    interpreter = Interpreter(model_content=content)
    details = interpreter.get_input_details()[0]
    assert details["dtype"] == np.int8
    assert details["quantization"][0] > 0  # a real scale to quantize the inputs with


@pytest.mark.slow
def test_the_float32_baseline_is_reused_from_a_pruned_directory(trained_model, splits, tmp_path):
    import shutil

    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.optimization.record import (
        FLOAT_TFLITE_SOURCE,
        read_record,
        sha256_of,
        write_record,
    )
    from kfp_mlops.components.optimization.tflite import tflite_convert

    # A directory as prune_model writes it: model.h5, its float32 model.tflite, the record.
    pruned = tmp_path / "pruned"
    pruned.mkdir()
    shutil.copy2(Path(trained_model) / "model.h5", pruned / "model.h5")
    float32 = tflite_convert(load_keras(str(pruned)))
    (pruned / "model.tflite").write_bytes(float32)
    source = {FLOAT_TFLITE_SOURCE: sha256_of(pruned / "model.h5")}
    write_record(pruned, trained_model, pruning="pruned to 50%", **source)

    out, result = _run(str(pruned), splits, tmp_path, mode="dynamic_range")
    assert result.metadata["float32_baseline"] == "reused from the input model directory"
    assert result.metrics["float32_size_bytes"] == len(float32)
    record = read_record(out)
    assert record["pruning"] == "pruned to 50%"
    assert record["quantization"] == "dynamic_range post-training quantization (TFLite)"
    assert FLOAT_TFLITE_SOURCE not in record  # out's model.tflite is not a float32 one

    _, fresh = _run(trained_model, splits, tmp_path / "fresh", mode="dynamic_range")
    assert fresh.metadata["float32_baseline"] == "converted"


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "io_type", "dtype"), [("int8", "uint8", "uint8")])
def test_int8_with_uint8_io(trained_model, splits, tmp_path, mode, io_type, dtype):
    _, result = _run(trained_model, splits, tmp_path, mode=mode, io_type=io_type)
    assert result.metadata["io_type"] == dtype
    assert abs(result.metrics["accuracy_change_pp"]) <= 2.5


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dynamic_range", "float16"])
def test_float_io_modes_keep_accuracy(trained_model, splits, tmp_path, mode):
    _, result = _run(trained_model, splits, tmp_path, mode=mode, io_type="int8")
    m = result.metrics
    assert result.metadata["io_type"] == "float32"  # io_type only applies to int8
    assert abs(m["accuracy_change_pp"]) <= 1.2
    assert m["size_bytes"] < 0.6 * m["float32_size_bytes"]


@pytest.mark.slow
def test_quantization_aware_training_then_int8(trained_model, splits, tmp_path):
    _, result = _run(trained_model, splits, tmp_path, mode="int8", qat_epochs=1)
    assert result.metadata["qat_epochs"] == 1
    assert result.metrics["accuracy"] > 0.9
    assert result.metrics["size_bytes"] < 0.4 * result.metrics["float32_size_bytes"]


@pytest.mark.slow
def test_gate_fails_or_marks_a_miscalibrated_int8_model(trained_model, splits, tmp_path):
    # Calibrating on rows squeezed to 1/1000 of their range clips every real input, so
    # the int8 model predicts nearly one class: a drop far beyond 0.5 pp.
    squeezed = splits.frames["train"].copy()
    features = [c for c in squeezed.columns if c != "label"]
    squeezed[features] = squeezed[features] * np.float32(1e-3)
    train = tmp_path / "squeezed.parquet"
    squeezed.to_parquet(train, index=False)
    args = (trained_model, str(train), splits.validation, splits.test)
    with pytest.raises(OptimizationGateError, match="int8 TFLite model lost") as err:
        quantize(*args, str(tmp_path / "fail"), gate_mode="fail", latency_runs=5)
    assert "max_accuracy_drop=0.5" in str(err.value)
    result = quantize(*args, str(tmp_path / "mark"), gate_mode="mark", latency_runs=5)
    assert result.blessed is False
    assert result.metrics["accuracy_change_pp"] < -5
    assert "lost" in result.metadata["gate_reason"]
    assert (tmp_path / "mark" / "model.tflite").exists()


def _lambda_model(fn, name):
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    inputs = tf.keras.Input((30,), name="features")
    hidden = tf.keras.layers.Dense(8, name="dense_0")(inputs)
    hidden = tf.keras.layers.Lambda(fn, name=name)(hidden)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid", name="probabilities")(hidden)
    return tf.keras.Model(inputs, outputs)


@pytest.mark.slow
def test_op_left_in_float_is_named_with_the_fix_and_can_be_allowed():
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.optimization.tflite import (
        float_ops_of,
        tflite_convert,
    )

    tf = import_tf()
    model = _lambda_model(tf.math.sin, "wave")
    rows = np.random.default_rng(0).normal(size=(32, 30)).astype("float32")
    with pytest.raises(ParameterError, match=r"cannot quantize op SIN \(layer 'wave'\)") as err:
        tflite_convert(model, "int8", rows, "int8")
    assert "dynamic_range" in err.value.fix
    assert "float_ops='SIN'" in err.value.fix
    content = tflite_convert(model, "int8", rows, "int8", float_ops=["SIN"])
    assert [op for op, _ in float_ops_of(content)] == ["SIN"]


@pytest.mark.slow
def test_op_without_tflite_kernel_is_named():
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.optimization.tflite import tflite_convert

    tf = import_tf()
    model = _lambda_model(tf.math.erf, "erf_layer")
    rows = np.random.default_rng(0).normal(size=(8, 30)).astype("float32")
    with pytest.raises(ParameterError, match="cannot convert op 'Erf'") as err:
        tflite_convert(model, "int8", rows, "int8")
    assert "not a TFLite builtin op" in str(err.value)
    assert "replace it" in err.value.fix


def test_unknown_mode_and_io_type_in_the_converter():
    from kfp_mlops.components.optimization.tflite import tflite_convert

    with pytest.raises(ParameterError, match="mode 'int4' is not supported"):
        tflite_convert(object(), "int4")
    with pytest.raises(ParameterError, match="io_type 'int4' is not supported"):
        tflite_convert(object(), "int8", io_type="int4")
