"""The streaming split: hashed, fit batch by batch, sharded; equal to the in-memory fit."""

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.artifacts import load_xy, read_split
from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.data.split_and_preprocess.core import split_to
from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor
from kfp_mlops.components.data.split_and_preprocess.streaming import (
    SPLITS,
    assign_splits,
    split_streaming,
)


def _table(rows: int = 6_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, size=rows) for i in range(4)})
    frame["ties"] = rng.integers(0, 3, size=rows).astype(float)
    frame.loc[rng.random(rows) < 0.1, "x1"] = np.nan
    frame["colour"] = rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2])
    frame.loc[rng.random(rows) < 0.05, "colour"] = None
    frame["target"] = rng.choice(["yes", "no"], size=rows)
    return frame


def _outputs(folder):
    return {name: str(folder / name) for name in SPLITS}


def test_hashed_split_is_deterministic_and_near_the_fractions():
    rows = np.arange(200_000)
    codes = assign_splits(rows, 42, 0.15, 0.15)
    assert np.array_equal(codes, assign_splits(rows, 42, 0.15, 0.15))
    shares = np.bincount(codes) / len(rows)
    np.testing.assert_allclose(shares, [0.70, 0.15, 0.15], atol=0.005)
    assert not np.array_equal(codes, assign_splits(rows, 7, 0.15, 0.15))


def test_sharded_and_single_file_inputs_give_the_same_splits_and_statistics(tmp_path):
    frame = _table()
    single = tmp_path / "raw.parquet"
    frame.to_parquet(single, index=False)
    sharded = tmp_path / "raw"
    shards.write_frame(frame, sharded, rows_per_shard=1_700, row_group_rows=500)
    options = {"missing_indicator": True, "standardize_target": True}
    a = split_streaming(str(single), _outputs(tmp_path / "a"), rows_per_shard=2_000, **options)
    b = split_streaming(str(sharded), _outputs(tmp_path / "b"), rows_per_shard=2_000, **options)
    assert a.summary() == b.summary()
    assert a.summary()["imputed_values"] == int(frame.isna().sum().sum())
    ja, jb = a.preprocessor.to_json(), b.preprocessor.to_json()
    for key in ja:  # batch boundaries differ: sums may differ in the last bit
        if key in ("mean", "scale"):
            np.testing.assert_allclose(ja[key], jb[key], rtol=1e-12)
        else:
            assert ja[key] == jb[key], key
    for name in SPLITS:
        xa, ya, _ = load_xy(str(tmp_path / "a" / name))
        xb, yb, _ = load_xy(str(tmp_path / "b" / name))
        np.testing.assert_allclose(xa, xb, rtol=1e-6)
        np.testing.assert_array_equal(ya, yb)
    assert shards.read_manifest(tmp_path / "a" / "train").rows == a.summary()["train_rows"]
    # The streaming statistics equal an in-memory fit on the same training rows.
    train = frame[assign_splits(np.arange(len(frame)), 42, 0.15, 0.15) == 0]
    memory = Preprocessor.fit(train, "target", impute=True, **options).to_json()
    streamed = a.preprocessor.to_json()
    for key in ("mean", "scale", "fill_numeric"):
        np.testing.assert_allclose(streamed[key], memory[key], rtol=1e-12)
    for key in ("categories", "fill_categorical", "feature_names", "classes", "task"):
        assert streamed[key] == memory[key], key
    assert streamed["fill_numeric"][4] == train["ties"].median()  # exact, despite the ties


def test_regression_target_moments_match(tmp_path):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=3_000), "target": rng.gamma(2.0, 50.0, 3_000)})
    shards.write_frame(frame, tmp_path / "raw", rows_per_shard=1_000)
    result = split_streaming(str(tmp_path / "raw"), _outputs(tmp_path / "out"))
    task = result.preprocessor.task_spec
    train = frame[assign_splits(np.arange(3_000), 42, 0.15, 0.15) == 0]
    assert task.task_type == "regression" and result.summary()["num_classes"] == 0
    assert task.target_mean == pytest.approx(train["target"].mean(), rel=1e-12)
    assert task.target_scale == pytest.approx(train["target"].std(ddof=0), rel=1e-12)
    test = read_split(str(tmp_path / "out" / "test"), "test", regression=True)
    assert len(test) == result.summary()["test_rows"]


def test_split_to_keeps_small_files_as_today_and_streams_big_or_sharded_ones(tmp_path):
    frame = _table(2_000)
    single = tmp_path / "raw.parquet"
    frame.to_parquet(single, index=False)
    summary, _, rows = split_to(str(single), _outputs(tmp_path / "small"))
    assert (tmp_path / "small" / "train").is_file()  # one Parquet file, stratified
    assert sum(rows.values()) == 2_000 == sum(summary[f"{n}_rows"] for n in SPLITS)
    _, _, rows = split_to(str(single), _outputs(tmp_path / "big"), shard_above_rows=1_000)
    assert shards.is_sharded(tmp_path / "big" / "train") and sum(rows.values()) == 2_000


def test_bad_streaming_inputs_name_the_problem_and_write_nothing(tmp_path):
    frame = _table(1_000)
    shards.write_frame(frame.drop(columns="target"), tmp_path / "nolabel")
    with pytest.raises(DataValidationError, match="target column 'target' is missing"):
        split_streaming(str(tmp_path / "nolabel"), _outputs(tmp_path / "o"))
    shards.write_frame(frame, tmp_path / "gaps")
    with pytest.raises(DataValidationError, match=r"missing values in 'x1' \(\d+ rows\)"):
        split_streaming(str(tmp_path / "gaps"), _outputs(tmp_path / "o"), impute=False)
    shards.write_frame(frame.assign(target="only"), tmp_path / "one")
    with pytest.raises(DataValidationError, match="has a single class 'only'"):
        split_streaming(str(tmp_path / "one"), _outputs(tmp_path / "o"))
    many = frame.assign(colour=[f"c{i}" for i in range(1_000)])
    shards.write_frame(many, tmp_path / "many")
    with pytest.raises(DataValidationError, match=r"'colour' is not numeric and has \d+ distinct"):
        split_streaming(str(tmp_path / "many"), _outputs(tmp_path / "o"))
    rare = frame.copy()
    rare.loc[:1, "target"] = "rare"
    shards.write_frame(rare, tmp_path / "rare")
    with pytest.raises(DataValidationError, match="class 'rare' has only 2 rows"):
        split_streaming(str(tmp_path / "rare"), _outputs(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_unlabelled_rows_are_dropped_and_counted(tmp_path):
    frame = _table(3_000)
    frame.loc[[5, 17, 2_500], "target"] = None
    shards.write_frame(frame, tmp_path / "raw", rows_per_shard=1_000)
    result = split_streaming(str(tmp_path / "raw"), _outputs(tmp_path / "out"))
    assert result.summary()["dropped_rows"] == 3
    assert sum(result.summary()[f"{n}_rows"] for n in SPLITS) == 2_997
