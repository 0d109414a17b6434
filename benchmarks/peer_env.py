"""The venvs that peer libraries run in: a peer is measured, never a dependency.

Each peer (Evidently, pandera, BentoML) gets its own venv under ``~/.cache/kfp-mlops/`` or
the folder its environment variable names, built once by a benchmark run that may build
(not ``--quick``) and probed by importing the peer before every use. :func:`built_venv` does
the probing and building for any benchmark-only venv (bench_serving's TFLite serving-image
env too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def peer_python(
    name: str,
    env_var: str,
    folder: str,
    probe: str,
    pins: list[str],
    build: bool,
    timeout: float = 1800,
    after: Callable[[Path], str] | None = None,
) -> tuple[str | None, str]:
    """The interpreter of peer ``name``'s venv, built when ``build`` and missing.

    Args:
        name: The peer as messages name it ("Evidently").
        env_var: Environment variable that overrides the venv folder.
        folder: The venv's folder name under ``~/.cache/kfp-mlops``.
        probe: Python code that succeeds only in a usable venv (imports the peer).
        pins: What ``pip install`` puts in a new venv.
        build: Whether a missing venv may be built (a full run, not ``--quick``).
        timeout: Seconds each build step may take.
        after: Called with the venv's interpreter after the install; returns an error
            message, or "" when the venv is ready (the BentoML venv links the pipeline env).

    Returns:
        ``(python, "")`` when usable, else ``(None, why)``.
    """
    env = Path(os.environ.get(env_var) or Path.home() / ".cache" / "kfp-mlops" / folder)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(env)],
        [str(env / "bin" / "python"), "-m", "pip", "install", "-q", *pins],
    ]
    return built_venv(name, env, probe, steps, build, timeout, after)


def built_venv(
    name: str,
    env: Path,
    probe: str,
    steps: list[list[str]],
    build: bool,
    timeout: float = 1800,
    after: Callable[[Path], str] | None = None,
) -> tuple[str | None, str]:
    """The interpreter of the venv at ``env``, built by running ``steps`` when unusable.

    ``probe`` is Python code that succeeds only in a usable venv; the other arguments are
    :func:`peer_python`'s. Returns ``(python, "")`` when usable, else ``(None, why)``.
    """
    python = env / "bin" / "python"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return str(python), ""
    if not build:
        return None, f"{name} env {env} not built (a run without --quick builds it)"
    print(f"  building the {name} env in {env} (once) ...", flush=True)
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=timeout)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"{name} not installable ({last})"
    if after is not None:
        error = after(python)
        if error:
            return None, error
    return str(python), ""
