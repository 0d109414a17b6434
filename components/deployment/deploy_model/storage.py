"""Where the cluster reads a model version: its files under ``<storage_uri>/<name>/<version>/``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kfp_mlops.components.common import model_dir as bundle

log = logging.getLogger(__name__)


def upload_model(
    model_dir: str, preprocessor: str, uri: str, runtime: str = "custom", client: Any = None
) -> list[str]:
    """Copy the files a server needs to ``uri`` (``gs://...``); returns the object URIs.

    ``uri`` names a content-addressed version, so an object that already holds the same
    bytes (a redeploy, staging then production, a rollback) is not uploaded again.
    """
    from kfp_mlops.components.common.io import holds, write_bytes

    root = Path(model_dir)
    files: dict[str, Path] = {bundle.PREPROCESSOR_FILE: Path(preprocessor)}
    if root.is_file():
        files[root.name] = root
    else:
        for name in (bundle.KERAS_FILE, bundle.TFLITE_FILE):
            if (root / name).is_file():
                files[name] = root / name
        if runtime == "tensorflow":
            for path in sorted((root / "saved_model").rglob("*")):
                if path.is_file():
                    files[path.relative_to(root).as_posix()] = path
    written, kept = [], 0
    for rel, path in sorted(files.items()):
        target = f"{uri.rstrip('/')}/{rel}"
        data = path.read_bytes()
        if holds(target, data, client=client):
            kept += 1
        else:
            write_bytes(target, data, client=client)
        written.append(target)
    log.info(
        "%d files at %s (%d uploaded, %d already there)",
        len(written),
        uri,
        len(written) - kept,
        kept,
    )
    return written
