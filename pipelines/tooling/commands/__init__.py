"""Extra ``kfp-mlops`` commands, one module each.

Each module here defines ``register(sub)``, which adds its subcommand to the parser's
subparsers and sets ``func`` (a function taking the parsed ``argparse.Namespace`` and
returning the exit code). :func:`kfp_mlops.pipelines.tooling.cli.build_parser` discovers them,
so a new command is one new file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(sub: argparse._SubParsersAction) -> None:
    """Add every command module's subcommand, in module-name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
