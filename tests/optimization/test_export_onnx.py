"""Tests of export_onnx: parameter errors, parity check, a real tf2onnx + onnxruntime run."""

from __future__ import annotations

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.optimization.common import OptimizationGateError
from kfp_mlops.components.optimization.export_onnx.core import check_parity, export


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"opset": 9}, "opset 9 is outside 13-18"),
        ({"atol": 0.0}, "atol 0.0 is not positive"),
        ({"gate_mode": "warn"}, "gate_mode 'warn' is not supported"),
        ({"latency_runs": 0}, "latency_runs is 0"),
    ],
)
def test_bad_parameters_are_rejected(kwargs, match, tmp_path):
    with pytest.raises(ParameterError, match=match) as err:
        export(str(tmp_path), str(tmp_path / "test.parquet"), str(tmp_path / "o"), **kwargs)
    assert err.value.fix


def test_random_file_is_not_a_keras_model(not_a_model, unread_splits, tmp_path):
    with pytest.raises(ParameterError, match="is not a Keras model") as err:
        export(not_a_model, unread_splits[2], str(tmp_path / "o"))
    assert "model.h5" in err.value.fix


def test_parity_check_accepts_rounding_and_rejects_real_differences():
    expected = np.linspace(0, 1, 12, dtype="float32").reshape(6, 2)
    assert check_parity(expected + 5e-5, expected, 1e-4) == pytest.approx(5e-5, rel=1e-2)
    wrong = expected.copy()
    wrong[4, 1] += 0.01
    with pytest.raises(OptimizationGateError, match=r"up to 0\.01 \(row 4\)") as err:
        check_parity(wrong, expected, 1e-4)
    assert "opset" in err.value.fix
    with pytest.raises(OptimizationGateError, match="shape"):
        check_parity(expected[:, :1], expected, 1e-4)


@pytest.mark.slow
def test_onnx_matches_keras_within_tolerance(trained_model, splits, tmp_path):
    import onnxruntime as ort

    from kfp_mlops.components.common.artifacts import load_keras, load_xy

    out = tmp_path / "onnx"
    result = export(trained_model, splits.test, str(out), latency_runs=20)
    m = result.metrics
    assert m["max_abs_diff"] <= 1e-4
    assert m["accuracy_change_pp"] == pytest.approx(0.0)
    assert result.blessed is True
    assert result.metadata["converter"] == "tf2onnx.convert.from_keras"
    assert m["size_bytes"] == (out / "model.onnx").stat().st_size
    assert 0 < m["gzipped_size_bytes"] < m["size_bytes"]
    # Independent check: run the file ourselves against the Keras model.
    x, _, _ = load_xy(splits.test)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    expected = load_keras(trained_model).predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-4)
