"""Every pipeline and component of the library, by name.

Pipelines are discovered from the ``@dsl.pipeline`` functions of ``pipelines/*.py`` and
components from ``components/<area>/<name>/component.py``, so neither can be forgotten by
``make compile``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import kfp_mlops.components as components_pkg
import kfp_mlops.pipelines as pipelines_pkg

_PIPELINE_DEF = re.compile(r"^@dsl\.pipeline\((?:.|\n)*?^def (\w+)\(", re.MULTILINE)


def _discover_pipelines() -> dict[str, str]:
    """Pipeline name -> "module:function" for every ``@dsl.pipeline`` in ``pipelines/*.py``.

    The modules are read as text, so listing the pipelines imports nothing.
    """
    found: dict[str, str] = {}
    for path in sorted(Path(pipelines_pkg.__file__).parent.glob("*.py")):
        for name in _PIPELINE_DEF.findall(path.read_text(encoding="utf-8")):
            found[name] = f"{pipelines_pkg.__name__}.{path.stem}:{name}"
    return found


#: Pipeline name -> "module:function"; a new pipeline module needs no entry here.
PIPELINES: dict[str, str] = _discover_pipelines()


def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def pipeline(name: str) -> Any:
    """The pipeline function called ``name``.

    Raises:
        KeyError: With the known names, if ``name`` is not one.
    """
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline '{name}'; known: {', '.join(sorted(PIPELINES))}")
    return _resolve(PIPELINES[name])


def pipelines() -> dict[str, Any]:
    """All pipeline functions by name."""
    return {name: _resolve(spec) for name, spec in sorted(PIPELINES.items())}


def components() -> dict[str, Any]:
    """All ``@dsl.component`` objects by name, from every ``component.py`` module."""
    from kfp.dsl.base_component import BaseComponent

    found: dict[str, Any] = {}
    for info in pkgutil.walk_packages(components_pkg.__path__, components_pkg.__name__ + "."):
        if not info.name.endswith(".component"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            # Only components defined here, not ones a module imports from elsewhere.
            func = getattr(value, "python_func", None)
            if (
                isinstance(value, BaseComponent)
                and getattr(func, "__module__", "") == module.__name__
            ):
                found[value.name.replace("-", "_")] = value
    return dict(sorted(found.items()))


def describe(obj: Any) -> str:
    """First line of a pipeline's or component's description."""
    text = getattr(obj, "description", None) or (obj.__doc__ or "")
    if hasattr(obj, "component_spec"):
        text = obj.component_spec.description or text
    return text.strip().splitlines()[0] if text.strip() else ""
