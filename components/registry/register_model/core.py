"""Register a blessed Model directory in the MLflow registry as the ``challenger``.

Nothing unblessed is registered: the ``blessed`` flag (evaluate_model's return value) and
the evaluation JSON must both say so, and the registry is probed before anything is written.

The model directory is logged as plain run artifacts under ``model/`` (with the
preprocessor beside it when given) and registered from ``runs:/<run_id>/model``;
:func:`kfp_mlops.components.registry.common.load_registered` downloads it back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common import report
from kfp_mlops.components.common.artifacts import keras_file
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.model_dir import (
    FORMAT_FILES,
    OPTIMIZATION_FILE,
)
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.register_model import tracking

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "kfp-mlops"
DEFAULT_INTENDED_USE = (
    "Classification of tabular records that have the same columns, types and value ranges "
    "as the training data, as a decision aid."
)
DEFAULT_LIMITATIONS = (
    "Quality was measured on a held-out split of the same data source only; records from a "
    "different population, time period or collection process may be misclassified (watch "
    "the drift reports). Probabilities are not calibrated guarantees. Not intended as the "
    "sole basis of high-stakes decisions about individuals."
)
MAX_TAG_CHARS = 4000


class NotBlessedError(ParameterError):
    """A model that the evaluation gate did not bless was offered for registration."""


@dataclass
class Registration:
    """What :func:`register` did."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str]
    model_card: str


