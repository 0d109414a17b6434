"""Great Expectations validation vs the same checks in plain pandas and in pandera.

N rows x 20 columns (18 float, 2 categorical): not-null on every column, a range on each
float column and a value set on each categorical one. Every side runs the same checks on
the same frame in the same run, once each; the GX side is ``validate_data.core.validate``
with its context already built, pandera's import is timed apart as well.

pandera is a peer, not a dependency: it runs in its own venv (default
``~/.cache/kfp-mlops/bench-pandera``, or ``$KFP_MLOPS_BENCH_PANDERA_ENV``), which a full run
creates on first use with the pipeline env's pandas and numpy, as a subprocess reading the
frame from a pickle. ``--quick`` (50k rows only) uses that env when it exists and never
builds it.

    python -m benchmarks.bench_validation [--quick] [--rows N ...]
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.peer_env import peer_python
from kfp_mlops.components.data.validate_data import core

TARGET_RATIO = 3.0  # GX / pandas at SIZES[-1] rows
CATEGORIES = ["alpha", "beta", "gamma", "delta"]
PANDERA = "pandera==0.35.0"
SIZES = (50_000, 1_000_000)

# Runs in the pandera env: the bench suite as a pandera schema (dtype=None: like the GX and
# pandas sides, no type checks), one lazy validation, seconds and failure count as JSON.
_PANDERA_WORKER = """
import json, sys, time
start = time.perf_counter()
import pandas as pd
import pandera.pandas as pa
setup = time.perf_counter() - start
suite = json.loads(sys.argv[2])
checks = {}
for exp in suite["expectations"]:
    kw = exp["kwargs"]
    if exp["type"] == "expect_column_values_to_be_between":
        check = pa.Check.in_range(kw["min_value"], kw["max_value"])
        checks.setdefault(kw["column"], []).append(check)
    elif exp["type"] == "expect_column_values_to_be_in_set":
        checks.setdefault(kw["column"], []).append(pa.Check.isin(kw["value_set"]))
    else:
        checks.setdefault(kw["column"], [])
schema = pa.DataFrameSchema(
    {c: pa.Column(None, checks=v, nullable=False) for c, v in checks.items()}
)
frame = pd.read_pickle(sys.argv[1])
start = time.perf_counter()
try:
    schema.validate(frame, lazy=True)
    failures = 0
except pa.errors.SchemaErrors as exc:
    failures = len(exc.failure_cases)
seconds = time.perf_counter() - start
print(json.dumps({"setup": setup, "seconds": seconds, "failures": failures}))
"""


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


def pandera_python(build: bool) -> tuple[str | None, str]:
    """The pandera env's interpreter (built when ``build`` and missing), or None and why."""
    # The pipeline env's pandas and numpy: the pickled frame loads, and the comparison is
    # of the validators, not of pandas versions.
    pins = [PANDERA, f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]
    return peer_python(
        "pandera", "KFP_MLOPS_BENCH_PANDERA_ENV", "bench-pandera", "import pandera.pandas",
        pins, build, timeout=900,
    )  # fmt: skip


