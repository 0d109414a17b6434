"""What prune_model measured, and the metrics and metadata it reports from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common.artifacts import KERAS_FILE
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.model_dir import TFLITE_FILE
from kfp_mlops.components.optimization.common import gzipped_size, tflite_latency_ms
from kfp_mlops.components.optimization.quality import Quality
from kfp_mlops.components.optimization.record import RECORD_FILE

if TYPE_CHECKING:
    from kfp_mlops.components.optimization.prune_model.core import Schedule


@dataclass(frozen=True)
class Baseline:
    """The input model measured on the test split, before pruning changes its layers."""

    test: Any
    quality: Quality
    y_test: Any
    score: float
    tflite: bytes


@dataclass(frozen=True)
class Pruned:
    """The pruned model's written files and its measurements on the test split."""

    keras_path: Path
    tflite: bytes
    sparsity: float
    per_layer: dict[str, float]
    score: float
    tflite_score: float


def pruning_metrics(
    base: Baseline, out: Pruned, history: Any, final_sparsity: float, latency_runs: int
) -> dict[str, float]:
    """Sparsity, sizes, scores and latencies of the pruned model against the input model."""
    metric = base.quality.metric
    metrics = {
        "sparsity": out.sparsity,
        "target_sparsity": final_sparsity,
        "size_bytes": out.keras_path.stat().st_size,
        "gzipped_size_bytes": gzipped_size(out.keras_path),
        metric: out.score,
        f"baseline_{metric}": base.score,
        f"tflite_{metric}": out.tflite_score,
        **tflite_metrics(base.tflite, out.tflite, base.test.head(1), latency_runs),
        f"final_val_{metric}": float(history.history.get(f"val_{metric}", [0.0])[-1]),
    }
    metrics.update({f"sparsity_{name}": value for name, value in out.per_layer.items()})
    return metrics


def pruning_metadata(
    gate_metadata: dict[str, Any],
    out: Pruned,
    schedule: Schedule,
    initial_sparsity: float,
    final_sparsity: float,
    epochs: int,
) -> dict[str, Any]:
    """The gate's metadata, then the files, the per-layer sparsity and the schedule."""
    return {
        **gate_metadata,
        "format": "keras-h5",
        "files": [KERAS_FILE, TFLITE_FILE, RECORD_FILE],
        "sparsity": round(out.sparsity, 4),
        "layer_sparsity": {k: round(v, 4) for k, v in out.per_layer.items()},
        "schedule": {
            "initial_sparsity": initial_sparsity,
            "final_sparsity": final_sparsity,
            "begin_step": schedule.begin_step,
            "end_step": schedule.end_step,
            "frequency": schedule.frequency,
            "epochs": epochs,
        },
        "latency_runtime": "LiteRT interpreter, float32 TFLite, batch 1, 1 thread",
    }


def tflite_metrics(
    base_tflite: bytes, pruned_tflite: bytes, row: Any, latency_runs: int
) -> dict[str, float]:
    """Size, gzipped size and batch-1 latency of the float32 TFLites (``row``: the input)."""
    base_rt, pruned_rt = TFLiteModel(base_tflite), TFLiteModel(pruned_tflite)
    base_latency = tflite_latency_ms(base_rt, row, latency_runs)
    latency = tflite_latency_ms(pruned_rt, row, latency_runs)
    base_gz, tflite_gz = gzipped_size(base_tflite), gzipped_size(pruned_tflite)
    return {
        "tflite_size_bytes": len(pruned_tflite),
        "tflite_gzipped_size_bytes": tflite_gz,
        "baseline_tflite_gzipped_size_bytes": base_gz,
        "gzipped_size_ratio": base_gz / tflite_gz,
        "latency_p50_ms": latency,
        "baseline_latency_p50_ms": base_latency,
        "latency_ratio": latency / base_latency if base_latency else 0.0,
    }