def sha256_of(path: str) -> str:
    """SHA-256 of a file, or of a directory's files (relative names and bytes, sorted)."""
    target = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
    for file in files:
        if target.is_dir():
            digest.update(str(file.relative_to(target)).encode())
        with open(file, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_json(path: str | None) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when no path is given.

    Raises:
        ParameterError: If the file is not a JSON object.
    """
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ParameterError(
            f"'{path}' is not readable JSON: {exc}",
            "pass the evaluation_json of evaluate_model / validation_result of validate_data",
        ) from exc
    if not isinstance(data, dict):
        raise ParameterError(f"'{path}' holds {type(data).__name__}, not a JSON object")
    return data


def describe_optimization(model_dir: str, optimization: str = "") -> str:
    """The optimization text: the parameter, else the directory's optimization record."""
    if optimization.strip():
        return optimization.strip()
    meta = Path(model_dir) / OPTIMIZATION_FILE
    if meta.is_file():
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            return (
                ", ".join(f"{k}: {v}" for k, v in data.items())
                if isinstance(data, dict)
                else str(data)
            )
        except ValueError:
            log.warning("%s is not valid JSON; ignored", meta)
    return "none recorded"


def model_formats(model_dir: str) -> list[str]:
    """Serving formats present in a Model directory."""
    return [label for name, label in FORMAT_FILES.items() if (Path(model_dir) / name).exists()]


def model_card(
    *,
    name: str,
    version: str,
    run_id: str,
    evaluation: dict[str, Any],
    validation: dict[str, Any] | None,
    intended_use: str,
    optimization: str,
    formats: list[str],
    limitations: str,
    pipeline_run_id: str,
    data_hash: str,
    explanation: dict[str, Any] | None = None,
) -> str:
    """A Markdown model card.

    Sections: Intended use, Data, Data validation, Metrics, Explanations (when
    ``explanation``, explain_model's JSON, is given), Optimization, Limitations, Provenance.
    """
    metrics = evaluation.get("metrics", {}) or {}
    champion = evaluation.get("champion") or {}
    lines = [
        f"# Model card: {name} v{version}",
        "",
        "## Intended use",
        "",
        intended_use or DEFAULT_INTENDED_USE,
        "",
        "## Data",
        "",
        f"- Test rows: {evaluation.get('rows', 'unknown')}",
        f"- Classes: {', '.join(map(str, evaluation.get('classes', []))) or 'unknown'}",
        f"- Data SHA-256: `{data_hash or 'not recorded'}`",
        "",
        "## Data validation",
        "",
    ]
    if validation is None:
        lines.append("No validation result was attached.")
    else:
        success = validation.get("success")
        percent = validation.get("success_percent")
        status = {True: "passed", False: "FAILED"}.get(success, "unknown")
        lines.append(
            f"Great Expectations validation {status}"
            + (f" ({float(percent):.1f}% of expectations met)" if percent is not None else "")
            + "."
        )
    lines += [
        "",
        "## Metrics",
        "",
        f"Evaluation gate: {'blessed' if evaluation.get('blessed') else 'not blessed'}"
        f" (served as `{evaluation.get('serving_format', 'unknown')}`).",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {report.fmt(v, fixed=True, missing='n/a')} |" for k, v in metrics.items()],
        "",
        *[f"- {r}" for r in evaluation.get("reasons", [])],
    ]
    if champion:
        lines += ["", f"Compared with champion v{champion.get('version')} on the same test rows."]
    if explanation is not None:
        lines += ["", explanation_section(explanation).rstrip("\n")]
    lines += [
        "",
        "## Optimization",
        "",
        f"- Applied: {optimization}",
        f"- Formats in the model directory: {', '.join(formats) or 'unknown'}",
        "",
        "## Limitations",
        "",
        limitations or DEFAULT_LIMITATIONS,
        "",
        "## Provenance",
        "",
        f"- Registered model: `{name}` version {version} (alias `{common.CHALLENGER}`)",
        f"- MLflow run: `{run_id}`",
        f"- Pipeline run: `{pipeline_run_id}`",
        "",
    ]
    return "\n".join(lines)


def explanation_section(explanation: dict[str, Any]) -> str:
    """The "Explanations" section: explain_model's own Markdown, else built from its ranking.

    Raises:
        ParameterError: If the JSON is not explain_model's (no markdown and no ranking).
    """
    markdown = explanation.get("markdown")
    if isinstance(markdown, str) and markdown.strip():
        return markdown
    ranking = explanation.get("ranking")
    if not isinstance(ranking, list):
        raise ParameterError(
            "the explanation JSON has neither 'markdown' nor 'ranking'",
            "pass the explanation output of explain_model",
        )
    lines = ["## Explanations", "", f"- Method: {explanation.get('method', 'unknown')}", ""]
    lines += ["| rank | feature | importance |", "|---|---|---|"]
    lines += [
        f"| {i} | {r.get('feature')} | {report.fmt(r.get('importance'))} |"
        for i, r in enumerate(ranking, 1)
    ]
    return "\n".join(lines) + "\n"


def version_tags(
    evaluation: dict[str, Any], pipeline_run_id: str, data_hash: str, optimization: str
) -> dict[str, str]:
    """Model-version tags: provenance, the gate's verdict and every numeric metric."""
    tags = {
        "pipeline_run_id": pipeline_run_id,
        "data_sha256": data_hash or "not recorded",
        "blessed": "true",
        "serving_format": str(evaluation.get("serving_format", "unknown")),
        "optimization": optimization[:MAX_TAG_CHARS],
    }
    for key, value in (evaluation.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and math.isfinite(value):
            tags[f"metric.{key}"] = f"{value:.6g}"
    champion = evaluation.get("champion") or {}
    if champion.get("version"):
        tags["compared_with_champion"] = str(champion["version"])
    return tags


def refuse_unblessed(blessed: bool, evaluation: dict[str, Any]) -> None:
    """Raise :class:`NotBlessedError` unless the flag and the evaluation both bless the model."""
    if not blessed:
        raise NotBlessedError(
            "the model is not blessed (blessed=False): it was not registered",
            "register only inside dsl.If(evaluate_model.output == True), passing blessed="
            "evaluate_model.output; see the evaluation summary for the failed checks",
        )
    if evaluation.get("blessed") is False:
        failures = "; ".join(evaluation.get("failures", [])) or "see the evaluation summary"
        raise NotBlessedError(
            f"blessed=True was passed but the evaluation did not bless the model ({failures}): "
            "it was not registered",
            "pass the evaluation_json of the same evaluate_model task whose output is blessed",
        )


def register(
    model_dir: str,
    evaluation: dict[str, Any],
    *,
    tracking_uri: str,
    name: str = common.DEFAULT_MODEL_NAME,
    blessed: bool = False,
    pipeline_run_id: str = "",
    data_hash: str = "",
    intended_use: str = "",
    optimization: str = "",
    limitations: str = "",
    validation: dict[str, Any] | None = None,
    preprocessor_path: str | None = None,
    experiment_name: str = DEFAULT_EXPERIMENT,
    explanation: dict[str, Any] | None = None,
    background_path: str | None = None,
) -> Registration:
    """Log the Model directory to an MLflow run, register it and set the ``challenger`` alias.

    Args:
        model_dir: Model artifact directory (``model.h5`` and files beside it).
        evaluation: evaluate_model's ``evaluation_json`` content.
        tracking_uri: MLflow server.
        name: Registered model name.
        blessed: evaluate_model's verdict; False refuses before anything is written.
        pipeline_run_id: Provenance tag; ``$KFP_RUN_ID`` or ``local`` when empty.
        data_hash: SHA-256 of the data the model was evaluated (or trained) on.
        intended_use: Model card text; a generic default when empty.
        optimization: What optimization was applied; else read from ``optimization.json``.
        limitations: Model card text; a generic default when empty.
        validation: validate_data's JSON result (``success``, ``success_percent``), if any.
        preprocessor_path: Preprocessor JSON, registered beside the model as
            ``preprocessor.json`` (serving and champion comparisons need it).
        experiment_name: MLflow experiment of the registration run.
        explanation: explain_model's explanation JSON: the model card's Explanations section.
        background_path: explain_model's background sample, registered beside the model as
            ``explain_background.json`` (the model server's ``:explain`` needs it).

    Raises:
        NotBlessedError: If the model is not blessed.
        RegistryError: If the registry is unreachable (nothing is written).
        ParameterError: If the directory holds no Keras model.
    """
    _check_inputs(blessed, evaluation, name, tracking_uri, model_dir, explanation, background_path)
    pipeline_run_id = pipeline_run_id or os.environ.get("KFP_RUN_ID", "") or "local"
    optimization = describe_optimization(model_dir, optimization)
    tags = version_tags(evaluation, pipeline_run_id, data_hash, optimization)
    if validation is not None and "success" in validation:
        tags["data_validation_success"] = str(bool(validation["success"])).lower()

    client = common.client(tracking_uri)
    with tracking.registration_run(client, experiment_name, tags, name) as run_id:
        tracking.log_model_dir(client, run_id, model_dir, preprocessor_path, background_path)
        tracking.log_evaluation(client, run_id, evaluation)
        version = tracking.create_version(client, name, run_id, tags, pipeline_run_id)
        card = model_card(
            name=name,
            version=str(version.version),
            run_id=run_id,
            evaluation=evaluation,
            validation=validation,
            intended_use=intended_use,
            optimization=optimization,
            formats=model_formats(model_dir),
            limitations=limitations,
            pipeline_run_id=pipeline_run_id,
            data_hash=data_hash,
            explanation=explanation,
        )
        client.log_text(run_id, card, "model_card.md")
        client.set_registered_model_alias(name, common.CHALLENGER, str(version.version))
    log.info("registered %s version %s as %s", name, version.version, common.CHALLENGER)
    return Registration(
        name=name, version=str(version.version), run_id=run_id, tags=tags, model_card=card
    )


def _check_inputs(
    blessed: bool,
    evaluation: dict[str, Any],
    name: str,
    tracking_uri: str,
    model_dir: str,
    explanation: dict[str, Any] | None,
    background_path: str | None,
) -> None:
    """Refuse an unblessed model or bad inputs, and probe the registry, before any write."""
    refuse_unblessed(blessed, evaluation)
    if not name.strip():
        raise ParameterError("registered_model_name is empty", "pass e.g. kfp-mlops-classifier")
    common.check_registry(tracking_uri)
    keras_file(model_dir)  # a directory without a model must not become a version
    if explanation is not None:
        explanation_section(explanation)  # a wrong JSON fails before anything is written
    if background_path and not Path(background_path).is_file():
        raise ParameterError(
            f"the background sample '{background_path}' does not exist",
            "pass the background output of explain_model (a tabular model's), or nothing",
        )
