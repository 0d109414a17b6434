"""Monitor a deployed model: quality against the champion's baseline, latency, and drift.

One monitoring run compares a recent window of inference data (raw rows, with the label
column where labels have arrived) with the reference data the model was trained on:

- **Quality** (labelled rows only): accuracy, precision, recall and F1 (binary for two
  classes, macro otherwise) against the champion's baseline. Per the runbook a metric is at
  level *warning* below ``0.95 x baseline`` and *critical* below ``0.90 x baseline``; the
  run's level is the worst metric's.
- **Latency**: p50/p95/p99 in milliseconds, from the log's ``latency_ms`` column when there
  is one, otherwise measured here with single-row predictions (a bounded number of them).
- **Drift**: feature drift with :func:`~kfp_mlops.components.data.detect_drift.core.feature_drift`
  (PSI decides, KS informs) and prediction drift with
  :func:`~kfp_mlops.components.data.detect_drift.core.prediction_drift` (PSI of the model's
  scores on the reference vs the recent window).

``retrain`` is true when one of the findings listed in ``retrain_on`` occurred; the
findings that caused it are the ``reasons``, the others are ``alerts``. Bad input (missing
or re-typed columns, an empty window, non-finite features, labels of another type or
unknown classes, a malformed baseline) raises a :class:`ComponentError` instead, so no
retraining is triggered on data that cannot be trusted.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.detect_drift.core import (
    DriftResult,
    FeatureDrift,
    feature_drift,
    prediction_drift,
)
from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor

log = logging.getLogger(__name__)

#: Quality metrics compared with the baseline, in report order.
METRICS = ("accuracy", "precision", "recall", "f1")
#: Level names by number (the ``level`` metric).
LEVELS = ("ok", "warning", "critical")
#: Findings ``retrain_on`` may list. ``drift`` means feature or prediction drift.
TRIGGERS = ("drift", "feature_drift", "prediction_drift", "critical", "warning")
#: Baseline keys are looked up as ``<metric>``, then ``test_<metric>``, then ``val_<metric>``.
BASELINE_PREFIXES = ("", "test_", "val_")
LATENCY_COLUMN = "latency_ms"
MAX_LATENCY_SAMPLES = 10_000
#: The history keeps this many most recent runs.
MAX_HISTORY = 1000
#: Prometheus gauges pushed: (summary key, gauge name, help).
GAUGES = (
    ("accuracy", "model_monitor_accuracy", "Accuracy on the labelled recent window"),
    ("precision", "model_monitor_precision", "Precision (macro for multiclass)"),
    ("recall", "model_monitor_recall", "Recall (macro for multiclass)"),
    ("f1", "model_monitor_f1", "F1 score (macro for multiclass)"),
    ("drifted_features", "model_monitor_drifted_features", "Features with PSI above threshold"),
    ("max_psi", "model_monitor_max_feature_psi", "Largest feature PSI"),
    ("prediction_psi", "model_monitor_prediction_psi", "PSI of the model's scores"),
    ("level", "model_monitor_level", "Quality level: 0 ok, 1 warning, 2 critical"),
    ("retrain", "model_monitor_retrain", "1 when this run asked for retraining"),
    ("rows", "model_monitor_rows", "Rows in the recent window"),
)
LATENCY_GAUGE = "model_monitor_latency_ms"
_QUANTILES = (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms"), ("0.99", "latency_p99_ms"))


@dataclass(frozen=True)
class MetricCheck:
    """One quality metric compared with its baseline."""

    name: str
    value: float
    baseline: float
    ratio: float
    level: int

    @property
    def level_name(self) -> str:
        """``ok``, ``warning`` or ``critical``."""
        return LEVELS[self.level]


@dataclass
class MonitorResult:
    """Everything one monitoring run found, and the retraining decision."""

    timestamp: str
    retrain: bool
    level: int
    reasons: list[str]
    alerts: list[str]
    retrain_on: list[str]
    metrics: dict[str, float]
    checks: list[MetricCheck]
    baseline: dict[str, float]
    drift: DriftResult
    prediction: FeatureDrift
    latency: dict[str, Any] | None
    rows: int
    labelled_rows: int
    classes: list[str] = field(default_factory=list)
    class_share: dict[str, list[float]] = field(default_factory=dict)
    pushed: bool | None = None

    @property
    def level_name(self) -> str:
        """``ok``, ``warning`` or ``critical``."""
        return LEVELS[self.level]

    def summary(self) -> dict[str, Any]:
        """One flat record: a history entry, the KFP metrics and the Prometheus gauges."""
        lat = self.latency or {}
        return {
            "timestamp": self.timestamp,
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            **{m: self.metrics.get(m) for m in METRICS},
            "drifted_features": len(self.drift.drifted_features),
            "share_drifted": self.drift.share_drifted,
            "max_psi": self.drift.max_psi,
            "prediction_psi": self.prediction.psi,
            "latency_p50_ms": lat.get("p50"),
            "latency_p95_ms": lat.get("p95"),
            "latency_p99_ms": lat.get("p99"),
            "level": self.level,
            "retrain": self.retrain,
        }

    def numeric_metrics(self) -> dict[str, float]:
        """The summary's numbers as floats (absent ones left out), for KFP Metrics."""
        out = {}
        for key, value in self.summary().items():
            if isinstance(value, bool):
                out[key] = float(value)
            elif isinstance(value, int | float) and math.isfinite(value):
                out[key] = float(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole result."""
        return {
            **self.summary(),
            "level_name": self.level_name,
            "reasons": list(self.reasons),
            "alerts": list(self.alerts),
            "retrain_on": list(self.retrain_on),
            "baseline": dict(self.baseline),
            "checks": [
                {
                    "metric": c.name,
                    "value": c.value,
                    "baseline": c.baseline,
                    "ratio": c.ratio,
                    "level": c.level_name,
                }
                for c in self.checks
            ],
            "latency": self.latency,
            "classes": list(self.classes),
            "predicted_class_share": self.class_share,
            "prediction_drift": {
                "psi": self.prediction.psi,
                "ks_pvalue": _finite_or_none(self.prediction.ks_pvalue),
                "drifted": self.prediction.drifted,
            },
            "feature_drift": self.drift.to_dict(),
            "pushed": self.pushed,
        }

    def to_json(self) -> str:
        """The result as strict JSON."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=_json_default)

    def write_html(
        self,
        path: str,
        history: Sequence[Mapping[str, Any]] = (),
        warning_ratio: float = 0.95,
        critical_ratio: float = 0.90,
    ) -> None:
        """Write the self-contained HTML report.

        Args:
            path: Where to write it.
            history: Earlier runs' :meth:`summary` records; with this run appended they make
                the trend plot (drawn from two runs on).
            warning_ratio: Warning level as a fraction of the baseline (for the plot).
            critical_ratio: Critical level as a fraction of the baseline.
        """
        from kfp_mlops.components.common import report

        verdict = report.status(not self.retrain, "no retraining needed", "retrain")
        level = report.status(self.level == 0, self.level_name, self.level_name)
        body = [
            f"<p>{verdict} &middot; quality level {level} &middot; {self.rows:,} rows "
            f"({self.labelled_rows:,} labelled) &middot; run at {report.escape(self.timestamp)} "
            f"&middot; retrain on: {report.escape(', '.join(self.retrain_on) or 'nothing')}</p>"
        ]
        if self.reasons:
            body.append("<h2>Reasons to retrain</h2><ul>")
            body += [f"<li>{report.escape(r)}</li>" for r in self.reasons]
            body.append("</ul>")
        if self.alerts:
            body.append("<h2>Other findings</h2><ul>")
            body += [f"<li>{report.escape(a)}</li>" for a in self.alerts]
            body.append("</ul>")

        body.append("<h2>Quality vs baseline</h2>")
        if self.metrics:
            rows = []
            for name in METRICS:
                check = next((c for c in self.checks if c.name == name), None)
                rows.append(
                    [
                        name,
                        _fmt(self.metrics.get(name)),
                        _fmt(check.baseline if check else None),
                        f"{check.ratio:.1%}" if check else "-",
                        report.status(check.level == 0, check.level_name, check.level_name)
                        if check
                        else "no baseline",
                    ]
                )
            body.append(
                report.table(
                    ["metric", "recent", "baseline", "recent / baseline", "level"],
                    rows,
                    raw_columns=[4],
                )
            )
            if self.checks:
                body.append(
                    report.figure_png(_plot_quality(self.checks, warning_ratio, critical_ratio))
                )
        else:
            body.append("<p>No labelled rows in the recent window: quality not checked.</p>")

        body.append("<h2>Drift</h2>")
        body.append(
            f"<p>{len(self.drift.drifted_features)} of {len(self.drift.features)} features "
            f"drifted (PSI &gt; {self.drift.threshold:g}); prediction PSI "
            f"{self.prediction.psi:.4f} "
            f"({report.status(not self.prediction.drifted, 'stable', 'drifted')}).</p>"
        )
        body.append(report.figure_png(_plot_psi(self.drift, self.prediction)))
        body.append(
            report.table(
                ["feature", "PSI", "KS p-value", "status"],
                (
                    [
                        f.feature,
                        _fmt(f.psi),
                        _fmt(f.ks_pvalue if f.ks_pvalue is not None else f.chi2_pvalue),
                        report.status(not f.drifted, "stable", "drifted"),
                    ]
                    for f in self.drift.ranked()[:30]
                ),
                raw_columns=[3],
            )
        )
        if self.class_share:
            body.append("<h2>Predicted classes</h2>")
            body.append(
                report.table(
                    ["class", "reference share", "recent share"],
                    (
                        [c, f"{r:.1%}", f"{k:.1%}"]
                        for c, r, k in zip(
                            self.classes,
                            self.class_share["reference"],
                            self.class_share["current"],
                            strict=True,
                        )
                    ),
                )
            )

        body.append("<h2>Latency</h2>")
        if self.latency:
            lat = self.latency
            body.append(
                report.table(
                    ["source", "samples", "p50 ms", "p95 ms", "p99 ms"],
                    [
                        [
                            lat["source"],
                            lat["samples"],
                            _fmt(lat["p50"]),
                            _fmt(lat["p95"]),
                            _fmt(lat["p99"]),
                        ]
                    ],
                )
            )
        else:
            body.append("<p>Not measured (latency_samples = 0 and no latency column).</p>")

        runs = [*history, self.summary()]
        if len(runs) >= 2:
            body.append(f"<h2>Trend ({len(runs)} runs)</h2>")
            body.append(report.figure_png(_plot_trend(runs)))
        report.write(path, "Model monitoring report", "".join(body))
        log.info("monitoring report written to %s", path)


# --- parameters --------------------------------------------------------------------------


def parse_baseline(source: str | Mapping[str, Any] | None, origin: str = "baseline_json") -> dict:
    """Read the champion's baseline metrics from JSON text or a mapping.

    Keys ``accuracy``, ``precision``, ``recall`` and ``f1`` are used (``test_<name>`` and
    ``val_<name>`` are accepted when the plain one is absent); other keys are ignored.

    Args:
        source: JSON object text, a mapping, or empty/None for no baseline.
        origin: How to name the source in errors.

    Returns:
        Metric name -> baseline value (empty when there is no baseline).

    Raises:
        ParameterError: On malformed JSON, a non-object, values that are not numbers in
            (0, 1], or an object with none of the metrics.
    """
    if source is None or (isinstance(source, str) and not source.strip()):
        return {}
    example = 'write a JSON object such as {"accuracy": 0.97, "f1": 0.96}'
    data: Any = source
    if isinstance(source, str):
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:
            raise ParameterError(
                f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno} column "
                f"{exc.colno}): {_clip(source)}",
                example,
            ) from exc
    if not isinstance(data, Mapping):
        raise ParameterError(
            f"{origin} must be a JSON object of metric -> value, got a {type(data).__name__}: "
            f"{_clip(str(source))}",
            example,
        )
    out: dict[str, float] = {}
    for name in METRICS:
        key = next((p + name for p in BASELINE_PREFIXES if p + name in data), None)
        if key is None:
            continue
        value = data[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0.0 < value <= 1.0  # also rejects NaN
        ):
            raise ParameterError(
                f"{origin} has {key}={value!r}, not a number in (0, 1]",
                "give metrics as fractions, e.g. 0.97 rather than 97 or '0.97'",
            )
        out[name] = float(value)
    if not out:
        raise ParameterError(
            f"{origin} has none of the metrics {list(METRICS)} (keys: {sorted(map(str, data))})",
            example,
        )
    return out


