"""The optimization steps on sharded splits: batch predictions give the in-memory numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.artifacts import SplitError
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.optimization.batches import calibration_sample, open_split
from kfp_mlops.components.optimization.common import (
    accuracy,
    keras_outputs,
    load_model,
    load_split,
)
from kfp_mlops.components.optimization.quantize_model.core import quantize
from kfp_mlops.components.optimization.tflite import calibration_rows


def shard(path: str, out, rows_per_shard: int = 50, group: int = 16) -> str:
    frame = pd.read_parquet(path)
    shards.write_frame(frame, out, rows_per_shard=rows_per_shard, row_group_rows=group)
    return str(out)


def test_streamed_outputs_equal_in_memory_outputs(trained_model, splits, tmp_path):
    model = load_model(trained_model)
    test = open_split(shard(splits.test, tmp_path / "test", 20, 7), "test", model)
    outputs, labels = test.outputs({"keras": lambda x: keras_outputs(model, x)})
    x_test, y_test = load_split(splits.test, "test", model)
    assert labels.dtype == y_test.dtype and labels.tolist() == y_test.tolist()
    assert np.array_equal(outputs["keras"], keras_outputs(model, x_test))
    assert np.array_equal(test.head(1), x_test[:1])


def test_calibration_sample_is_the_in_memory_draw(trained_model, splits, tmp_path):
    model = load_model(trained_model)
    train = open_split(shard(splits.train, tmp_path / "train"), "train", model)
    x_train, _ = load_split(splits.train, "train", model)
    for rows, seed in ((100, 42), (7, 0), (10_000, 3)):
        assert np.array_equal(
            calibration_sample(train, rows, seed), calibration_rows(x_train, rows, seed)
        )
    with pytest.raises(ParameterError, match="representative_rows is 0"):
        calibration_sample(train, 0)


def test_open_split_checks_the_width_and_names_a_bad_shard(trained_model, splits, tmp_path):
    model = load_model(trained_model)
    narrow = pd.read_parquet(splits.test).iloc[:, 3:]
    shards.write_frame(narrow, tmp_path / "narrow", rows_per_shard=40)
    with pytest.raises(ParameterError, match="feature columns but the model's input"):
        open_split(str(tmp_path / "narrow"), "test", model)
    broken = tmp_path / "broken"
    shard(splits.test, broken)
    (broken / "part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(SplitError, match="part-00001.parquet"):
        open_split(str(broken), "test", model)


@pytest.mark.slow
def test_int8_on_sharded_splits_scores_as_on_files(trained_model, splits, tmp_path):
    common = {"mode": "int8", "io_type": "int8", "latency_runs": 5, "gate_mode": "mark"}
    files = quantize(
        trained_model, splits.train, splits.validation, splits.test, str(tmp_path / "f"), **common
    )
    sharded = quantize(
        trained_model,
        shard(splits.train, tmp_path / "train"),
        shard(splits.validation, tmp_path / "validation"),
        shard(splits.test, tmp_path / "test"),
        str(tmp_path / "s"),
        **common,
    )
    for key in ("accuracy", "baseline_accuracy", "accuracy_change_pp", "size_bytes"):
        assert sharded.metrics[key] == files.metrics[key], key
    # The same calibration rows make the same int8 model.
    assert (tmp_path / "s" / "model.tflite").read_bytes() == (
        tmp_path / "f" / "model.tflite"
    ).read_bytes()
    model = load_model(trained_model)
    x_test, y_test = load_split(splits.test, "test", model)
    runtime = TFLiteModel((tmp_path / "s" / "model.tflite").read_bytes())
    assert sharded.metrics["accuracy"] == accuracy(runtime.predict(x_test), y_test)


def test_streamed_batches_cover_each_row_once_per_pass_and_reshuffle(
    trained_model, splits, tmp_path
):
    from kfp_mlops.components.optimization.batches import (
        fit_inputs,
        streamed_batches,
        validation_data,
    )

    model = load_model(trained_model)
    sharded = shard(splits.train, tmp_path / "train")
    x_all, y_all = load_split(splits.train, "train", model)
    streamed = open_split(sharded, "train", model)
    rows = streamed.rows
    passes = streamed_batches(streamed, batch_size=32, seed=3).unbatch().batch(rows).take(2)
    (x1, y1), (x2, _) = [(x.numpy(), y.numpy()) for x, y in passes]
    assert y1.dtype == np.int64 and len(x1) == len(x2) == rows == len(x_all)
    key = lambda x: np.sort(x[:, 0])  # noqa: E731 - the first feature orders the rows
    assert np.array_equal(key(x1), key(x_all)) and np.array_equal(key(x2), key(x_all))
    assert not np.array_equal(x1, x2)  # each pass is shuffled anew
    assert sorted(y1.tolist()) == sorted(y_all.tolist())
    # One file of this size stays in memory; a shard directory is streamed.
    in_memory, in_memory_rows = fit_inputs(splits.train, "train", model, 32, 0)
    assert in_memory["batch_size"] == 32 and in_memory_rows == rows
    streamed_fit, streamed_rows = fit_inputs(sharded, "train", model, 32, 0)
    assert streamed_fit["steps_per_epoch"] == -(-rows // 32) and "y" not in streamed_fit
    assert streamed_rows == rows
    val = validation_data(shard(splits.validation, tmp_path / "val"), model, 32)
    assert sum(len(y) for _, y in val) == len(load_split(splits.validation, "v", model)[1])


@pytest.mark.slow
def test_prune_and_qat_fine_tune_on_sharded_splits(trained_model, splits, tmp_path):
    """The fine-tuning steps stream a sharded training split instead of loading it."""
    from kfp_mlops.components.optimization.prune_model.core import prune

    sharded = [shard(p, tmp_path / n) for p, n in ((splits.train, "t"), (splits.validation, "v"))]
    common = {"latency_runs": 5, "gate_mode": "mark"}
    pruned = prune(
        trained_model, *sharded, splits.test, str(tmp_path / "p"), final_sparsity=0.5, epochs=2,
        **common,
    )  # fmt: skip
    assert abs(pruned.metrics["sparsity"] - 0.5) <= 0.02
    assert pruned.metrics["accuracy"] >= pruned.metrics["baseline_accuracy"] - 0.05
    qat = quantize(
        trained_model, *sharded, splits.test, str(tmp_path / "q"), mode="int8", io_type="int8",
        qat_epochs=1, **common,
    )  # fmt: skip
    assert qat.metadata["qat_epochs"] == 1
    assert qat.metrics["accuracy"] >= qat.metrics["baseline_accuracy"] - 0.05
