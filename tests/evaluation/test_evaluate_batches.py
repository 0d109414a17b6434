"""evaluate_model on sharded test splits: batch predictions give the in-memory metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.artifacts import SplitError
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor
from kfp_mlops.components.evaluation.evaluate_model import core
from kfp_mlops.components.evaluation.evaluate_model.batches import open_test, predict_test
from kfp_mlops.components.evaluation.evaluate_model.predictors import (
    load_predictor,
    predict_all,
    score,
)
from tests.evaluation.test_evaluate_regression import diabetes, fit_model  # noqa: F401

FAST = {"repetitions": 5, "batch_size": 8, "batch_repetitions": 2}
LENIENT = core.Thresholds(
    min_accuracy=0.0, max_latency_p50_ms=0, max_latency_p95_ms=0, max_latency_p99_ms=0
)


def shard(path: str, out, rows_per_shard: int = 20, group: int = 7) -> str:
    """The split at ``path`` rewritten as a shard directory of small shards."""
    shards.write_frame(
        pd.read_parquet(path), out, rows_per_shard=rows_per_shard, row_group_rows=group
    )
    return str(out)


def in_memory(test_path: str, model_dir: str, preprocessor_path: str):
    """Today's path: the whole split in memory, predicted in chunks, scored."""
    features, labels, preprocessor = core.load_test(test_path, preprocessor_path)
    predict_fn, _ = load_predictor(model_dir)
    return score(predict_all(predict_fn, features), labels, preprocessor.task_spec)[0]


@pytest.mark.parametrize("data", ["bc_data", "digits_data"])
def test_sharded_test_split_gives_the_in_memory_metrics(data, request, good_model, tmp_path):
    prepared = request.getfixturevalue(data)
    model = good_model
    if data == "digits_data":
        from tests.evaluation.conftest import train_model_dir

        model = train_model_dir(prepared, tmp_path / "digits_model", epochs=3)
    expected = in_memory(prepared.test, model, prepared.preprocessor)
    sharded = shard(prepared.test, tmp_path / "test")
    result = core.evaluate(sharded, model, prepared.preprocessor, LENIENT, **FAST)
    assert result.metrics.scalars == expected.scalars
    assert result.metrics.confusion_matrix == expected.confusion_matrix
    assert result.metrics.roc == expected.roc
    assert result.rows == len(pd.read_parquet(prepared.test))
    single = core.evaluate(prepared.test, model, prepared.preprocessor, LENIENT, **FAST)
    assert single.metrics.scalars == expected.scalars


def test_small_chunks_keep_every_row_in_order(bc_data, good_model, tmp_path):
    preprocessor = Preprocessor.load(bc_data.preprocessor)
    test = open_test(shard(bc_data.test, tmp_path / "test", 30, 9), preprocessor)
    predict_fn, _ = load_predictor(good_model)
    passed = predict_test(test, {"model": predict_fn}, sample_rows=10, chunk_rows=16)
    features, labels, _ = core.load_test(bc_data.test, bc_data.preprocessor)
    assert passed.labels.tolist() == labels.tolist()
    assert np.array_equal(passed.sample, features[:10])
    np.testing.assert_allclose(passed.raw["model"], predict_all(predict_fn, features), atol=1e-6)
    small = score(passed.raw["model"], passed.labels, preprocessor.task_spec)[0]
    assert (
        small.confusion_matrix
        == in_memory(bc_data.test, good_model, bc_data.preprocessor).confusion_matrix
    )


def test_sharded_regression_metrics_equal_in_memory(diabetes, tmp_path):  # noqa: F811
    base, _ = diabetes
    model = fit_model(base, tmp_path / "model", epochs=5)
    test, pre = str(base / "test.parquet"), str(base / "preprocessor.json")
    expected = in_memory(test, model, pre)
    thresholds = core.Thresholds(max_latency_p50_ms=0, max_latency_p95_ms=0, max_latency_p99_ms=0)
    result = core.evaluate(shard(test, tmp_path / "test"), model, pre, thresholds, **FAST)
    assert result.metrics.scalars == expected.scalars
    assert len(result.targets) == len(result.predictions) == result.rows


def test_bad_sharded_test_split_is_named_before_prediction(bc_data, good_model, tmp_path):
    sharded = tmp_path / "test"
    shard(bc_data.test, sharded)
    (sharded / "part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(SplitError, match="part-00001.parquet"):
        core.evaluate(str(sharded), good_model, bc_data.preprocessor, LENIENT, **FAST)
    narrow = pd.read_parquet(bc_data.test).iloc[:, 2:]
    shards.write_frame(narrow, tmp_path / "narrow", rows_per_shard=40)
    with pytest.raises(ParameterError, match="features, the preprocessor"):
        core.evaluate(str(tmp_path / "narrow"), good_model, bc_data.preprocessor, LENIENT, **FAST)
