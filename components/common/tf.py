"""Import TensorFlow with the Keras 2 API in both environments.

The pipeline env has TensorFlow 2.21, whose default Keras 3 breaks tfmot pruning, so
``TF_USE_LEGACY_KERAS=1`` selects tf-keras; the trainer env's TensorFlow 2.15 ships Keras 2
already. Every module that needs TensorFlow imports it through :func:`import_tf`.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any


def import_tf() -> Any:
    """Return the ``tensorflow`` module with ``tf.keras`` bound to Keras 2."""
    if importlib.util.find_spec("tf_keras") is not None:
        # Only where tf-keras exists: TensorFlow 2.15 (trainer env) would otherwise look
        # for it and fail, although its own tf.keras is Keras 2 already.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ModuleNotFoundError as exc:
        if exc.name != "tensorflow":
            raise
        from kfp_mlops.components.common.errors import InfrastructureError

        raise InfrastructureError(
            "TensorFlow is not installed in this environment (the TFLite-only serving image "
            "has none), so a Keras model cannot run here",
            "serve the model's model.tflite (backend tflite), or use an image with TensorFlow "
            "(containers/serving/requirements.in, the pipeline or trainer image)",
        ) from exc
    return tf