def read_baseline_artifact(path: str | None, metadata: Mapping[str, Any] | None = None) -> dict:
    """The baseline from an artifact: its JSON file, ``metrics.json`` in it, or its metadata.

    A ``Metrics`` artifact of an upstream task usually carries its values only in metadata;
    a file or Model directory (with ``metrics.json``) carries them on disk.
    """
    origin = f"baseline artifact '{path}'"
    p = Path(path) if path else None
    if p is not None and p.is_dir() and (p / "metrics.json").is_file():
        p = p / "metrics.json"
    if p is not None and p.is_file():
        text = p.read_text(encoding="utf-8")
        if text.strip():
            return parse_baseline(text, origin)
    numbers = {k: v for k, v in (metadata or {}).items() if isinstance(v, int | float)}
    if numbers:
        return parse_baseline(numbers, f"{origin} metadata")
    raise ParameterError(
        f"{origin} has no JSON file and no metric metadata",
        "pass the Metrics output of the champion's evaluation, or use baseline_json",
    )


def parse_history(text: str | None, origin: str = "history_json") -> list[dict[str, Any]]:
    """Earlier monitoring results: a JSON list of objects (empty text -> no history).

    Raises:
        ParameterError: If the text is not a JSON list of objects.
    """
    if text is None or not text.strip():
        return []
    fix = "pass the `history` output of an earlier monitoring run (a JSON list), or leave it empty"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            fix,
        ) from exc
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ParameterError(f"{origin} must be a JSON list of objects", fix)
    return data


