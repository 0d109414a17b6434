"""validate_data: derived suites, plain-word failures, suite loading, policy and the KFP wrapper."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.validate_data import core


@pytest.fixture(scope="module")
def suite(breast_cancer: pd.DataFrame) -> dict:
    return core.derive_suite(breast_cancer)


@pytest.fixture(scope="module")
def passed(breast_cancer: pd.DataFrame, suite: dict) -> core.ValidationResult:
    return core.validate(breast_cancer, suite)


def failing(frame: pd.DataFrame, suite: dict) -> core.ValidationResult:
    result = core.validate(frame, suite)
    assert not result.success
    assert result.failed, "a failed validation must explain itself"
    return result


# --------------------------------------------------------------------------- derive_suite


def test_derived_suite_is_gx_json_with_ranges_and_value_sets(breast_cancer, suite):
    json.dumps(suite)  # JSON-serialisable: it can be saved as an artifact
    by_key = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    match = by_key[("expect_table_columns_to_match_set", None)]
    assert match["column_set"] == list(breast_cancer.columns)
    assert match["exact_match"] is True
    assert by_key[("expect_table_row_count_to_be_between", None)]["min_value"] == 1
    rng = by_key[("expect_column_values_to_be_between", "mean_radius")]
    low, high = breast_cancer["mean_radius"].min(), breast_cancer["mean_radius"].max()
    assert rng["min_value"] == pytest.approx(low - 0.1 * (high - low))
    assert rng["max_value"] == pytest.approx(high + 0.1 * (high - low))
    assert by_key[("expect_column_values_to_be_in_set", "target")]["value_set"] == [
        "benign",
        "malignant",
    ]
    assert ("expect_column_values_to_be_between", "target") not in by_key
    assert all(("expect_column_values_to_not_be_null", c) in by_key for c in breast_cancer.columns)


def test_reference_with_nulls_gets_mostly_but_all_nan_still_fails():
    ref = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0] * 5, "target": ["a", "b"] * 10})
    suite = core.derive_suite(ref)
    not_null = next(
        e["kwargs"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"]["column"] == "x"
    )
    assert not_null["mostly"] == pytest.approx(0.75 * 0.9)
    assert core.validate(ref, suite).success
    result = failing(ref.assign(x=np.nan), suite)
    assert "column 'x' is entirely empty (all NaN)" in result.explain()


def test_integer_target_gets_a_value_set_not_a_range():
    ref = pd.DataFrame({"f": np.arange(20, dtype="float32"), "label": np.arange(20) % 3})
    suite = core.derive_suite(ref, target_column="label")
    value_sets = [e["kwargs"] for e in suite["expectations"] if e["type"].endswith("in_set")]
    assert value_sets == [{"column": "label", "value_set": [0, 1, 2]}]
    result = failing(ref.assign(label=ref["label"].replace(2, 7)), suite)
    assert "unseen: 7 x" in result.explain()


@pytest.mark.parametrize(
    ("reference", "kwargs", "message"),
    [
        (pd.DataFrame({"x": [1.0]}), {}, "target column 'target' is not in the reference"),
        (pd.DataFrame({"x": [np.nan], "target": ["a"]}), {}, "'x' is entirely empty"),
        (pd.DataFrame({"target": ["a"]}), {"margin": -1}, "margin=-1"),
        (pd.DataFrame({"target": []}), {}, "no rows"),
    ],
)
def test_derive_suite_rejects_unusable_references(reference, kwargs, message):
    with pytest.raises(ParameterError, match=message) as info:
        core.derive_suite(reference, **kwargs)
    assert info.value.fix


# --------------------------------------------------------------------------- validate


def test_reference_data_passes_its_own_suite(passed, suite):
    assert passed.success
    assert passed.success_percent == 100.0
    assert passed.evaluated == len(suite["expectations"])
    assert passed.failed == []
    assert passed.raw["success"] is True
    assert "passed" in passed.explain()


def test_missing_column(breast_cancer, suite):
    result = failing(breast_cancer.drop(columns=["mean_radius"]), suite)
    assert {f["column"] for f in result.failed} == {"mean_radius"}
    text = result.explain()
    assert "column 'mean_radius' is missing" in text
    assert text.count("mean_radius' is missing") == 1, "one line per reason"


def test_extra_column(breast_cancer, suite):
    result = failing(breast_cancer.assign(foo=1.0), suite)
    assert "unexpected extra column 'foo'" in result.explain()
    assert result.failed_expectations == 1


def test_non_numeric_values_from_csv(breast_cancer, suite):
    raw = breast_cancer.astype({"mean_texture": object})
    raw.loc[10, "mean_texture"] = "abc"
    raw.loc[20, "mean_texture"] = "n/a?"
    frame = pd.read_csv(io.StringIO(raw.to_csv(index=False)))
    assert not pd.api.types.is_numeric_dtype(frame["mean_texture"])  # as a real CSV would load
    result = failing(frame, suite)
    assert (
        "column 'mean_texture' has 2 non-numeric values (first: 'abc' at row 10)"
        in result.explain()
    )
    assert {f["expectation"] for f in result.failed} == {
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_between",
    }


def test_all_nan_column(breast_cancer, suite):
    result = failing(breast_cancer.assign(mean_area=np.nan), suite)
    assert "column 'mean_area' is entirely empty (all NaN)" in result.explain()


def test_missing_target_column(breast_cancer, suite):
    result = failing(breast_cancer.drop(columns=["target"]), suite)
    assert "column 'target' is missing" in result.explain()


def test_out_of_range_values(breast_cancer, suite):
    frame = breast_cancer.copy()
    frame.loc[3, "mean_perimeter"] = 1e6
    frame.loc[7, "mean_perimeter"] = -5.0
    result = failing(frame, suite)
    text = result.explain()
    assert "column 'mean_perimeter' has 2 values outside [" in text
    assert "1e+06 at row 3" in text and "-5 at row 7" in text
    assert [f["column"] for f in result.failed] == ["mean_perimeter"]


def test_unseen_category(breast_cancer, suite):
    frame = breast_cancer.copy()
    frame.loc[[5, 6, 9], "target"] = "maybe"
    result = failing(frame, suite)
    assert (
        "column 'target' has 3 values not seen in the reference (unseen: 'maybe' x3"
        in result.explain()
    )


def test_user_suite_with_nulls_and_row_count():
    suite = {
        "name": "hand-written",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 5}},
        ],
    }
    result = failing(pd.DataFrame({"a": [1.0, None, 3.0]}), suite)
    text = result.explain()
    assert "column 'a' has 1 missing value (33.3%, first at row 1)" in text
    assert "the table has 3 rows, expected between 5 and any number" in text


def test_multi_column_expectations_run_on_the_whole_frame(breast_cancer):
    pair = "expect_column_pair_values_a_to_be_greater_than_b"
    suite = {
        "name": "pairs",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "mean_radius"}},
            {
                "type": pair,
                "kwargs": {"column_A": "worst_radius", "column_B": "mean_radius", "or_equal": True},
            },
        ],
    }
    assert core.validate(breast_cancer, suite).success
    swapped = breast_cancer.rename(
        columns={"worst_radius": "mean_radius", "mean_radius": "worst_radius"}
    )
    result = failing(swapped, suite)
    assert [(f["expectation"], f["column"]) for f in result.failed] == [
        (pair, "worst_radius, mean_radius")
    ]
    assert "unexpected of 569 (e.g. (" in result.explain()
    assert result.evaluated == 2 and result.success_percent == 50.0


# --------------------------------------------------------------------------- suites from JSON


def test_load_suite_from_file_and_string(tmp_path, suite):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    assert core.load_suite(str(path))["expectations"] == suite["expectations"]
    assert core.load_suite(json.dumps(suite))["name"] == "derived"


def test_load_suite_accepts_pre_1_0_key():
    loaded = core.load_suite(
        '{"expectations": [{"expectation_type": "expect_column_to_exist", '
        '"kwargs": {"column": "a"}}]}'
    )
    assert loaded["expectations"][0]["type"] == "expect_column_to_exist"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"name": "s",\n "expectations": [,]}',
            r"not valid JSON: Expecting value at line 2 column 19",
        ),
        ("{'name': 's'}", r"not valid JSON: Expecting property name .* at line 1 column 2"),
        ("/no/such/suite.json", r"suite file '/no/such/suite.json' does not exist"),
        ("", "the suite is empty"),
        ("[1, 2]", "the suite is a JSON list, not an object"),
        ('{"name": "s"}', "no 'expectations' list"),
        ('{"expectations": [{"kwargs": {}}]}', "expectation #0 has no 'type'"),
        (
            '{"expectations": [{"type": "expect_column_values_to_be_positive", "kwargs": {}}]}',
            "unknown expectation type 'expect_column_values_to_be_positive'",
        ),
    ],
)
def test_bad_suites_are_named(text, message):
    with pytest.raises(ParameterError, match=message) as info:
        core.load_suite(text)
    assert info.value.fix


def test_malformed_suite_file_names_the_file(tmp_path):
    path = tmp_path / "suite.json"
    path.write_text('{"expectations": [\n  {"type": "x",}\n]}')
    with pytest.raises(ParameterError, match=rf"suite file '{path}' is not valid JSON: .* line 2"):
        core.load_suite(str(path))


def test_invalid_kwargs_are_named(breast_cancer):
    suite = {
        "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"colum": "x"}}]
    }
    with pytest.raises(
        ParameterError, match=r"expectation #0 \(expect_column_values_to_be_between\)"
    ):
        core.validate(breast_cancer, suite)


def test_resolve_suite_needs_a_suite_or_reference(breast_cancer, tmp_path, suite):
    with pytest.raises(ParameterError, match="neither a suite nor a reference") as info:
        core.resolve_suite()
    assert "reference" in info.value.fix
    path = tmp_path / "s.json"
    path.write_text(json.dumps({**suite, "name": "from-file"}))
    from_file = core.resolve_suite(suite_json=json.dumps(suite), suite_path=str(path))
    assert from_file["name"] == "from-file"  # the artifact wins over the string
    assert core.resolve_suite(reference=breast_cancer) == suite


# --------------------------------------------------------------------------- no reference


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


def test_no_reference_derives_the_suite_from_the_data_and_says_so(wine, tmp_path, caplog):
    from kfp_mlops.components.common.io import save_dataset

    path = tmp_path / "wine.parquet"
    save_dataset(wine, str(path))
    with caplog.at_level("WARNING"):
        result = core.validate_dataset(str(path))
    assert result.success and result.suite_from_data
    assert result.suite["meta"]["derived_from"] == "data"
    columns = next(e for e in result.suite["expectations"] if e["type"].endswith("match_set"))
    assert columns["kwargs"]["column_set"] == list(wine.columns)
    assert any("no reference or suite given" in r.getMessage() for r in caplog.records)
    report = tmp_path / "report.html"
    result.write_html(str(report))
    assert "The suite was derived from the data itself, so it checks only" in report.read_text()
    # The saved suite is a suite like any other: a later run can pass it as suite_json.
    again = core.validate_dataset(str(path), suite_json=json.dumps(result.suite))
    assert again.success and again.suite_from_data  # its meta still says where it came from


def test_a_reference_or_suite_is_not_derived_from_data(breast_cancer, passed):
    assert not passed.suite_from_data
    assert core.resolve_suite(reference=breast_cancer, data=breast_cancer)["meta"][
        "derived_from"
    ] == ("reference")


def test_suite_from_the_data_catches_what_makes_it_unusable_on_its_own(wine, tmp_path):
    raw = wine.astype({"ash": object})
    raw.loc[4, "ash"] = "abc"
    raw["hue"] = np.nan
    path = tmp_path / "wine.csv"
    raw.to_csv(path, index=False)
    frame = pd.read_csv(path)  # as a real CSV loads: 'ash' is text, 'hue' all NaN
    result = failing(frame, core.resolve_suite(data=frame))
    assert result.suite_from_data
    assert {f["column"] for f in result.failed} == {"ash", "hue"}
    text = result.explain()
    assert "column 'ash' has 1 non-numeric value (first: 'abc' at row 4)" in text
    assert "column 'hue' is entirely empty (all NaN)" in text


def test_suite_from_the_data_needs_the_label_column(wine):
    with pytest.raises(ParameterError, match="target column 'label' is not in the data"):
        core.derive_suite_from_data(wine, target_column="label")


def test_reference_sharing_no_column_fails_in_one_line(wine, breast_cancer):
    with pytest.raises(ParameterError) as info:
        core.validate(wine, core.derive_suite(breast_cancer))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("the data shares no column with the reference (data: alcohol, ")
    assert "(13 columns); reference: mean_radius, " in message  # the shared 'target' aside
    assert "pass a reference of the same table" in info.value.fix
    assert "or a suite" in info.value.fix


def test_suite_sharing_no_column_fails_naming_the_suite(wine):
    suite = {
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        ]
    }
    with pytest.raises(ParameterError, match=r"no column with the suite \(data: .*suite: age\)"):
        core.validate(wine, suite)
    # One shared column is enough for the usual per-column explanations.
    suite["expectations"][0]["kwargs"]["column"] = "alcohol"
    assert core.validate(wine, suite).success


# --------------------------------------------------------------------------- policy and outputs


def test_enforce_fail_and_warn(breast_cancer, suite, passed):
    result = failing(breast_cancer.assign(foo=1.0), suite)
    assert core.enforce(result, "warn") is False
    with pytest.raises(DataValidationError, match="unexpected extra column 'foo'") as info:
        core.enforce(result, "fail")
    assert "on_failure='warn'" in info.value.fix
    assert core.enforce(passed, "fail") is True
    with pytest.raises(ParameterError, match="on_failure='stop'"):
        core.enforce(passed, "stop")


def test_html_report_and_json(breast_cancer, suite, tmp_path):
    frame = breast_cancer.drop(columns=["worst_area"]).assign(mean_smoothness=np.nan)
    result = failing(frame, suite)
    path = tmp_path / "report.html"
    result.write_html(str(path))
    html = path.read_text()
    assert "<script" not in html and "http" not in html  # self-contained
    for column in ("worst_area", "mean_smoothness"):
        assert column in html
    assert html.count("<tr>") == 2 + (1 + len(result.failed)) + (1 + result.evaluated)
    assert html.count('class="bad">failed') == 1 + result.failed_expectations
    data = json.loads(json.dumps(result.to_json(), default=str))
    assert data["failed_expectations"] == result.raw["statistics"]["unsuccessful_expectations"]
    assert data["suite"]["name"] == "derived"


# --------------------------------------------------------------------------- KFP wrapper


@pytest.mark.slow
def test_component_with_kfp_local(kfp_local, tmp_path, breast_cancer, capfd):
    from typing import NamedTuple

    from kfp import dsl

    from kfp_mlops.components.data.load_dataset.component import load_dataset
    from kfp_mlops.components.data.validate_data.component import validate_data

    # kfp.local passes artifacts between tasks only inside a pipeline.
    class Outputs(NamedTuple):
        ok: bool
        metrics: dsl.Metrics
        report: dsl.HTML
        result: dsl.Artifact

    @dsl.pipeline
    def check(source: str, suite_json: str = "") -> Outputs:
        data = load_dataset(source=source).outputs["dataset"]
        # The data is its own reference; a non-empty suite_json takes precedence over it.
        task = validate_data(dataset=data, reference=data, suite_json=suite_json)
        return Outputs(
            ok=task.outputs["Output"],
            metrics=task.outputs["metrics"],
            report=task.outputs["report"],
            result=task.outputs["validation_result"],
        )

    run = check(source="builtin:breast_cancer")
    assert run.outputs["ok"] is True
    assert run.outputs["metrics"].metadata["success_percent"] == 100.0
    assert run.outputs["metrics"].metadata["failed_expectations"] == 0
    assert "passed" in Path(run.outputs["report"].path).read_text()
    saved = json.loads(Path(run.outputs["result"].path).read_text())
    assert saved["success"] is True and saved["suite"]["expectations"]

    bad_csv = tmp_path / "bad.csv"
    breast_cancer.drop(columns=["mean_radius"]).to_csv(bad_csv, index=False)
    with pytest.raises(RuntimeError, match="validate-data"):
        check(source=str(bad_csv), suite_json=json.dumps(core.derive_suite(breast_cancer)))
    logs = capfd.readouterr()
    assert "DataValidationError" in logs.out + logs.err
    assert "column 'mean_radius' is missing" in logs.out + logs.err
