"""Inputs and baselines of a monitoring run: the champion's baseline, the history, triggers.

Everything here parses parameters and small stored files, so a typo fails in a second,
before any dataset or model is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError

#: Quality metrics of a classifier compared with the baseline (higher is better), in order.
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")
#: A regressor's error metrics compared with the baseline (lower is better), in order.
REGRESSION_METRICS = ("rmse", "mae")
#: Every metric a baseline may hold, in report order.
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
#: The metrics where a larger value is worse.
LOWER_IS_BETTER = frozenset(REGRESSION_METRICS)
#: Findings ``retrain_on`` may list. ``drift`` means feature or prediction drift;
#: ``data_quality`` any of missing_values, duplicates, stale_data and volume.
TRIGGERS = (
    "drift",
    "feature_drift",
    "prediction_drift",
    "critical",
    "warning",
    "data_quality",
    "missing_values",
    "duplicates",
    "stale_data",
    "volume",
    "model_age",
)
#: What triggers retraining unless ``retrain_on`` says otherwise.
DEFAULT_RETRAIN_ON = "drift,critical,data_quality,model_age"
#: Baseline keys are looked up as ``<metric>``, then ``test_<metric>``, then ``val_<metric>``.
BASELINE_PREFIXES = ("", "test_", "val_")
#: The history keeps this many most recent runs.
MAX_HISTORY = 1000


def parse_baseline(source: str | Mapping[str, Any] | None, origin: str = "baseline_json") -> dict:
    """Read the champion's baseline metrics from JSON text or a mapping.

    Keys ``accuracy``, ``precision``, ``recall`` and ``f1`` (a classifier's, fractions) and
    ``rmse`` and ``mae`` (a regressor's, in the target's units) are used (``test_<name>`` and
    ``val_<name>`` are accepted when the plain one is absent); other keys are ignored.

    Args:
        source: JSON object text, a mapping, or empty/None for no baseline.
        origin: How to name the source in errors.

    Returns:
        Metric name -> baseline value (empty when there is no baseline).

    Raises:
        ParameterError: On malformed JSON, a non-object, a classification metric that is
            not a number in (0, 1], an error metric that is not a positive number, or an
            object with none of the metrics.
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
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if name in LOWER_IS_BETTER:
            if not number or not 0.0 < value < float("inf"):  # also rejects NaN
                raise ParameterError(
                    f"{origin} has {key}={value!r}, not a positive number",
                    f"give {name} in the target's units, e.g. 52.3 (0 would make every "
                    "window look worse)",
                )
        elif not number or not 0.0 < value <= 1.0:  # also rejects NaN
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


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def read_baseline_and_history(
    baseline_json: str,
    baseline_path: str | None,
    baseline_metadata: Mapping[str, Any] | None,
    history_json: str,
    history_uri: str,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The baseline (from JSON text or an artifact) and the history (stored one wins).

    Raises:
        ParameterError: If both ``baseline_json`` and a baseline artifact are given, or on
            a malformed baseline or history.
    """
    if baseline_path is not None and baseline_json.strip():
        raise ParameterError(
            "both baseline_json and a baseline artifact were given",
            "pass only one of them",
        )
    if baseline_path is not None:
        baseline = read_baseline_artifact(baseline_path, baseline_metadata)
    else:
        baseline = parse_baseline(baseline_json)
    history = parse_history(history_json)  # parsed even when unused: a typo fails here
    stored = read_history_uri(history_uri)
    return baseline, stored if stored is not None else history
