"""Which layers of a model tfmot can prune, checked before any fine-tuning."""

from __future__ import annotations

from typing import Any

from kfp_mlops.components.optimization.common import UnsupportedModelError, _flat_layers

#: Module prefixes of Keras' own layers (tfmot's PruneRegistry knows them by class).
_BUILTIN_MODULES = ("tf_keras.", "keras.", "tensorflow.")


def custom_prunable(layer: Any) -> bool:
    """A user's layer that says which weights to prune (tfmot's PrunableLayer contract)."""
    return not type(layer).__module__.startswith(_BUILTIN_MODULES) and callable(
        getattr(layer, "get_prunable_weights", None)
    )


def check_prunable(model: Any) -> None:
    """Name the first layer with weights that tfmot cannot wrap, before any fine-tuning.

    Keras' own layers are wrapped (Dense) or left as they are; a custom layer with
    trainable weights must implement ``get_prunable_weights``, else its weights would stay
    dense while the report claims the model pruned (or tfmot refuses it mid-way).

    Raises:
        UnsupportedModelError: Naming the layer, its class and the fix.
    """
    for layer in _flat_layers(model):
        cls = type(layer)
        if cls.__module__.startswith(_BUILTIN_MODULES) or not layer.trainable_weights:
            continue
        if not custom_prunable(layer):
            raise UnsupportedModelError(
                f"pruning cannot handle layer '{layer.name}' ({cls.__module__}.{cls.__name__}): "
                "tfmot wraps built-in Keras layers and layers implementing "
                "get_prunable_weights, and this custom layer has trainable weights but no "
                "get_prunable_weights",
                f"add get_prunable_weights(self) returning the kernels to prune to "
                f"{cls.__name__} (tfmot's PrunableLayer), skip prune_model for this model, or "
                "set gate_mode='mark' to go on with the unpruned model",
            )
