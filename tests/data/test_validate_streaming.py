"""Streaming validation: GX per batch, exact merged counts, the same report as in memory."""

import json

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.data.validate_data import core
from kfp_mlops.components.data.validate_data.derive import derive_suite, profile_dataset
from kfp_mlops.components.data.validate_data.streaming import (
    validate_dataset_streaming,
    validate_streaming,
)


def _table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows).round(1),
            "income": rng.lognormal(10, 1, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "target": rng.choice(["yes", "no"], rows),
        }
    )


def _comparable(result: core.ValidationResult) -> dict:
    summary = result.to_json()
    summary.pop("gx_result")
    return summary


def _map_results(result: core.ValidationResult) -> list[tuple]:
    out = []
    for res in result.raw["results"]:
        r = res.get("result") or {}
        if "unexpected_count" in r:
            out.append(
                (
                    res["expectation_config"]["type"],
                    res["expectation_config"]["kwargs"].get("column"),
                    r["element_count"],
                    r["unexpected_count"],
                    r.get("missing_count"),
                    r["unexpected_percent"],
                    r["partial_unexpected_index_list"],
                    res["success"],
                )
            )
    return sorted(out, key=str)


@pytest.fixture(scope="module")
def windows():
    reference = _table(4_000)
    current = _table(5_000, seed=1)
    current.loc[[7, 1_200, 4_900], "age"] = [500.0, -80.0, 999.0]  # out of range, 3 batches
    current.loc[current.index % 9 == 0, "income"] = np.nan  # above the allowed missing share
    current.loc[[3, 2_500], "city"] = "tokyo"  # unseen category
    return reference, current


def test_sharded_validation_equals_in_memory(tmp_path, windows):
    reference, current = windows
    suite = derive_suite(reference, target_column="target")
    suite["expectations"].append(
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "age", "min_value": 0, "max_value": 10},
            "meta": {},
        }
    )
    shards.write_frame(current, tmp_path / "cur", rows_per_shard=1_500, row_group_rows=500)
    memory = core.validate(current, suite)
    streamed = validate_streaming(str(tmp_path / "cur"), suite, batch_rows=700)
    assert not memory.success
    assert _comparable(streamed) == _comparable(memory)  # failures, explanations, observed
    assert _map_results(streamed) == _map_results(memory)
    explained = " ".join(f["explanation"] for f in streamed.failed)
    assert "500 at row 7" in explained and "999 at row 4900" in explained
    assert "'tokyo' x2" in explained
    streamed.write_html(str(tmp_path / "report.html"))
    assert "tokyo" in (tmp_path / "report.html").read_text()


def test_derived_suites_from_profiles_equal_in_memory(tmp_path, windows):
    reference, current = windows
    reference = reference.copy()
    reference.loc[::50, "income"] = np.nan  # a nullable column: 'mostly' from the null share
    shards.write_frame(reference, tmp_path / "ref", rows_per_shard=900)
    profiles, rows = profile_dataset(str(tmp_path / "ref"), "target", batch_rows=333)
    streamed = derive_suite(profiles, target_column="target", rows=rows)
    assert json.dumps(streamed, sort_keys=True) == json.dumps(
        derive_suite(reference, target_column="target"), sort_keys=True
    )
    current.to_parquet(tmp_path / "cur.parquet", index=False)
    result = validate_dataset_streaming(str(tmp_path / "cur.parquet"), str(tmp_path / "ref"))
    expected = core.validate(current, derive_suite(reference, target_column="target"))
    assert _comparable(result) == _comparable(expected)


def test_suite_from_the_data_itself_finds_numbers_as_text(tmp_path):
    frame = _table(3_000).astype({"age": str})
    frame.loc[10, "age"] = "forty"
    shards.write_frame(frame, tmp_path / "d", rows_per_shard=1_000)
    result = validate_dataset_streaming(str(tmp_path / "d"))
    expected = core.validate_dataset(str(_single(frame, tmp_path)))
    assert result.suite_from_data and not result.success
    assert _comparable(result) == _comparable(expected)
    assert "'forty' at row 10" in result.explain()


def _single(frame, tmp_path):
    path = tmp_path / "single.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_passing_data_and_bad_suites(tmp_path, windows):
    reference, _ = windows
    shards.write_frame(reference, tmp_path / "ref", rows_per_shard=1_000)
    result = validate_dataset_streaming(str(tmp_path / "ref"), str(tmp_path / "ref"))
    assert result.success and result.success_percent == 100.0
    assert core.enforce(result) is True
    with pytest.raises(ParameterError, match="shares no column"):
        validate_streaming(
            str(tmp_path / "ref"),
            {
                "name": "s",
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "zzz"},
                        "meta": {},
                    }
                ],
            },
        )


def test_validate_dataset_switches_to_streaming_for_shards(tmp_path, windows):
    reference, current = windows
    shards.write_frame(reference, tmp_path / "ref", rows_per_shard=1_000)
    shards.write_frame(current, tmp_path / "cur", rows_per_shard=1_000)
    result = core.validate_dataset(str(tmp_path / "cur"), reference_path=str(tmp_path / "ref"))
    expected = core.validate(current, derive_suite(reference, target_column="target"))
    assert _comparable(result) == _comparable(expected)
