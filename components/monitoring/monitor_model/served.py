"""The model as it is served: the file the server picks, run by the server's own code path.

Monitoring judges the deployed model, so it loads the file the model server serves
(:func:`~kfp_mlops.components.common.model_dir.resolve_backend`: ``model.tflite`` when the
directory has one, else ``model.h5``) through
:func:`~kfp_mlops.components.common.inference.load_model`, the loader the server calls. An
int8 model is therefore scored with its quantization error and timed as users get it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common import inference
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.metrics import to_proba
from kfp_mlops.components.common.model_dir import check_model_file, resolve_backend
from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor

log = logging.getLogger(__name__)

#: Rows per call when predicting a whole window (bounds memory, as the server's batches do).
PREDICT_CHUNK = 4096


@dataclass
class ServedModel:
    """A loaded model, which format it is and which file it came from."""

    model: inference.Model
    kind: str
    file: str

    @property
    def num_classes(self) -> int:
        """Classes the model predicts: one sigmoid unit means two."""
        width = self.model.output_width
        return 2 if width == 1 else width


def load_served(model_path: str, backend: str = "auto") -> ServedModel:
    """Load the file the model server would serve from a Model artifact directory.

    Args:
        model_path: The Model directory (or a bare ``.h5`` / ``.tflite`` file).
        backend: ``auto`` (what the server does by default), ``keras`` or ``tflite``.

    Raises:
        ModelBundleError: If the directory has no servable file or the file is damaged.
    """
    kind, path = resolve_backend(model_path, backend)
    check_model_file(kind, path)
    model = inference.load_model(kind, str(path))
    log.info("monitoring the served model: %s (%s)", path, kind)
    return ServedModel(model, kind, str(path))


def as_served(model: Any) -> ServedModel:
    """A :class:`ServedModel` for what a caller passes to ``monitor``.

    That is a :class:`ServedModel`, an inference model, or a plain tf.keras model (wrapped in
    :class:`~kfp_mlops.components.common.inference.KerasModel`, as the server runs it).
    """
    if isinstance(model, ServedModel):
        return model
    if isinstance(model, inference.KerasModel | inference.TFLiteModel):
        return ServedModel(model, model.kind, getattr(model, "source", ""))
    return ServedModel(inference.KerasModel(model), "keras", "")


def predict_raw(served: ServedModel, features: np.ndarray) -> np.ndarray:
    """Raw model outputs for every row, :data:`PREDICT_CHUNK` rows per call."""
    x = np.asarray(features, dtype=np.float32)
    if len(x) == 0:
        return np.zeros((0, served.model.output_width), dtype=np.float32)
    parts = [served.model(x[i : i + PREDICT_CHUNK]) for i in range(0, len(x), PREDICT_CHUNK)]
    return np.concatenate([np.asarray(p) for p in parts])


def probabilities(served: ServedModel, features: np.ndarray, num_classes: int) -> np.ndarray:
    """Class probabilities ``(n, num_classes)`` (:func:`~.common.metrics.to_proba`)."""
    return to_proba(predict_raw(served, features), num_classes)


def check_fits(served: ServedModel, preprocessor: Preprocessor) -> int:
    """The model's class count (0 for regression), after checking it fits the preprocessor.

    Raises:
        ParameterError: If its input width or outputs are not the preprocessor's.
    """
    width = served.model.input_width
    if not preprocessor.task_spec.is_classification:
        outputs = served.model.output_width
        if outputs != 1 or width != preprocessor.num_features:
            raise ParameterError(
                f"the model takes {width} features and has {outputs} outputs but the "
                f"preprocessor is a regression one of {preprocessor.num_features} features "
                "(one output)",
                "pass the model and the preprocessor of the same training run",
            )
        return 0
    num_classes = served.num_classes
    if num_classes != preprocessor.num_classes or width != preprocessor.num_features:
        raise ParameterError(
            f"the model takes {width} features and predicts {num_classes} classes but the "
            f"preprocessor gives {preprocessor.num_features} features and "
            f"{preprocessor.num_classes} classes",
            "pass the model and the preprocessor of the same training run",
        )
    return num_classes
