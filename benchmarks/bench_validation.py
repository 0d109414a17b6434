"""Great Expectations validation vs the same checks written directly in pandas.

N rows x 20 columns (18 float, 2 categorical): not-null on every column, a range on each
float column and a value set on each categorical one. Both sides compute the unexpected
count of every check on the same frame in the same run; the GX side is
``validate_data.core.validate`` with its context already built (setup is timed apart).

    python -m benchmarks.bench_validation [--quick] [--rows N]
"""

import argparse
import time

import numpy as np
import pandas as pd

from kfp_mlops.components.data.validate_data import core

TARGET_RATIO = 3.0
CATEGORIES = ["alpha", "beta", "gamma", "delta"]


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """18 standard-normal float columns plus two string columns from small sets."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.standard_normal((rows, 18)), columns=[f"f{i:02d}" for i in range(18)])
    frame["color"] = pd.Series(np.array(CATEGORIES)[rng.integers(0, 4, rows)], dtype="str")
    frame["target"] = pd.Series(np.where(rng.random(rows) < 0.5, "yes", "no"), dtype="str")
    return frame


def make_suite(frame: pd.DataFrame) -> dict:
    """Not-null everywhere, [-10, 10] on floats, value sets on the string columns."""
    expectations = []
    for column in frame.columns:
        expectations.append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}
        )
        if column.startswith("f"):
            kwargs = {"column": column, "min_value": -10.0, "max_value": 10.0}
            expectations.append({"type": "expect_column_values_to_be_between", "kwargs": kwargs})
        else:
            values = CATEGORIES if column == "color" else ["no", "yes"]
            kwargs = {"column": column, "value_set": values}
            expectations.append({"type": "expect_column_values_to_be_in_set", "kwargs": kwargs})
    return {"name": "bench", "expectations": expectations}


def pandas_checks(frame: pd.DataFrame, suite: dict) -> dict[tuple[str, str], int]:
    """The same checks in plain pandas: unexpected count per (expectation, column)."""
    counts = {}
    for exp in suite["expectations"]:
        kw = exp["kwargs"]
        col = frame[kw["column"]]
        if exp["type"] == "expect_column_values_to_not_be_null":
            bad = int(col.isna().sum())
        elif exp["type"] == "expect_column_values_to_be_between":
            bad = int((col.notna() & ~col.between(kw["min_value"], kw["max_value"])).sum())
        else:
            bad = int((col.notna() & ~col.isin(kw["value_set"])).sum())
        counts[(exp["type"], kw["column"])] = bad
    return counts


def main(argv: list[str] | None = None) -> int:
    """Time both sides once each on the same frame and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 1,000,000)")
    args = parser.parse_args(argv)
    rows = args.rows or (50_000 if args.quick else 1_000_000)

    frame = make_frame(rows)
    suite = make_suite(frame)
    start = time.perf_counter()
    core.validate(frame.head(100), suite)  # import GX, build the context: once per process
    setup = time.perf_counter() - start

    start = time.perf_counter()
    expected = pandas_checks(frame, suite)
    pandas_s = time.perf_counter() - start
    start = time.perf_counter()
    result = core.validate(frame, suite)
    gx_s = time.perf_counter() - start

    if not result.success or any(expected.values()):
        print(f"unexpected failures: {result.explain()}")
        return 1
    ratio = gx_s / pandas_s
    print(f"validation: {rows:,} rows x {frame.shape[1]} columns, {len(expected)} checks")
    print(f"  GX setup (import + context, once per process): {setup:.2f} s")
    print(f"  pandas checks:        {pandas_s:.3f} s")
    print(f"  Great Expectations:   {gx_s:.3f} s")
    met = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"  ratio GX/pandas:      {ratio:.1f}x (target <= {TARGET_RATIO:.0f}x: {met})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
