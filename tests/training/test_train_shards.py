"""Training on sharded splits: each rank reads only its rows, equal steps, same model, resume."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.artifacts import SplitError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.train_model import core, preflight, split_stream
from kfp_mlops.components.training.train_model.config import WorkerConfig
from kfp_mlops.components.training.train_model.worker_stream import (
    load_streamed,
    shuffled_batches,
)
from tests.training.conftest import preprocess

FAST = {
    "epochs": 8,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "warmup_epochs": 2,
    "grad_accum_steps": 2,
    "early_stopping_patience": 10,
    "export_saved_model": False,
    "timeout_s": 540,
}


def write_shards(frame: pd.DataFrame, path: Path, rows_per_shard: int, row_group_rows: int) -> str:
    shards.write_frame(frame, path, rows_per_shard=rows_per_shard, row_group_rows=row_group_rows)
    return str(path)


@pytest.fixture(scope="module")
def bc_sharded(breast_cancer, tmp_path_factory):
    """Breast cancer as single files and as shard directories (train: 4 shards x 2 groups)."""
    base = tmp_path_factory.mktemp("bc_shards")
    train, val = preprocess(breast_cancer)
    train.to_parquet(base / "train.parquet", index=False)
    val.to_parquet(base / "validation.parquet", index=False)
    return {
        "single": (str(base / "train.parquet"), str(base / "validation.parquet")),
        "sharded": (
            write_shards(train, base / "train", 120, 60),
            write_shards(val, base / "validation", 50, 25),
        ),
        "frames": (train, val),
    }


def numbered(rows: int) -> pd.DataFrame:
    """Feature ``f`` = row number, so rows can be traced through the readers."""
    return pd.DataFrame(
        {"f": np.arange(rows, dtype="float32"), "label": (np.arange(rows) % 2).astype("int64")}
    )


def config(train: str, val: str, **extra) -> WorkerConfig:
    return WorkerConfig(
        train_path=train,
        validation_path=val,
        output_dir="",
        log_dir="",
        checkpoint_dir="",
        num_classes=2,
        streaming=True,
        **extra,
    )


@pytest.mark.parametrize(("rows_per_shard", "group"), [(10, 5), (100, 7), (1000, 1000)])
def test_two_ranks_read_disjoint_rows_covering_the_split(tmp_path, rows_per_shard, group):
    path = write_shards(numbered(103), tmp_path / "d", rows_per_shard, group)
    info = split_stream.describe(path)
    seen = []
    for rank in range(2):
        parts = split_stream.rank_parts(info, rank, 2)
        rows = [x[:, 0] for x, _ in split_stream.iter_chunks(info, ["f"], parts=parts)]
        seen.append(np.concatenate(rows).astype(int).tolist())
    assert set(seen[0]).isdisjoint(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(103))
    assert abs(len(seen[0]) - len(seen[1])) <= 1


def test_chunks_have_exactly_the_chunk_size(tmp_path):
    path = write_shards(numbered(1000), tmp_path / "d", 300, 70)
    info = split_stream.describe(path)
    sizes = [len(y) for _, y in split_stream.iter_chunks(info, ["f"], chunk_rows=128)]
    assert sizes == [128] * 7 + [104]


def test_every_rank_runs_the_same_steps_of_full_batches(tmp_path):
    train = write_shards(numbered(203), tmp_path / "t", 50, 25)
    val = write_shards(numbered(41), tmp_path / "v", 50, 25)
    cfg = config(train, val, batch_size=16)
    task = TaskSpec.for_classes("target", ["0", "1"], ["f"])
    data = [load_streamed(cfg, task, rank, 2) for rank in range(2)]
    assert [d.steps_per_epoch for d in data] == [13, 13]  # ceil(203 / (8 * 2)), from the rows
    assert [d.train_rows for d in data] == [203, 203]
    for d in data:
        batches = shuffled_batches(d.train, d.train_parts, ["f"], False, 8, 0, 0, 64)
        for _ in range(3 * d.steps_per_epoch):  # three epochs, more than one pass
            x, y = next(batches)
            assert x.shape == (8, 1) and y.shape == (8,)


def test_a_pass_is_a_shuffled_permutation_of_the_ranks_rows(tmp_path):
    path = write_shards(numbered(200), tmp_path / "d", 40, 20)
    info = split_stream.describe(path)
    parts = split_stream.rank_parts(info, 1, 2)
    rows = sorted(
        int(v) for x, _ in split_stream.iter_chunks(info, ["f"], parts=parts) for v in x[:, 0]
    )
    assert rows == list(range(100, 200))
    gen = shuffled_batches(info, parts, ["f"], False, 10, 7, 0, buffer_rows=1000)
    first = np.concatenate([next(gen)[0][:, 0] for _ in range(10)]).astype(int)
    second = np.concatenate([next(gen)[0][:, 0] for _ in range(10)]).astype(int)
    assert sorted(first.tolist()) == rows and sorted(second.tolist()) == rows
    assert first.tolist() != rows and first.tolist() != second.tolist()
    again = shuffled_batches(info, parts, ["f"], False, 10, 7, 1, buffer_rows=1000)
    resumed = np.concatenate([next(again)[0][:, 0] for _ in range(10)]).astype(int)
    assert resumed.tolist() == second.tolist()  # a resumed run continues the pass sequence


def test_launcher_checks_sharded_splits_from_metadata(bc_sharded):
    train, val = bc_sharded["sharded"]
    summary = preflight.validate_data(train, val)
    frames = bc_sharded["frames"]
    assert summary.train_rows == len(frames[0]) and summary.validation_rows == len(frames[1])
    assert summary.num_classes == 2 and summary.num_features == 30 and summary.streaming
    single = preflight.validate_data(*bc_sharded["single"])
    assert not single.streaming and single.feature_names == summary.feature_names


def test_a_large_single_file_is_streamed_too(bc_sharded, monkeypatch):
    monkeypatch.setattr(split_stream, "IN_MEMORY_MAX_ROWS", 100)
    assert preflight.validate_data(*bc_sharded["single"]).streaming


def test_launcher_names_bad_shards(tmp_path):
    good = numbered(50)
    val = write_shards(good, tmp_path / "v", 20, 10)
    bad = good.assign(label=good["label"] + 5)
    with pytest.raises(SplitError, match=r"labels span 0\.\.6"):
        preflight.validate_data(write_shards(bad, tmp_path / "t1", 20, 10), val, num_classes=2)
    odd = tmp_path / "t2"
    write_shards(good, odd, 20, 10)
    good.drop(columns=["label"]).to_parquet(odd / "part-00001.parquet", index=False)
    with pytest.raises(SplitError, match="part-00001.parquet"):
        preflight.validate_data(str(odd), val)
    broken = tmp_path / "t3"
    write_shards(good, broken, 20, 10)
    (broken / "part-00002.parquet").write_bytes(b"not parquet")
    with pytest.raises(SplitError, match="part-00002.parquet"):
        preflight.validate_data(str(broken), val)


# --------------------------------------------------------------------------- trainer env

WORKER_READS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from kfp_mlops.components.common.task import TaskSpec
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.train_model.config import WorkerConfig
    from kfp_mlops.components.training.train_model.worker_stream import load_streamed

    tf = import_tf()
    train, val = sys.argv[1:3]
    cfg = WorkerConfig(train_path=train, validation_path=val, output_dir="", log_dir="",
                       checkpoint_dir="", num_classes=2, streaming=True, batch_size=16,
                       shuffle_buffer_rows=10000)
    task = TaskSpec.for_classes("target", ["0", "1"], ["f"])
    out = []
    for rank in range(2):
        data = load_streamed(cfg, task, rank, 2)
        ds = data.train_ds(tf, 3 + rank, 0, 1)
        first = [x.numpy()[:, 0].astype(int).tolist() for x, _ in ds.take(26)]
        val_rows = [x.numpy()[:, 0].astype(int).tolist() for x, _ in data.val_ds(tf, 1)]
        shapes = {str(y.shape) for _, y in ds.take(2)}
        out.append({"steps": data.steps_per_epoch, "train": sum(first, []),
                    "val": sum(val_rows, []), "y_shapes": sorted(shapes)})
    print(json.dumps(out))
    """
)


