"""Per-row attributions for the server's ``:explain`` verb: Shapley values of raw columns.

The explainer is model-agnostic and cheap: permutation sampling of Shapley values (as
shap's ``PermutationExplainer``) against a small background sample of training rows, with
each raw column a single player (a categorical column's one-hot slots and a
``<column>__missing`` indicator move together, so no impossible one-hot row is ever fed to
the model). Every ordering's marginal contributions telescope, so the attributions of a row
sum to its prediction minus the base value (the mean prediction on the background) exactly,
whatever the number of orderings. All coalitions of a request go to the model in one
batched call: rows x orderings x (columns + 1) x background rows, bounded by
:data:`MAX_EXPLAIN_ROWS`.

The background is the model directory's :data:`~kfp_mlops.components.common.model_dir.
BACKGROUND_FILE` (written by ``explain_model``, copied in by ``register_model``): encoded
feature rows, the same vectors ``Preprocessor.encode`` makes from a request. Only numpy and
the standard library are imported (no TensorFlow, no shap: the TFLite serving image has
neither); ``explain_model`` imports :func:`feature_groups` from here so both group alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import Histogram

from kfp_mlops.components.common.errors import ParameterError

#: Explain latency, apart from predict's (``kfp_mlops_request_latency_seconds``).
EXPLAIN_LATENCY = Histogram(
    "kfp_mlops_explain_latency_seconds",
    "Time to compute the attributions of one :explain request (encoding excluded)",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
#: Most rows one ``:explain`` request may ask for (more: 400).
MAX_EXPLAIN_ROWS = 16
#: Background rows the server keeps (the file may hold more; the first ones are used).
SERVER_BACKGROUND_ROWS = 24
#: Orderings sampled per row (each also run reversed: antithetic pairs).
PERMUTATIONS = 3
#: Model rows per backend call while explaining.
CHUNK_ROWS = 8192

Predict = Callable[[np.ndarray], np.ndarray]


class BackgroundError(ParameterError):
    """The background sample is missing, unreadable or does not fit the preprocessor."""


class ExplainUnavailable(Exception):
    """``:explain`` on a model served without a usable background sample (HTTP 501)."""


def feature_groups(preprocessor: Any) -> list[tuple[str, list[int]]]:
    """Raw columns and the indices of the feature-vector slots each one encodes into.

    Numeric columns own one slot, categorical ones their one-hot block; a
    ``<column>__missing`` indicator joins its column's group.
    """
    names = list(preprocessor.feature_names)
    groups: dict[str, list[int]] = {c: [] for c in preprocessor.raw_columns}
    position = len(preprocessor.numeric_columns)
    for i, column in enumerate(preprocessor.numeric_columns):
        groups[column].append(i)
    for column, cats in zip(preprocessor.categorical_columns, preprocessor.categories, strict=True):
        groups[column].extend(range(position, position + len(cats)))
        position += len(cats)
    for column in preprocessor.indicator_columns:
        groups[column].append(position)
        position += 1
    if position != len(names):
        raise ParameterError(
            f"the preprocessor's {len(names)} feature names do not match its columns "
            f"({position} slots)",
            "refit it with split_and_preprocess",
        )
    return list(groups.items())


def save_background(path: str | Path, features: np.ndarray, feature_names: list[str]) -> None:
    """Write encoded background rows as JSON (no pickle: the server must not unpickle)."""
    rows = np.asarray(features, dtype=np.float32)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    document = {"feature_names": list(feature_names), "rows": rows.tolist()}
    Path(path).write_text(json.dumps(document), encoding="utf-8")


def load_background(path: str | Path, feature_names: list[str]) -> np.ndarray:
    """Read :func:`save_background`'s file and check it fits the preprocessor.

    Raises:
        BackgroundError: Naming the file and what is wrong with it.
    """
    fix = "re-run explain_model with this model's preprocessor and register its background"
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = np.asarray(document["rows"], dtype=np.float32)
        names = list(document["feature_names"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackgroundError(f"cannot read the background sample '{path}': {exc}", fix) from exc
    if names != list(feature_names):
        raise BackgroundError(
            f"the background sample '{path}' has features {names[:5]}... but the preprocessor "
            f"makes {list(feature_names)[:5]}...: they come from different pipeline runs",
            fix,
        )
    if rows.ndim != 2 or rows.shape[1] != len(names) or not len(rows):
        raise BackgroundError(f"the background sample '{path}' has shape {rows.shape}", fix)
    if not np.isfinite(rows).all():
        raise BackgroundError(f"the background sample '{path}' has non-finite values", fix)
    return rows


def _orderings(n_groups: int, permutations: int, rng: np.random.Generator) -> np.ndarray:
    orders = [rng.permutation(n_groups) for _ in range(permutations)]
    return np.array([o for order in orders for o in (order, order[::-1])])


def shapley_values(
    predict: Predict,
    rows: np.ndarray,
    background: np.ndarray,
    groups: list[list[int]],
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation-sampled Shapley values of feature groups (exactly additive).

    Args:
        predict: Encoded features ``(m, F)`` -> outputs ``(m, k)``.
        rows: Encoded rows to explain ``(n, F)``.
        background: Encoded background rows ``(b, F)``.
        groups: Slot indices of each player (see :func:`feature_groups`).
        permutations: Orderings sampled per row (each also reversed).
        seed: Seed of the orderings (same request, same answer).

    Returns:
        Attributions ``(n, groups, k)`` and the base value ``(k,)`` (mean background output).
    """
    rows = np.asarray(rows, dtype=np.float32)
    n_groups, (b, width) = len(groups), background.shape
    orders = _orderings(n_groups, permutations, np.random.default_rng(seed))
    member = np.zeros((n_groups, width), dtype=bool)
    for g, slots in enumerate(groups):
        member[g, slots] = True
    # masks[o, j]: slots taken from the row after the first j players of ordering o joined.
    joined = np.cumsum(member[orders], axis=1) > 0  # (orders, groups, width)
    masks = np.concatenate([np.zeros((len(orders), 1, width), bool), joined], axis=1)
    batch = np.where(
        masks[None, :, :, None, :], rows[:, None, None, None, :], background[None, None, None]
    )  # (n, orders, groups + 1, b, width)
    flat = batch.reshape(-1, width)
    out = np.concatenate(
        [np.asarray(predict(flat[i : i + CHUNK_ROWS])) for i in range(0, len(flat), CHUNK_ROWS)]
    ).astype(np.float64)
    out = out.reshape(len(rows), len(orders), n_groups + 1, b, -1).mean(axis=3)
    steps = np.diff(out, axis=2)  # (n, orders, groups, k): the contribution of each joiner
    values = np.zeros((len(rows), len(orders), n_groups, out.shape[-1]))
    np.put_along_axis(values, orders[None, :, :, None], steps, axis=2)
    base = out[:, :, 0].mean(axis=(0, 1))
    return values.mean(axis=1), base


