"""An example user model for kfp-mlops: a wide & deep tabular network.

Pass it to ``train_model`` / ``training_pipeline`` as ``model_fn``:

- as a file: ``model_fn=/path/to/wide_and_deep.py`` (or a ``gs://`` URI), or
- importable: ``model_fn=my_package.wide_and_deep:build_model`` when installed in the
  trainer image.

The contract: ``build_model(task, params)`` returns an *uncompiled* ``tf.keras.Model`` whose
input has ``len(task.feature_names)`` features and whose output has ``task.output_width``
units (1 for binary and regression, one per class for multiclass). Everything else (loss,
metrics, mixed precision, Horovod, learning-rate schedule, checkpoints, MLflow) is added by
the library. Optional hooks in the same module: ``search_space(trial)`` for Optuna,
``loss(task)`` and ``metrics(task)``.

It imports only TensorFlow: it runs in the trainer env (TensorFlow 2.15, Keras 2) and the
model it produces loads in the pipeline env (TensorFlow 2.21 with tf-keras).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def build_model(task: Any, params: dict[str, Any]) -> tf.keras.Model:
    """A linear ("wide") path beside a deep MLP, summed before the output.

    Args:
        task: The task spec: ``task.task_type``, ``task.feature_names``, ``task.output_width``.
        params: Hyper-parameters; this model reads ``hidden_units``, ``dropout`` and
            ``activation`` (the library's defaults apply when absent).
    """
    units = params.get("hidden_units", [64, 32])
    dropout = float(params.get("dropout", 0.1))
    activation = str(params.get("activation", "relu"))
    inputs = tf.keras.Input(shape=(len(task.feature_names),), name="features")
    deep = inputs
    for i, width in enumerate(units):
        deep = tf.keras.layers.Dense(int(width), activation=activation, name=f"deep_{i}")(deep)
        deep = tf.keras.layers.Dropout(dropout, name=f"deep_dropout_{i}")(deep)
    deep = tf.keras.layers.Dense(task.output_width, name="deep_out")(deep)
    wide = tf.keras.layers.Dense(task.output_width, name="wide")(inputs)
    logits = tf.keras.layers.Add(name="wide_plus_deep")([wide, deep])
    if task.task_type == "binary":
        activation_out = "sigmoid"
    elif task.task_type == "multiclass":
        activation_out = "softmax"
    else:
        activation_out = "linear"
    # dtype float32: the library trains under mixed precision on GPUs; a float32 head keeps
    # the loss stable (the library would add a cast otherwise).
    outputs = tf.keras.layers.Activation(activation_out, dtype="float32", name="output")(logits)
    return tf.keras.Model(inputs, outputs, name="wide_and_deep")


def search_space(trial: Any) -> dict[str, Any]:
    """What tune_hyperparameters searches for this model (an Optuna trial)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
        "hidden_units": [trial.suggest_categorical("width", [32, 64, 128])] * 2,
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
    }
