"""What an optimized model is judged on: accuracy points, or the relative change of RMSE.

The task follows from the processed split's labels (the split contract): int64 class codes
are classification, float32 targets are regression. Classification gates on the drop of
test accuracy in percentage points (``max_accuracy_drop``); regression on how much worse the
test RMSE gets, relative to the input model's (``max_rmse_increase_pct``, default 2%). A
relative change is the same in the split's units and in the target's own: standardising the
target scales every RMSE by the same factor, so the preprocessor's task spec is not needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common.metrics import regression_metrics
from kfp_mlops.components.optimization.common import (
    GateResult,
    accuracy,
    accuracy_gate,
    gate_outcome,
)

log = logging.getLogger(__name__)

#: Default largest accepted RMSE increase, percent of the input model's test RMSE.
MAX_RMSE_INCREASE_PCT = 2.0


def is_regression(labels: np.ndarray) -> bool:
    """Float labels are regression targets (the split contract: int codes otherwise)."""
    return np.asarray(labels).dtype.kind == "f"


def rmse(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Test RMSE of a single-output regression model (in the labels' units)."""
    return regression_metrics(labels, np.asarray(outputs).reshape(len(labels), -1)).scalars["rmse"]


@dataclass(frozen=True)
class Quality:
    """The task's quality measure and gate settings."""

    regression: bool
    max_accuracy_drop: float = 0.5
    max_rmse_increase_pct: float = MAX_RMSE_INCREASE_PCT

    @property
    def metric(self) -> str:
        """``rmse`` or ``accuracy``: the key of the measured value in the metrics."""
        return "rmse" if self.regression else "accuracy"

    @property
    def change_key(self) -> str:
        """Metrics key of the gate's change: ``rmse_change_pct`` or ``accuracy_change_pp``."""
        return "rmse_change_pct" if self.regression else "accuracy_change_pp"

    def measure(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        """RMSE (regression) or accuracy (classification) of model outputs."""
        return rmse(outputs, labels) if self.regression else accuracy(outputs, labels)

    def gate(self, baseline: float, optimized: float, gate_mode: str, what: str) -> GateResult:
        """:func:`rmse_gate` or :func:`~.common.accuracy_gate` with these settings."""
        if self.regression:
            return rmse_gate(baseline, optimized, self.max_rmse_increase_pct, gate_mode, what)
        return accuracy_gate(baseline, optimized, self.max_accuracy_drop, gate_mode, what)

    def fit_settings(self, model: Any) -> tuple[Any, list[Any], str]:
        """Loss, metrics and the validation key for fine-tuning (pruning, QAT)."""
        from kfp_mlops.components.common.artifacts import num_classes_of
        from kfp_mlops.components.common.tf import import_tf
        from kfp_mlops.components.training.model import loss_name

        if self.regression:
            tf = import_tf()
            return "mse", [tf.keras.metrics.RootMeanSquaredError(name="rmse")], "val_rmse"
        return loss_name(num_classes_of(model)), ["accuracy"], "val_accuracy"


def rmse_gate(
    baseline: float, optimized: float, max_increase_pct: float, gate_mode: str, what: str
) -> GateResult:
    """Compare test RMSEs; raise or mark when RMSE grew by more than ``max_increase_pct``%.

    Raises:
        OptimizationGateError: With ``gate_mode="fail"``, when the RMSE grew too much.
    """
    change = (optimized - baseline) / baseline * 100.0 if baseline > 0 else 0.0
    if baseline <= 0 < optimized:
        change = float("inf")  # a perfect model that now errs: no finite relative change
    passed = change <= max_increase_pct + 1e-9
    metadata: dict[str, Any] = {
        "blessed": passed,
        "gate": f"rmse increase <= {max_increase_pct}%",
        "rmse_change_pct": round(change, 4) if np.isfinite(change) else None,
    }
    if passed:
        log.info("%s: rmse %+.2f%%, gate passed", what, change)
    reason = (
        f"{what} made the test RMSE {change:.2f}% worse ({baseline:.4g} -> {optimized:.4g}), "
        f"more than max_rmse_increase_pct={max_increase_pct}%"
    )
    fix = "fine-tune longer, lower the sparsity, use a gentler mode (dynamic_range/float16), "
    return gate_outcome(
        passed,
        change,
        metadata,
        "rmse_change_pct",
        reason,
        fix + "or raise max_rmse_increase_pct",
        gate_mode,
    )