@pytest.mark.trainer
def test_trainer_env_ranks_stream_disjoint_rows_with_equal_steps(tmp_path, trainer_python):
    train = write_shards(numbered(200), tmp_path / "t", 50, 25)
    val = write_shards(numbered(30), tmp_path / "v", 10, 5)
    done = subprocess.run(
        [trainer_python, "-c", WORKER_READS, train, val],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"TF_USE_LEGACY_KERAS": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["steps"] for r in ranks] == [13, 13]
    # Two epochs of 13 batches of 8 rows: a rank's 100 rows give 12 batches a pass (the
    # other 4 wait for the next fill), so every row of the rank is drawn, and no other.
    for rank, rows in enumerate(r["train"] for r in ranks):
        assert len(set(rows[:96])) == 96
        assert set(rows) == set(range(100 * rank, 100 * rank + 100))
    assert set(ranks[0]["val"]).isdisjoint(ranks[1]["val"])
    assert sorted(ranks[0]["val"] + ranks[1]["val"]) == list(range(30))
    assert ranks[0]["y_shapes"] == ["(8, 1)"]  # binary: one sigmoid unit, float (n, 1)


@pytest.fixture(scope="module")
def sharded_run(bc_sharded, tmp_path_factory):
    base = tmp_path_factory.mktemp("sharded_run")
    return core.train(*bc_sharded["sharded"], str(base / "model"), num_workers=2, **FAST)


@pytest.mark.slow
@pytest.mark.trainer
def test_sharded_training_matches_single_file_training(bc_sharded, sharded_run, tmp_path):
    single = core.train(*bc_sharded["single"], str(tmp_path / "model"), num_workers=2, **FAST)
    assert sharded_run.metrics["streaming"] is True and single.metrics["streaming"] is False
    assert sharded_run.metrics["steps_per_epoch"] == single.metrics["steps_per_epoch"]
    assert sharded_run.weights[0]["sha256"] == sharded_run.weights[1]["sha256"]
    one, two = single.metrics["val_accuracy"], sharded_run.metrics["val_accuracy"]
    assert one > 0.9 and two > 0.9 and abs(one - two) <= 0.05
    assert sharded_run.metrics["train_rows"] == len(bc_sharded["frames"][0])


@pytest.mark.slow
@pytest.mark.trainer
def test_sharded_training_resumes_from_its_checkpoint(bc_sharded, tmp_path):
    params = {**FAST, "checkpoint_uri": str(tmp_path / "ckpt")}
    first = core.train(
        *bc_sharded["sharded"], str(tmp_path / "m"), num_workers=2, **{**params, "epochs": 3}
    )
    assert first.metrics["epochs_run"] == 3 and first.metrics["resumed_from_epoch"] == 0
    resumed = core.train(*bc_sharded["sharded"], str(tmp_path / "m"), num_workers=2, **params)
    assert resumed.metrics["resumed_from_epoch"] == 3
    assert resumed.metrics["epochs_this_run"] == FAST["epochs"] - 3
    assert [h["epoch"] for h in resumed.history] == list(range(1, FAST["epochs"] + 1))
    assert resumed.weights[0]["sha256"] == resumed.weights[1]["sha256"]
    assert resumed.metrics["val_accuracy"] > 0.85
