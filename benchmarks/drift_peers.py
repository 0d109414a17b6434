"""detect_drift vs Evidently's DataDriftPreset, each side in its own process, one run.

Evidently is a peer, not a dependency: it runs in its own venv (default
``~/.cache/kfp-mlops/bench-evidently``, or ``$KFP_MLOPS_BENCH_EVIDENTLY_ENV``), built on
demand by a full run with the pipeline env's pandas and numpy (the pickled frames load in
both, and the comparison is of the drift tools, not of pandas versions). Both sides load
the same pickled reference and current windows; each prints its wall time for the analysis,
its process's resident memory after loading the data and its peak (``ru_maxrss``), and the
columns it flags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.peer_env import peer_python

EVIDENTLY = "evidently==0.7.23"
TARGET_RATIO = 20.0

# Shared by both workers: load the frames, time ``analyse``, report memory and verdicts.
_HARNESS = r"""
import json, resource, sys, time
import pandas as pd

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

reference = pd.read_pickle(sys.argv[1])
current = pd.read_pickle(sys.argv[2])
columns = [c for c in reference.columns if c != "target"]
warm()
loaded = rss_mb()
start = time.perf_counter()
drifted = analyse(reference, current, columns)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "loaded_mb": loaded, "peak_mb": peak,
                  "drifted": sorted(drifted)}))
"""

_OURS = r"""
def warm():
    import scipy.stats  # noqa: F401 - imports are not the analysis
    from kfp_mlops.components.data.detect_drift.core import feature_drift  # noqa: F401

def analyse(reference, current, columns):
    from kfp_mlops.components.data.detect_drift.core import feature_drift
    return feature_drift(reference, current, exclude=("target",)).drifted_features
"""

# Evidently 0.7: the preset's per-column ValueDrift metrics carry the drift score and the
# method's threshold; a column drifts as Evidently's own DriftedColumnsCount counts it.
_EVIDENTLY = r"""
def warm():
    from evidently import Report  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401

def analyse(reference, current, columns):
    from evidently import Report
    from evidently.presets import DataDriftPreset
    snapshot = Report([DataDriftPreset(columns=columns)]).run(
        current_data=current[columns], reference_data=reference[columns])
    return drifted_columns(snapshot, columns)

def drifted_columns(snapshot, columns):
    out, count = [], None
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("DriftedColumnsCount"):
            count = int(metric["value"]["count"])
        elif config.get("type", "").endswith("ValueDrift"):
            column, value = config["column"], float(metric["value"])
            method = (config.get("method") or "").lower()
            threshold = config.get("threshold")
            p_value = "p_value" in method or "test" in method and "distance" not in method
            if threshold is None:
                threshold = 0.05 if p_value else 0.1
            if (value < threshold) if p_value else (value >= threshold):
                out.append(column)
    if count is not None and count != len(out):  # our reading of the scores is Evidently's
        raise SystemExit(f"Evidently counts {count} drifted columns, the scores say {out}")
    return out
"""


def evidently_python(build: bool) -> tuple[str | None, str]:
    """The Evidently env's interpreter (built when ``build`` and missing), or None and why."""
    pins = [EVIDENTLY, f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]
    probe = "from evidently.presets import DataDriftPreset"
    return peer_python(
        "Evidently", "KFP_MLOPS_BENCH_EVIDENTLY_ENV", "bench-evidently", probe, pins, build
    )


def _run(python: str, worker: str, ref_path: Path, cur_path: Path) -> dict:
    done = subprocess.run(
        [python, "-c", worker + _HARNESS, str(ref_path), str(cur_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"drift worker failed ({done.returncode}):\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(reference: pd.DataFrame, current: pd.DataFrame, expected: list[str], build: bool):
    """Print ours vs Evidently side by side; True unless a side flags the wrong columns."""
    print(
        f"\nvs Evidently (DataDriftPreset), each in its own process: current {len(current):,} "
        f"x {current.shape[1] - 1} vs reference {len(reference):,}; shifted: {expected}"
    )
    evidently, why = evidently_python(build)
    with tempfile.TemporaryDirectory(prefix="bench_drift_") as tmp:
        ref_path, cur_path = Path(tmp) / "reference.pkl", Path(tmp) / "current.pkl"
        reference.to_pickle(ref_path)
        current.to_pickle(cur_path)
        results = {"ours (detect_drift)": _run(sys.executable, _OURS, ref_path, cur_path)}
        if evidently:
            results[EVIDENTLY] = _run(evidently, _EVIDENTLY, ref_path, cur_path)
    print(f"  {'':<22}{'seconds':>9}{'RSS data MB':>13}{'peak MB':>9}  flags the shifted only")
    ok = True
    for label, r in results.items():
        same = r["drifted"] == sorted(expected)
        ok &= same
        verdict = "yes" if same else f"NO: {r['drifted']}"
        print(
            f"  {label:<22}{r['seconds']:>9.2f}{r['loaded_mb']:>13.0f}{r['peak_mb']:>9.0f}  "
            f"{verdict}"
        )
    if not evidently:
        print(f"  {EVIDENTLY}: skipped: {why}")
        return ok
    ours, peer = results["ours (detect_drift)"], results[EVIDENTLY]
    ratio = peer["seconds"] / ours["seconds"]
    print(
        f"  ours is {ratio:.1f}x faster (target >= {TARGET_RATIO:g}x: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}), peak memory "
        f"{peer['peak_mb'] / ours['peak_mb']:.2f}x lower; same verdicts: "
        f"{'yes' if ours['drifted'] == peer['drifted'] else 'NO'}"
    )
    return ok
