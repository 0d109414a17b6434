"""Champion vs challenger: the registered champion evaluated on the challenger's test rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.model_dir import PREPROCESSOR_FILE
from kfp_mlops.components.evaluation.evaluate_model.predictors import (
    load_predictor,
    predict_all,
    score,
)

log = logging.getLogger(__name__)


def champion_features(
    features: np.ndarray, preprocessor: Any, model_dir: str
) -> tuple[np.ndarray, str, Any]:
    """The test features as the champion's own preprocessor would have encoded them.

    The champion was trained with its own preprocessor (registered beside it as
    ``preprocessor.json``); feeding it features scaled by the challenger's would be an
    unfair comparison. The shared :class:`Preprocessor` does the re-encoding.

    Returns:
        The features for the champion, a note when they could not be re-encoded, and the
        preprocessor whose task decodes the champion's outputs (its own when registered:
        a regression champion may have standardised its target differently).

    Raises:
        ParameterError: If the class lists differ or a column the champion needs is missing.
    """
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    own = Path(model_dir) / PREPROCESSOR_FILE
    if not own.is_file():
        note = f"champion has no {PREPROCESSOR_FILE}: assumed to share the challenger's encoding"
        log.warning(note)
        return features, note, preprocessor
    champion = Preprocessor.load(str(own))
    return champion.reencode(features, preprocessor), "", champion


@dataclass
class Champion:
    """The registered champion, ready to predict the challenger's test rows."""

    version: Any
    predict_fn: Any
    own: Any
    source: Any
    note: str
    fmt: str

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Raw outputs for test rows encoded by the challenger's preprocessor."""
        encoded = features if self.own is self.source else self.own.reencode(features, self.source)
        return np.asarray(self.predict_fn(encoded))

    def result(self, raw: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """Its scores on the test rows (labels in the target's units for regression)."""
        scored, _ = score(raw, labels, self.own.task_spec)
        return {
            "version": str(self.version.version),
            "run_id": self.version.run_id,
            "metrics": scored.scalars,
            "note": self.note,
            "format": self.fmt,
        }


def load_champion(tracking_uri: str, name: str, preprocessor: Any) -> Champion | None:
    """``models:/<name>@champion`` in the format it is served in; None if there is none.

    The champion runs as served (TFLite when its directory has one), so the comparison is
    between what users get now and what they would get.
    """
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor
    from kfp_mlops.components.registry import common as registry

    version = registry.alias_version(tracking_uri, name, registry.CHAMPION)
    if version is None:
        log.info("model '%s' has no champion at %s", name, tracking_uri)
        return None
    model_dir = registry.load_registered(tracking_uri, name, registry.CHAMPION)
    own_file = Path(model_dir) / PREPROCESSOR_FILE
    note = ""
    if own_file.is_file():
        own = Preprocessor.load(str(own_file))
    else:
        note = f"champion has no {PREPROCESSOR_FILE}: assumed to share the challenger's encoding"
        log.warning(note)
        own = preprocessor
    predict_fn, fmt = load_predictor(model_dir, "auto")
    return Champion(version, predict_fn, own, preprocessor, note, fmt)


def evaluate_champion(
    tracking_uri: str, name: str, features: np.ndarray, labels: np.ndarray, preprocessor: Any
) -> dict[str, Any] | None:
    """Evaluate ``models:/<name>@champion`` on in-memory test rows; None if there is none.

    ``labels`` are in the target's units for regression (the champion's outputs are
    decoded with its own task spec). :func:`.core.evaluate` streams instead, through
    :func:`load_champion`.
    """
    champion = load_champion(tracking_uri, name, preprocessor)
    if champion is None:
        return None
    return champion.result(predict_all(champion.predict, features), labels)