def read_history_uri(uri: str) -> list[dict[str, Any]] | None:
    """The history stored at a local path or ``gs://`` URI; ``None`` when it does not exist yet."""
    if not uri:
        return None
    if uri.startswith("gs://"):
        from kfp_mlops.components.common.io import gcs_client, split_gs_uri

        bucket, name = split_gs_uri(uri)
        blob = gcs_client().bucket(bucket).blob(name)
        if not blob.exists():
            return None
        text = blob.download_as_bytes().decode("utf-8")
    else:
        path = Path(uri)
        if not path.exists():
            return None
        text = path.read_text(encoding="utf-8")
    return parse_history(text, origin=f"the history at '{uri}'")


def parse_retrain_on(value: str | Iterable[str]) -> list[str]:
    """``"drift,critical"`` -> ``["drift", "critical"]``; empty means never retrain.

    Raises:
        ParameterError: On a name not in :data:`TRIGGERS`.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [v.strip().lower() for v in items if v.strip() and v.strip().lower() != "none"]
    unknown = [n for n in names if n not in TRIGGERS]
    if unknown:
        raise ParameterError(
            f"retrain_on names unknown findings {unknown}",
            f"use a comma-separated subset of {', '.join(TRIGGERS)} (or empty: never retrain)",
        )
    return list(dict.fromkeys(names))


# --- pieces ------------------------------------------------------------------------------


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int
) -> dict[str, float]:
    """Accuracy, precision, recall and F1: binary (class 1 positive) or macro-averaged."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    average = "binary" if num_classes == 2 else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average=average, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def compare_with_baseline(
    values: Mapping[str, float],
    baseline: Mapping[str, float],
    warning_ratio: float = 0.95,
    critical_ratio: float = 0.90,
) -> list[MetricCheck]:
    """Level of each metric that has a baseline.

    Level 2 (critical) below ``critical_ratio x baseline``, 1 (warning) below
    ``warning_ratio x baseline``, else 0.
    """
    checks = []
    for name in METRICS:
        if name not in values or name not in baseline:
            continue
        value, base = float(values[name]), float(baseline[name])
        ratio = value / base
        level = 2 if value < critical_ratio * base else 1 if value < warning_ratio * base else 0
        checks.append(MetricCheck(name, value, base, ratio, level))
    return checks