@dataclass
class RowExplanation:
    """One row's attributions, in the response's units."""

    explained: str
    prediction: float
    base_value: float
    attributions: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """The V1 response item; attributions ranked by magnitude."""
        ranked = sorted(self.attributions.items(), key=lambda kv: -abs(kv[1]))
        return {
            "explained": self.explained,
            "prediction": self.prediction,
            "base_value": self.base_value,
            "attributions": dict(ranked),
        }


class ServingExplainer:
    """Built once at load time from the background file; explains encoded request rows.

    Args:
        preprocessor: The served preprocessor (its columns, classes and task).
        background: Encoded background rows (see :func:`load_background`).
        predict: Encoded features -> probabilities ``(m, classes)`` or, for regression, the
            target in its units ``(m, 1)``.
        max_rows: Most rows per request.
    """

    method = "permutation-shapley"

    def __init__(
        self,
        preprocessor: Any,
        background: np.ndarray,
        predict: Predict,
        max_rows: int = MAX_EXPLAIN_ROWS,
    ) -> None:
        self.preprocessor = preprocessor
        self.background = background[:SERVER_BACKGROUND_ROWS]
        self.predict = predict
        self.max_rows = max_rows
        named = feature_groups(preprocessor)
        self.columns = [name for name, _ in named]
        self.groups = [slots for _, slots in named]
        self.classes = list(preprocessor.classes)
        self.regression = not preprocessor.task_spec.is_classification

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, preprocessor: Any, predict: Predict, max_rows: int
    ) -> ServingExplainer:
        """The explainer of a model directory holding a background sample.

        Raises:
            BackgroundError: If the directory has no (usable) background sample.
        """
        from kfp_mlops.components.common.model_dir import BACKGROUND_FILE

        path = Path(model_dir) / BACKGROUND_FILE
        if not path.is_file():
            raise BackgroundError(
                f"the model directory '{model_dir}' has no {BACKGROUND_FILE}, so this server "
                "cannot explain",
                "run explain_model and pass its background to register_model (or copy the "
                f"file into the model directory as {BACKGROUND_FILE}), then redeploy",
            )
        background = load_background(path, preprocessor.feature_names)
        return cls(preprocessor, background, predict, max_rows)

    def explain(self, features: np.ndarray) -> list[RowExplanation]:
        """Attributions of each encoded row, for its explained output.

        Binary: the positive (second) class's probability; multiclass: the predicted
        class's; regression: the prediction in the target's units.
        """
        values, base = shapley_values(self.predict, features, self.background, self.groups)
        outputs = np.asarray(self.predict(features), dtype=np.float64)
        if self.regression:
            picked = np.zeros(len(features), dtype=int)
        elif len(self.classes) == 2:
            picked = np.ones(len(features), dtype=int)
        else:
            picked = outputs.argmax(axis=1)
        explained = []
        for i, k in enumerate(picked):
            what = "prediction" if self.regression else f"probability of class '{self.classes[k]}'"
            attributions = dict(zip(self.columns, values[i, :, k].tolist(), strict=True))
            explained.append(
                RowExplanation(what, float(outputs[i, k]), float(base[k]), attributions)
            )
        return explained
