"""Recent windows for the monitoring tests: as the reference, drifted, mislabelled."""

import numpy as np
import pandas as pd

from kfp_mlops.components.monitoring.monitor_model.core import monitor, run_monitoring

SHIFTED = ["mean_radius", "mean_texture", "worst_area"]
RESCALED = ["mean_smoothness", "worst_symmetry"]


def recent_window(reference: pd.DataFrame, rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Recent traffic from the reference's distribution, labels included."""
    return reference.sample(rows, random_state=seed).reset_index(drop=True)


def drifted(window: pd.DataFrame) -> pd.DataFrame:
    """Three features shifted by +1.5 std, two rescaled x1.5."""
    out = window.copy()
    for c in SHIFTED:
        out[c] = out[c] + 1.5 * out[c].std()
    for c in RESCALED:
        out[c] = out[c] * 1.5
    return out


def flip_labels(window: pd.DataFrame, share: float = 0.2, seed: int = 1) -> pd.DataFrame:
    """Swap the class of ``share`` of the rows."""
    out = window.copy()
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(out), size=int(share * len(out)), replace=False)
    swap = {"malignant": "benign", "benign": "malignant"}
    out.loc[rows, "target"] = out.loc[rows, "target"].map(swap)
    return out


def run(champion, window: pd.DataFrame, **kwargs):
    kwargs.setdefault("baseline", champion.baseline)
    kwargs.setdefault("latency_samples", 20)
    baseline = kwargs.pop("baseline")
    return monitor(
        window, champion.reference, champion.model, champion.preprocessor, baseline, **kwargs
    )


def write_inputs(champion, tmp_path, window):
    cur, ref = tmp_path / "current.parquet", tmp_path / "reference.parquet"
    window.to_parquet(cur, index=False)
    champion.reference.to_parquet(ref, index=False)
    return str(cur), str(ref)


def run_on_files(champion, tmp_path, window: pd.DataFrame, **kwargs):
    """:func:`run_monitoring` on ``window`` and the reference written as Parquet files."""
    cur, ref = write_inputs(champion, tmp_path, window)
    return run_monitoring(
        cur, ref, str(champion.model_dir), str(champion.preprocessor_path), **kwargs
    )
