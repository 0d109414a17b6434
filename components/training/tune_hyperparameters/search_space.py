"""The built-in search space: which hyper-parameters a trial samples, their ranges and checks.

A user module's ``search_space(trial)`` hook replaces it (:mod:`.model_code`); either way a
trial's parameters end up in :func:`canonical_params`, whose training hyper-parameters are
:data:`~kfp_mlops.components.training.hparams.TUNABLE` (what ``train_model`` merges).
"""

from __future__ import annotations

import json
import math
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.hparams import TUNABLE, HyperParams
from kfp_mlops.components.training.model import ACTIVATIONS, hidden_units_from

#: The :data:`TUNABLE` hyper-parameters the built-in space samples, in the order it samples
#: them (the order keeps seeds reproducible). The others (warm-up, accumulation, clipping)
#: matter for the long distributed fit, not for a short single-process trial.
PARAM_NAMES = ("learning_rate", "hidden_units", "dropout", "l2", "activation", "batch_size")
#: Parameters that may be ranges; the others only take ``choices``.
RANGE_PARAMS = ("learning_rate", "dropout", "l2", "batch_size")

DEFAULT_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "hidden_units": {"choices": ["32", "64,32", "128,64"]},
    "dropout": {"low": 0.0, "high": 0.4},
    "l2": {"low": 1e-6, "high": 1e-2, "log": True},
    "activation": {"choices": ["relu", "gelu"]},
    "batch_size": {"choices": [32, 64, 128]},
}

#: builtin:cnn: hidden_units are conv filters (two blocks, so a digit-sized image keeps some
#: resolution), and small image sets need a larger rate to learn in a short trial.
CNN_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    **DEFAULT_SEARCH_SPACE,
    "learning_rate": {"low": 2e-3, "high": 1e-2, "log": True},
    "hidden_units": {"choices": ["16,32", "32,64"]},
    "dropout": {"low": 0.0, "high": 0.2},
    "l2": {"low": 1e-6, "high": 1e-4, "log": True},
    "batch_size": {"choices": [32, 64]},
}
#: The built-in space of each built-in model (others use :data:`DEFAULT_SEARCH_SPACE`).
BUILTIN_SEARCH_SPACES = {"builtin:cnn": CNN_SEARCH_SPACE}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(name: str, value: Any) -> Any:
    """Validate one concrete value of parameter ``name``; return its canonical form."""
    if name == "hidden_units":
        if not isinstance(value, str | list | tuple):
            raise ParameterError(
                f"search_space.hidden_units choice {value!r} is not a layer list",
                'write each choice as a string like "64,32"',
            )
        units = hidden_units_from(value)
        if not units or any(u < 1 for u in units):
            raise ParameterError(
                f"search_space.hidden_units choice {value!r} has no positive layer sizes",
                'write each choice as a string like "64,32"',
            )
        return ",".join(str(u) for u in units)
    if name == "activation":
        if value not in ACTIVATIONS:
            raise ParameterError(
                f"search_space.activation choice {value!r} is not supported",
                f"use some of {list(ACTIVATIONS)}",
            )
        return value
    if name == "batch_size":
        if not _is_number(value) or int(value) != value or value < 1:
            raise ParameterError(
                f"search_space.batch_size value {value!r} is not a positive integer",
                "use e.g. 32, 64 or 128",
            )
        return int(value)
    if not _is_number(value):
        raise ParameterError(f"search_space.{name} value {value!r} is not a number", "use a float")
    value = float(value)
    if name == "learning_rate" and value <= 0:
        raise ParameterError(
            f"search_space.learning_rate value {value} is not positive", "use e.g. 1e-4..1e-2"
        )
    if name == "dropout" and not 0.0 <= value < 1.0:
        raise ParameterError(f"search_space.dropout value {value} is outside [0, 1)", "use 0..0.5")
    if name == "l2" and value < 0:
        raise ParameterError(
            f"search_space.l2 value {value} is negative", "use 0 or e.g. 1e-6..1e-2"
        )
    return value


