"""Where the cluster reads a model version: the registry's copy or ``<storage_uri>/...``.

When the MLflow registry keeps its artifacts in a bucket KServe can read (``gs://``) and the
registered version holds exactly the files being deployed, the InferenceService's
``storageUri`` points at the registry's copy and nothing is uploaded; otherwise (a proxied
``mlflow-artifacts:`` store, a local one, or different bytes) the files go under
``storage_uri`` as before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kfp_mlops.components.common import model_dir as bundle

log = logging.getLogger(__name__)


def serving_files(model_dir: str, preprocessor: str, runtime: str = "custom") -> dict[str, Path]:
    """The files a model server needs, by their name in the storage folder."""
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
    return files


def upload_model(
    model_dir: str, preprocessor: str, uri: str, runtime: str = "custom", client: Any = None
) -> list[str]:
    """Copy the files a server needs to ``uri`` (``gs://...``); returns the object URIs.

    ``uri`` names a content-addressed version, so an object that already holds the same
    bytes (a redeploy, staging then production, a rollback) is not uploaded again.
    """
    from kfp_mlops.components.common.io import holds, write_bytes

    files = serving_files(model_dir, preprocessor, runtime)
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


def registry_location(
    tracking_uri: str,
    model_name: str,
    version: str,
    model_dir: str,
    preprocessor: str,
    runtime: str = "custom",
    client: Any = None,
) -> str:
    """The registered version's artifact folder when the cluster can serve from it, else "".

    It qualifies when it is a ``gs://`` folder and every file :func:`serving_files` lists is
    there with the same bytes (GCS MD5), so the cluster serves exactly what was tested.
    """
    from kfp_mlops.components.common.io import holds
    from kfp_mlops.components.registry import common

    try:
        common.check_registry(tracking_uri)  # fast: a dead registry must not stall a deploy
        mlflow = common.client(tracking_uri)
        found = mlflow.get_model_version(model_name, str(version))
        if found.source.startswith("runs:/"):
            run_id, _, path = found.source[len("runs:/") :].partition("/")
            uri = f"{mlflow.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}"
        else:
            uri = mlflow.get_model_version_download_uri(model_name, str(version))
    except Exception as exc:  # the registry is optional here: fall back to uploading
        log.warning("registry location of %s %s unknown (%s): uploading", model_name, version, exc)
        return ""
    if not uri.startswith("gs://"):
        log.info("the registry stores %s at %s, not in gs://: uploading", model_name, uri)
        return ""
    for rel, path in sorted(serving_files(model_dir, preprocessor, runtime).items()):
        if not holds(f"{uri.rstrip('/')}/{rel}", path.read_bytes(), client=client):
            log.info("the registry's %s differs from the model deployed: uploading", rel)
            return ""
    log.info("serving %s %s from the registry's copy at %s", model_name, version, uri)
    return uri.rstrip("/")
