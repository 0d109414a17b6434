"""Latency of a predictor as it will be served: single-row and batch percentiles, throughput."""

from __future__ import annotations

import time

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import latency_percentiles
from kfp_mlops.components.evaluation.evaluate_model.predictors import Predictor


def measure_latency(
    predict_fn: Predictor,
    features: np.ndarray,
    repetitions: int = 200,
    batch_size: int = 256,
    batch_repetitions: int = 20,
    warmup: int = 10,
) -> dict[str, float]:
    """Latency percentiles (ms) of single-row and batch calls to ``predict_fn``.

    Single-row calls cycle through the test rows; batch calls use ``batch_size`` rows
    (test rows repeated if there are fewer). Warm-up calls (graph tracing, allocation) are
    not timed. The number of calls is bounded by the arguments.

    Returns:
        ``latency_single_p50_ms`` .. ``_p99_ms``, ``latency_batch_p50_ms`` .. ``_p99_ms``,
        ``batch_size`` and ``throughput_rows_per_s`` (batch size / batch median).
    """
    if repetitions < 1 or batch_repetitions < 1 or batch_size < 1:
        raise ParameterError(
            f"repetitions={repetitions}, batch_repetitions={batch_repetitions}, "
            f"batch_size={batch_size}: all must be >= 1",
            "use e.g. 200, 20 and 256",
        )
    features = np.asarray(features, dtype="float32")
    n = len(features)
    if n == 0:
        raise ParameterError("no rows to time predictions on", "pass a non-empty test split")
    batch = np.take(features, np.arange(batch_size) % n, axis=0)

    for i in range(warmup):
        predict_fn(features[i % n : i % n + 1])
    single = []
    for i in range(repetitions):
        row = features[i % n : i % n + 1]
        start = time.perf_counter()
        predict_fn(row)
        single.append(time.perf_counter() - start)

    for _ in range(max(1, warmup // 5)):
        predict_fn(batch)
    batched = []
    for _ in range(batch_repetitions):
        start = time.perf_counter()
        predict_fn(batch)
        batched.append(time.perf_counter() - start)

    result = {
        f"latency_{kind}_{q}_ms": value
        for kind, samples in (("single", single), ("batch", batched))
        for q, value in latency_percentiles(samples, to_ms=1000.0).items()
    }
    result["batch_size"] = float(batch_size)
    result["throughput_rows_per_s"] = float(batch_size / max(np.median(batched), 1e-12))
    return result
