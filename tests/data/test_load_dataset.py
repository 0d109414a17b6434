import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataLoadError, ParameterError
from kfp_mlops.components.common.io import read_table, split_gs_uri, write_bytes
from kfp_mlops.components.data.load_dataset.core import load, snake_case


def test_builtin_binary_and_multiclass():
    bc = load("builtin:breast_cancer")
    assert bc.frame.shape == (569, 31)
    assert bc.num_classes == 2
    assert set(bc.frame["target"]) == {"malignant", "benign"}
    assert "mean_radius" in bc.frame.columns
    digits = load("builtin:digits", target_column="digit")
    assert digits.num_classes == 10
    assert "digit" in digits.frame.columns


def test_builtin_regression_set():
    diabetes = load("builtin:diabetes")
    assert diabetes.frame.shape == (442, 11)
    assert diabetes.num_classes == 0
    assert diabetes.frame["target"].dtype == "float64"
    assert diabetes.frame["target"].between(25, 346).all()


def test_snake_case():
    assert snake_case("Mean Radius (mm)") == "mean_radius_mm"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_local_files(tmp_path, breast_cancer, fmt):
    path = tmp_path / f"data.{fmt}"
    getattr(breast_cancer, f"to_{fmt}")(path, index=False)
    result = load(str(path))
    assert result.frame.shape == breast_cancer.shape
    assert result.frame["mean_radius"].dtype.kind == "f"


def test_explicit_format_for_odd_suffix(tmp_path, breast_cancer):
    path = tmp_path / "export.data"
    breast_cancer.to_csv(path, index=False)
    with pytest.raises(ParameterError, match="cannot tell the format"):
        load(str(path))
    assert len(load(str(path), file_format="csv").frame) == 569
    with pytest.raises(ParameterError, match="file_format 'xlsx'"):
        load(str(path), file_format="xlsx")


def test_bad_inputs(tmp_path, breast_cancer):
    with pytest.raises(DataLoadError, match="does not exist; check the path"):
        load(str(tmp_path / "missing.csv"))
    with pytest.raises(DataLoadError, match="is a directory"):
        load(str(tmp_path), file_format="csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataLoadError, match="is empty"):
        load(str(empty))
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,target\n")
    with pytest.raises(DataLoadError, match="header but no rows"):
        load(str(header_only))
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet")
    with pytest.raises(DataLoadError, match="cannot parse .* as parquet"):
        load(str(garbage))
    no_target = tmp_path / "no_target.csv"
    breast_cancer.drop(columns=["target"]).to_csv(no_target, index=False)
    with pytest.raises(DataLoadError, match="target column 'target' is missing.*set target_column"):
        load(str(no_target))
    partial = tmp_path / "partial.csv"
    breast_cancer.assign(target=breast_cancer["target"].where(breast_cancer.index != 4)).to_csv(
        partial, index=False
    )
    with pytest.raises(DataLoadError, match="1 missing values \\(first at row 4\\)"):
        load(str(partial))
    with pytest.raises(ParameterError, match="unknown built-in dataset 'mnist'"):
        load("builtin:mnist")
    with pytest.raises(ParameterError, match="source is empty"):
        load("")


def test_gs_uri_parsing():
    assert split_gs_uri("gs://b/a/c.csv") == ("b", "a/c.csv")
    with pytest.raises(ParameterError, match="not a gs:// object URI"):
        split_gs_uri("gs://bucket-only")


@pytest.mark.slow
def test_gcs_emulator_round_trip_and_errors(gcs_emulator, breast_cancer):
    client = gcs_emulator
    client.create_bucket("data-bucket")
    write_bytes(
        "gs://data-bucket/raw/bc.csv", breast_cancer.to_csv(index=False).encode(), client=client
    )
    frame = read_table("gs://data-bucket/raw/bc.csv", client=client)
    pd.testing.assert_frame_equal(
        frame, pd.read_csv(pd.io.common.StringIO(breast_cancer.to_csv(index=False)))
    )
    # Without an explicit client the emulator is found through STORAGE_EMULATOR_HOST.
    assert load("gs://data-bucket/raw/bc.csv").num_classes == 2
    with pytest.raises(DataLoadError, match="bucket 'no-such-bucket' .* does not exist"):
        load("gs://no-such-bucket/x.csv", client=client)
    with pytest.raises(
        DataLoadError, match="object 'raw/missing.csv' not found in bucket 'data-bucket'"
    ):
        load("gs://data-bucket/raw/missing.csv", client=client)


@pytest.mark.slow
def test_component_runs_in_kfp_local(kfp_local):
    from kfp_mlops.components.data.load_dataset.component import load_dataset

    task = load_dataset(source="builtin:digits")
    assert task.outputs["Output"] == 1797
    artifact = task.outputs["dataset"]
    assert artifact.metadata["num_classes"] == 10
    assert pd.read_parquet(artifact.path).shape == (1797, 65)
