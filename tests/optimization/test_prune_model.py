"""Tests of prune_model: schedule, parameter errors and a real tfmot pruning run."""

from __future__ import annotations

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.optimization.common import OptimizationGateError
from kfp_mlops.components.optimization.prune_model.core import (
    check_sparsity,
    prune,
    schedule_for,
    validate_sparsity,
)
from kfp_mlops.components.optimization.record import FLOAT_TFLITE_SOURCE, read_record, sha256_of


@pytest.mark.parametrize(
    ("initial", "final", "match"),
    [
        (-0.1, 0.5, r"initial_sparsity -0.1 is outside \[0, 1\)"),
        (0.0, 1.0, r"final_sparsity 1.0 is outside \[0, 1\)"),
        (0.6, 0.5, "final_sparsity 0.5 is below initial_sparsity 0.6"),
        (0.0, 0.97, "final_sparsity 0.97 is above 0.95"),
    ],
)
def test_bad_sparsity_is_rejected_with_the_fix(initial, final, match):
    with pytest.raises(ParameterError, match=match) as err:
        validate_sparsity(initial, final)
    assert err.value.fix


@pytest.mark.parametrize(("rows", "batch", "epochs"), [(398, 32, 2), (40, 32, 1), (5000, 16, 3)])
def test_schedule_fires_and_reaches_the_final_step(rows, batch, epochs):
    s = schedule_for(rows, batch, epochs)
    total = s.steps_per_epoch * epochs
    assert s.steps_per_epoch == -(-rows // batch)
    assert 1 <= s.end_step <= max(1, total - 1)
    assert s.end_step % s.frequency == 0  # the last pruning step is end_step itself
    assert s.end_step // s.frequency >= min(10, s.end_step)  # several pruning updates


def test_schedule_for_the_breast_cancer_train_split():
    s = schedule_for(398, 32, 2)
    assert (s.steps_per_epoch, s.begin_step, s.end_step, s.frequency) == (13, 0, 20, 2)


def test_sparsity_shortfall_names_layers_and_fix():
    check_sparsity(0.49, 0.5, {"dense_0": 0.49})  # 1 pp short: tolerated
    with pytest.raises(OptimizationGateError, match="achieved sparsity 0.4000") as err:
        check_sparsity(0.40, 0.5, {"dense_0": 0.45, "dense_1": 0.30})
    assert "dense_1=0.300" in str(err.value)
    assert "more epochs" in err.value.fix


def test_random_file_is_not_a_keras_model(not_a_model, unread_splits, tmp_path):
    with pytest.raises(ParameterError, match="is not a Keras model: it is not an HDF5 file") as err:
        prune(not_a_model, *unread_splits, str(tmp_path / "o"))
    assert "train_model" in err.value.fix


def test_missing_model_file_is_named(unread_splits, tmp_path):
    with pytest.raises(ParameterError, match="no Keras model at"):
        prune(str(tmp_path), *unread_splits, str(tmp_path / "o"))


@pytest.mark.slow
def test_prune_reaches_target_sparsity_and_shrinks_the_gzipped_model(
    trained_model, splits, tmp_path
):
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.optimization.common import kernel_sparsity

    out = tmp_path / "pruned"
    result = prune(
        trained_model,
        splits.train,
        splits.validation,
        splits.test,
        str(out),
        final_sparsity=0.5,
        epochs=2,
        gate_mode="mark",
        latency_runs=20,
    )
    m = result.metrics
    assert abs(m["sparsity"] - 0.5) <= 0.02
    for layer in ("dense_0", "dense_1", "probabilities"):
        assert abs(m[f"sparsity_{layer}"] - 0.5) <= 0.02
    # The written model is a plain (stripped) Keras model with the zeros in it.
    reloaded = load_keras(str(out))
    assert not any("prune" in layer.__class__.__name__.lower() for layer in reloaded.layers)
    assert kernel_sparsity(reloaded)[0] == pytest.approx(m["sparsity"])
    assert (out / "model.tflite").exists()
    assert m["tflite_gzipped_size_bytes"] < 0.8 * m["baseline_tflite_gzipped_size_bytes"]
    assert m["gzipped_size_ratio"] > 1.25
    assert m["latency_p50_ms"] > 0 and m["baseline_latency_p50_ms"] > 0
    assert abs(m["tflite_accuracy"] - m["accuracy"]) <= 0.02
    # gate_mode="mark": blessed says whether the drop stayed within 0.5 pp.
    assert result.blessed == (m["accuracy_change_pp"] >= -0.5)
    assert result.metadata["blessed"] == result.blessed
    assert result.metadata["schedule"]["end_step"] == 20
    assert set(result.metadata["layer_sparsity"]) == {"dense_0", "dense_1", "probabilities"}
    # The record names the step and the weights model.tflite was converted from.
    record = read_record(out)
    assert "50.0% kernel sparsity (Dense and conv)" in record["pruning"]
    assert record[FLOAT_TFLITE_SOURCE] == sha256_of(out / "model.h5")
