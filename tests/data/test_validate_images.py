"""validate_data on raw image Datasets: GX on per-file facts, failures naming the files."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import images
from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.load_dataset.images import digits_images
from kfp_mlops.components.data.validate_data import core
from kfp_mlops.components.data.validate_data import images as image_checks

CORRUPT = 3  # row of the file replaced by b"not a png"
ODD = 50  # row of the file replaced by a 9x8 image


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """200 of the digits as 8x8 PNGs, every 9th file so that every class is there."""
    return digits_images().iloc[::9].reset_index(drop=True)


@pytest.fixture(scope="module")
def suite(frame: pd.DataFrame) -> dict:
    return image_checks.derive_image_suite(frame)


@pytest.fixture(scope="module")
def broken(frame: pd.DataFrame) -> pd.DataFrame:
    """One corrupt file and one 9x8 (not 8x8) image with ordinary pixel values."""
    out = frame.copy()
    out.loc[CORRUPT, "image"] = b"not a png"
    pixels = images.decode(frame.loc[ODD, "image"])[..., 0]
    out.loc[ODD, "image"] = images.encode_png(np.vstack([pixels, pixels[-1:]]))
    return out


def names(frame: pd.DataFrame, *rows: int) -> list[str]:
    return [str(frame.loc[r, "file"]) for r in rows]


def failing(frame: pd.DataFrame, suite: dict) -> core.ValidationResult:
    result = core.validate(frame, suite)
    assert not result.success
    assert result.failed, "a failed validation must explain itself"
    return result


# --------------------------------------------------------------------------- facts and suite


def test_facts_table_has_one_row_per_file(frame, broken):
    facts = image_checks.facts_table(broken)
    assert list(facts.columns) == [
        "file",
        "decodes",
        "height",
        "width",
        "channels",
        "mean",
        "error",
        "target",
        "class_share",
    ]
    assert len(facts) == len(frame)
    assert facts["decodes"].sum() == len(frame) - 1
    corrupt = facts.loc[CORRUPT]
    assert (
        not corrupt["decodes"]
        and np.isnan(corrupt["height"])
        and "not a decodable" in corrupt["error"]
    )
    assert facts.loc[ODD, ["height", "width", "channels"]].tolist() == [9, 8, 1]
    shares = facts.groupby("target")["class_share"].first()
    assert shares.sum() == pytest.approx(1)
    assert shares["0"] == pytest.approx((frame["target"] == "0").mean())


def test_derived_suite_expects_the_reference_shape_classes_and_balance(frame, suite):
    json.dumps(suite)  # an artifact: JSON-serialisable
    by_key = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    in_set = "expect_column_values_to_be_in_set"
    assert by_key[(in_set, "decodes")]["value_set"] == [True]
    assert [by_key[(in_set, c)]["value_set"] for c in ("height", "width", "channels")] == [
        [8],
        [8],
        [1],
    ]
    assert by_key[(in_set, "target")]["value_set"] == [str(d) for d in range(10)]
    smallest = frame["target"].value_counts(normalize=True).min()
    floor = by_key[("expect_column_values_to_be_between", "class_share")]["min_value"]
    assert floor == pytest.approx(smallest / 2, abs=1e-4)
    assert suite["meta"]["image_shape"] == [8, 8, 1]
    assert suite["meta"]["min_class_fraction"] == floor
    explicit = image_checks.derive_image_suite(frame, min_class_fraction=0.2)
    assert explicit["meta"]["min_class_fraction"] == 0.2
    with pytest.raises(ParameterError, match="min_class_fraction=1.5"):
        image_checks.derive_image_suite(frame, min_class_fraction=1.5)


def test_images_pass_their_own_suite(frame, suite):
    result = core.validate(frame, suite)
    assert result.success, result.explain()
    assert result.evaluated == len(suite["expectations"])


# --------------------------------------------------------------------------- failures name files


def test_corrupt_and_odd_shaped_files_fail_and_are_named(broken, suite, tmp_path):
    result = failing(broken, suite)
    corrupt, odd = names(broken, CORRUPT, ODD)
    by_column = {f["column"]: f for f in result.failed}
    assert by_column["decodes"]["files"] == [corrupt]
    assert by_column["height"]["files"] == [odd]
    assert "width" not in by_column and "channels" not in by_column  # only the height is off
    text = result.explain()
    assert f"1 file of 200 does not decode as PNG or JPEG: '{corrupt}'" in text
    assert f"1 file has a height other than 8 ('{odd}' is 9x8x1" in text
    assert "0x" not in by_column["decodes"]["explanation"]  # no Pillow object address
    # GX's own unexpected examples carry the file names too.
    files = [
        r["result"].get("partial_unexpected_files")
        for r in result.raw["results"]
        if not r["success"]
    ]
    assert [corrupt] in files and [odd] in files
    path = tmp_path / "report.html"
    result.write_html(str(path))
    html = path.read_text()
    assert corrupt in html and odd in html
    saved = json.loads(json.dumps(result.to_json(), default=str))
    assert {f for entry in saved["failed"] for f in entry["files"]} >= {corrupt, odd}


def test_fail_raises_naming_the_files_and_warn_only_reports(broken, suite):
    result = failing(broken, suite)
    corrupt, odd = names(broken, CORRUPT, ODD)
    with pytest.raises(DataValidationError) as info:
        core.enforce(result, "fail")
    assert corrupt in str(info.value) and odd in str(info.value)
    assert core.enforce(result, "warn") is False


def test_unknown_label_fails_naming_it_and_the_file(frame, suite):
    bad = frame.copy()
    bad.loc[7, "target"] = "zebra"
    result = failing(bad, suite)
    entry = next(
        f
        for f in result.failed
        if f["column"] == "target" and f["expectation"] == "expect_column_values_to_be_in_set"
    )
    assert entry["files"] == names(bad, 7)
    assert f"'{bad.loc[7, 'file']}' is 'zebra'" in entry["explanation"]
    assert "unseen: 'zebra' x1" in result.explain()


def test_class_balance_and_missing_classes(frame, suite):
    few = frame[(frame["target"] != "5") | (frame.index % 9 == 0)].reset_index(drop=True)
    assert (few["target"] == "5").sum() <= 3
    result = failing(few, suite)
    assert [f["column"] for f in result.failed] == ["class_share"]
    assert "1 class holds less than" in result.explain() and "'5' " in result.explain()

    without = frame[frame["target"] != "5"].reset_index(drop=True)
    result = failing(without, suite)
    entry = next(
        f for f in result.failed if f["expectation"].endswith("distinct_values_to_contain_set")
    )
    assert "1 class of the reference has no file in the dataset ('5')" in entry["explanation"]

    strict = image_checks.derive_image_suite(frame, min_class_fraction=0.5)
    assert "10 classes hold less than 50.00%" in failing(frame, strict).explain()


def test_user_suite_applies_to_the_facts_table(broken):
    suite_json = json.dumps(
        {
            "name": "mine",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "channels", "value_set": [3]},
                },
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "file", "regex": r"^[0-4]/"},
                },
            ],
        }
    )
    result = failing(broken, core.load_suite(suite_json))
    by_column = {f["column"]: f for f in result.failed}
    assert "a channels other than 3" in by_column["channels"]["explanation"]
    # No wording of its own: the tabular sentence plus the files GX reported.
    regex = by_column["file"]
    assert regex["files"] and all(f[0] in "56789" for f in regex["files"])
    assert f"(files: '{regex['files'][0]}'" in regex["explanation"]
    tabular = core.derive_suite(pd.DataFrame({"x": [1.0, 2.0], "target": ["a", "b"]}))
    with pytest.raises(ParameterError, match="shares no column"):
        core.validate(broken, tabular)


# --------------------------------------------------------------------------- Dataset paths


def test_validate_dataset_reads_parquet_datasets(frame, broken, tmp_path):
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    frame.to_parquet(good)
    broken.to_parquet(bad)
    assert image_checks.is_image_dataset(str(good))
    assert core.validate_dataset(str(good), reference_path=str(good)).success

    result = core.validate_dataset(str(bad), reference_path=str(good))
    assert not result.success and not result.suite_from_data
    assert {f for entry in result.failed for f in entry["files"]} == set(
        names(broken, CORRUPT, ODD)
    )

    # No reference: the suite comes from the data itself, and still catches both files.
    own = core.validate_dataset(str(bad))
    assert own.suite_from_data
    assert {f for entry in own.failed for f in entry["files"]} == set(names(broken, CORRUPT, ODD))

    strict = core.validate_dataset(str(good), reference_path=str(good), min_class_fraction=0.2)
    assert [f["column"] for f in strict.failed] == ["class_share"]


def test_images_against_a_table_fail_in_one_line(frame, tmp_path, breast_cancer):
    images_path, table_path = tmp_path / "images.parquet", tmp_path / "table.parquet"
    frame.to_parquet(images_path)
    breast_cancer.to_parquet(table_path)
    assert not image_checks.is_image_dataset(str(table_path))
    for dataset, reference, what in (
        (images_path, table_path, "reference"),
        (table_path, images_path, "dataset"),
    ):
        with pytest.raises(ParameterError, match=f"the {what} is a table"):
            core.validate_dataset(str(dataset), reference_path=str(reference))


# --------------------------------------------------------------------------- KFP wrapper


@pytest.mark.slow
def test_component_validates_images_with_kfp_local(kfp_local):
    from typing import NamedTuple

    from kfp import dsl

    from kfp_mlops.components.data.load_dataset.component import load_dataset
    from kfp_mlops.components.data.validate_data.component import validate_data

    class Outputs(NamedTuple):
        ok: bool
        result: dsl.Artifact

    @dsl.pipeline
    def check(min_class_fraction: float = 0.0) -> Outputs:
        data = load_dataset(source="builtin:digits_images").outputs["dataset"]
        task = validate_data(
            dataset=data,
            reference=data,
            min_class_fraction=min_class_fraction,
            on_failure="warn",
        )
        return Outputs(ok=task.outputs["Output"], result=task.outputs["validation_result"])

    run = check()
    assert run.outputs["ok"] is True
    saved = json.loads(Path(run.outputs["result"].path).read_text())
    assert saved["suite"]["meta"]["image_shape"] == [8, 8, 1]
    run = check(min_class_fraction=0.2)
    assert run.outputs["ok"] is False
