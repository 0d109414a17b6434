"""Run a Python snippet in a fresh interpreter and read the JSON its last line prints.

For tests about what a process imports: only a fresh process starts with empty
``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_json(code: str, *args: str, timeout: float = 600) -> Any:
    """``python -c code args...``; the last stdout line parsed as JSON (raises on failure)."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