def latency_from_log(frame: pd.DataFrame, column: str = LATENCY_COLUMN) -> dict[str, Any] | None:
    """Percentiles of a logged latency column (ms); ``None`` if absent or without values.

    Raises:
        DataValidationError: If the column is not numeric.
    """
    if not column or column not in frame.columns:
        return None
    values = frame[column]
    if not ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
        raise DataValidationError(
            f"latency column '{column}' is {values.dtype}, not numeric milliseconds",
            "log latency as a number of milliseconds, or set latency_column to another column",
        )
    finite = values.to_numpy(dtype="float64")
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        log.warning("latency column '%s' has no values: measuring instead", column)
        return None
    return _percentiles(finite, "log")


def measure_latency(model: Any, features: np.ndarray, samples: int = 100) -> dict[str, Any]:
    """Time ``samples`` single-row predictions (cycling through ``features``), in ms.

    A few unrecorded calls first build the predict function, as a warm server would have.
    """
    samples = min(int(samples), MAX_LATENCY_SAMPLES)
    rows = np.asarray(features, dtype="float32")
    for i in range(min(3, len(rows))):
        model.predict_on_batch(rows[i : i + 1])
    times = np.empty(samples)
    for i in range(samples):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        model.predict_on_batch(row)
        times[i] = (time.perf_counter() - start) * 1000.0
    return _percentiles(times, "measured")


