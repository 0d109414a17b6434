"""One line per task as a kfp.local run goes, each task's full output in a file.

How kfp.local (2.17) prints, and so what is captured here:

- Every task, retries included, runs inside ``kfp.local.orchestrator.task_executor.
  execute_single_task``. In it, ``task_dispatcher`` swaps the root logger's handlers for one
  writing to ``sys.stdout`` (``logging_utils.local_logger_context``), prints the task's
  subprocess output line by line (stdout and stderr merged, each line indented by four
  spaces: the executor input, the component's logs, its traceback), then its outputs;
  ``task_executor`` warns (``warnings.warn``, to ``sys.stderr``) about the settings the
  local runner ignores (display name, CPU and memory requests, accelerators).
- Between tasks the orchestrator logs through the root logger (``Skipping conditional task
  ...`` at INFO) and prints the pipeline's first and last lines to ``sys.stdout``.

:class:`CompactProgress` wraps ``execute_single_task`` with ``sys.stdout`` and ``sys.stderr``
sent to ``<run>/logs/<task>.log``, and everything outside tasks to ``<run>/logs/run.log``;
the terminal gets a start line and an end line per task (status, duration; a failed task's
error and fix in full). kfp.local runs a pipeline's tasks one after another (only
``dsl.ParallelFor`` uses threads, which no pipeline here has), which is what makes swapping
``sys.stdout`` per task safe.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from kfp.local.orchestrator import task_executor

#: File (under the run's ``logs/`` folder) of what kfp.local printed outside any task.
RUN_LOG = "run.log"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# kfp.local's own log lines inside a task log: "06:41:02.123 - INFO - ...".
_KFP_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} - [A-Z]+ - ")
_SKIPPED = re.compile(r"^Skipping conditional task (\S+)")
_NOT_RUN = re.compile(r"^Skipping task (\S+): upstream task\(s\) (.+) failed")


@dataclass
class TaskRecord:
    """One task of the run as the terminal saw it.

    Attributes:
        task: Task name in the pipeline (``load-dataset-2``).
        label: The name shown: the task name and its display name when it has one.
        status: ``SUCCEEDED`` or ``FAILED``.
        seconds: Wall time, retries included.
        log: The file holding everything the task printed.
        error: A failed task's error (the last exception's text, in full), else empty.
    """

    task: str
    label: str
    status: str
    seconds: float
    log: Path
    error: str = ""


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else absolute."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def task_error(log_text: str, tail: int = 20) -> str:
    """The error of a failed task from its log: the last traceback's exception, in full.

    The exception text (``DataValidationError: ...; <the fix>``, possibly over several
    lines) runs from the first line after the last traceback's frames to kfp.local's next
    own log line. A task that died without a traceback (killed, out of memory) gets the
    last ``tail`` lines of what it printed instead.
    """
    raw = log_text.splitlines()
    starts = [i for i, line in enumerate(raw) if line.lstrip().startswith("Traceback (most recent")]
    if not starts:
        lines = [line[4:] if line.startswith("    ") else line for line in raw]
        printed = [line for line in lines if line.strip() and not _KFP_LOG_LINE.match(line)]
        return "\n".join(printed[-tail:])
    # kfp.local indents a task's output by its nesting (4 spaces a level): cut the traceback
    # line's own indent from what follows it, so frames stay indented and the error does not.
    indent = " " * (len(raw[starts[-1]]) - len(raw[starts[-1]].lstrip()))
    lines = [line[len(indent) :] if line.startswith(indent) else line for line in raw]
    error: list[str] = []
    for line in lines[starts[-1] + 1 :]:
        if _KFP_LOG_LINE.match(line):
            break
        if error or not line.startswith(" "):  # frames and code lines are indented
            error.append(line)
    return "\n".join(error).strip()


class _RunLogHandler(logging.Handler):
    """The root handler between tasks: every record to the run log, skips to the terminal."""

    def __init__(self, progress: CompactProgress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        message = _ANSI.sub("", record.getMessage())
        self.progress.run_log.write(self.format(record) + "\n")
        if match := _SKIPPED.match(message):
            self.progress.say(f"{match.group(1)}: skipped (its condition is false)")
        elif match := _NOT_RUN.match(message):
            self.progress.say(f"{match.group(1)}: not run ({match.group(2)} failed)")


class CompactProgress:
    """While active, kfp.local runs print one line per task start and end to ``out``.

    Use around the call that runs the pipeline; ``records`` then holds every task, and
    ``logs_dir`` the folder of their logs (``<pipeline_root>/<run>/logs``).

    Args:
        out: Where the lines go (the terminal's stdout by default).
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.records: list[TaskRecord] = []
        self.logs_dir: Path | None = None
        self.run_log = io.StringIO()
        self._stack = contextlib.ExitStack()
        self._router = _ThreadRouter(self.run_log)
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        """Print one progress line, stamped with the wall-clock time."""
        self.out.write(f"[{datetime.now():%H:%M:%S}] {text}\n")
        self.out.flush()

    def failed(self) -> TaskRecord | None:
        """The first task that failed, if any."""
        return next((r for r in self.records if r.status == "FAILED"), None)

    def __enter__(self) -> CompactProgress:
        original = task_executor.execute_single_task
        signature = inspect.signature(original)

        def execute_single_task(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs).arguments
            return self._run_task(original, bound, args, kwargs)

        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        self._stack.callback(setattr, task_executor, "execute_single_task", original)
        self._stack.callback(self._restore_root, handlers, level)
        task_executor.execute_single_task = execute_single_task
        root.handlers[:] = [_RunLogHandler(self)]
        root.setLevel(logging.INFO)
        # One router for the whole run: tasks of a ParallelFor run in threads at once, so each
        # thread's output goes to its own task's log (a per-task redirect of the process-wide
        # sys.stdout would be undone by whichever thread finishes first).
        self._stack.enter_context(contextlib.redirect_stdout(self._router))
        self._stack.enter_context(contextlib.redirect_stderr(self._router))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        if self.logs_dir is not None:
            text = _ANSI.sub("", self.run_log.getvalue())
            (self.logs_dir / RUN_LOG).write_text(text, encoding="utf-8")

    @staticmethod
    def _restore_root(handlers: list[logging.Handler], level: int) -> None:
        root = logging.getLogger()
        root.handlers[:] = handlers
        root.setLevel(level)

    def _run_task(self, original: Any, bound: dict, args: tuple, kwargs: dict) -> Any:
        task, spec = bound["task_name"], bound["task_spec"]
        # A ParallelFor iteration's resource name is "<run>/<iteration>"; logs stay per run,
        # one file per task and iteration.
        run, _, iteration = str(bound["pipeline_resource_name"]).partition("/")
        with self._lock:  # ParallelFor iterations start in threads at once
            if self.logs_dir is None:
                logs_dir = Path(bound["pipeline_root"]) / run / "logs"
                logs_dir.mkdir(parents=True, exist_ok=True)
                self.logs_dir = logs_dir
                self.say(f"each task's full log: {shown_path(logs_dir)}/<task>.log")
        display = spec.task_info.name if spec.HasField("task_info") else ""
        label = f"{task} ({display})" if display and display != task else task
        suffix = f".{iteration.rsplit('-', 1)[-1]}" if iteration else ""
        label += f" [{iteration}]" if iteration else ""
        log = self.logs_dir / f"{task}{suffix}.log"
        self.say(f"{label}: started")
        start = time.monotonic()
        result, crash = None, None
        with log.open("a", encoding="utf-8") as file:
            sink = _Plain(file)
            self._router.local.sink = sink
            with warnings.catch_warnings(record=True) as caught:
                try:
                    result = original(*args, **kwargs)
                except Exception as exc:  # recorded and shown, then re-raised below
                    crash = exc
                finally:
                    self._router.local.sink = None
            # The current filters still apply; what passes them goes to the log, whoever
            # (a test runner, say) would otherwise have shown or recorded it.
            for w in caught:
                sink.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
        seconds = time.monotonic() - start
        ok = crash is None and getattr(result[1], "name", "") == "SUCCESS"
        record = TaskRecord(task, label, "SUCCEEDED" if ok else "FAILED", seconds, log)
        self.records.append(record)
        if ok:
            self.say(f"{label}: SUCCEEDED in {_duration(seconds)}")
        else:
            record.error = f"{type(crash).__name__}: {crash}" if crash else _error_of(log)
            self.say(f"{label}: FAILED after {_duration(seconds)} (log: {shown_path(log)})")
            self.out.write(_indent(record.error) + "\n")
        if crash is not None:
            raise crash
        return result


class _ThreadRouter(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` during a run: each thread writes to its task's sink."""

    def __init__(self, default: TextIO) -> None:
        self.default = default
        self.local = threading.local()

    def writable(self) -> bool:
        return True

    def _sink(self) -> TextIO:
        return getattr(self.local, "sink", None) or self.default

    def write(self, text: str) -> int:
        return self._sink().write(text)

    def flush(self) -> None:
        self._sink().flush()


class _Plain(io.TextIOBase):
    """A text sink that drops kfp.local's colour codes, so log files read as plain text."""

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.file.write(_ANSI.sub("", text))
        return len(text)

    def flush(self) -> None:
        self.file.flush()


def _error_of(log: Path) -> str:
    return task_error(log.read_text(encoding="utf-8", errors="replace"))


def _indent(text: str, spaces: int = 4) -> str:
    return "\n".join(" " * spaces + line if line else line for line in text.splitlines())


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def strip_colors(text: str) -> str:
    """``text`` without the ANSI colour codes kfp.local puts in its messages."""
    return _ANSI.sub("", text)


__all__ = ["RUN_LOG", "CompactProgress", "TaskRecord", "shown_path", "strip_colors", "task_error"]
