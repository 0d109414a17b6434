"""Compile every pipeline and component into ``compiled/``, deterministically.

``compile --check`` compiles into a temporary folder and compares bytes, so CI (and the
stale-compiled test) fail when someone changed a component without running ``make compile``.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler

from kfp_mlops.pipelines.tooling import catalog, gitops_manifests

log = logging.getLogger(__name__)


def compile_all(out_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """Write the pipelines, the components and the GitOps manifests into ``out_dir``.

    Files: ``<pipeline>.yaml``, ``components/<component>.yaml``, ``k8s/<pipeline>.yaml``
    (Pipeline + PipelineVersion objects, see :mod:`.gitops_manifests`) and
    ``k8s/kustomization.yaml``.

    Args:
        out_dir: Destination folder (``compiled/`` in the repository).
        names: Pipelines or components to compile; all when empty.

    Returns:
        The files written.

    Raises:
        KeyError: If a name is neither a pipeline nor a component.
    """
    out = Path(out_dir)
    (out / "components").mkdir(parents=True, exist_ok=True)
    pipes, comps = catalog.pipelines(), catalog.components()
    unknown = sorted(set(names or []) - set(pipes) - set(comps))
    if unknown:
        raise KeyError(f"unknown pipeline or component {unknown}; see `kfp-mlops list`")
    written = []
    for name, func in pipes.items():
        if not names or name in names:
            path = _compile(func, out / f"{name}.yaml")
            written += [path, gitops_manifests.write(name, path, out / "k8s" / f"{name}.yaml")]
    written.append(gitops_manifests.write_kustomization(list(pipes), out / "k8s"))
    for name, comp in comps.items():
        if not names or name in names:
            written.append(_compile(comp, out / "components" / f"{name}.yaml"))
    return written


def _compile(obj: object, path: Path, **kwargs: Any) -> Path:
    compiler.Compiler().compile(obj, str(path), **kwargs)
    stable_header(path)
    log.info("compiled %s", path)
    return path


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


_HEADER_DEFAULT = re.compile(r"^(#    (\w+): (?:list|dict) \[Default: ).*(\])$")


def stable_header(path: Path) -> None:
    """Rewrite the header comment's list/dict defaults with their keys sorted.

    kfp prints them from a protobuf map, whose order changes from one process to the next;
    the spec itself is written sorted. Without this the same code compiles to different bytes.
    """
    text = path.read_text(encoding="utf-8")
    header, sep, body = text.partition("\ncomponents:")
    if not sep or "[Default: " not in header:
        return
    spec = next(yaml.safe_load_all(text))
    params = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})

    def fix(line: str) -> str:
        m = _HEADER_DEFAULT.match(line)
        if not m or "defaultValue" not in params.get(m.group(2), {}):
            return line
        return f"{m.group(1)}{_sorted(params[m.group(2)]['defaultValue'])!r}{m.group(3)}"

    header = "\n".join(fix(line) for line in header.split("\n"))
    path.write_text(header + sep + body, encoding="utf-8")


def masked(path: Path) -> str:
    """A compiled file's text with only the ``sdkVersion`` line masked.

    The golden comparison ignores which kfp patch release compiled the file and nothing else.
    """
    text = path.read_text(encoding="utf-8")
    return re.sub(r"(?m)^(\s*sdkVersion:).*$", r"\1 <masked>", text)


def stale_files(compiled_dir: str | Path) -> list[str]:
    """Files of ``compiled_dir`` that differ from a fresh compile, are missing, or are extra."""
    compiled = Path(compiled_dir)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.relative_to(tmp).as_posix() for p in compile_all(tmp)}
        current = {p.relative_to(compiled).as_posix() for p in compiled.rglob("*.yaml")}
        problems = [f"missing: {name}" for name in sorted(fresh - current)]
        problems += [f"no longer produced: {name}" for name in sorted(current - fresh)]
        problems += [
            f"differs: {name}"
            for name in sorted(fresh & current)
            if masked(Path(tmp) / name) != masked(compiled / name)
        ]
    return problems
