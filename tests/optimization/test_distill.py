"""distill_model's core: parameters, the student's quality and gate, resume, prune + int8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ModelCodeError, ParameterError
from kfp_mlops.components.optimization.common import OptimizationGateError
from kfp_mlops.components.optimization.distill_model.core import distill

FAST = {"latency_runs": 5, "batch_size": 32}


def _data(splits) -> tuple[str, str, str]:
    return splits.train, splits.validation, splits.test


@pytest.fixture(scope="module")
def distilled(trained_model, splits, tmp_path_factory) -> tuple[str, object]:
    """A 16-8 student distilled from the 128-64 teacher for 20 epochs."""
    out = tmp_path_factory.mktemp("distilled") / "student"
    result = distill(trained_model, *_data(splits), str(out), epochs=20, **FAST)
    return str(out), result


# ------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    "given,named",
    [
        ({"alpha": 1.5}, "alpha 1.5 is outside [0, 1]"),
        ({"alpha": -0.1}, "alpha -0.1 is outside [0, 1]"),
        ({"temperature": 0.0}, "temperature 0.0 is not positive"),
        ({"temperature": -2.0}, "temperature -2.0 is not positive"),
        ({"epochs": 0}, "epochs is 0"),
        ({"gate_mode": "warn"}, "gate_mode 'warn'"),
        ({"precision": "float8"}, "precision 'float8'"),
        ({"student_hidden_units": "16,x"}, "hidden_units '16,x'"),
    ],
)
def test_bad_parameters_raise_before_anything_is_read(given, named, unread_splits, tmp_path):
    # Neither the model nor the splits exist: the parameter check comes first.
    with pytest.raises(ParameterError, match=named.replace("[", r"\[").replace("]", r"\]")):
        distill(str(tmp_path / "no-model"), *unread_splits, str(tmp_path / "out"), **given)
    assert not (tmp_path / "out").exists()


def test_a_student_bigger_than_the_teacher_is_refused_before_training(
    trained_model, splits, tmp_path
):
    out = tmp_path / "student"
    with pytest.raises(ParameterError, match="more than the teacher's 12289") as caught:
        distill(trained_model, *_data(splits), str(out), student_hidden_units="256,128")
    assert "fewer units" in caught.value.fix
    # Nothing was trained: no checkpoint and no output directory.
    assert not out.exists() and not Path(f"{out}-checkpoints").exists()


def test_a_student_model_fn_that_does_not_exist_is_named(trained_model, splits, tmp_path):
    with pytest.raises(ModelCodeError, match="builtin:tiny"):
        distill(trained_model, *_data(splits), str(tmp_path / "s"), student_model_fn="builtin:tiny")


# ------------------------------------------------------------------------------ quality


def test_the_student_is_close_to_the_teacher_and_far_smaller(distilled, splits):
    from kfp_mlops.components.common.artifacts import load_keras, load_xy

    out, result = distilled
    m = result.metrics
    assert result.blessed
    assert m["teacher_params"] == 12289 and m["student_params"] == 30 * 16 + 16 + 16 * 8 + 8 + 9
    assert m["params_ratio"] > 15 and m["size_ratio"] > 2
    assert m["accuracy"] >= m["teacher_accuracy"] - 0.01  # the default gate: <= 1 pp loss
    assert m["accuracy_change_pp"] == pytest.approx((m["accuracy"] - m["teacher_accuracy"]) * 100)
    x, _, _ = load_xy(splits.test)
    student = load_keras(out)
    assert student.count_params() == m["student_params"]
    # Close to the teacher itself, not only to the labels: the same class on >= 95% of rows.
    teacher = load_keras(str(Path(result.metadata["teacher"])))
    agree = np.mean((student.predict(x, verbose=0) > 0.5) == (teacher.predict(x, verbose=0) > 0.5))
    assert agree >= 0.95


def test_the_output_directory_has_the_teacher_layout_and_a_record(distilled):
    out, result = distilled
    files = {p.name for p in Path(out).iterdir()}
    assert {"model.h5", "model_config.json", "optimization.json"} <= files
    assert result.metadata["files"] == sorted(files)
    config = json.loads((Path(out) / "model_config.json").read_text())
    assert config["model_fn"] == "builtin:mlp" and config["model_config"]["hidden_units"] == [16, 8]
    assert config["task"]["task_type"] == "binary"
    record = json.loads((Path(out) / "optimization.json").read_text())
    assert record["distillation"].startswith("knowledge distillation into builtin:mlp [16, 8]")
    assert "641 parameters, teacher 12289" in record["distillation"]


def test_the_gate_refuses_a_student_worse_than_allowed(trained_model, splits, tmp_path):
    # A 1-unit student barely trained (lr 1e-6, one epoch) is far from the teacher.
    bad = {"student_hidden_units": "1", "epochs": 1, "learning_rate": 1e-6, **FAST}
    with pytest.raises(OptimizationGateError, match="distilled student lost") as caught:
        distill(trained_model, *_data(splits), str(tmp_path / "a"), max_accuracy_drop=0.0, **bad)
    assert "more than max_accuracy_drop=0.0 pp" in caught.value.problem
    assert "train the student longer" in caught.value.fix
    marked = distill(
        trained_model,
        *_data(splits),
        str(tmp_path / "b"),
        gate_mode="mark",
        max_accuracy_drop=0.0,
        **bad,
    )
    assert not marked.blessed and "gate_reason" in marked.metadata
    assert marked.metrics["accuracy_change_pp"] < 0


def test_regression_student_gated_on_rmse(regression_model, regression_splits, tmp_path):
    result = distill(
        regression_model,
        *_data(regression_splits),
        str(tmp_path / "student"),
        student_hidden_units="8",
        alpha=0.5,
        epochs=40,
        learning_rate=1e-2,
        max_rmse_increase_pct=10.0,
        **FAST,
    )
    m = result.metrics
    assert {"rmse", "teacher_rmse", "rmse_change_pct"} <= set(m)
    assert m["rmse_change_pct"] == pytest.approx(
        (m["rmse"] - m["teacher_rmse"]) / m["teacher_rmse"] * 100
    )
    assert m["rmse_change_pct"] <= 10.0 and result.blessed
    assert m["student_params"] < m["teacher_params"]


# ------------------------------------------------------------------------------ resume


def test_a_retried_run_resumes_from_the_last_epoch(trained_model, splits, tmp_path):
    ckpt = str(tmp_path / "ckpt")
    short = {**FAST, "gate_mode": "mark"}  # a 2-epoch student need not pass the gate
    first = distill(
        trained_model, *_data(splits), str(tmp_path / "a"), epochs=2, checkpoint_uri=ckpt, **short
    )
    assert first.metrics["resumed_from_epoch"] == 0 and first.metrics["epochs_run"] == 2
    state = json.loads((Path(ckpt) / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    again = distill(
        trained_model, *_data(splits), str(tmp_path / "b"), epochs=4, checkpoint_uri=ckpt, **short
    )
    assert again.metrics["resumed_from_epoch"] == 2 and again.metrics["epochs_run"] == 4
    # Another student (alpha) must not be mixed into this checkpoint.
    with pytest.raises(ParameterError, match="another distillation run"):
        distill(trained_model, *_data(splits), str(tmp_path / "c"), alpha=0.9, checkpoint_uri=ckpt)


def test_mixed_precision_trains_and_saves_a_float32_student(trained_model, splits, tmp_path):
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.tf import import_tf

    out = tmp_path / "student"
    result = distill(
        trained_model,
        *_data(splits),
        str(out),
        epochs=2,
        precision="mixed_bfloat16",
        gate_mode="mark",
        **FAST,
    )
    assert result.metadata["precision_policy"] == "mixed_bfloat16"
    assert import_tf().keras.mixed_precision.global_policy().name == "float32"  # restored
    student = load_keras(str(out))
    assert {layer.dtype for layer in student.layers if layer.weights} == {"float32"}


# ------------------------------------------------------------------------------ pipeline


@pytest.mark.slow
def test_the_student_goes_through_prune_and_int8_quantize(distilled, splits, tmp_path):
    from kfp_mlops.components.optimization.prune_model.core import prune
    from kfp_mlops.components.optimization.quantize_model.core import quantize

    out, _ = distilled
    pruned = prune(
        out,
        *_data(splits),
        str(tmp_path / "pruned"),
        final_sparsity=0.5,
        epochs=3,
        gate_mode="mark",
        latency_runs=5,
    )
    assert pruned.metrics["sparsity"] == pytest.approx(0.5, abs=0.02)
    quantized = quantize(
        str(tmp_path / "pruned"),
        *_data(splits),
        str(tmp_path / "int8"),
        gate_mode="mark",
        latency_runs=5,
    )
    assert quantized.metadata["mode"] == "int8"
    assert (tmp_path / "int8" / "model.tflite").stat().st_size > 0
    assert quantized.metrics["accuracy"] > 0.9


def test_prune_carries_the_distillation_line(distilled, tmp_path):
    from kfp_mlops.components.optimization.record import write_record

    out, _ = distilled
    record = write_record(tmp_path, out, pruning="p")
    assert record["distillation"].startswith("knowledge distillation")
