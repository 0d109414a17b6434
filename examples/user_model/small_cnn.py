"""An example user model for images: a small CNN built on ``task.image_shape``.

Pass it as ``model_fn=/path/to/small_cnn.py`` (or a ``gs://`` URI, or
``my_package.small_cnn:build_model`` when installed in the trainer image) with an image
Dataset: ``source=builtin:digits_images`` or a folder of class subfolders of PNG/JPEG files.

The model's input may be the image (``tf.keras.Input(shape=task.image_shape)``, as here) or
the flat pixel vector the library moves between steps (``len(task.feature_names)`` values,
height x width x channels, scaled to [0, 1]); for an image-shaped input the library puts a
``Reshape`` in front, so prune, int8, evaluation, serving and monitoring all see one shape.
Its output has ``task.output_width`` units. The rest (loss, metrics, mixed precision,
Horovod, schedules, checkpoints, MLflow) is the library's. It imports only TensorFlow.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def build_model(task: Any, params: dict[str, Any]) -> tf.keras.Model:
    """Two Conv-ReLU blocks (no batch norm), global pooling and the task's head.

    Args:
        task: The task spec: ``task.image_shape``, ``task.task_type``, ``task.output_width``.
        params: Hyper-parameters; this model reads ``hidden_units`` (filters per block).
    """
    filters = params.get("hidden_units", [16, 32])
    inputs = tf.keras.Input(shape=tuple(task.image_shape), name="image")
    x = inputs
    for i, width in enumerate(filters):
        x = tf.keras.layers.Conv2D(
            int(width), 3, padding="same", activation="relu", name=f"conv_{i}"
        )(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    activation = {"binary": "sigmoid", "multiclass": "softmax"}.get(task.task_type, "linear")
    outputs = tf.keras.layers.Dense(
        task.output_width, activation=activation, dtype="float32", name="output"
    )(x)
    return tf.keras.Model(inputs, outputs, name="small_cnn")


def search_space(trial: Any) -> dict[str, Any]:
    """What tune_hyperparameters searches for this model (an Optuna trial)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True),
        "hidden_units": [16, trial.suggest_categorical("filters", [16, 32])],
    }
