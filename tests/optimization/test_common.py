"""Tests of the shared optimization helpers: sizes, latency, labels, the gate, op errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.optimization.common import (
    OptimizationGateError,
    accuracy,
    accuracy_gate,
    gzipped_size,
    p50_latency_ms,
    predicted_labels,
    size_bytes,
    validate_gate,
)
from kfp_mlops.components.optimization.tflite import (
    _layer_of,
    calibration_rows,
    converter_error,
    parse_ops,
)


def test_gzipped_size_rewards_zeros_and_matches_gzip(tmp_path):
    rng = np.random.default_rng(0)
    dense = rng.normal(size=10_000).astype("float32")
    sparse = dense.copy()
    sparse[rng.permutation(sparse.size)[:8_000]] = 0.0
    path = tmp_path / "w.bin"
    path.write_bytes(dense.tobytes())
    assert size_bytes(path) == 40_000
    assert gzipped_size(path) == len(gzip.compress(dense.tobytes(), 9, mtime=0))
    assert gzipped_size(path) > 0.8 * 40_000  # random floats barely compress
    assert gzipped_size(sparse.tobytes()) < 0.5 * gzipped_size(path)


def test_p50_latency_is_the_median_of_positive_times():
    calls = []
    value = p50_latency_ms(lambda: calls.append(1), runs=30, warmup=5)
    assert len(calls) == 35
    assert 0 < value < 1000


def test_predicted_labels_binary_and_multiclass():
    assert predicted_labels(np.array([[0.2], [0.7], [0.5]])).tolist() == [0, 1, 0]
    assert predicted_labels(np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])).tolist() == [1, 0]
    assert accuracy(np.array([[0.9], [0.1], [0.8], [0.3]]), np.array([1, 0, 0, 0])) == 0.75


def test_gate_passes_within_the_allowed_drop():
    gate = accuracy_gate(0.95, 0.946, 0.5, "fail", "int8 model")
    assert gate.blessed
    assert gate.accuracy_change_pp == pytest.approx(-0.4)
    assert gate.metadata["blessed"] is True


def test_gate_fail_mode_raises_naming_the_drop_and_fix():
    with pytest.raises(OptimizationGateError, match=r"int8 model lost 2\.00 pp") as err:
        accuracy_gate(0.95, 0.93, 0.5, "fail", "int8 model")
    assert "max_accuracy_drop=0.5" in str(err.value)
    assert "raise max_accuracy_drop" in err.value.fix


def test_gate_mark_mode_returns_not_blessed_with_reason():
    gate = accuracy_gate(0.95, 0.93, 0.5, "mark", "pruned model")
    assert gate.blessed is False
    assert gate.metadata["blessed"] is False
    assert "pruned model lost 2.00 pp" in gate.metadata["gate_reason"]
    assert accuracy_gate(0.95, 0.97, 0.0, "fail", "x").blessed  # gains always pass


@pytest.mark.parametrize(
    ("drop", "mode", "match"),
    [(0.5, "warn", "gate_mode 'warn' is not supported"), (-1, "fail", "max_accuracy_drop -1")],
)
def test_validate_gate_rejects_bad_values(drop, mode, match):
    with pytest.raises(ParameterError, match=match):
        validate_gate(drop, mode)


def test_calibration_rows_sample_and_errors():
    x = np.arange(50, dtype="float32").reshape(25, 2)
    rows = calibration_rows(x, 10, seed=1)
    assert rows.shape == (10, 2)
    assert {tuple(r) for r in rows} <= {tuple(r) for r in x}
    assert calibration_rows(x, 100).shape == (25, 2)
    with pytest.raises(ParameterError, match="representative_rows is 0"):
        calibration_rows(x, 0)
    with pytest.raises(ParameterError, match="train split has no rows") as err:
        calibration_rows(x[:0], 10)
    assert "dynamic_range" in err.value.fix


def test_parse_ops_and_layer_names():
    assert parse_ops(" sin, cumsum ,") == ["SIN", "CUMSUM"]
    assert parse_ops(["Sin"]) == ["SIN"]
    assert _layer_of("model_1/lam_sin/Sin;model_1/x") == "lam_sin"
    assert _layer_of("StatefulPartitionedCall:0") == "StatefulPartitionedCall:0"


def test_converter_error_names_a_quantization_op_and_the_fix():
    exc = RuntimeError(
        "error: Quantization not yet supported for op: 'tfl.custom_thing'\n"
        "Failed to quantize op: 'CUMSUM'"
    )
    err = converter_error(exc, "int8")
    assert "cannot quantize op 'custom_thing'" in str(err)
    assert "in mode 'int8'" in str(err)
    assert "dynamic_range" in err.fix
    assert "float_ops" in err.fix


@pytest.mark.slow
def test_hdf5_file_that_is_not_a_keras_model(tmp_path):
    import h5py

    from kfp_mlops.components.optimization.common import load_model

    with h5py.File(tmp_path / "model.h5", "w") as f:
        f.create_dataset("weights", data=np.zeros(3))
    with pytest.raises(ParameterError, match="is not a loadable Keras model") as err:
        load_model(str(tmp_path))
    assert "train_model" in err.value.fix
