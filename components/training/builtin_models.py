"""The built-in ``model_fn``s: ``builtin:mlp``, ``builtin:resnet_mlp`` and ``builtin:cnn``.

Each follows the user contract of :mod:`.model_fn` (``build(task, params)`` returning an
uncompiled Keras model), so the library trains, tunes, prunes and serves them exactly as it
does a user's model. The output layer is float32 so it stays stable under mixed precision.
"""

from __future__ import annotations

from typing import Any

from kfp_mlops.components.common.errors import ModelCodeError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.model import ModelConfig, dense_stack, hidden_units_from


def _config(params: dict[str, Any]) -> ModelConfig:
    config = ModelConfig(
        hidden_units=hidden_units_from(params.get("hidden_units", [64, 32])),
        activation=str(params.get("activation", "relu")),
        dropout=float(params.get("dropout", 0.1)),
        l2=float(params.get("l2", 1e-4)),
    )
    config.validate()
    return config


def output_layer(keras: Any, task: TaskSpec, name: str = "probabilities") -> Any:
    """The float32 head a task needs: 1 sigmoid, n softmax, or 1 linear unit."""
    if task.task_type == "regression":
        return keras.layers.Dense(1, dtype="float32", name="prediction")
    if task.task_type == "binary":
        return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=name)
    return keras.layers.Dense(task.num_classes, activation="softmax", dtype="float32", name=name)


def _tabular_input(keras: Any, task: TaskSpec, spec: str) -> Any:
    if task.feature_kind != "tabular":
        raise ModelCodeError(
            f"{spec} is a tabular model but the task has images of shape {task.image_shape}",
            "use model_fn='builtin:cnn' for images",
        )
    return keras.Input(shape=(len(task.feature_names),), name="features", dtype="float32")


def mlp(task: TaskSpec, params: dict[str, Any]) -> Any:
    """Dense layers with dropout and L2 (``hidden_units``, ``activation``, ``dropout``, ``l2``)."""
    keras = import_tf().keras
    config = _config(params)
    inputs = _tabular_input(keras, task, "builtin:mlp")
    x = dense_stack(keras, inputs, config)
    name = "tabular_regressor" if task.task_type == "regression" else "tabular_classifier"
    return keras.Model(inputs, output_layer(keras, task)(x), name=name)


def resnet_mlp(task: TaskSpec, params: dict[str, Any]) -> Any:
    """A residual MLP for tabular data: Dense -> BatchNorm -> activation blocks with skips.

    The first width of ``hidden_units`` sets the residual width; each further entry adds a
    block (at least two blocks).
    """
    keras = import_tf().keras
    config = _config(params)
    reg = keras.regularizers.l2(config.l2) if config.l2 > 0 else None
    width = int(config.hidden_units[0])
    inputs = _tabular_input(keras, task, "builtin:resnet_mlp")
    x = keras.layers.Dense(width, kernel_regularizer=reg, name="stem")(inputs)
    for i in range(max(2, len(config.hidden_units))):
        skip = x
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.Activation(config.activation, name=f"act_{i}")(x)
        x = keras.layers.Dense(width, kernel_regularizer=reg, name=f"dense_{i}")(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
        x = keras.layers.Add(name=f"residual_{i}")([skip, x])
    x = keras.layers.Activation(config.activation, name="act_out")(x)
    return keras.Model(inputs, output_layer(keras, task)(x), name="resnet_mlp")


def cnn(task: TaskSpec, params: dict[str, Any]) -> Any:
    """A small conv net for images: Conv-BN-ReLU blocks, global pooling, a dense head.

    ``hidden_units`` gives the filters of each conv block (e.g. ``"16,32"``).
    """
    keras = import_tf().keras
    if task.feature_kind != "image" or len(task.image_shape) != 3:
        raise ModelCodeError(
            "builtin:cnn needs an image task (height, width, channels), but the task is "
            f"{task.feature_kind}",
            "use builtin:mlp or builtin:resnet_mlp for tables",
        )
    config = _config(params)
    # The chain moves images as flat pixel vectors (components.common.images); the first
    # layer gives them their shape back, so every later step feeds (n, h * w * c).
    width = int(task.image_shape[0] * task.image_shape[1] * task.image_shape[2])
    inputs = keras.Input(shape=(width,), name="pixels", dtype="float32")
    x = keras.layers.Reshape(tuple(task.image_shape), name="image")(inputs)
    for i, filters in enumerate(config.hidden_units):
        x = keras.layers.Conv2D(int(filters), 3, padding="same", name=f"conv_{i}")(x)
        # Momentum 0.9, not 0.99: small image sets give a few hundred steps, too few for
        # 0.99's moving statistics to settle (validation then scores at chance).
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i}")(x)
        x = keras.layers.Activation(config.activation, name=f"act_{i}")(x)
        if min(x.shape[1], x.shape[2]) >= 4:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout_head")(x)
    return keras.Model(inputs, output_layer(keras, task)(x), name="cnn")


BUILTINS = {"mlp": mlp, "resnet_mlp": resnet_mlp, "cnn": cnn}
