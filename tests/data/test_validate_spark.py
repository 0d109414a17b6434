"""GX on Spark (local mode): the same verdicts and exact counts as the streaming pyarrow path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import (
    DataValidationError,
    InfrastructureError,
    ParameterError,
)
from kfp_mlops.components.data.validate_data.derive import derive_suite, profile_dataset
from kfp_mlops.components.data.validate_data.streaming import validate_streaming

pytest.importorskip("pyspark", reason="pyspark is in requirements-dev.in (make install)")
if not shutil.which("java"):
    pytest.skip("Spark needs Java (make system-deps installs it)", allow_module_level=True)

from kfp_mlops.components.data.validate_data import spark as gx_spark

pytestmark = pytest.mark.slow


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows).round(1),
            "visits": rng.integers(0, 20, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "target": rng.choice([0, 1], rows),
        }
    )


@pytest.fixture(scope="module")
def session():
    spark = gx_spark.spark_session("local[2]")
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    shards.write_frame(_table(6_000, seed=0), root / "reference", rows_per_shard=2_000)
    current = _table(9_000, seed=1)
    current.loc[100:129, "age"] = 500.0  # 30 out of range
    current.loc[2_000:2_019, "age"] = np.nan  # 20 missing
    current.loc[8_990:, "city"] = "berlin"  # 10 unknown categories, in the last shard
    shards.write_frame(current, root / "current", rows_per_shard=2_500, row_group_rows=1_000)
    profiles, rows = profile_dataset(str(root / "reference"), "target")
    suite = derive_suite(profiles, target_column="target", rows=rows)
    return root, suite


def _counts(result) -> dict:
    out = {}
    for res in result.raw["results"]:
        cfg = res["expectation_config"]
        r = res.get("result") or {}
        key = (cfg["type"], cfg["kwargs"].get("column"))
        out[key] = (bool(res["success"]), r.get("unexpected_count"), r.get("element_count"))
    return out


def test_spark_gives_the_streaming_verdicts_and_counts(session, data):
    root, suite = data
    streamed = validate_streaming(str(root / "current"), suite, batch_rows=1_024)
    on_spark = gx_spark.validate_spark(str(root / "current"), suite, session=session)

    assert not on_spark.success and on_spark.evaluated == streamed.evaluated == len(
        suite["expectations"]
    )
    assert _counts(on_spark) == _counts(streamed)
    failed = {(f["expectation"], f["column"]) for f in on_spark.failed}
    assert failed == {
        ("expect_column_values_to_not_be_null", "age"),  # the reference had no missing age
        ("expect_column_values_to_be_between", "age"),
        ("expect_column_values_to_be_in_set", "city"),
    }
    between = _counts(on_spark)[("expect_column_values_to_be_between", "age")]
    assert between[1] == 30  # exact across the four shards; the 20 nulls are not unexpected
    assert _counts(on_spark)[("expect_column_values_to_be_in_set", "city")][1] == 10
    assert _counts(on_spark)[("expect_column_values_to_not_be_null", "age")][1] == 20
    # the type checks really ran on Spark's types (DoubleType, LongType), and passed
    typed = [k for k in _counts(on_spark) if k[0] == "expect_column_values_to_be_in_type_list"]
    assert typed and all(_counts(on_spark)[k][0] for k in typed)
    # the same explanation a person reads in the report
    assert "berlin" in on_spark.explain() and "age" in on_spark.explain()


def test_clean_data_passes_on_spark(session, data):
    root, suite = data
    result = gx_spark.validate_spark(str(root / "reference"), suite, session=session)
    assert result.success and result.failed == []


def test_spark_application_entry_point_writes_result_and_report(session, data, tmp_path):
    root, suite = data
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    args = [str(root / "current"), "--suite", str(tmp_path / "suite.json")]
    out = ["--result", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")]
    assert gx_spark.main([*args, *out, "--on-failure", "warn"]) == 0
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["success"] is False and len(written["failed"]) == 3
    assert "berlin" in (tmp_path / "r.html").read_text()
    with pytest.raises(DataValidationError, match="age"):
        gx_spark.main([*args, *out])


def test_spark_path_rejects_what_it_cannot_read(session, data, tmp_path):
    _, suite = data
    _table(10, seed=2).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ParameterError, match="Parquet only"):
        gx_spark.validate_spark(str(tmp_path / "t.csv"), suite, session=session)
    with pytest.raises(ParameterError, match="GCS connector"):
        gx_spark.validate_spark("gs://bucket/data", suite, session=session)
    with pytest.raises(ParameterError, match="no column"):
        other = pd.DataFrame({"x": [1.0, 2.0]})
        shards.write_frame(other, tmp_path / "other")
        gx_spark.validate_spark(str(tmp_path / "other"), suite, session=session)


def test_missing_java_is_named_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no java on it
    with pytest.raises(InfrastructureError, match="openjdk-17-jre-headless"):
        gx_spark.spark_session("local[1]")
