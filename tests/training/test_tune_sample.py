"""Tuning on a split larger than TUNE_MAX_ROWS reads an even sample in one streaming pass."""

import numpy as np
import pandas as pd

from kfp_mlops.components.common.shards import write_frame
from kfp_mlops.components.training.tune_hyperparameters import core


def _split(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"f0": rng.normal(size=rows).astype("float32"), "label": np.arange(rows) % 2}
    )


def test_large_sharded_split_is_sampled_evenly(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "TUNE_MAX_ROWS", 1000)
    frame = _split(4500)
    write_frame(frame, tmp_path / "train", rows_per_shard=700, row_group_rows=100)
    sample = core._frame(str(tmp_path / "train"), "train", regression=False)
    assert len(sample) == 900  # every 5th row
    np.testing.assert_array_equal(sample["f0"].to_numpy(), frame["f0"].to_numpy()[::5])


def test_small_split_is_read_whole(tmp_path):
    frame = _split(300)
    frame.to_parquet(tmp_path / "train.parquet")
    assert len(core._frame(str(tmp_path / "train.parquet"), "train", regression=False)) == 300
