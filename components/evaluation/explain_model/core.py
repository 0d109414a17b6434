"""Global explanations of a model: which raw columns (or pixels) drive its predictions.

Tabular: SHAP values of each raw column (shap's PermutationExplainer against a background
sample of the training split, see :mod:`.tabular`), ranked by mean absolute value; with
``method='auto'`` a failing shap falls back to permutation importance (the primary metric's
worsening when a column is shuffled), and the reason is recorded. Images: integrated
gradients (:mod:`.images`) against the mean training image.

What is explained: binary, the positive (second) class's probability; multiclass, the
predicted class's probability; regression, the prediction in the target's units (the task
spec's standardisation undone). The model runs as served (``serving_format``, ``auto`` =
model.tflite when present), except integrated gradients, which need the Keras model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.task import LABEL, TaskSpec
from kfp_mlops.components.evaluation.explain_model import tabular

log = logging.getLogger(__name__)

METHODS = ("auto", "shap", "permutation")


@dataclass
class Explanation:
    """What explain_model found.

    Attributes:
        kind: ``tabular`` or ``image``.
        method: ``shap``, ``permutation_importance`` or ``integrated_gradients``.
        task_type: The task's type.
        explained: What the attributions are of (a sentence).
        columns: Raw columns (tabular), most important first.
        importance: Their importance, aligned with ``columns``.
        rows: Rows (or images) explained.
        base_value: SHAP's base value (mean background output); ``None`` otherwise.
        additivity_error: SHAP: max |sum - (output - base)|; IG: completeness error.
        fallback_reason: Why SHAP was not used, when it fell back.
        pixel_map: Images: mean |attribution| per pixel ``(height, width)``.
        background: Encoded background rows for the model server (tabular).
        feature_names: Names of the encoded features (the background file records them).
    """

    kind: str
    method: str
    task_type: str
    explained: str
    columns: list[str] = field(default_factory=list)
    importance: list[float] = field(default_factory=list)
    rows: int = 0
    base_value: float | None = None
    additivity_error: float | None = None
    fallback_reason: str = ""
    pixel_map: np.ndarray | None = None
    background: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The explanation JSON (register_model's model card reads it)."""
        from kfp_mlops.components.evaluation.explain_model.report import markdown_section

        return {
            "kind": self.kind,
            "method": self.method,
            "task_type": self.task_type,
            "explained": self.explained,
            "ranking": [
                {"feature": c, "importance": v}
                for c, v in zip(self.columns, self.importance, strict=True)
            ],
            "rows": self.rows,
            "base_value": self.base_value,
            "additivity_error": self.additivity_error,
            "fallback_reason": self.fallback_reason,
            "markdown": markdown_section(self),
        }

    def metrics(self) -> dict[str, float]:
        """KFP Metrics: ``importance.<column>`` per column, rows and the additivity error."""
        out = {
            f"importance.{c}": float(v) for c, v in zip(self.columns, self.importance, strict=True)
        }
        out["explained_rows"] = float(self.rows)
        if self.additivity_error is not None:
            out["additivity_error"] = float(self.additivity_error)
        return out


def _load(path: str, name: str, task: TaskSpec, width: int) -> tuple[np.ndarray, np.ndarray]:
    from kfp_mlops.components.common.artifacts import read_split

    frame = read_split(path, name, regression=not task.is_classification)
    names = [c for c in frame.columns if c != LABEL]
    if len(names) != width:
        raise ParameterError(
            f"the {name} split has {len(names)} features but the preprocessor makes {width}",
            "pass the splits and the preprocessor of the same split_and_preprocess task",
        )
    return frame[names].to_numpy(dtype=np.float32), frame[LABEL].to_numpy()


def _sample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[np.sort(rng.choice(len(x), n, replace=False))]


def _explained(task: TaskSpec) -> str:
    if not task.is_classification:
        return f"the predicted {task.target_column} (target units)"
    if task.task_type == "binary":
        return f"the probability of class '{task.classes[1]}'"
    return "the probability of each row's predicted class"


