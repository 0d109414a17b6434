"""Compile every pipeline and component twice: wall time and byte-identical output.

Target (issue 8): under 5 s for all pipelines, and the two compiles identical.
"""

from __future__ import annotations

import argparse
import filecmp
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Print compile time for both runs and whether their output is byte-identical."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench`; no effect")
    parser.parse_args(argv)
    from kfp_mlops.pipelines.tooling.compiler import compile_all

    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        start = time.perf_counter()
        first = compile_all(a)
        t1 = time.perf_counter() - start
        start = time.perf_counter()
        compile_all(b)
        t2 = time.perf_counter() - start
        names = [p.relative_to(a) for p in first]
        same = all(filecmp.cmp(Path(a) / n, Path(b) / n, shallow=False) for n in names)
    print(
        f"compiled {len(names)} files: first {t1:.2f} s, second {t2:.2f} s (target < 5 s: "
        f"{'met' if max(t1, t2) < 5 else 'not met'})"
    )
    print(f"byte-identical twice: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
