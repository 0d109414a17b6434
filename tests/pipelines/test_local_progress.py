"""Compact kfp.local output: one line per task start and end, full logs in files.

Real kfp.local runs: two tiny pipelines of lightweight components (seconds), then the
data validation pipeline through the CLI, as a user runs it. (No ``from __future__ import
annotations`` here: kfp reads the components' annotations as types.)
"""

import builtins
import re

import pytest
from kfp import dsl, local

from kfp_mlops.pipelines.tooling import catalog, cli
from kfp_mlops.pipelines.tooling.local_progress import (
    RUN_LOG,
    CompactProgress,
    shown_path,
    task_error,
)
from kfp_mlops.pipelines.tooling.local_runner import LocalRunError, print_kept, run_local

PROBLEM = "column 'age' has 12 non-numeric values (first: 'abc' at row 10)"
FIX = "clean the column\nor declare it categorical in the suite"
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (.+)$")
DURATION = r"(\d+\.\d s|\d+ min \d\d s)"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def shout(text: str) -> str:
    """Print a marker line the compact output must not show."""
    print(f"full output of shout: {text}")
    return text.upper()


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def refuse(text: str, problem: str, fix: str) -> str:
    """Fail the way our components do: an error naming the problem and the fix."""
    try:
        int(text)
    except ValueError as exc:
        raise ValueError(f"{problem}; {fix}") from exc
    return text


@dsl.pipeline(name="tiny-ok")
def tiny_ok(text: str = "hello") -> None:
    """Two tasks that succeed; the second has a display name."""
    first = shout(text=text)
    second = shout(text=first.output)
    second.set_display_name("shout again")


@dsl.pipeline(name="tiny-fail")
def tiny_fail(text: str = "hello") -> None:
    """A task that succeeds, then one that fails."""
    first = shout(text=text)
    refuse(text=first.output, problem=PROBLEM, fix=FIX)


@dsl.pipeline(name="tiny-fan-out")
def tiny_fan_out(texts: list = ["a", "b", "c", "d", "e", "f", "g", "h"]) -> None:  # noqa: B006
    """ParallelFor iterations, which kfp.local runs in threads at once."""
    with dsl.ParallelFor(texts, parallelism=4) as text:
        shout(text=text)


def _lines(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := LINE.match(line))]


def test_task_error_is_the_last_exception_in_full():
    log = "\n".join(
        [
            "06:41:02.123 - INFO - Streamed logs:",
            "    [KFP Executor] Got executor_input: {}",
            "    Traceback (most recent call last):",
            '      File "x.py", line 3, in f',
            "        int(text)",
            "    ValueError: invalid literal for int()",
            "",
            "    The above exception was the direct cause of the following exception:",
            "",
            "    Traceback (most recent call last):",
            '      File "x.py", line 5, in f',
            "        raise ValueError(...)",
            "        ^^^^^^^^^^^^^^^^^^^^^",
            "    DataValidationError: two columns are missing; add them",
            "    or drop them from the suite",
            "",
            "06:41:03.001 - ERROR - Task 'validate-data' finished with status FAILURE",
        ]
    )
    error = task_error(log)
    assert (
        error
        == "DataValidationError: two columns are missing; add them\nor drop them from the suite"
    )
    # Nested deeper (kfp.local indents by nesting level): the same error.
    deeper = "\n".join(
        line if line[:1].isdigit() else "        " + line for line in log.splitlines()
    )
    assert task_error(deeper) == error
    # Killed without a traceback: the end of what the task printed.
    assert task_error("06:41:02.123 - INFO - x\n    step 1\n    Killed\n") == "step 1\nKilled"