def _pick(task: TaskSpec, outputs: np.ndarray) -> np.ndarray:
    if task.task_type == "multiclass":
        return outputs.argmax(axis=1)
    return np.full(len(outputs), 1 if task.task_type == "binary" else 0)


def explain_model(
    model_dir: str,
    train_path: str,
    test_path: str,
    preprocessor_path: str,
    *,
    method: str = "auto",
    background_rows: int = 50,
    explain_rows: int = 100,
    serving_format: str = "auto",
    seed: int = 0,
) -> Explanation:
    """Explain the model on (a sample of) the test split; see the module docstring.

    Args:
        model_dir: Model artifact directory.
        train_path: Processed training split (the background sample comes from it).
        test_path: Processed test split (the rows explained).
        preprocessor_path: Preprocessor JSON of the same run (task spec, raw columns).
        method: ``auto`` (SHAP, permutation importance if shap fails), ``shap`` or
            ``permutation`` (tabular; images always use integrated gradients).
        background_rows: Training rows in the background sample (also stored for serving).
        explain_rows: Test rows explained (a seeded sample when the split is larger).
        serving_format: Format the model runs in (``auto``, ``keras``, ``tflite``).
        seed: Seed of the samples and orderings.

    Raises:
        ParameterError: On an unknown method, non-positive sizes, or mismatched inputs.
    """
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    if method not in METHODS:
        raise ParameterError(f"method '{method}' is not one of {METHODS}", "use 'auto'")
    if background_rows < 1 or explain_rows < 1:
        raise ParameterError(
            f"background_rows ({background_rows}) and explain_rows ({explain_rows}) must be >= 1",
            "use e.g. background_rows=50, explain_rows=100",
        )
    proc = Preprocessor.load(preprocessor_path)
    task = proc.task_spec
    rng = np.random.default_rng(seed)
    x_train, _ = _load(train_path, "training", task, proc.num_features)
    x_test, y_test = _load(test_path, "test", task, proc.num_features)
    background = _sample(x_train, background_rows, rng)
    keep = np.sort(rng.choice(len(x_test), min(explain_rows, len(x_test)), replace=False))
    rows, labels = x_test[keep], y_test[keep]
    if task.feature_kind == "image":
        return _explain_images(model_dir, task, rows, x_train.mean(axis=0))
    result = _explain_table(model_dir, proc, rows, labels, background, method, serving_format, seed)
    result.background, result.feature_names = background, list(proc.feature_names)
    return result


def _outputs_fn(model_dir: str, task: TaskSpec, serving_format: str) -> tabular.Predict:
    from kfp_mlops.components.common.metrics import to_proba
    from kfp_mlops.components.evaluation.evaluate_model.predictors import (
        load_predictor,
        predict_all,
    )

    predictor, fmt = load_predictor(model_dir, serving_format)
    log.info("explaining the %s model", fmt)

    def outputs(features: np.ndarray) -> np.ndarray:
        raw = predict_all(predictor, np.asarray(features, dtype=np.float32))
        if task.is_classification:
            return to_proba(raw, task.num_classes)
        return np.asarray(task.decode_target(np.asarray(raw, np.float64).reshape(-1, 1)))

    return outputs