def run_pandera(python: str, frame: pd.DataFrame, suite: dict) -> dict:
    """Time pandera on ``frame`` in its env; ``{"setup", "seconds", "failures"}``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame.pkl"
        frame.to_pickle(path)
        done = subprocess.run(
            [python, "-c", _PANDERA_WORKER, str(path), json.dumps(suite)],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(rows: int, pandera: str | None) -> dict:
    """One timed run of each side on one frame; raises if any side finds a failure."""
    frame = make_frame(rows)
    suite = make_suite(frame)
    start = time.perf_counter()
    expected = pandas_checks(frame, suite)
    pandas_s = time.perf_counter() - start
    start = time.perf_counter()
    result = core.validate(frame, suite)
    gx_s = time.perf_counter() - start
    if not result.success or any(expected.values()):
        raise RuntimeError(f"unexpected failures: {result.explain()}")
    out = {"rows": rows, "checks": len(expected), "pandas": pandas_s, "gx": gx_s}
    if pandera:
        peer = run_pandera(pandera, frame, suite)
        if peer["failures"]:
            raise RuntimeError(f"pandera found {peer['failures']} failures on clean data")
        out.update(pandera=peer["seconds"], pandera_setup=peer["setup"])
    return out


def regime(runs: list[dict]) -> str:
    """Which regime a user meets, from GX's time fitted as fixed cost + cost per row."""
    small, big = runs[0], runs[-1]
    checks = small["checks"]

    def ratios(run: dict) -> str:
        peer = f" and {run['gx'] / run['pandera']:.1f}x pandera" if "pandera" in run else ""
        return f"{run['gx'] / run['pandas']:.1f}x pandas{peer} at {run['rows']:,} rows"

    if big["rows"] == small["rows"]:
        return (
            f"At {small['rows']:,} rows GX takes {1000 * small['gx'] / checks:.0f} ms per "
            f"expectation, most of it fixed cost: {ratios(small)}. Small batches (a daily "
            "file, a test split) meet this regime."
        )
    per_row = (big["gx"] - small["gx"]) / (big["rows"] - small["rows"])
    fixed = small["gx"] - per_row * small["rows"]
    text = (
        f"GX costs about {1000 * max(fixed, 0) / checks:.0f} ms per expectation whatever the "
        f"size plus {per_row * 1e6:.2f} s per million rows"
    )
    if fixed > 0 and per_row > 0:
        crossover = float(f"{fixed / per_row:.2g}")  # two significant digits: a rough fit
        text += f", so the fixed cost is most of its time up to about {crossover:,.0f} rows"
    return (
        f"{text}: {ratios(small)}, {ratios(big)}. Most users meet the first regime: a daily "
        "batch or a test split has thousands of rows, not millions."
    )


def main(argv: list[str] | None = None) -> int:
    """Time every side once per size on the same frames and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows only")
    parser.add_argument("--rows", type=int, nargs="+", default=None, help="table sizes")
    args = parser.parse_args(argv)
    sizes = args.rows or ((SIZES[0],) if args.quick else SIZES)

    start = time.perf_counter()
    frame = make_frame(100)
    core.validate(frame, make_suite(frame))  # import GX, build the context: once per process
    setup = time.perf_counter() - start
    pandera, why = pandera_python(build=not args.quick)
    try:
        runs = [measure(rows, pandera) for rows in sizes]
    except RuntimeError as exc:
        print(exc)
        return 1

    print(f"validation: 20 columns (18 float, 2 text), {runs[0]['checks']} checks, one run each")
    peer_setup = f"{runs[0]['pandera_setup']:.2f} s" if pandera else "-"
    print(f"  setup once per process: GX import + context {setup:.2f} s, pandera {peer_setup}")
    print(
        f"  {'rows':>10} {'pandas':>9} {'GX':>9} {'pandera':>9}"
        f" {'GX/pandas':>10} {'pandera/pandas':>15} {'GX/pandera':>11}"
    )
    for r in runs:
        peer = r.get("pandera")
        print(
            f"  {r['rows']:>10,} {r['pandas']:>8.3f}s {r['gx']:>8.3f}s "
            + (f"{peer:>8.3f}s" if peer else f"{'-':>9}")
            + f" {r['gx'] / r['pandas']:>9.1f}x "
            + (f"{peer / r['pandas']:>14.1f}x {r['gx'] / peer:>10.1f}x" if peer else "")
        )
    if not pandera:
        print(f"  pandera: skipped: {why}")
    ratio = runs[-1]["gx"] / runs[-1]["pandas"]
    if runs[-1]["rows"] >= SIZES[-1]:
        met = "met" if ratio <= TARGET_RATIO else "NOT met"
        verdict = f"target <= {TARGET_RATIO:.0f}x: {met}"
    else:
        verdict = f"the <= {TARGET_RATIO:.0f}x target is for {SIZES[-1]:,} rows"
    print(f"  GX/pandas at {runs[-1]['rows']:,} rows: {ratio:.1f}x ({verdict})")
    print("  " + regime(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