def check_labels(
    current: pd.DataFrame, reference: pd.DataFrame, preprocessor: Preprocessor
) -> tuple[np.ndarray, np.ndarray] | None:
    """Encoded labels of the labelled recent rows, checked against the reference's.

    Returns:
        ``(row_mask, codes)``, or ``None`` when the window has no labels.

    Raises:
        DataValidationError: If the labels have another type than the reference's (e.g.
            ints vs class names) or values that are not classes of the model.
    """
    target = preprocessor.target_column
    if target not in current.columns:
        return None
    mask = current[target].notna().to_numpy()
    if not mask.any():
        return None
    labels = current.loc[mask, target]
    kind = _value_kind(labels)
    classes = list(preprocessor.classes)
    if target in reference.columns:
        ref_kind = _value_kind(reference[target].dropna())
        if kind != ref_kind:
            raise DataValidationError(
                f"labels in '{target}' are {kind} ({labels.dtype}, e.g. "
                f"{labels.head(3).tolist()}) in the recent window but {ref_kind} "
                f"({reference[target].dtype}) in the reference, whose classes are {classes}",
                "log the original class values as in the training data (not encoded or "
                "re-typed ones), or cast the column upstream",
            )
    text = _label_text(labels, classes)
    unknown = sorted(set(text) - {str(c) for c in classes})
    if unknown:
        raise DataValidationError(
            f"labels {unknown[:5]} in '{target}' of the recent window are not classes of the "
            f"model ({classes})",
            "fix the labelling or join that produced them; if the classes are real, retrain "
            "on data that contains them (monitoring does not retrain on unknown labels)",
        )
    return mask, preprocessor.encode_labels(text)


def push_metrics(
    summary: Mapping[str, Any], url: str, job: str = "kfp-mlops-monitoring", timeout: float = 10.0
) -> bool:
    """Push the summary's figures as gauges to a Prometheus Pushgateway.

    Figures that are absent (e.g. accuracy without labels) are not pushed. An unreachable or
    failing gateway is logged as a warning and returns ``False``: monitoring results are
    still written, and a metrics outage must not fail the run.

    Returns:
        Whether the push succeeded.
    """
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    for key, name, doc in GAUGES:
        value = summary.get(key)
        if value is not None:
            Gauge(name, doc, registry=registry).set(float(value))
    latency = Gauge(
        LATENCY_GAUGE, "Prediction latency percentile (ms)", ["quantile"], registry=registry
    )
    for quantile, key in _QUANTILES:
        if summary.get(key) is not None:
            latency.labels(quantile=quantile).set(float(summary[key]))
    Gauge(
        "model_monitor_last_run_timestamp_seconds",
        "Unix time of the monitoring run",
        registry=registry,
    ).set(time.time())
    try:
        push_to_gateway(url, job=job, registry=registry, timeout=timeout)
    except Exception as exc:  # URLError, HTTPError, timeouts: never fail monitoring on them
        log.warning(
            "could not push monitoring metrics to the Pushgateway at %s (job %s): %s; "
            "results are still in the run's outputs. Check pushgateway_url and that the "
            "gateway is reachable from the pod",
            url,
            job,
            exc,
        )
        return False
    log.info("pushed monitoring metrics to %s (job %s)", url, job)
    return True


# --- the run -----------------------------------------------------------------------------


