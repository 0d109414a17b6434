"""load_dataset on many files: streamed into shards, same rows as one file, bad input named."""

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import DataLoadError, ParameterError
from kfp_mlops.components.common.io import load_dataset_artifact, write_bytes
from kfp_mlops.components.data.load_dataset.core import load, load_to


def _parts(frame, folder, n, fmt="parquet"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(frame, n)):
        path = folder / f"part{i}.{fmt}"
        getattr(part, f"to_{fmt}")(path, index=False)
    return folder


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_glob_and_directory_stream_into_shards_like_one_file(tmp_path, breast_cancer, fmt):
    single = tmp_path / f"bc.{fmt}"
    getattr(breast_cancer, f"to_{fmt}")(single, index=False)
    expected = load(str(single))
    folder = _parts(breast_cancer, tmp_path / "raw", 4, fmt)
    for source in (str(folder / f"*.{fmt}"), str(folder)):
        out = tmp_path / "out"
        summary = load_to(source, str(out), rows_per_shard=200)
        assert shards.is_sharded(out) and summary.sharded
        assert summary.rows == 569 and summary.num_classes == expected.num_classes == 2
        meta = summary.metadata()
        assert meta["shards"] == 3 and meta["rows"] == 569 and meta["format"] == "shards"
        assert [c["name"] for c in meta["schema"]] == list(breast_cancer.columns)
        pd.testing.assert_frame_equal(load_dataset_artifact(str(out)), expected.frame)


def test_small_single_file_keeps_todays_layout_and_big_ones_can_be_sharded(tmp_path, digits):
    path = tmp_path / "digits.parquet"
    digits.to_parquet(path, index=False)
    out = tmp_path / "file.parquet"
    summary = load_to(str(path), str(out), target_column="target")
    assert out.is_file() and not summary.sharded and summary.metadata()["shards"] == 1
    assert summary.num_classes == 10 and summary.rows == 1797
    forced = load_to(str(path), str(tmp_path / "forced"), output="shards", rows_per_shard=500)
    assert forced.sharded and [s["rows"] for s in forced.manifest.shards] == [500] * 3 + [297]
    builtin = load_to("builtin:iris", str(tmp_path / "iris.parquet"), output="shards")
    assert not builtin.sharded and builtin.num_classes == 3  # bundled sets are small
    with pytest.raises(ParameterError, match="output 'lots' is not supported"):
        load_to(str(path), str(tmp_path / "x"), output="lots")


def test_regression_target_counts_no_classes(tmp_path):
    frame = pd.DataFrame({"x": np.arange(100.0), "target": np.linspace(0, 1, 100)})
    _parts(frame, tmp_path / "raw", 2)
    assert load_to(str(tmp_path / "raw"), str(tmp_path / "out")).num_classes == 0


def test_bad_many_file_inputs_leave_nothing_behind(tmp_path, breast_cancer):
    out = tmp_path / "out"
    with pytest.raises(DataLoadError, match=r"the glob '.*\*\.parquet' matches no files"):
        load_to(str(tmp_path / "nothing" / "*.parquet"), str(out))
    mixed = _parts(breast_cancer, tmp_path / "mixed", 3)
    breast_cancer.rename(columns={"mean_radius": "radius"}).to_parquet(mixed / "part9.parquet")
    with pytest.raises(DataLoadError, match=r"shard '.*part9\.parquet' has extra column 'radius'"):
        load_to(str(mixed), str(out))
    assert not out.exists()
    broken = _parts(breast_cancer, tmp_path / "broken", 3)
    (broken / "part1.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(DataLoadError, match=r"cannot read shard '.*part1\.parquet'"):
        load_to(str(broken), str(out))
    assert not out.exists()
    unlabelled = breast_cancer.assign(
        target=breast_cancer["target"].where(breast_cancer.index != 400)
    )
    with pytest.raises(DataLoadError, match=r"missing values \(first at row 400\)"):
        load_to(str(_parts(unlabelled, tmp_path / "unlabelled", 3)), str(out))
    assert not out.exists()  # the first shard was written already, and removed
    with pytest.raises(DataLoadError, match="target column 'label' is missing"):
        load_to(str(tmp_path / "mixed" / "part0.parquet"), str(out), target_column="label")


@pytest.mark.slow
def test_gcs_prefix_and_glob(gcs_emulator, breast_cancer, tmp_path):
    client = gcs_emulator
    client.create_bucket("many-bucket")
    for i, part in enumerate(np.array_split(breast_cancer, 3)):
        write_bytes(f"gs://many-bucket/raw/p{i}.csv", part.to_csv(index=False).encode(), client)
    write_bytes("gs://many-bucket/raw/_SUCCESS", b"", client)
    out = tmp_path / "out"
    summary = load_to("gs://many-bucket/raw/", str(out), client=client, rows_per_shard=300)
    assert summary.rows == 569 and summary.num_classes == 2 and len(summary.manifest.shards) == 2
    globbed = load_to("gs://many-bucket/raw/p[01].csv", str(tmp_path / "g"), client=client)
    assert globbed.rows == sum(len(p) for p in np.array_split(breast_cancer, 3)[:2])
    with pytest.raises(DataLoadError, match=r"no objects match 'gs://many-bucket/empty/'"):
        load_to("gs://many-bucket/empty/", str(tmp_path / "e"), client=client)
    with pytest.raises(DataLoadError, match="bucket 'nope-bucket' .* does not exist"):
        load_to("gs://nope-bucket/raw/", str(tmp_path / "e"), client=client)
    assert not (tmp_path / "e").exists()
