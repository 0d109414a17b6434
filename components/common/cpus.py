"""How many CPU cores this process may use: one answer for Horovod's ranks and drift's threads.

Only ``os`` is imported, so the trainer env and the worker use it too.
"""

from __future__ import annotations

import os


def cpu_count() -> int:
    """CPU cores this process may run on (respects affinity and container cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
