"""Bring the registry's champion into a pipeline as artifacts.

Monitoring and retraining need the model that serves now, its preprocessor and the metrics
it was blessed with. ``register_model`` stores all three with each version: the Model
directory (``model.h5``, ``model.tflite``, ``preprocessor.json``) as run artifacts and the
evaluation metrics as ``metric.<name>`` version tags.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kfp_mlops.components.common.model_dir import PREPROCESSOR_FILE
from kfp_mlops.components.registry import common as registry

log = logging.getLogger(__name__)

METRIC_TAG_PREFIX = "metric."


@dataclass
class Champion:
    """Where the champion's files landed, and its version and baseline metrics."""

    version: str
    model_dir: str
    preprocessor_path: str
    baseline: dict[str, float]
    #: When the version was registered (ms since the epoch, MLflow's creation_timestamp):
    #: monitoring's model-age trigger reads it.
    creation_timestamp: int = 0

    def metadata(self, name: str) -> dict[str, object]:
        """The Model artifact's metadata (``creation_timestamp`` feeds the age trigger)."""
        meta: dict[str, object] = {"version": self.version, "registered_model_name": name}
        if self.creation_timestamp > 0:
            meta["creation_timestamp"] = self.creation_timestamp
        return meta


def fetch(
    tracking_uri: str,
    name: str,
    model_dir: str,
    preprocessor_path: str,
    baseline_path: str,
    alias: str = registry.CHAMPION,
) -> Champion:
    """Download ``models:/<name>@<alias>`` into ``model_dir`` and split out its parts.

    Raises:
        RegistryError: If the registry is unreachable, or the model has no such alias
            (the message says to run the training pipeline first).
        ParameterError: If the version was registered without a preprocessor.
    """
    from kfp_mlops.components.common.errors import ParameterError

    registry.check_registry(tracking_uri)
    version = registry.alias_version(tracking_uri, name, alias)
    if version is None:
        raise registry.RegistryError(
            f"model '{name}' has no '{alias}' at {tracking_uri}",
            "run training_pipeline first (it registers, deploys and promotes a champion)",
        )
    out = Path(model_dir)
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(registry.load_registered(tracking_uri, name, alias, dst_dir=tmp), out)
    source = out / PREPROCESSOR_FILE
    if not source.is_file():
        raise ParameterError(
            f"version {version.version} of '{name}' was registered without {PREPROCESSOR_FILE}",
            "register models with register_model's preprocessor input (training_pipeline does)",
        )
    Path(preprocessor_path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, preprocessor_path)
    baseline = {
        key[len(METRIC_TAG_PREFIX) :]: float(value)
        for key, value in (version.tags or {}).items()
        if key.startswith(METRIC_TAG_PREFIX)
    }
    Path(baseline_path).parent.mkdir(parents=True, exist_ok=True)
    Path(baseline_path).write_text(json.dumps(baseline, indent=1, sort_keys=True), encoding="utf-8")
    log.info("fetched %s@%s = version %s, baseline %s", name, alias, version.version, baseline)
    created = int(getattr(version, "creation_timestamp", 0) or 0)
    return Champion(str(version.version), str(out), preprocessor_path, baseline, created)