def monitor(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    model: Any,
    preprocessor: Preprocessor,
    baseline: Mapping[str, float] | None = None,
    *,
    retrain_on: str | Iterable[str] = "drift,critical",
    drift_threshold: float = 0.1,
    prediction_threshold: float = 0.1,
    bins: int = 10,
    latency_column: str = LATENCY_COLUMN,
    latency_samples: int = 100,
    warning_ratio: float = 0.95,
    critical_ratio: float = 0.90,
) -> MonitorResult:
    """Check a recent window against the reference and the baseline, and decide on retraining.

    Args:
        current: Recent inference rows (raw features, optionally the label column and a
            latency column).
        reference: Raw reference rows (the training data).
        model: The deployed Keras model.
        preprocessor: The preprocessor the model was trained with.
        baseline: The champion's metrics (:func:`parse_baseline`); empty = no comparison.
        retrain_on: Findings that trigger retraining (:data:`TRIGGERS`), comma-separated.
        drift_threshold: A feature drifts when its PSI is above this.
        prediction_threshold: The predictions drift when their PSI is above this.
        bins: Quantile bins for PSI.
        latency_column: Logged latency in ms; measured when the window has no such column.
        latency_samples: Single-row predictions to time when measuring (0 = don't measure).
        warning_ratio: Warning level as a fraction of the baseline.
        critical_ratio: Critical level as a fraction of the baseline.

    Returns:
        The findings and the decision.

    Raises:
        ParameterError: On invalid parameters or a model that does not fit the preprocessor.
        DataValidationError: On bad data (see the module docstring); nothing is decided then.
    """
    from kfp_mlops.components.common.artifacts import num_classes_of
    from kfp_mlops.components.training.model import predict_proba

    triggers = parse_retrain_on(retrain_on)
    if not 0.0 < critical_ratio <= warning_ratio <= 1.0:
        raise ParameterError(
            f"ratios warning={warning_ratio}, critical={critical_ratio} are not "
            "0 < critical <= warning <= 1",
            "use the runbook's warning_ratio=0.95 and critical_ratio=0.90",
        )
    if not 0 <= latency_samples <= MAX_LATENCY_SAMPLES:
        raise ParameterError(
            f"latency_samples={latency_samples} is outside [0, {MAX_LATENCY_SAMPLES}]",
            "use e.g. 100 (0 disables measuring)",
        )
    num_classes = num_classes_of(model)
    width = int(model.inputs[0].shape[-1])
    if num_classes != preprocessor.num_classes or width != preprocessor.num_features:
        raise ParameterError(
            f"the model takes {width} features and predicts {num_classes} classes but the "
            f"preprocessor gives {preprocessor.num_features} features and "
            f"{preprocessor.num_classes} classes",
            "pass the model and the preprocessor of the same training run",
        )
    target = preprocessor.target_column
    for name, frame in (("reference", reference), ("recent window", current)):
        # Raw input is what load_dataset writes; processed splits have a 'label' column
        # and standardised features, which would look like massive drift.
        if target not in frame.columns and "label" in frame.columns:
            raise DataValidationError(
                f"the {name} has a 'label' column but no '{target}': it looks like a "
                "processed split",
                "pass raw rows as load_dataset writes them (the preprocessor is applied here)",
            )

    # Schema checks (missing columns, re-typed columns, empty windows) happen here first.
    drift = feature_drift(
        reference,
        current,
        threshold=drift_threshold,
        bins=bins,
        exclude=(target, latency_column),
    )
    labels = check_labels(current, reference, preprocessor)
    x_cur = _features(preprocessor, current, "recent window")
    x_ref = _features(preprocessor, reference, "reference")

    proba_cur = predict_proba(model, x_cur, num_classes)
    proba_ref = predict_proba(model, x_ref, num_classes)
    pred_cur, pred_ref = proba_cur.argmax(axis=1), proba_ref.argmax(axis=1)
    pred_drift = prediction_drift(proba_ref, proba_cur, threshold=prediction_threshold, bins=bins)

    metrics: dict[str, float] = {}
    labelled = 0
    if labels is not None:
        mask, codes = labels
        labelled = int(mask.sum())
        metrics = classification_metrics(codes, pred_cur[mask], num_classes)
    checks = compare_with_baseline(metrics, baseline or {}, warning_ratio, critical_ratio)
    level = max((c.level for c in checks), default=0)

    latency = latency_from_log(current, latency_column)
    if latency is None and latency_samples > 0:
        latency = measure_latency(model, x_cur, latency_samples)

    reasons: list[str] = []
    alerts: list[str] = []

    def finding(message: str, *trigger_names: str) -> None:
        (reasons if any(t in triggers for t in trigger_names) else alerts).append(message)

    if drift.drift_detected:
        by_name = {f.feature: f.psi for f in drift.features}
        named = ", ".join(f"{n} (PSI {by_name[n]:.3f})" for n in drift.drifted_features[:10])
        more = len(drift.drifted_features) - 10
        finding(
            f"feature drift in {len(drift.drifted_features)} of {len(drift.features)} features "
            f"(PSI > {drift_threshold:g}): {named}" + (f" and {more} more" if more > 0 else ""),
            "drift",
            "feature_drift",
        )
    if pred_drift.drifted:
        finding(
            f"prediction drift: PSI of the model's scores {pred_drift.psi:.3f} > "
            f"{prediction_threshold:g}",
            "drift",
            "prediction_drift",
        )
    for c in checks:
        if c.level:
            limit = critical_ratio if c.level == 2 else warning_ratio
            triggered_by = ("critical", "warning") if c.level == 2 else ("warning",)
            finding(
                f"{c.name} {c.value:.4f} is {c.ratio:.1%} of the baseline {c.baseline:.4f} "
                f"({c.level_name}: below {limit:.0%})",
                *triggered_by,
            )
    if labels is None:
        alerts.append(f"no labels ('{target}') in the recent window: quality not checked")
    elif baseline and not checks:
        alerts.append("the baseline has no metric computed here: quality not compared")
    elif not baseline:
        alerts.append("no baseline given: quality measured but not compared")
    # Expected PSI of two samples of one distribution is about (bins - 1) * (1/n + 1/m).
    noise = (bins - 1) * (1 / len(current) + 1 / len(reference))
    if noise > drift_threshold / 2:
        alerts.append(
            f"the recent window ({len(current)} rows) is small: sampling noise alone gives "
            f"PSI around {noise:.3f} against the threshold {drift_threshold:g}"
        )

    shares_ref = np.bincount(pred_ref, minlength=num_classes) / len(pred_ref)
    shares_cur = np.bincount(pred_cur, minlength=num_classes) / len(pred_cur)
    result = MonitorResult(
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        retrain=bool(reasons),
        level=level,
        reasons=reasons,
        alerts=alerts,
        retrain_on=triggers,
        metrics=metrics,
        checks=checks,
        baseline=dict(baseline or {}),
        drift=drift,
        prediction=pred_drift,
        latency=latency,
        rows=len(current),
        labelled_rows=labelled,
        classes=list(preprocessor.classes),
        class_share={"reference": shares_ref.tolist(), "current": shares_cur.tolist()},
    )
    log.info(
        "monitoring: retrain=%s level=%s reasons=%s alerts=%s",
        result.retrain,
        result.level_name,
        reasons,
        alerts,
    )
    return result


