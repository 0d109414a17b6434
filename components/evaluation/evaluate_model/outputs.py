"""What the ``evaluate_model`` wrapper writes into its KFP output artifacts.

Kept out of the wrapper so that it stays a call to :func:`.core.evaluate` and one to
:func:`write_outputs`; the artifacts are duck-typed (``path``, ``metadata`` and the
``log_*`` methods of KFP's artifact classes), so tests can pass plain stand-ins.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from kfp_mlops.components.common.kfp_outputs import log_finite
from kfp_mlops.components.evaluation.evaluate_model.core import write_json

if TYPE_CHECKING:
    from kfp.dsl import Artifact, ClassificationMetrics, Metrics

    from kfp_mlops.components.evaluation.evaluate_model.summary import EvaluationResult


def write_outputs(
    result: EvaluationResult,
    metrics: Metrics,
    classification_metrics: ClassificationMetrics,
    summary_path: str,
    report_path: str,
    evaluation_json: Artifact,
) -> bool:
    """Write an evaluation into the component's outputs.

    Args:
        result: What :func:`.core.evaluate` returned.
        metrics: The ``Metrics`` output: the scalars, the champion's metrics as
            ``champion_<name>`` and ``blessed`` (1/0).
        classification_metrics: The ``ClassificationMetrics`` output: the confusion matrix
            (classification) and the ROC curve (binary).
        summary_path: Where the Markdown summary goes.
        report_path: Where the HTML report goes.
        evaluation_json: The ``Artifact`` output of the JSON; its metadata gets blessed,
            reasons, serving_format and champion_version.

    Returns:
        Whether the model is blessed (the component's return value).
    """
    log_finite(metrics, result.scalars)
    if result.champion:
        log_finite(metrics, result.champion["metrics"], prefix="champion_")
    metrics.log_metric("blessed", 1.0 if result.blessed else 0.0)

    if not result.is_regression:
        classification_metrics.log_confusion_matrix(
            result.metrics.classes, result.metrics.confusion_matrix
        )
    if result.metrics.roc:
        roc = result.metrics.roc
        classification_metrics.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])

    # The metadata also goes into the files, so the artifacts are self-contained in the
    # object store (the KFP UI reads the metadata; kfp.local shows only the files).
    for artifact in (metrics, classification_metrics):
        os.makedirs(os.path.dirname(artifact.path), exist_ok=True)
        with open(artifact.path, "w", encoding="utf-8") as f:
            json.dump(artifact.metadata, f, indent=1)
    with open(summary_path, "w", encoding="utf-8") as f:
        f.write(result.to_markdown())
    os.makedirs(os.path.dirname(report_path), exist_ok=True)
    with open(report_path, "w", encoding="utf-8") as f:
        f.write(result.to_html())
    write_json(result, evaluation_json.path)
    evaluation_json.metadata.update(
        {
            "blessed": result.blessed,
            "reasons": result.decision.reasons,
            "serving_format": result.serving_format,
            "champion_version": (result.champion or {}).get("version", ""),
        }
    )
    return result.blessed
