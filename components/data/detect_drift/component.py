"""KFP wrapper of :mod:`kfp_mlops.components.data.detect_drift.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def detect_drift(
    reference: Input[Dataset],
    current: Input[Dataset],
    metrics: Output[Metrics],
    report: Output[HTML],
    drift_json: Output[Artifact],
    threshold: float = 0.1,
    target_column: str = "target",
    bins: int = 10,
) -> bool:
    """Detect data drift between a reference dataset and a current window (PSI, KS, chi-square).

    Image datasets (raw image Datasets from an image folder) are compared on per-image
    channel statistics (mean, std, 5/50/95th intensity percentiles) and the first 8 principal
    components of the pixels (PCA fitted on the reference), with the same PSI/KS tests.

    Args:
        reference: Reference table as Parquet (usually the training data): one file or
            shards. Sharded or large (over 1M rows) inputs are compared in streaming passes
            with bounded memory: the same bins and PSI, KS from fine histograms.
        current: Current window as Parquet (file or shards), with at least the
            reference's columns.
        metrics: drifted_features, share_drifted, max_psi and psi_<feature> (the 50 largest).
        report: HTML report: summary table and reference-vs-current plots, drifted first.
        drift_json: Per-feature PSI, KS and chi-square results as JSON.
        threshold: A feature drifts when its PSI is above this (0.1 moderate, 0.25 major).
        target_column: The label column, left out of the comparison.
        bins: Reference-quantile bins for numeric features.

    Returns:
        True when at least one feature drifted (use in dsl.If to trigger retraining).
    """
    import json
    from pathlib import Path

    from kfp_mlops.components.data.detect_drift.streaming import drift_between

    max_psi_metrics = 50  # keeps the KFP metrics table readable for wide tables
    # Sharded or large inputs stream (bounded memory, same bins and PSI); ref/cur are then
    # samples for the report's plots.
    result, ref, cur = drift_between(
        reference.path, current.path, threshold, bins=bins, exclude=(target_column,)
    )

    values = {
        "drifted_features": float(len(result.drifted_features)),
        "share_drifted": float(result.share_drifted),
        "max_psi": float(result.max_psi),
    }
    by_psi = sorted(result.features, key=lambda f: -f.psi)[:max_psi_metrics]
    values.update({f"psi_{f.feature}": float(f.psi) for f in by_psi})
    for name, value in values.items():
        metrics.log_metric(str(name), value)
    Path(metrics.path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics.path).write_text(json.dumps(values, indent=2), encoding="utf-8")

    result.write_html(report.path, ref, cur)
    Path(drift_json.path).parent.mkdir(parents=True, exist_ok=True)
    Path(drift_json.path).write_text(result.to_json(), encoding="utf-8")
    drift_json.metadata.update(
        {
            "drift_detected": result.drift_detected,
            "drifted_features": result.drifted_features,
            "threshold": threshold,
        }
    )
    return bool(result.drift_detected)
