"""``models.yaml``: one configuration that runs the same loop for many models.

.. code-block:: yaml

    defaults:                       # optional, merged into every model
      tracking_uri: http://mlflow.kubeflow:5000
      thresholds: {drift_threshold: 0.1}
    models:
      - name: breast-cancer         # registered model name and prefix of every object
        source: gs://data/bc/*.parquet
        target_column: target
        task: binary                # auto | binary | multiclass | regression
        model_fn: builtin:mlp
        thresholds: {min_accuracy: 0.95, max_latency_p99_ms: 100}
        schedule: "0 3 * * *"       # the model's retraining_pipeline (monitor, retrain on drift)
        environment: production     # production | staging

:func:`load_config` checks the whole file before anything is compiled or scheduled and
raises one :class:`ConfigError` listing every problem (unknown keys with the closest known
one, duplicate names, bad cron, parameters no pipeline takes). :func:`pipeline_params` maps
one model onto the parameters of a pipeline.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.pipelines.tooling.cron import normalize_cron

#: The pipelines a model of the fleet runs: compiled per model, and the scheduled one.
MODEL_PIPELINES = ("training_pipeline", "retraining_pipeline")
TASKS = ("auto", "binary", "multiclass", "regression")
ENVIRONMENTS = ("production", "staging")
MODEL_KEYS = {
    "name": "registered model name, DNS-1123 (lower case, digits, '-'); unique",
    "source": "training / recent data: builtin:<name>, a path, a glob or gs://",
    "reference_source": "reference data (default: source)",
    "target_column": "label column (default: target)",
    "task": "auto | binary | multiclass | regression (default: auto)",
    "model_fn": "builtin:mlp | builtin:resnet_mlp | builtin:cnn | module:function | file.py",
    "thresholds": "gate and monitoring limits: any threshold parameter of the pipelines",
    "schedule": "cron of the model's recurring retraining run (5 fields or @daily ...)",
    "pipeline": "the scheduled pipeline (default: retraining_pipeline)",
    "environment": "production | staging (default: production)",
    "params": "any other pipeline parameter, by name",
}
TOP_KEYS = {"defaults", "models", "experiment"}
#: Threshold names: the pipeline parameters a ``thresholds`` block may set.
THRESHOLD = re.compile(r"^(min_|max_|drift_threshold$|canary_max_|validation_margin$)")
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")


class ConfigError(ParameterError):
    """``models.yaml`` is malformed; the message lists every problem and its fix."""


@dataclass
class ModelConfig:
    """One model of the fleet, defaults merged in."""

    name: str
    source: str
    reference_source: str
    target_column: str = "target"
    task: str = "auto"
    model_fn: str = "builtin:mlp"
    thresholds: dict[str, Any] = field(default_factory=dict)
    schedule: str = ""
    pipeline: str = "retraining_pipeline"
    environment: str = "production"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class FleetConfig:
    """The whole ``models.yaml``."""

    models: list[ModelConfig]
    experiment: str = "kfp-mlops-fleet"
    path: str = ""

    def model(self, name: str) -> ModelConfig:
        """The model called ``name``."""
        for m in self.models:
            if m.name == name:
                return m
        raise ConfigError(f"no model '{name}' in {self.path or 'the config'}")


def _unknown(keys: set[str], known: Any, where: str) -> list[str]:
    problems = []
    for key in sorted(keys - set(known)):
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(known))}"
        problems.append(f"{where}: unknown key '{key}' ({hint})")
    return problems


def _pipeline_inputs() -> dict[str, set[str]]:
    from kfp_mlops.pipelines.tooling import catalog

    return {p: set(catalog.pipeline(p).component_spec.inputs or {}) for p in catalog.PIPELINES}


def _check_model(raw: Any, where: str, inputs: dict[str, set[str]]) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{where}: must be a mapping of {', '.join(MODEL_KEYS)}"]
    problems = _unknown(set(raw), MODEL_KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}: name {name!r} must be 1-40 of a-z, 0-9, '-' (DNS-1123)")
    if not raw.get("source"):
        problems.append(f"{where}: 'source' is required (builtin:<name>, a path or gs://)")
    if raw.get("task", "auto") not in TASKS:
        problems.append(f"{where}: task {raw['task']!r} is not one of {', '.join(TASKS)}")
    if raw.get("environment", "production") not in ENVIRONMENTS:
        problems.append(
            f"{where}: environment {raw['environment']!r} is not one of {', '.join(ENVIRONMENTS)}"
        )
    if raw.get("schedule"):
        try:
            normalize_cron(str(raw["schedule"]))
        except ValueError as exc:
            problems.append(f"{where}: schedule: {exc}")
    pipeline = raw.get("pipeline", "retraining_pipeline")
    if pipeline not in inputs:
        problems.append(f"{where}: pipeline '{pipeline}' unknown; known: {', '.join(inputs)}")
    for block in ("thresholds", "params"):
        value = raw.get(block, {})
        if not isinstance(value, dict):
            problems.append(f"{where}: '{block}' must be a mapping of parameter: value")
            continue
        takes = set().union(*(inputs.get(p, set()) for p in (*MODEL_PIPELINES, pipeline)))
        for key in sorted(value):
            if block == "thresholds" and not THRESHOLD.match(key):
                problems.append(
                    f"{where}: thresholds: '{key}' is not a threshold (min_*, max_*, "
                    "drift_threshold, canary_max_*); put other parameters under 'params'"
                )
            elif key not in takes:
                problems.extend(_unknown({key}, takes, f"{where}: {block}"))
    if raw.get("task") == "regression" and "min_accuracy" in raw.get("thresholds", {}):
        problems.append(f"{where}: a regression model is gated on max_rmse, not min_accuracy")
    return problems


def _merge(defaults: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    merged = {**defaults, **raw}
    for block in ("thresholds", "params"):
        merged[block] = {**defaults.get(block, {}), **raw.get(block, {})}
    return merged


def parse_config(data: Any, path: str = "") -> FleetConfig:
    """Check and build a :class:`FleetConfig` from the parsed YAML ``data``.

    Raises:
        ConfigError: Listing every problem found, each with its fix.
    """
    where = path or "models.yaml"
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ConfigError(
            f"{where}: expected a mapping with a 'models' list",
            "see the example at the top of kfp_mlops/pipelines/tooling/fleet.py",
        )
    problems = _unknown(set(data), TOP_KEYS, where)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(f"{where}: 'defaults' must be a mapping")
        defaults = {}
    problems += _unknown(set(defaults) - {"name"}, MODEL_KEYS, f"{where}: defaults")
    inputs = _pipeline_inputs()
    merged, seen = [], {}
    for i, raw in enumerate(data["models"]):
        label = f"{where}: models[{i}]"
        item = _merge(defaults, raw) if isinstance(raw, dict) else raw
        problems += _check_model(item, label, inputs)
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            if item["name"] in seen:
                problems.append(
                    f"{label}: name '{item['name']}' is also models[{seen[item['name']]}]; "
                    "names must be unique (they name the registered model)"
                )
            seen.setdefault(item["name"], i)
        merged.append(item)
    if not data["models"]:
        problems.append(f"{where}: 'models' is empty")
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in {where}:\n  " + "\n  ".join(problems),
            "fix each line above and rerun",
        )
    models = [
        ModelConfig(**{**m, "reference_source": m.get("reference_source") or m["source"]})
        for m in merged
    ]
    return FleetConfig(models, experiment=data.get("experiment", "kfp-mlops-fleet"), path=path)


def load_config(path: str | Path) -> FleetConfig:
    """Read and check ``models.yaml`` (see :func:`parse_config`).

    Raises:
        ConfigError: The file is missing, not YAML, or breaks the schema above.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", "pass --config models.yaml"
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", "fix the line it names") from exc
    return parse_config(data, str(path))


def pipeline_params(model: ModelConfig, pipeline: str, inputs: set[str]) -> dict[str, Any]:
    """The parameters of ``pipeline`` (taking ``inputs``) for ``model``.

    The monitoring side reads the model's ``source`` as its recent window (``current_source``);
    the registered model is named after the model; only parameters the pipeline takes are set.
    """
    values: dict[str, Any] = {
        "source": model.source,
        "current_source": model.source,
        "reference_source": model.reference_source,
        "target_column": model.target_column,
        "model_fn": model.model_fn,
        "registered_model_name": model.name,
        **model.thresholds,
        **model.params,
    }
    if model.task != "auto":
        values["task_type"] = model.task
    if model.environment != "production":
        values["environment"] = model.environment
    return {k: v for k, v in values.items() if k in inputs}