@pytest.mark.slow  # a kfp.local run (seconds: tiny components)
def test_each_task_is_one_start_and_one_end_line_and_its_output_goes_to_its_log(tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    out = _Out()
    with CompactProgress(out) as progress:
        tiny_ok(text="hi")
    lines = _lines(out.text)
    assert lines[0].startswith("each task's full log: ") and lines[0].endswith("/logs/<task>.log")
    assert lines[1] == "shout: started"
    assert re.fullmatch(f"shout: SUCCEEDED in {DURATION}", lines[2])
    assert lines[3] == "shout-2 (shout again): started"
    assert re.fullmatch(rf"shout-2 \(shout again\): SUCCEEDED in {DURATION}", lines[4])
    assert len(lines) == 5 and len(out.text.splitlines()) == 5
    assert "full output of shout" not in out.text and "executor_input" not in out.text
    assert [(r.task, r.status) for r in progress.records] == [
        ("shout", "SUCCEEDED"),
        ("shout-2", "SUCCEEDED"),
    ]
    logs = progress.logs_dir
    first = (logs / "shout.log").read_text()
    assert "full output of shout: hi" in first and "Got executor_input" in first
    assert "\x1b[" not in first  # colour codes dropped
    second = (logs / "shout-2.log").read_text()
    assert "full output of shout: HI" in second
    # kfp.local warns that the display name has no local effect: in the log, not the terminal.
    assert "display_name" in second and "display_name" not in out.text
    assert "Running pipeline" in (logs / RUN_LOG).read_text()


@pytest.mark.slow  # a kfp.local run (seconds: tiny components)
def test_a_failed_task_shows_its_error_and_fix_in_full(tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    out = _Out()
    with pytest.raises(RuntimeError, match="refuse"), CompactProgress(out) as progress:
        tiny_fail()
    failed = progress.failed()
    assert failed is not None and failed.task == "refuse"
    assert failed.error == f"ValueError: {PROBLEM}; {FIX}"
    lines = out.text.splitlines()
    end = next(i for i, line in enumerate(lines) if "refuse: FAILED after" in line)
    assert lines[end].endswith(f"(log: {shown_path(failed.log)})")
    assert lines[end + 1 :] == [
        f"    ValueError: {PROBLEM}; clean the column",
        "    or declare it categorical in the suite",
    ]
    assert "Traceback (most recent call last)" in failed.log.read_text()


@pytest.mark.slow  # a kfp.local run (seconds: tiny components)
def test_cli_verbose_streams_everything_and_default_is_compact(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(catalog.PIPELINES, "tiny_ok", f"{__name__}:tiny_ok")
    root = str(tmp_path)
    assert cli.main(["run-local", "tiny_ok", "--pipeline-root", root]) == 0
    compact = capsys.readouterr().out
    assert "full output of shout" not in compact and "shout: started" in compact
    assert cli.main(["run-local", "tiny_ok", "--pipeline-root", root, "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert "full output of shout: hello" in verbose and "Got executor_input" in verbose
    assert "shout: started" not in verbose
    assert len(verbose.splitlines()) > 3 * len(compact.splitlines())


def test_interleaved_kfp_indented_prints_leak_and_print_kept_puts_print_back():
    from kfp.local.logging_utils import indented_print

    def interleaved() -> None:  # two ParallelFor tasks: A enters, B enters, A ends, B ends
        a, b = indented_print(), indented_print()
        a.__enter__()
        b.__enter__()
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)

    original = builtins.print
    try:
        interleaved()
        assert builtins.print is not original  # the leak print_kept exists for
    finally:
        builtins.print = original
    with print_kept():
        interleaved()
    assert builtins.print is original


@pytest.mark.slow  # a kfp.local run (seconds: tiny components)
def test_run_local_of_a_parallel_for_leaves_print_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setitem(catalog.PIPELINES, "tiny_fan_out", f"{__name__}:tiny_fan_out")
    original = builtins.print
    for verbose in (False, True):
        run = run_local("tiny_fan_out", pipeline_root=str(tmp_path / str(verbose)), verbose=verbose)
        names = sorted(t.task for t in run.tasks)
        assert names == [f"shout [for-loop-1-iteration-{i}]" for i in range(8)]
        assert sorted(t.parameters["Output"] for t in run.tasks) == list("ABCDEFGH")
        assert builtins.print is original


@pytest.mark.slow  # a kfp.local run (seconds: tiny components)
def test_failed_run_local_names_the_task_and_its_log(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(catalog.PIPELINES, "tiny_fail", f"{__name__}:tiny_fail")
    with pytest.raises(LocalRunError, match=r"failed at task 'refuse' .*refuse\.log") as exc:
        run_local("tiny_fail", pipeline_root=str(tmp_path))
    assert exc.value.task.error.startswith(f"ValueError: {PROBLEM}")
    assert cli.main(["run-local", "tiny_fail", "--pipeline-root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"    ValueError: {PROBLEM}; clean the column" in captured.out
    assert captured.err.startswith("kfp-mlops: error: pipeline 'tiny_fail' failed at task")
    assert "\x1b[" not in captured.err


@pytest.mark.slow
def test_cli_run_local_is_compact_and_ends_with_the_summary(tmp_path, capsys):
    root = tmp_path / "runs"
    assert cli.main(["run-local", "data_validation_pipeline", "--pipeline-root", str(root)]) == 0
    out = capsys.readouterr().out
    lines = _lines(out)
    started = [line.removesuffix(": started") for line in lines if line.endswith(": started")]
    ended = [line.split(": SUCCEEDED in ")[0] for line in lines if ": SUCCEEDED in " in line]
    assert started == ended and any(s.startswith("load-dataset") for s in started)
    assert any(s.startswith("validate-data") for s in started)
    assert any(s.startswith("split-and-preprocess") for s in started)
    assert "executor_input" not in out and "RuntimeWarning" not in out
    [run_dir] = [p for p in root.iterdir() if p.is_dir()]
    summary = out.split("\n", len(lines))[-1]
    assert f"outputs under {run_dir}" in summary
    # One line per task naming its artifacts; every path in the run's summary file.
    [split_line] = [line for line in summary.splitlines() if "split-and-preprocess " in line]
    assert "train_rows=" in split_line and "artifacts: preprocessor, test, train" in split_line
    assert f"every artifact path and metric: {run_dir / 'summary.txt'}" in summary
    listing = (run_dir / "summary.txt").read_text()
    assert f"artifact  train                    {run_dir}/split-and-preprocess" in listing
    for task in started:
        log = (run_dir / "logs" / f"{task.split(' ')[0]}.log").read_text()
        assert "Got executor_input" in log and "Wrote executor output file" in log
    assert len(out.splitlines()) < 60  # one screen, where kfp.local printed ~400 lines


class _Out:
    """A terminal stand-in that keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        """Nothing buffered."""
