"""The tabular Keras model, importable in both the pipeline env and the trainer env.

Only TensorFlow is imported (through :func:`import_tf`), never kfp or scikit-learn, so
Horovod workers (TensorFlow 2.15) and pipeline components (TensorFlow 2.21 + tf-keras) build
the same architecture, and a model saved by one loads in the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.tf import import_tf

ACTIVATIONS = ("relu", "gelu", "elu", "selu", "tanh", "swish")


@dataclass
class ModelConfig:
    """Architecture and regularisation of the tabular classifier.

    Attributes:
        hidden_units: Units of each hidden Dense layer, input to output.
        activation: Hidden-layer activation.
        dropout: Dropout rate after each hidden layer, in [0, 1).
        l2: L2 weight penalty on Dense kernels (0 disables it).
    """

    hidden_units: list[int] = field(default_factory=lambda: [64, 32])
    activation: str = "relu"
    dropout: float = 0.1
    l2: float = 1e-4

    def validate(self) -> None:
        """Raise :class:`ParameterError` naming the bad field and its allowed values."""
        if not self.hidden_units or any(int(u) < 1 for u in self.hidden_units):
            raise ParameterError(
                f"hidden_units {self.hidden_units} must be a non-empty list of positive integers",
                "for example [64, 32]",
            )
        if self.activation not in ACTIVATIONS:
            raise ParameterError(
                f"activation '{self.activation}' is not supported", f"use one of {ACTIVATIONS}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout {self.dropout} is outside [0, 1)", "use for example 0.1")
        if self.l2 < 0:
            raise ParameterError(
                f"l2 {self.l2} is negative", "use 0 to disable it, or for example 1e-4"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)


def is_binary(num_classes: int) -> bool:
    """Two classes use one sigmoid unit; more use a softmax."""
    return num_classes == 2


def loss_name(num_classes: int) -> str:
    """The Keras loss matching :func:`build_model`'s output layer (labels are 0..n-1 ints)."""
    return "binary_crossentropy" if is_binary(num_classes) else "sparse_categorical_crossentropy"


def build_model(num_features: int, num_classes: int, config: ModelConfig | None = None) -> Any:
    """Build an uncompiled ``tf.keras`` MLP for tabular classification.

    The output layer is always float32, so it stays numerically stable under a
    ``mixed_float16`` / ``mixed_bfloat16`` global policy.

    Args:
        num_features: Width of the preprocessed feature vector.
        num_classes: Number of classes (>= 2).
        config: Architecture; defaults to :class:`ModelConfig`.

    Raises:
        ParameterError: On an invalid shape or config.
    """
    config = config or ModelConfig()
    config.validate()
    if num_features < 1:
        raise ParameterError(
            f"num_features is {num_features}", "the training data has no feature columns"
        )
    if num_classes < 2:
        raise ParameterError(
            f"the labels have {num_classes} class",
            "a classifier needs at least two classes in the training data",
        )
    tf = import_tf()
    keras = tf.keras
    inputs = keras.Input(shape=(num_features,), name="features", dtype="float32")
    x = dense_stack(keras, inputs, config)
    if is_binary(num_classes):
        outputs = keras.layers.Dense(
            1, activation="sigmoid", dtype="float32", name="probabilities"
        )(x)
    else:
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", dtype="float32", name="probabilities"
        )(x)
    return keras.Model(inputs, outputs, name="tabular_classifier")


def dense_stack(keras: Any, x: Any, config: ModelConfig) -> Any:
    """The MLP's hidden layers on ``x``: Dense (L2) then Dropout per ``hidden_units`` entry."""
    reg = keras.regularizers.l2(config.l2) if config.l2 > 0 else None
    for i, units in enumerate(config.hidden_units):
        x = keras.layers.Dense(
            int(units), activation=config.activation, kernel_regularizer=reg, name=f"dense_{i}"
        )(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    return x


def predict_proba(model: Any, features: Any, num_classes: int) -> Any:
    """Class probabilities of shape (n, num_classes), for binary models too.

    The outputs go through :func:`kfp_mlops.components.common.metrics.to_proba`, as
    evaluation's do, so monitoring and evaluation score the same probabilities.
    """
    import numpy as np

    from kfp_mlops.components.common.metrics import to_proba

    return to_proba(model.predict(np.asarray(features, dtype="float32"), verbose=0), num_classes)


def hidden_units_from(value: str | Sequence[int]) -> list[int]:
    """Parse ``"64,32"`` or ``[64, 32]`` into a list of ints (KFP passes strings or lists)."""
    if isinstance(value, str):
        try:
            return [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError as exc:
            raise ParameterError(
                f"hidden_units '{value}' is not a comma-separated list", "write e.g. 64,32"
            ) from exc
    return [int(v) for v in value]