def _normalise_spec(name: str, spec: Any) -> dict[str, Any]:
    """Validate one parameter's spec; return ``{"choices": [...]}`` or a low/high/log range."""
    if isinstance(spec, list | tuple):  # shorthand: a bare list means choices
        spec = {"choices": list(spec)}
    if not isinstance(spec, dict):
        raise ParameterError(
            f"search_space.{name} is {spec!r}",
            'give a dict: {"choices": [...]} or {"low": ..., "high": ..., "log": false}',
        )
    unknown = sorted(set(spec) - {"choices", "low", "high", "log"})
    if unknown:
        raise ParameterError(
            f"search_space.{name} has unknown keys {unknown}",
            "use either 'choices', or 'low', 'high' and optionally 'log'",
        )
    if "choices" in spec:
        if {"low", "high", "log"} & set(spec):
            raise ParameterError(
                f"search_space.{name} mixes 'choices' with 'low'/'high'/'log'",
                "give either a list of choices or a range, not both",
            )
        choices = spec["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            example = DEFAULT_SEARCH_SPACE[name].get("choices", [1e-3])
            raise ParameterError(
                f"search_space.{name}.choices is empty or not a list",
                f"list at least one value, e.g. {example}",
            )
        canonical = [_check_value(name, c) for c in choices]
        return {"choices": list(dict.fromkeys(canonical))}  # drop duplicates, keep order
    if name not in RANGE_PARAMS:
        raise ParameterError(
            f"search_space.{name} must be given as choices",
            f'write e.g. {{"{name}": {{"choices": {DEFAULT_SEARCH_SPACE[name]["choices"]}}}}}',
        )
    if "low" not in spec or "high" not in spec:
        raise ParameterError(
            f"search_space.{name} needs both 'low' and 'high'",
            f'write e.g. {{"{name}": {json.dumps(DEFAULT_SEARCH_SPACE.get(name, {}))}}}',
        )
    low, high = _check_value(name, spec["low"]), _check_value(name, spec["high"])
    if low >= high:
        raise ParameterError(
            f"search_space.{name} has low={low} >= high={high}",
            "make low smaller than high, or give a single value as choices: [value]",
        )
    use_log = spec.get("log", False)
    if not isinstance(use_log, bool):
        raise ParameterError(f"search_space.{name}.log is {use_log!r}", "use true or false")
    if use_log and low <= 0:
        raise ParameterError(
            f"search_space.{name} is log-scaled but low={low} is not positive",
            "use a positive low, or set log to false",
        )
    return {"low": low, "high": high, "log": use_log}


def resolve_search_space(
    search_space: dict[str, Any] | None = None, model_fn: str = ""
) -> dict[str, dict[str, Any]]:
    """Merge a user search space over the model's built-in space and validate it.

    Parameters the user does not name keep their default range: ``model_fn``'s entry in
    :data:`BUILTIN_SEARCH_SPACES`, else :data:`DEFAULT_SEARCH_SPACE`.

    Raises:
        ParameterError: On an unknown parameter name, ``low >= high``, empty choices, or a
            value the model cannot use.
    """
    search_space = search_space or {}
    if not isinstance(search_space, dict):
        raise ParameterError(
            f"search_space is a {type(search_space).__name__}",
            'give a JSON object, e.g. {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": true}}',
        )
    unknown = sorted(set(search_space) - set(PARAM_NAMES))
    if unknown:
        raise ParameterError(
            f"search_space names unknown parameters {unknown}",
            f"use only {list(PARAM_NAMES)}, or a search_space(trial) hook in the model_fn "
            "module for anything else",
        )
    defaults = BUILTIN_SEARCH_SPACES.get(model_fn, DEFAULT_SEARCH_SPACE)
    merged = {name: dict(defaults[name]) for name in PARAM_NAMES}
    for name, spec in search_space.items():
        merged[name] = spec
    return {name: _normalise_spec(name, merged[name]) for name in PARAM_NAMES}


def search_space_from_json(text: str) -> dict[str, Any] | None:
    """Parse the component's ``search_space_json`` parameter ("" means the default space)."""
    if not text or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"search_space_json is not valid JSON: {exc}",
            'write e.g. {"hidden_units": {"choices": ["32", "64,32"]}}',
        ) from exc
    resolve_search_space(value)  # fail before any data is read
    return value


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sample one trial's parameters from a resolved ``space``, in :data:`PARAM_NAMES` order."""
    params: dict[str, Any] = {}
    for name in PARAM_NAMES:
        spec = space[name]
        if "choices" in spec:
            params[name] = trial.suggest_categorical(name, spec["choices"])
        elif name == "batch_size":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return params


def canonical_params(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters in the shape ``train_model`` reads.

    :data:`TUNABLE` keys are typed as :class:`HyperParams` types them (``hidden_units`` as
    ``"64,32"``); other keys (a model hook's own) are kept as they are, after them.

    Raises:
        ParameterError: If a tunable value has the wrong type.
    """
    tunable = {k: params[k] for k in TUNABLE if k in params}
    typed = HyperParams.from_params(tunable).to_dict()
    out = {k: typed[k] for k in tunable}
    if "hidden_units" in out:
        out["hidden_units"] = ",".join(str(u) for u in out["hidden_units"])
    return {**out, **{k: v for k, v in params.items() if k not in TUNABLE}}
