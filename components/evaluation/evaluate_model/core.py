"""Evaluate a model on the test split, time it as it will be served, and decide if it ships.

The decision (:func:`gate`) is conservative: a challenger is *blessed* only if it meets every
threshold and is not worse than the registered champion. Each check produces one readable
reason, pass or fail, so the pipeline's Markdown summary explains itself.

The pure parts (:func:`compute_metrics`, :func:`measure_latency`, :func:`gate`) take arrays,
callables and dicts; :func:`evaluate` wires them to files and the registry.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import (
    ModelMetrics,
    compute_metrics,
    latency_percentiles,
    to_proba,
)
from kfp_mlops.components.common.report import fmt

log = logging.getLogger(__name__)

SERVING_FORMATS = ("auto", "keras", "tflite")
TFLITE_FILE = "model.tflite"
PREPROCESSOR_FILE = "preprocessor.json"
#: Metrics a champion can be compared on (all higher-is-better).
COMPARABLE = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Rows per call when predicting the whole test split.
PREDICT_CHUNK = 4096
#: Float noise below this is not a difference between champion and challenger.
EPSILON = 1e-9

Predictor = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- metrics


# --------------------------------------------------------------------------- latency


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


# --------------------------------------------------------------------------- gate


@dataclass
class Thresholds:
    """Release thresholds (the runbook's defaults); a latency limit <= 0 disables it."""

    min_accuracy: float = 0.95
    max_latency_p50_ms: float = 10.0
    max_latency_p95_ms: float = 50.0
    max_latency_p99_ms: float = 100.0


@dataclass
class Check:
    """One gate check: its name, whether it passed, and the sentence that explains it."""

    name: str
    passed: bool
    message: str


@dataclass
class Decision:
    """The gate's verdict and every check behind it."""

    blessed: bool
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        """One line per check, passed or failed."""
        return [f"{'PASS' if c.passed else 'FAIL'}: {c.message}" for c in self.checks]

    @property
    def failures(self) -> list[str]:
        """Messages of the failed checks only."""
        return [c.message for c in self.checks if not c.passed]


def gate(
    metrics: Mapping[str, float],
    thresholds: Thresholds,
    champion_metrics: Mapping[str, float] | None = None,
    *,
    compare_metric: str = "accuracy",
    min_improvement: float = 0.0,
    champion_version: str | None = None,
    no_champion_reason: str = "no champion yet",
) -> Decision:
    """Decide whether the challenger may replace the champion.

    Blessed iff accuracy >= ``min_accuracy``, single-row latency p50/p95/p99 are within
    their limits, and, when a champion exists,
    ``challenger[compare_metric] - champion[compare_metric] >= min_improvement``.

    Ties: with the default ``min_improvement=0.0`` a challenger *equal* to the champion is
    blessed (a retrain on fresh data that is as good should ship); set a small positive value
    to demand a real improvement, or a negative one to tolerate a small loss.

    Args:
        metrics: Challenger scalars (from :func:`compute_metrics` and :func:`measure_latency`).
        thresholds: Release thresholds.
        champion_metrics: The champion's scalars on the same test data, or None if there is
            no champion yet.
        compare_metric: Higher-is-better metric compared with the champion.
        min_improvement: Required gain over the champion (see Ties).
        champion_version: For the reason text.
        no_champion_reason: Reason text when ``champion_metrics`` is None.
    """
    if compare_metric not in COMPARABLE:
        raise ParameterError(
            f"compare_metric '{compare_metric}' cannot be compared", f"use one of {COMPARABLE}"
        )
    checks: list[Check] = []
    acc = float(metrics.get("accuracy", math.nan))
    checks.append(
        Check(
            "accuracy",
            acc >= thresholds.min_accuracy,
            f"accuracy {acc:.4f} {'>=' if acc >= thresholds.min_accuracy else '<'} "
            f"min_accuracy {thresholds.min_accuracy:.4f}",
        )
    )
    for q, limit in (
        (50, thresholds.max_latency_p50_ms),
        (95, thresholds.max_latency_p95_ms),
        (99, thresholds.max_latency_p99_ms),
    ):
        key = f"latency_single_p{q}_ms"
        if limit <= 0:
            continue
        value = metrics.get(key)
        if value is None:
            checks.append(Check(key, False, f"{key} was not measured (limit {limit:g} ms)"))
            continue
        ok = float(value) <= limit
        checks.append(
            Check(
                key,
                ok,
                f"single-row latency p{q} {float(value):.3f} ms {'<=' if ok else '>'} "
                f"max_latency_p{q}_ms {limit:g}",
            )
        )
    if champion_metrics is None:
        checks.append(Check("champion", True, f"{no_champion_reason}: blessed on thresholds alone"))
    else:
        mine = float(metrics.get(compare_metric, math.nan))
        theirs = float(champion_metrics.get(compare_metric, math.nan))
        gain = mine - theirs
        ok = not math.isnan(gain) and gain >= min_improvement - EPSILON
        label = f"champion v{champion_version}" if champion_version else "champion"
        tie = " (tie)" if abs(gain) <= EPSILON else ""
        checks.append(
            Check(
                "champion",
                ok,
                f"{compare_metric} {mine:.4f} vs {label} {theirs:.4f}{tie}: gain {gain:+.4f} "
                f"{'>=' if ok else '<'} min_improvement {min_improvement:+.4f}",
            )
        )
    return Decision(blessed=all(c.passed for c in checks), checks=checks)


# --------------------------------------------------------------------------- predictors


def resolve_format(model_dir: str, serving_format: str) -> str:
    """``auto`` -> ``tflite`` if the Model directory has ``model.tflite``, else ``keras``."""
    if serving_format not in SERVING_FORMATS:
        raise ParameterError(
            f"serving_format '{serving_format}' is not supported", f"use one of {SERVING_FORMATS}"
        )
    has_tflite = (Path(model_dir) / TFLITE_FILE).is_file()
    if serving_format == "auto":
        return "tflite" if has_tflite else "keras"
    if serving_format == "tflite" and not has_tflite:
        raise ParameterError(
            f"serving_format is tflite but '{model_dir}' has no {TFLITE_FILE}",
            "run the TFLite export first, or use serving_format=keras or auto",
        )
    return serving_format


def load_predictor(model_dir: str, serving_format: str = "auto") -> tuple[Predictor, str]:
    """The model in a Model directory as the model server runs it, and the format chosen.

    Both formats run through :mod:`kfp_mlops.components.common.inference`, the code the server
    calls, so the latency gate times what users get.
    """
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.inference import KerasModel, TFLiteModel

    fmt = resolve_format(model_dir, serving_format)
    if fmt == "tflite":
        return TFLiteModel(Path(model_dir) / TFLITE_FILE), fmt
    return KerasModel(load_keras(model_dir)), fmt


def predict_all(predict_fn: Predictor, features: np.ndarray) -> np.ndarray:
    """Raw outputs for every row, in chunks."""
    parts = [
        np.asarray(predict_fn(features[i : i + PREDICT_CHUNK]))
        for i in range(0, len(features), PREDICT_CHUNK)
    ]
    return np.concatenate(parts)


# --------------------------------------------------------------------------- champion


def reencode(features: np.ndarray, current: Any, target: Any) -> np.ndarray:
    """Re-express features encoded by preprocessor ``current`` as ``target`` would encode them.

    The champion was trained with its own preprocessor (registered beside it as
    ``preprocessor.json``); feeding it features scaled by the challenger's preprocessor
    would be an unfair comparison. Numeric columns are unscaled and rescaled; one-hot
    columns are matched by name (a category the current preprocessor did not know is 0).

    Raises:
        ParameterError: If the class lists differ or a column the target needs is missing.
    """
    if list(current.classes) != list(target.classes):
        raise ParameterError(
            f"the champion predicts classes {target.classes} but the test split has "
            f"{current.classes}",
            "the models are not comparable: register under a new registered_model_name",
        )
    if (
        current.feature_names == target.feature_names
        and np.allclose(current.mean, target.mean)
        and np.allclose(current.scale, target.scale)
    ):
        return features
    cur_index = {name: i for i, name in enumerate(current.feature_names)}
    cur_stats = dict(
        zip(current.numeric_columns, zip(current.mean, current.scale, strict=True), strict=True)
    )
    tgt_stats = dict(
        zip(target.numeric_columns, zip(target.mean, target.scale, strict=True), strict=True)
    )
    out = np.zeros((len(features), len(target.feature_names)), dtype="float64")
    for j, name in enumerate(target.feature_names):
        if name in tgt_stats:
            if name not in cur_stats:
                raise ParameterError(
                    f"the champion needs numeric column '{name}', absent from the test split",
                    "the models are not comparable: register under a new registered_model_name",
                )
            mean, scale = cur_stats[name]
            raw = features[:, cur_index[name]] * scale + mean
            t_mean, t_scale = tgt_stats[name]
            out[:, j] = (raw - t_mean) / t_scale
        else:
            column = name.split("=", 1)[0]
            if column not in current.categorical_columns:
                raise ParameterError(
                    f"the champion needs categorical column '{column}', absent from the test split",
                    "the models are not comparable: register under a new registered_model_name",
                )
            if name in cur_index:
                out[:, j] = features[:, cur_index[name]]
    return out.astype("float32")


def evaluate_champion(
    tracking_uri: str, name: str, features: np.ndarray, labels: np.ndarray, preprocessor: Any
) -> dict[str, Any] | None:
    """Evaluate ``models:/<name>@champion`` on the same test rows; None if there is none.

    The champion runs in the format it is served in (TFLite when its directory has one),
    so the comparison is between what users get now and what they would get.
    """
    from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
    from kfp_mlops.components.registry import common as registry

    version = registry.alias_version(tracking_uri, name, registry.CHAMPION)
    if version is None:
        log.info("model '%s' has no champion at %s", name, tracking_uri)
        return None
    model_dir = registry.load_registered(tracking_uri, name, registry.CHAMPION)
    champion_features = features
    note = ""
    own = Path(model_dir) / PREPROCESSOR_FILE
    if own.is_file():
        champion_features = reencode(features, preprocessor, Preprocessor.load(str(own)))
    else:
        note = "champion has no preprocessor.json: assumed to share the challenger's encoding"
        log.warning(note)
    predict_fn, fmt = load_predictor(model_dir, "auto")
    raw = predict_all(predict_fn, champion_features)
    result = compute_metrics(labels, to_proba(raw, preprocessor.num_classes), preprocessor.classes)
    return {
        "version": str(version.version),
        "run_id": version.run_id,
        "metrics": result.scalars,
        "note": note,
        "format": fmt,
    }


# --------------------------------------------------------------------------- evaluate


@dataclass
class EvaluationResult:
    """Everything evaluate_model reports."""

    metrics: ModelMetrics
    latency: dict[str, float]
    decision: Decision
    thresholds: Thresholds
    serving_format: str
    rows: int
    champion: dict[str, Any] | None = None
    compare_metric: str = "accuracy"
    min_improvement: float = 0.0

    @property
    def blessed(self) -> bool:
        """The gate's verdict."""
        return self.decision.blessed

    @property
    def scalars(self) -> dict[str, float]:
        """Quality metrics and latency in one flat dict."""
        return {**self.metrics.scalars, **self.latency}

    def to_json(self) -> dict[str, Any]:
        """The ``evaluation_json`` artifact (read by register_model)."""
        return {
            "blessed": self.blessed,
            "reasons": self.decision.reasons,
            "failures": self.decision.failures,
            "checks": [asdict(c) for c in self.decision.checks],
            "metrics": {k: _json_number(v) for k, v in self.scalars.items()},
            "thresholds": asdict(self.thresholds),
            "serving_format": self.serving_format,
            "rows": self.rows,
            "classes": self.metrics.classes,
            "confusion_matrix": self.metrics.confusion_matrix,
            "champion": (
                {
                    **self.champion,
                    "metrics": {k: _json_number(v) for k, v in self.champion["metrics"].items()},
                }
                if self.champion
                else None
            ),
            "compare_metric": self.compare_metric,
            "min_improvement": self.min_improvement,
            "notes": self.metrics.notes,
        }

    def to_markdown(self) -> str:
        """The Markdown summary: decision, reasons, metrics, latency, confusion matrix."""
        verdict = "BLESSED" if self.blessed else "NOT BLESSED"
        champ = (self.champion or {}).get("metrics", {})
        version = (self.champion or {}).get("version")
        t = self.thresholds
        limits = {"accuracy": f">= {t.min_accuracy:g}"}
        lines = [
            "# Model evaluation",
            "",
            f"**Decision: {verdict}** ({self.rows} test rows, served as `{self.serving_format}`)",
            "",
            "## Reasons",
            "",
            *[f"- {r}" for r in self.decision.reasons],
            "",
            "## Metrics",
            "",
            f"| metric | challenger | champion{f' v{version}' if version else ''} | threshold |",
            "|---|---|---|---|",
        ]
        for key, value in self.metrics.scalars.items():
            other = _cell(champ[key]) if key in champ else "-"
            lines.append(f"| {key} | {_cell(value)} | {other} | {limits.get(key, '-')} |")
        lines += ["", "## Latency (ms)", "", "| calls | p50 | p95 | p99 |", "|---|---|---|---|"]
        batch_label = f"batch of {int(self.latency.get('batch_size', 0))}"
        for kind, label in (("single", "single row"), ("batch", batch_label)):
            row = [_cell(self.latency.get(f"latency_{kind}_p{q}_ms")) for q in (50, 95, 99)]
            lines.append(f"| {label} | {' | '.join(row)} |")
        lines.append(
            f"| single-row limits | {t.max_latency_p50_ms:g} | {t.max_latency_p95_ms:g} | "
            f"{t.max_latency_p99_ms:g} |"
        )
        classes = self.metrics.classes
        lines += [
            "",
            "## Confusion matrix (rows: true, columns: predicted)",
            "",
            "| | " + " | ".join(classes) + " |",
            "|---" * (len(classes) + 1) + "|",
        ]
        for name, row in zip(classes, self.metrics.confusion_matrix, strict=True):
            lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
        notes = [
            *self.metrics.notes,
            *([self.champion["note"]] if self.champion and self.champion.get("note") else []),
        ]
        if notes:
            lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
        return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    """A metric in the Markdown tables: four decimals, ``n/a`` when undefined."""
    return fmt(value, fixed=True, missing="n/a")


def _json_number(value: float) -> float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def evaluate(
    test_path: str,
    model_dir: str,
    preprocessor_path: str,
    thresholds: Thresholds | None = None,
    *,
    serving_format: str = "auto",
    repetitions: int = 200,
    batch_size: int = 256,
    batch_repetitions: int = 20,
    tracking_uri: str = "",
    registered_model_name: str = "",
    compare_metric: str = "accuracy",
    min_improvement: float = 0.0,
) -> EvaluationResult:
    """Evaluate a Model directory on a processed test split and apply the release gate.

    Args:
        test_path: Processed test split (Parquet with a ``label`` column).
        model_dir: Model artifact directory (``model.h5``, optionally ``model.tflite``).
        preprocessor_path: The preprocessor JSON of the same pipeline run (class names).
        thresholds: Release thresholds; runbook defaults if None.
        serving_format: keras, tflite or auto (tflite if ``model.tflite`` is present).
        repetitions: Timed single-row calls.
        batch_size: Rows per timed batch call.
        batch_repetitions: Timed batch calls.
        tracking_uri: MLflow server; with ``registered_model_name``, the challenger is
            compared with ``models:/<name>@champion`` on the same rows.
        registered_model_name: Registered model to compare with.
        compare_metric: Metric compared with the champion (higher is better).
        min_improvement: Required gain over the champion (0: ties are blessed).

    Raises:
        RegistryError: If ``tracking_uri`` is given but the registry is unreachable.
    """
    from kfp_mlops.components.common.artifacts import load_xy
    from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
    from kfp_mlops.components.registry import common as registry

    thresholds = thresholds or Thresholds()
    if compare_metric not in COMPARABLE:
        raise ParameterError(
            f"compare_metric '{compare_metric}' cannot be compared", f"use one of {COMPARABLE}"
        )
    compare = bool(tracking_uri.strip() and registered_model_name.strip())
    if compare:
        # Before any expensive work: an unreachable registry must not mean "no champion".
        registry.check_registry(tracking_uri)
    features, labels, _ = load_xy(test_path)
    preprocessor = Preprocessor.load(preprocessor_path)
    if features.shape[1] != preprocessor.num_features:
        raise ParameterError(
            f"the test split has {features.shape[1]} features, the preprocessor "
            f"{preprocessor.num_features}",
            "pass the test split and preprocessor of the same split_and_preprocess run",
        )
    predict_fn, fmt = load_predictor(model_dir, serving_format)
    raw = predict_all(predict_fn, features)
    metrics = compute_metrics(labels, to_proba(raw, preprocessor.num_classes), preprocessor.classes)
    latency = measure_latency(
        predict_fn,
        features,
        repetitions=repetitions,
        batch_size=batch_size,
        batch_repetitions=batch_repetitions,
    )
    champion = (
        evaluate_champion(tracking_uri, registered_model_name, features, labels, preprocessor)
        if compare
        else None
    )
    decision = gate(
        {**metrics.scalars, **latency},
        thresholds,
        champion["metrics"] if champion else None,
        compare_metric=compare_metric,
        min_improvement=min_improvement,
        champion_version=champion["version"] if champion else None,
        no_champion_reason=(
            f"no champion yet for '{registered_model_name}' at {tracking_uri}"
            if compare
            else "no champion yet (no comparison: tracking_uri or registered_model_name empty)"
        ),
    )
    log.info("evaluation of %s: %s", model_dir, "; ".join(decision.reasons))
    return EvaluationResult(
        metrics=metrics,
        latency=latency,
        decision=decision,
        thresholds=thresholds,
        serving_format=fmt,
        rows=len(labels),
        champion=champion,
        compare_metric=compare_metric,
        min_improvement=min_improvement,
    )


def write_json(result: EvaluationResult, path: str) -> None:
    """Write ``result.to_json()`` to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_json(), f, indent=1, allow_nan=False)
