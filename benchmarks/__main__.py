"""Run every benchmark: ``python -m benchmarks [--quick] [name ...]`` (``make bench``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all ``bench_*`` modules by default); non-zero if one crashed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = [a for a in argv if a.startswith("-")]
    names = [a for a in argv if not a.startswith("-")]
    found = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    failed = []
    for name in names or found:
        module = importlib.import_module(
            f"benchmarks.{name if name.startswith('bench_') else 'bench_' + name}"
        )
        print(f"\n=== {module.__name__} ===", flush=True)
        start = time.perf_counter()
        rc = module.main(flags)
        print(f"--- {module.__name__}: exit {rc}, {time.perf_counter() - start:.1f} s", flush=True)
        if rc:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