def _explain_table(
    model_dir: str,
    proc: Any,
    rows: np.ndarray,
    labels: np.ndarray,
    background: np.ndarray,
    method: str,
    serving_format: str,
    seed: int,
) -> Explanation:
    from kfp_mlops.components.serving.explainer import feature_groups

    task = proc.task_spec
    named = feature_groups(proc)
    columns, groups = [n for n, _ in named], [g for _, g in named]
    outputs = _outputs_fn(model_dir, task, serving_format)
    result = Explanation("tabular", "shap", task.task_type, _explained(task), rows=len(rows))
    if method in ("auto", "shap"):
        try:
            attr = tabular.shap_values(
                outputs, rows, background, groups, lambda o: _pick(task, o), seed=seed
            )
            result.base_value, result.additivity_error = attr.base_value, attr.additivity_error
            return _ranked(result, columns, attr.importance)
        except Exception as exc:  # shap's own failures are many; the fallback names them
            if method == "shap":
                raise
            result.fallback_reason = f"shap failed ({type(exc).__name__}: {exc})"
            log.warning("%s; falling back to permutation importance", result.fallback_reason)
    drops, baseline = tabular.permutation_importance(
        _scorer(outputs, task, labels), rows, groups, task.greater_is_better, seed=seed
    )
    result.method = "permutation_importance"
    result.explained = (
        f"the worsening of {task.primary_metric} (baseline {baseline:.4g}) when the column "
        "is shuffled"
    )
    return _ranked(result, columns, drops)


def _scorer(outputs: tabular.Predict, task: TaskSpec, labels: np.ndarray):
    if task.is_classification:
        codes = labels.astype(int)
        return lambda x: float((outputs(x).argmax(axis=1) == codes).mean())
    truth = np.asarray(task.decode_target(labels.astype(np.float64)))
    return lambda x: float(np.sqrt(np.mean((outputs(x)[:, 0] - truth) ** 2)))


def _ranked(result: Explanation, columns: list[str], importance: np.ndarray) -> Explanation:
    order = np.argsort(-np.asarray(importance), kind="stable")
    result.columns = [columns[i] for i in order]
    result.importance = [float(importance[i]) for i in order]
    return result


def _explain_images(
    model_dir: str, task: TaskSpec, rows: np.ndarray, mean_image: np.ndarray
) -> Explanation:
    from kfp_mlops.components.common.artifacts import keras_file, load_keras
    from kfp_mlops.components.evaluation.explain_model.images import integrated_gradients

    try:
        keras_file(model_dir)
    except ParameterError as exc:
        raise ParameterError(
            f"integrated gradients need the Keras model: {exc.args[0]}",
            "pass the model output of train_model (model.h5), not a TFLite-only directory",
        ) from exc
    loaded = load_keras(model_dir)
    shape = tuple(task.image_shape)
    images = rows.reshape(-1, *shape)
    # The library's image models take the flat pixel vector (components.common.images);
    # attributions are per pixel of the image, so the path is reshaped on the way in.
    flat = len(loaded.inputs[0].shape) == 2
    in_shape = (-1, int(np.prod(shape))) if flat else (-1, *shape)

    def model(batch: Any, training: bool = False) -> Any:
        import tensorflow as tf

        return loaded(tf.reshape(batch, in_shape), training=training)

    raw = loaded.predict(images.reshape(in_shape), verbose=0)

    if task.task_type == "multiclass":
        index = raw.argmax(axis=1)
    else:  # the positive class: the sigmoid unit, or the second of two softmax units
        index = np.full(len(raw), 1 if raw.shape[1] == 2 else 0)
    attr = integrated_gradients(model, images, mean_image.reshape(shape), index)
    scale = 1.0 if task.is_classification else task.target_scale  # target units
    attr.values, attr.outputs = attr.values * scale, attr.outputs * scale
    attr.baseline_outputs = attr.baseline_outputs * scale
    result = Explanation("image", "integrated_gradients", task.task_type, _explained(task))
    result.rows, result.additivity_error = len(images), attr.completeness_error
    result.pixel_map = attr.importance_map
    return result


def write_outputs(result: Explanation, json_path: str, background_path: str) -> None:
    """The explanation JSON and the background sample file for the model server.

    Images get an empty sample: the server's ``:explain`` is tabular.
    """
    from kfp_mlops.components.serving.explainer import save_background

    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")
    if result.background is not None:
        save_background(background_path, result.background, result.feature_names)
    else:  # images: an empty sample, so the declared output exists (KFP uploads it)
        save_background(background_path, np.zeros((0, 0), np.float32), [])
