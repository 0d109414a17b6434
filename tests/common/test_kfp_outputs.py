"""The wrappers' output writing, on real KFP artifact objects."""

import math
from dataclasses import dataclass, field

from kfp import dsl

from kfp_mlops.components.common.kfp_outputs import log_finite, publish_optimized


def test_log_finite_leaves_out_nan_and_infinities_and_prefixes():
    metrics = dsl.Metrics(name="metrics", uri="", metadata={})
    log_finite(metrics, {"accuracy": 0.9, "rmse": math.nan, "ratio": math.inf, "n": 3})
    log_finite(metrics, {"accuracy": 0.8}, prefix="champion_")
    assert metrics.metadata == {"accuracy": 0.9, "n": 3.0, "champion_accuracy": 0.8}
    assert isinstance(metrics.metadata["n"], float)


@dataclass
class _Result:
    blessed: bool
    metrics: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def test_publish_optimized_writes_metrics_metadata_and_returns_the_verdict():
    metrics = dsl.Metrics(name="metrics", uri="", metadata={})
    model = dsl.Model(name="model", uri="", metadata={"framework": "tflite"})
    result = _Result(False, {"sparsity": 0.5, "skipped": 1.0}, {"gate_reason": "too slow"})
    assert publish_optimized(metrics, model, result) is False
    assert metrics.metadata == {"sparsity": 0.5, "skipped": 1.0}
    assert model.metadata == {"framework": "tflite", "gate_reason": "too slow"}
