"""The ``train_model_multinode`` wrapper's work: its artifacts into :func:`.core.train_multinode`.

Kept out of the wrapper so that it stays its signature, its docstring and one call: the
wrapper passes every parameter by name, and this module maps the artifacts to paths and
URIs, renames the node resources and writes the metrics and the model's metadata. The
artifacts are duck-typed (``path``, ``uri``, ``metadata``), so tests can pass stand-ins.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.kfp_outputs import log_finite
from kfp_mlops.components.training.train_multinode.core import train_multinode

if TYPE_CHECKING:
    from kfp.dsl import HTML, Artifact, Dataset, Metrics, Model


def train_on_artifacts(
    train: Dataset,
    validation: Dataset,
    model: Model,
    metrics: Metrics,
    curves: HTML,
    manifests: Artifact,
    best_params: Artifact | None = None,
    preprocessor: Model | None = None,
    *,
    node_cpu: str = "8",
    node_memory: str = "32Gi",
    **params: Any,
) -> None:
    """Train as a TrainJob on the wrapper's artifacts and write its outputs.

    Args:
        train: The training set (its local ``path`` is checked, every node reads its
            ``uri``); its metadata's ``num_classes``, when set, is the class count.
        validation: The validation set (``path`` and ``uri`` as for ``train``).
        model: The Model output: its directory receives the model files, its ``uri``
            names the job's work location, its metadata gets the model's metadata.
        metrics: The Metrics output (the run's finite summary metrics).
        curves: The HTML output of the training curves.
        manifests: The Artifact output of the applied TrainingRuntime and TrainJob YAML.
        best_params: Optional tuning result JSON.
        preprocessor: Optional preprocessor of split_and_preprocess (its task spec).
        node_cpu: CPU request and limit of each node (the core's ``cpu``).
        node_memory: Memory request and limit of each node (the core's ``memory``).
        **params: The wrapper's other parameters, passed to
            :func:`.core.train_multinode` under the same names.
    """
    os.makedirs(model.path, exist_ok=True)
    result = train_multinode(
        train.path,
        validation.path,
        train.uri,
        validation.uri,
        model.path,
        model.uri,
        manifests_path=manifests.path,
        curves_path=curves.path,
        best_params_path=best_params.path if best_params is not None else None,
        cpu=node_cpu,
        memory=node_memory,
        num_classes=int(train.metadata.get("num_classes", 0) or 0),
        task_path=preprocessor.path if preprocessor is not None else None,
        **params,
    )
    log_finite(metrics, result.summary_metrics())
    model.metadata.update(result.model_metadata())
