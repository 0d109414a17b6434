"""Tabular explanations: SHAP values of raw columns, and permutation importance.

Players are raw columns, not encoded slots: a categorical column's one-hot block (and a
``<column>__missing`` indicator) is masked as one, through
:func:`~kfp_mlops.components.serving.explainer.feature_groups`, the grouping the model
server's ``:explain`` uses. SHAP runs shap's ``PermutationExplainer`` (model-agnostic, so a
TFLite-only model is explained as served; exactly additive: each row's values sum to its
output minus the base value) with a :class:`GroupMasker` over a background sample of the
training split. Permutation importance (the fallback) shuffles one raw column's slots
across the rows and reports how much the primary metric worsens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Attributions:
    """Per-row attributions of the explained output and the base value."""

    values: np.ndarray  # (rows, columns)
    base_values: np.ndarray  # (rows,) base value of each row's explained output
    outputs: np.ndarray  # (rows,) the explained output of each row

    @property
    def base_value(self) -> float:
        """The base value (averaged over rows when they explain different classes)."""
        return float(self.base_values.mean())

    @property
    def additivity_error(self) -> float:
        """Largest ``|sum(values) - (output - base)|`` over the rows."""
        gap = self.values.sum(axis=1) - (self.outputs - self.base_values)
        return float(np.abs(gap).max()) if len(gap) else 0.0

    @property
    def importance(self) -> np.ndarray:
        """Global importance: mean absolute attribution per column."""
        return np.abs(self.values).mean(axis=0)


def _shap_masker(rows: np.ndarray, background: np.ndarray, groups: list[list[int]]):
    """A shap masker whose features are groups of slots of the encoded rows.

    shap shapes its values like the rows it is given, so it is handed one id per group
    (``ids[j] = row number``); the masker fills the masked groups from the background.
    """
    from shap.maskers import Masker

    member = np.zeros((len(groups), rows.shape[1]), dtype=bool)
    for g, slots in enumerate(groups):
        member[g, slots] = True

    class GroupMasker(Masker):
        def __init__(self) -> None:
            self.data = background
            self.shape = (len(background), len(groups))

        def __call__(self, mask: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray]:
            slots = member[np.asarray(mask, dtype=bool)].any(axis=0)
            return (np.where(slots, rows[int(ids[0])], background),)

    return GroupMasker()


def shap_values(
    predict: Predict,
    rows: np.ndarray,
    background: np.ndarray,
    groups: list[list[int]],
    pick: Callable[[np.ndarray], np.ndarray],
    permutations: int = 10,
    seed: int = 0,
) -> Attributions:
    """SHAP values (shap's PermutationExplainer) of each raw column for each row.

    Args:
        predict: Encoded features -> outputs ``(m, k)``.
        rows: Encoded rows to explain.
        background: Encoded background rows (from the training split).
        groups: Slot indices per raw column.
        pick: Outputs ``(n, k)`` -> the output index explained for each row.
        permutations: Orderings per row (each run forward and backward).
        seed: Seed of the orderings.
    """
    import shap

    np.random.seed(seed)  # shap's PermutationExplainer shuffles with the global generator
    explainer = shap.explainers.Permutation(predict, _shap_masker(rows, background, groups))
    ids = np.repeat(np.arange(len(rows), dtype=float)[:, None], len(groups), axis=1)
    explained = explainer(ids, max_evals=permutations * (2 * len(groups) + 1), silent=True)
    values = np.asarray(explained.values, dtype=np.float64)  # (n, groups, k)
    base = np.asarray(explained.base_values, dtype=np.float64)  # (n, k)
    if values.ndim == 2:  # shap drops the output axis of a one-output model
        values, base = values[:, :, None], base.reshape(-1, 1)
    outputs = np.asarray(predict(rows), dtype=np.float64)
    index = pick(outputs)
    at = np.arange(len(rows))
    return Attributions(values[at, :, index], base[at, index], outputs[at, index])


def permutation_importance(
    score: Callable[[np.ndarray], float],
    rows: np.ndarray,
    groups: list[list[int]],
    greater_is_better: bool,
    repeats: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """How much the primary metric worsens when one raw column's values are shuffled.

    Args:
        score: Encoded rows -> primary metric on those rows' labels.
        rows: Encoded rows (their labels are in ``score``).
        groups: Slot indices per raw column (a group is shuffled as one).
        greater_is_better: Direction of the metric.
        repeats: Shuffles per column (averaged).
        seed: Seed of the shuffles.

    Returns:
        The mean worsening per column (positive = the column matters) and the baseline score.
    """
    rng = np.random.default_rng(seed)
    baseline = score(rows)
    sign = 1.0 if greater_is_better else -1.0
    drops = np.zeros(len(groups))
    for g, slots in enumerate(groups):
        total = 0.0
        for _ in range(repeats):
            shuffled = rows.copy()
            shuffled[:, slots] = rows[rng.permutation(len(rows))][:, slots]
            total += sign * (baseline - score(shuffled))
        drops[g] = total / repeats
    return drops, baseline
