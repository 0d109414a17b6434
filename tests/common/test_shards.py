"""The sharded-dataset contract: writer, manifest, streaming reads, rank slices, bad input."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.shards import (
    MANIFEST,
    ShardError,
    ShardWriter,
    files_for_rank,
    is_sharded,
    iter_batches,
    iter_parts,
    read_manifest,
    read_table,
    write_frame,
)


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 100, size=rows),
            "c": rng.choice(["a", "b", "c"], size=rows),
            "target": rng.integers(0, 2, size=rows),
        }
    )


def test_writer_rolls_shards_and_writes_the_manifest(tmp_path):
    frame = _frame(2_500)
    out = tmp_path / "ds"
    with ShardWriter(out, rows_per_shard=1_000, row_group_rows=300) as writer:
        for start in range(0, len(frame), 700):  # batches that straddle shard ends
            writer.write(frame.iloc[start : start + 700])
    assert is_sharded(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == "kfp-mlops-shards/1"
    assert manifest["rows"] == 2_500
    assert [s["rows"] for s in manifest["shards"]] == [1_000, 1_000, 500]
    assert manifest["shards"][0]["file"] == "part-00000.parquet"
    assert manifest["schema"][0] == {"name": "x", "type": "double"}
    first = pq.ParquetFile(out / "part-00000.parquet").metadata
    assert first.num_rows == 1_000 and first.num_row_groups == 4  # 300+300+300+100
    assert read_manifest(out).rows == 2_500
    pd.testing.assert_frame_equal(read_table(out), frame)


def test_iter_batches_over_file_dir_glob_and_shards_agree(tmp_path):
    frame = _frame(1_000)
    single = tmp_path / "one.parquet"
    frame.to_parquet(single, index=False)
    plain = tmp_path / "plain"
    plain.mkdir()
    for i in range(3):
        frame.iloc[i * 400 : (i + 1) * 400].to_parquet(plain / f"f{i}.parquet", index=False)
    (plain / "_SUCCESS").write_text("")  # marker files are skipped
    csvs = tmp_path / "csvs"
    csvs.mkdir()
    for i in range(2):
        frame.iloc[i * 500 : (i + 1) * 500].to_csv(csvs / f"p{i}.csv", index=False)
    sharded = tmp_path / "sharded"
    write_frame(frame, sharded, rows_per_shard=333)
    for path in (single, plain, str(plain / "*.parquet"), sharded, csvs, str(csvs / "*.csv")):
        batches = list(iter_batches(path, batch_rows=128))
        assert all(b.num_rows <= 128 for b in batches)
        got = pd.concat([b.to_pandas() for b in batches], ignore_index=True)
        pd.testing.assert_frame_equal(got, frame, check_dtype=False)
        assert read_manifest(path).rows == 1_000
    only = pd.concat(
        [b.to_pandas() for b in iter_batches(sharded, columns=["target"])], ignore_index=True
    )
    assert list(only.columns) == ["target"] and only["target"].sum() == frame["target"].sum()


def test_csv_shards_with_int_and_float_versions_of_a_column_unify(tmp_path):
    (tmp_path / "a.csv").write_text("v,target\n1,0\n2,1\n")
    (tmp_path / "b.csv").write_text("v,target\n1.5,0\n,1\n")
    manifest = read_manifest(str(tmp_path / "*.csv"))
    assert manifest.rows == 4
    assert {c["name"]: c["type"] for c in manifest.schema}["v"] == "double"
    values = read_table(str(tmp_path / "*.csv"))["v"].tolist()
    assert values[:3] == [1.0, 2.0, 1.5] and np.isnan(values[3])


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_files_for_rank_partitions_every_row_once(tmp_path, size):
    frame = _frame(1_001)
    out = tmp_path / "ds"
    write_frame(frame, out, rows_per_shard=250, row_group_rows=60)
    seen = []
    for rank in range(size):
        parts = files_for_rank(out, rank, size)
        rows = pd.concat([b.to_pandas() for b in iter_parts(parts, batch_rows=50)])
        assert abs(len(rows) - 1_001 / size) < 1  # balanced: Horovod needs equal steps
        seen.append(rows)
    pd.testing.assert_frame_equal(pd.concat(seen, ignore_index=True), frame)


def test_files_for_rank_on_a_single_file_uses_row_ranges(tmp_path):
    frame = _frame(100)
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False, row_group_size=30)
    parts = files_for_rank(path, 1, 2)
    assert [(p.file, p.start, p.stop) for p in parts] == [(str(path), 50, 100)]
    got = pd.concat([b.to_pandas() for b in iter_parts(parts, columns=["x"])], ignore_index=True)
    np.testing.assert_array_equal(got["x"], frame["x"].iloc[50:])
    with pytest.raises(ShardError, match="rank 2 of 2 is not a valid rank"):
        files_for_rank(path, 2, 2)


def test_mixed_schemas_name_the_file_and_the_column(tmp_path):
    _frame(10).to_parquet(tmp_path / "a.parquet", index=False)
    _frame(10).rename(columns={"n": "count"}).to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(ShardError, match=r"shard '.*b\.parquet' has extra column 'count'"):
        list(iter_batches(tmp_path))
    (tmp_path / "b.parquet").unlink()
    _frame(10).assign(x="text").to_parquet(tmp_path / "c.parquet", index=False)
    with pytest.raises(ShardError, match=r"column .x. is string in shard .*c\.parquet. but"):
        read_manifest(tmp_path)


def test_unreadable_shard_is_named(tmp_path):
    out = tmp_path / "ds"
    write_frame(_frame(100), out, rows_per_shard=40)
    (out / "part-00001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ShardError, match=r"cannot read shard '.*part-00001\.parquet'"):
        list(iter_batches(out))
    (out / "part-00001.parquet").unlink()
    with pytest.raises(ShardError, match=r"shard '.*part-00001\.parquet' listed in .* is missing"):
        list(iter_batches(out))


def test_nothing_to_read(tmp_path):
    with pytest.raises(ShardError, match=r"the glob '.*\*\.parquet' matches no files"):
        list(iter_batches(str(tmp_path / "*.parquet")))
    with pytest.raises(ShardError, match="holds no .parquet or .csv files"):
        read_manifest(tmp_path)
    with pytest.raises(ShardError, match="does not exist"):
        read_manifest(tmp_path / "missing.parquet")
    with pytest.raises(ShardError, match="column 'nope' is not in"):
        _frame(5).to_parquet(tmp_path / "a.parquet")
        list(iter_batches(tmp_path, columns=["nope"]))


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(ShardError, match="column 'x' is string in a later batch"):
        with ShardWriter(out, rows_per_shard=10, row_group_rows=5) as writer:
            writer.write(_frame(30))
            writer.write(_frame(5).assign(x="oops"))
    assert not out.exists()
    with pytest.raises(ShardError, match="a batch has columns"):
        with ShardWriter(out) as writer:
            writer.write(_frame(3))
            writer.write(_frame(3).drop(columns=["c"]))
    assert not out.exists()


def test_writer_replaces_a_precreated_artifact_file_and_keeps_an_empty_schema(tmp_path):
    out = tmp_path / "artifact"
    out.write_text("")  # KFP may create the output path as a file
    with ShardWriter(out) as writer:
        writer.write(_frame(0))
    assert read_manifest(out).rows == 0
    assert read_table(out).columns.tolist() == ["x", "n", "c", "target"]
    assert shards.read_manifest(out).columns == ["x", "n", "c", "target"]


def test_processed_splits_may_be_sharded(tmp_path):
    from kfp_mlops.components.common.artifacts import (
        SplitError,
        check_split_schema,
        iter_xy,
        load_xy,
        split_rows,
    )

    frame = pd.DataFrame({"f0": np.arange(500.0), "f1": np.ones(500), "label": np.arange(500) % 2})
    single = tmp_path / "train.parquet"
    frame.to_parquet(single, index=False)
    sharded = tmp_path / "train"
    write_frame(frame, sharded, rows_per_shard=120)
    for path in (single, sharded):
        x, y, names = load_xy(str(path), "training")
        assert x.shape == (500, 2) and y.sum() == 250 and names == ["f0", "f1"]
        assert split_rows(str(path)) == 500
        assert check_split_schema(str(path), "training") == ["f0", "f1"]
        batches = list(iter_xy(str(path), "training", batch_rows=64))
        np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
        assert max(len(b[1]) for b in batches) <= 64
    ranked = list(iter_xy(str(sharded), parts=files_for_rank(sharded, 1, 2)))
    assert sum(len(b[1]) for b in ranked) == 250
    bad = tmp_path / "bad"
    write_frame(frame.assign(label=frame["label"].astype(float)), bad)
    with pytest.raises(SplitError, match="the training labels are not integers"):
        check_split_schema(str(bad), "training")
    with pytest.raises(SplitError, match="has no 'label' column"):
        check_split_schema(str(write_frame(frame.drop(columns="label"), tmp_path / "x").root))
