"""Great Expectations on Spark: the same suite and result, Spark doing the per-partition work.

The path past one pod for validation (README "Past one pod"): GX's Spark execution engine
evaluates the suite over a Spark DataFrame of the dataset's Parquet files, so the counts
are computed by Spark's executors across partitions and are exact. Here Spark runs in local
mode (``local[2]``, loopback only); in a cluster the same entry point is the main file of a
Kubeflow Spark Operator ``SparkApplication`` (``spark-submit`` sets the master):

    python -m kfp_mlops.components.data.validate_data.spark DATASET --suite suite.json
        --result validation_result.json --report report.html [--master local[2]]

The result is the :class:`.core.ValidationResult` of :func:`.core.validate` (same report,
same explanations; a failure is explained on only the column it reads). Needs ``pyspark``
(GX supports < 4.2) and Java 17+; neither is in the pipeline image: this runs in a Spark
image, and here in the test env.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.errors import InfrastructureError, ParameterError
from kfp_mlops.components.data.validate_data import core
from kfp_mlops.components.data.validate_data.gx_runner import _RESULT_FORMAT, gx_suite
from kfp_mlops.components.data.validate_data.streaming import ROW_COUNT, _columns_of
from kfp_mlops.components.data.validate_data.suites import (
    check_shared_columns,
    check_suite,
    load_suite,
)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: pandas dtype names of type-list expectations -> the pyspark.sql.types GX's Spark engine
#: checks against (it ignores names it does not know, so both lists can stand together).
SPARK_TYPES = {
    **{
        f"{p}{b}": name
        for p in ("int", "Int")
        for b, name in ((8, "ByteType"), (16, "ShortType"), (32, "IntegerType"), (64, "LongType"))
    },
    **{f"{p}{b}": "LongType" for p in ("uint", "UInt") for b in (8, 16, 32, 64)},
    "float16": "FloatType",
    "float32": "FloatType",
    "Float32": "FloatType",
    "float64": "DoubleType",
    "Float64": "DoubleType",
    "bool": "BooleanType",
    "boolean": "BooleanType",
    "object": "StringType",
    "str": "StringType",
    "string": "StringType",
}


def spark_session(master: str = "local[2]", driver_memory: str = "1g") -> Any:
    """A Spark session; local mode binds the driver to loopback and runs no web UI.

    Raises:
        InfrastructureError: If pyspark or Java is missing.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InfrastructureError(
            "pyspark is not installed",
            "run this in the Spark image, or pip install 'pyspark>=3.5,<4.2' (GX's bound)",
        ) from exc
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise InfrastructureError(
            "Spark needs Java and none was found (no JAVA_HOME, no java on PATH)",
            "install a Java 17+ runtime (Debian: openjdk-17-jre-headless) or set JAVA_HOME",
        )
    builder = SparkSession.builder.appName("kfp-mlops-validate").config("spark.ui.enabled", "false")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # never the host's address
        builder = builder.master(master).config("spark.driver.host", "127.0.0.1")
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1")
    return (
        builder.config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )


def spark_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """The suite with each type list also naming the Spark types of its pandas dtypes."""
    out = {**suite, "expectations": []}
    for exp in suite["expectations"]:
        kwargs = dict(exp["kwargs"])
        if exp["type"] == "expect_column_values_to_be_in_type_list" and kwargs.get("type_list"):
            extra = [SPARK_TYPES[t] for t in kwargs["type_list"] if t in SPARK_TYPES]
            kwargs["type_list"] = list(dict.fromkeys([*kwargs["type_list"], *extra]))
        out["expectations"].append({**exp, "kwargs": kwargs})
    return out


def _parquet_files(path: str) -> list[str]:
    if path.startswith("gs://"):
        raise ParameterError(
            f"{path}: the local Spark session has no GCS connector",
            "run in a Spark image with the GCS connector, or copy the shards to a local path",
        )
    files = shards.resolve_files(path)
    not_parquet = [f for f in files if shards.format_of(f) != "parquet"]
    if not_parquet:
        raise ParameterError(
            f"Spark validation reads Parquet only; {not_parquet[0]} is not",
            "write the dataset with load_dataset (it writes Parquet shards) first",
        )
    return files


def validate_spark(
    path: str, suite: dict[str, Any], master: str = "local[2]", session: Any = None
) -> core.ValidationResult:
    """:func:`.core.validate` of a dataset (file or shards) by GX's Spark execution engine.

    Args:
        path: A Parquet file, a shard directory or a directory of Parquet files.
        suite: The suite (JSON form), e.g. derived by :func:`.core.derive_suite`.
        master: Spark master when no ``session`` is given.
        session: An existing Spark session to use.

    Raises:
        ParameterError: If the suite is malformed, shares no column with the data, or the
            data is not local Parquet.
        InfrastructureError: If pyspark or Java is missing.
    """
    import great_expectations as gx

    checked = check_suite(suite)
    gx_suite(checked)
    files = _parquet_files(path)
    manifest = shards.read_manifest(path)
    check_shared_columns(checked, manifest.columns)
    spark = session or spark_session(master)
    frame = spark.read.parquet(*files)

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_spark("kfp_mlops_spark").add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    raw = batch.validate(gx_suite(spark_suite(checked)), result_format=_RESULT_FORMAT)
    raw = raw.to_json_dict()

    @lru_cache(maxsize=4)
    def whole(names: tuple[str, ...]) -> pd.DataFrame:
        return shards.read_table(path, columns=list(names))

    def frame_for(type_: str, kwargs: dict[str, Any]) -> pd.DataFrame:
        if type_ in ROW_COUNT:
            return pd.DataFrame(index=pd.RangeIndex(manifest.rows))
        names = tuple(c for c in _columns_of(kwargs) if c in manifest.columns)
        return whole(names) if names else pd.DataFrame(columns=manifest.columns)

    return core.build_result(checked, raw, frame_for, manifest.rows)


def main(argv: list[str] | None = None) -> int:
    """The SparkApplication's program: validate, write the result JSON and the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="Parquet file or shard directory")
    parser.add_argument("--suite", required=True, help="suite JSON file (GX 1.x form)")
    parser.add_argument("--result", required=True, help="where to write the result JSON")
    parser.add_argument("--report", default="", help="where to write the HTML report")
    parser.add_argument("--master", default=os.environ.get("SPARK_MASTER", "local[2]"))
    parser.add_argument("--on-failure", default="fail", choices=core.ON_FAILURE)
    args = parser.parse_args(argv)
    result = validate_spark(args.dataset, load_suite(args.suite), master=args.master)
    Path(args.result).write_text(json.dumps(result.to_json(), indent=1, default=str))
    if args.report:
        result.write_html(args.report)
    core.enforce(result, args.on_failure)  # raises on a failure unless "warn"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