def run_monitoring(
    current_path: str,
    reference_path: str,
    model_path: str,
    preprocessor_path: str,
    *,
    baseline_json: str = "",
    baseline_path: str | None = None,
    baseline_metadata: Mapping[str, Any] | None = None,
    history_json: str = "",
    history_uri: str = "",
    report_path: str | None = None,
    result_path: str | None = None,
    history_path: str | None = None,
    pushgateway_url: str = "",
    pushgateway_job: str = "kfp-mlops-monitoring",
    **options: Any,
) -> tuple[MonitorResult, list[dict[str, Any]]]:
    """Load the artifacts, :func:`monitor`, write the outputs and push the gauges.

    The baseline and history parameters are parsed before anything is loaded, so a typo
    fails in a second.

    Args:
        current_path: Recent window, Parquet.
        reference_path: Reference data, Parquet.
        model_path: Model artifact directory (with ``model.h5``).
        preprocessor_path: Preprocessor JSON.
        baseline_json: Baseline metrics as JSON text (used when there is no baseline artifact).
        baseline_path: Path of a baseline artifact (JSON file or directory with metrics.json).
        baseline_metadata: That artifact's metadata (a Metrics artifact's values).
        history_json: Earlier results (JSON list), used when ``history_uri`` holds none yet.
        history_uri: Local path or gs:// URI of a history file, read and rewritten.
        report_path: Where to write the HTML report.
        result_path: Where to write the full result JSON.
        history_path: Where to write the updated history JSON.
        pushgateway_url: Prometheus Pushgateway address; empty = don't push.
        pushgateway_job: Pushgateway job name.
        **options: Passed to :func:`monitor`.

    Returns:
        The result and the updated history (this run last).

    Raises:
        ParameterError: If both ``baseline_json`` and a baseline artifact are given.
    """
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.io import load_dataset_artifact, write_bytes

    if baseline_path is not None and baseline_json.strip():
        raise ParameterError(
            "both baseline_json and a baseline artifact were given",
            "pass only one of them",
        )
    if baseline_path is not None:
        baseline = read_baseline_artifact(baseline_path, baseline_metadata)
    else:
        baseline = parse_baseline(baseline_json)
    history = parse_history(history_json)
    stored = read_history_uri(history_uri)
    if stored is not None:
        history = stored
    parse_retrain_on(options.get("retrain_on", ""))

    current = load_dataset_artifact(current_path)
    reference = load_dataset_artifact(reference_path)
    preprocessor = Preprocessor.load(preprocessor_path)
    model = load_keras(model_path)
    result = monitor(current, reference, model, preprocessor, baseline, **options)

    if pushgateway_url:
        result.pushed = push_metrics(result.summary(), pushgateway_url, pushgateway_job)
    updated = [*history, result.summary()][-MAX_HISTORY:]
    if report_path:
        result.write_html(
            report_path,
            history,
            options.get("warning_ratio", 0.95),
            options.get("critical_ratio", 0.90),
        )
    if result_path:
        _write_text(result_path, result.to_json())
    history_text = json.dumps(updated, indent=1, allow_nan=False, default=_json_default)
    if history_path:
        _write_text(history_path, history_text)
    if history_uri:
        write_bytes(history_uri, history_text.encode("utf-8"))
        log.info("history (%d runs) written to %s", len(updated), history_uri)
    return result, updated


# --- internals ---------------------------------------------------------------------------


def _features(preprocessor: Preprocessor, frame: pd.DataFrame, name: str) -> np.ndarray:
    """Transformed features; non-finite values (missing, inf) are bad data, not drift."""
    x = preprocessor.transform_features(frame)
    bad = ~np.isfinite(x)
    if bad.any():
        counts = bad.sum(axis=0)
        cols = [
            f"'{preprocessor.feature_names[j]}' ({int(counts[j])} rows)"
            for j in np.flatnonzero(counts)
        ]
        raise DataValidationError(
            f"the {name} has missing or infinite values in {', '.join(cols[:10])}",
            "fix the logging/ETL that produced them; monitoring stops rather than decide on "
            "incomplete rows",
        )
    return x


