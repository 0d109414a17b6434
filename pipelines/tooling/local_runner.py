"""Run a pipeline locally through ``kfp.local`` and report where everything landed.

kfp.local's SubprocessRunner runs each lightweight component in a subprocess of this
interpreter (the pipeline env), writing every task's outputs and an
``executor_output.json`` under ``<pipeline_root>/<pipeline>-<timestamp>/<task>/``; this
module reads those files back into a summary. By default the terminal shows one line per
task start and end, and each task's full output goes to ``<run>/logs/<task>.log``
(:mod:`.local_progress`); ``verbose=True`` lets kfp.local print everything as it comes.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.pipelines.tooling import catalog, local_summary
from kfp_mlops.pipelines.tooling.local_progress import (
    CompactProgress,
    TaskRecord,
    shown_path,
    strip_colors,
)

log = logging.getLogger(__name__)

#: The run folder's file holding the full listing of every task's outputs.
SUMMARY_FILE = "summary.txt"
#: The folder kfp.local gives one ParallelFor iteration.
_ITERATION = re.compile(r".+-iteration-\d+")


@contextlib.contextmanager
def print_kept() -> Iterator[None]:
    """Put ``builtins.print`` back as it was on entry, whatever ran inside.

    kfp.local (2.17) indents a task's output by swapping ``builtins.print`` for a closure and
    restoring what it saw on entry; ParallelFor iterations run in threads, so two interleaved
    tasks restore each other's closure and the caller's process (a notebook) would be left
    with an indented ``print`` after the run.
    """
    original = builtins.print
    try:
        yield
    finally:
        builtins.print = original


@dataclass
class TaskOutputs:
    """What one task produced."""

    task: str
    artifacts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    #: The task's ``executor_output.json`` (every output, metrics uncut).
    output_file: Path | None = None


class LocalRunError(RuntimeError):
    """A task of a local run failed; the message names it and its log.

    Attributes:
        task: The failed task's record (its error in full and its log file), when known.
    """

    def __init__(self, message: str, task: TaskRecord | None = None) -> None:
        super().__init__(message)
        self.task = task


@dataclass
class LocalRun:
    """A finished local run: its folder, every task's outputs and the parameters it ran with.

    ``records`` (compact mode only) lists each task's status, duration and log file.
    """

    pipeline: str
    run_dir: Path
    tasks: list[TaskOutputs]
    params: dict[str, Any] = field(default_factory=dict)
    records: list[TaskRecord] = field(default_factory=list)
    seconds: float = 0.0

    def head(self) -> list[str]:
        """The summary's first lines: status, time, run folder, logs, MLflow."""
        lines = [f"pipeline {self.pipeline}: outputs under {self.run_dir}"]
        if self.records:
            lines[0] = (
                f"pipeline {self.pipeline}: {len(self.records)} tasks SUCCEEDED in "
                f"{self.seconds:.0f} s; outputs under {self.run_dir}"
            )
            lines.append(f"task logs: {shown_path(self.run_dir / 'logs')}/<task>.log")
        if self.params.get("tracking_uri"):
            lines.append(f"MLflow tracking and registry: {self.params['tracking_uri']}")
        return lines

    @property
    def summary_file(self) -> Path:
        """Where :meth:`write_summary` puts the full listing."""
        return self.run_dir / SUMMARY_FILE

    def write_summary(self) -> Path:
        """Write the full listing (every artifact path, output and metric) to the run folder."""
        self.summary_file.write_text(self.render(full=True) + "\n")
        return self.summary_file

    def render(self, full: bool = False, max_metrics: int = 12) -> str:
        """Where everything landed: one line per task, or (``full``) every artifact path.

        The compact form names the summary file when it has been written.
        """
        if full:
            return local_summary.full(self.head(), self.tasks, max_metrics)
        shown = self.summary_file if self.summary_file.exists() else None
        order = {record.task: i for i, record in enumerate(self.records)}
        tasks = sorted(self.tasks, key=lambda t: order.get(t.task, len(order)))  # as they ran
        return local_summary.compact(self.head(), tasks, shown)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=3", "source=builtin:digits"]`` -> ``{"epochs": 3, "source": "builtin:digits"}``.

    Values are parsed as JSON when they can be (numbers, booleans, lists), else kept as text.

    Raises:
        ValueError: On an item without ``=`` or with an empty name.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"malformed --param '{pair}': write it as name=value")
        try:
            params[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[name.strip()] = raw
    return params


def collect(run_dir: Path) -> list[TaskOutputs]:
    """Read every task's ``executor_output.json`` under ``run_dir``.

    A ParallelFor iteration's tasks sit in ``<run>/<loop>-iteration-<i>/<task>/`` and are
    named ``<task> [<loop>-iteration-<i>]``, as the progress lines name them.
    """
    tasks = []
    for out_file in sorted(run_dir.rglob("executor_output.json")):
        loops = out_file.parent.relative_to(run_dir).parts[:-1]
        if not all(_ITERATION.fullmatch(part) for part in loops):
            continue  # a file of that name inside an output artifact, not a task's
        name = out_file.parent.name + "".join(f" [{part}]" for part in loops)
        data = json.loads(out_file.read_text())
        task = TaskOutputs(
            task=name, parameters=data.get("parameterValues", {}), output_file=out_file
        )
        for name, entry in data.get("artifacts", {}).items():
            for artifact in entry.get("artifacts", []):
                uri = artifact.get("uri", "")
                metadata = artifact.get("metadata", {})
                if Path(uri).exists() or not metadata:
                    task.artifacts[name] = uri
                # Metrics artifacts carry their values in metadata; other artifacts' metadata
                # (rows, formats) is descriptive and stays in the file.
                if name == "metrics" or name.endswith("_metrics"):
                    task.metrics.update({k: v for k, v in metadata.items() if k != "display_name"})
        tasks.append(task)
    return tasks


def local_defaults(root: Path) -> dict[str, Any]:
    """Parameter values that make a cluster pipeline run on this machine alone.

    MLflow goes to a SQLite store (tracking and registry) under the pipeline root, and
    deployment to real model-server processes on loopback instead of a cluster.
    """
    return {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "deploy_target": "local",
        "serving_state_dir": str(root / "serving"),
        "gitops_dir": str(root / "gitops"),
    }


def run_local(
    name: str,
    params: dict[str, Any] | None = None,
    pipeline_root: str = "local_outputs",
    verbose: bool = False,
) -> LocalRun:
    """Run pipeline ``name`` with ``params`` through kfp.local's SubprocessRunner.

    Args:
        name: Pipeline name (see ``kfp-mlops list``).
        params: Pipeline parameters; :func:`local_defaults` fills the local ones.
        pipeline_root: Where the run folder goes.
        verbose: Let kfp.local print every task's output as it comes, instead of one line
            per task start and end (with each task's output in ``<run>/logs/<task>.log``).

    Raises:
        KeyError: If the pipeline does not exist.
        TypeError: If a parameter is not one of the pipeline's.
        LocalRunError: If a task fails (the message names the task and its log).
    """
    from kfp import local

    func = catalog.pipeline(name)
    params = params or {}
    known = set(func.component_spec.inputs or {})
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(
            f"pipeline '{name}' has no parameter(s) {unknown}; it takes: {', '.join(sorted(known))}"
        )
    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    params = {**{k: v for k, v in local_defaults(root).items() if k in known}, **params}
    before = {p.name for p in root.iterdir()}
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    progress = None if verbose else CompactProgress()
    start = time.monotonic()
    try:
        with print_kept(), progress or contextlib.nullcontext():
            func(**params)
    except RuntimeError as exc:
        failed = progress.failed() if progress else None
        if failed is None:
            raise LocalRunError(strip_colors(str(exc))) from exc
        raise LocalRunError(
            f"pipeline '{name}' failed at task '{failed.task}' (its error is above; "
            f"full log: {shown_path(failed.log)})",
            failed,
        ) from exc
    new_dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name not in before), key=lambda p: p.name
    )
    if not new_dirs:
        raise RuntimeError(f"kfp.local wrote no run folder under {root}")
    run_dir = new_dirs[-1]
    return LocalRun(
        pipeline=name,
        run_dir=run_dir,
        tasks=collect(run_dir),
        params=params,
        records=progress.records if progress else [],
        seconds=time.monotonic() - start,
    )