def _value_kind(values: pd.Series) -> str:
    """``numeric``, ``bool`` or ``text`` (or ``mixed (...)``) for a label column."""
    inferred = ptypes.infer_dtype(values, skipna=True)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "numeric"
    if inferred == "boolean":
        return "bool"
    if inferred in ("string", "empty"):
        return "text"
    return f"mixed ({inferred})"


def _label_text(labels: pd.Series, classes: Sequence[str]) -> pd.Series:
    """Labels spelled as the preprocessor's classes (a 1.0 from an int column with gaps is 1)."""
    text = labels.astype(str)
    if ptypes.is_float_dtype(labels) and not text.isin([str(c) for c in classes]).all():
        values = labels.to_numpy(dtype="float64")
        if np.all(np.isfinite(values) & (values == np.round(values))):
            text = pd.Series(values.astype("int64").astype(str), index=labels.index)
    return text


def _percentiles(values: np.ndarray, source: str) -> dict[str, Any]:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "source": source,
        "samples": len(values),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
    }


def _write_text(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_psi(drift: DriftResult, prediction: FeatureDrift, max_bars: int = 30) -> Any:
    """Horizontal bars of PSI per feature (most drifted first) with the threshold line."""
    plt = _pyplot()
    ranked = drift.ranked()[:max_bars]
    names = [f.feature for f in ranked] + ["(prediction)"]
    values = [f.psi for f in ranked] + [prediction.psi]
    colors = ["#d93025" if f.drifted else "#1a73e8" for f in ranked]
    colors.append("#f9ab00" if prediction.drifted else "#5f6368")
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(names) + 1.2))
    y = np.arange(len(names))[::-1]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, names, fontsize=7)
    ax.axvline(
        drift.threshold, color="#d93025", linestyle="--", label=f"threshold {drift.threshold:g}"
    )
    ax.set_xlabel("PSI", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Drift per feature (red: drifted)", fontsize=9)
    return fig


def _plot_quality(
    checks: Sequence[MetricCheck], warning_ratio: float, critical_ratio: float
) -> Any:
    """Recent vs baseline bars per metric, with the warning and critical marks."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(checks))
    colors = {0: "#188038", 1: "#f9ab00", 2: "#d93025"}
    ax.bar(x - 0.2, [c.baseline for c in checks], width=0.4, color="#9aa0a6", label="baseline")
    ax.bar(
        x + 0.2,
        [c.value for c in checks],
        width=0.4,
        color=[colors[c.level] for c in checks],
        label="recent",
    )
    for i, c in enumerate(checks):
        ax.hlines(warning_ratio * c.baseline, i - 0.4, i + 0.4, colors="#f9ab00", linestyles="--")
        ax.hlines(critical_ratio * c.baseline, i - 0.4, i + 0.4, colors="#d93025", linestyles=":")
    ax.set_xticks(x, [c.name for c in checks], fontsize=8)
    low = min([c.value for c in checks] + [critical_ratio * c.baseline for c in checks])
    ax.set_ylim(max(0.0, low - 0.1), 1.02)
    ax.set_title(
        f"Recent vs baseline (dashed: warning {warning_ratio:.0%}, dotted: critical "
        f"{critical_ratio:.0%})",
        fontsize=9,
    )
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def _plot_trend(runs: Sequence[Mapping[str, Any]]) -> Any:
    """Quality metrics and drift figures over the monitoring runs."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    x = np.arange(len(runs))

    def series(key: str) -> np.ndarray:
        return np.array(
            [float(r[key]) if isinstance(r.get(key), int | float) else np.nan for r in runs]
        )

    for key in ("accuracy", "f1", "precision", "recall"):
        values = series(key)
        if np.isfinite(values).any():
            top.plot(x, values, marker="o", markersize=3, label=key)
    top.set_ylabel("quality", fontsize=8)
    top.legend(fontsize=7)
    bottom.plot(x, series("prediction_psi"), marker="o", markersize=3, label="prediction PSI")
    bottom.plot(x, series("max_psi"), marker="o", markersize=3, label="max feature PSI")
    retrained = [i for i, r in enumerate(runs) if r.get("retrain")]
    if retrained:
        bottom.scatter(
            retrained, series("max_psi")[retrained], color="#d93025", zorder=3, label="retrain"
        )
    bottom.set_ylabel("PSI", fontsize=8)
    bottom.legend(fontsize=7)
    labels = [str(r.get("timestamp", i))[:16] for i, r in enumerate(runs)]
    step = max(len(runs) // 8, 1)
    bottom.set_xticks(x[::step], labels[::step], rotation=30, ha="right", fontsize=6)
    for ax in (top, bottom):
        ax.tick_params(labelsize=7)
    top.set_title("Monitoring trend", fontsize=9)
    return fig
