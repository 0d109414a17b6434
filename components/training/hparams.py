"""The training hyper-parameters: one record for tune, train, train_multinode and the worker.

``train_model`` and ``train_model_multinode`` expose these as KFP parameters (a component's
signature must list them); their cores build one :class:`HyperParams`, merge a tuning result
into it with :meth:`HyperParams.merged`, and the worker config extends it
(:class:`~kfp_mlops.components.training.train_model.config.WorkerConfig`), so a name, default
or type is written once here.

Only the standard library is imported: the Horovod workers (trainer env) read it too.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.model import hidden_units_from

log = logging.getLogger(__name__)

#: Hyper-parameters a tuning result may override (what ``tune_hyperparameters`` searches).
TUNABLE = (
    "learning_rate",
    "hidden_units",
    "activation",
    "dropout",
    "l2",
    "batch_size",
    "warmup_epochs",
    "grad_accum_steps",
    "clip_norm",
)


@dataclass
class HyperParams:
    """How the model is built and trained.

    Attributes:
        epochs: Total epochs, counting those done before a resume.
        batch_size: Global batch size, split evenly over the workers.
        learning_rate: Single-worker learning rate; the peak rate is this times the workers.
        hidden_units: Hidden layer widths.
        activation: Hidden-layer activation.
        dropout: Dropout rate.
        l2: L2 weight penalty.
        precision: ``auto``, ``mixed_float16``, ``mixed_bfloat16`` or ``float32``.
        loss_scale: ``0`` = dynamic loss scaling, ``> 0`` = fixed scale (float16 only).
        warmup_epochs: Epochs of linear warm-up from ``learning_rate`` to the peak rate.
        grad_accum_steps: Backward passes accumulated before each allreduce and update.
        clip_norm: Clip gradients by this global norm (0 disables clipping).
        early_stopping_patience: Epochs without val_loss improvement before stopping.
        seed: Seed of weight initialisation and shuffling.
    """

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    hidden_units: list[int] = field(default_factory=lambda: [64, 32])
    activation: str = "relu"
    dropout: float = 0.1
    l2: float = 1e-4
    precision: str = "auto"
    loss_scale: float = 0.0
    warmup_epochs: int = 5
    grad_accum_steps: int = 4
    clip_norm: float = 1.0
    early_stopping_patience: int = 5
    seed: int = 42

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every hyper-parameter name, in declaration order."""
        return tuple(f.name for f in fields(HyperParams))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HyperParams:
        """Coerce KFP parameter values (strings, ints for floats...) into a record.

        ``hidden_units`` may be ``"64,32"`` or a list. Keys that are not hyper-parameters
        are an error: a typo must not pass silently.

        Raises:
            ParameterError: On an unknown key or a value of the wrong type.
        """
        unknown = sorted(set(params) - set(cls.names()))
        if unknown:
            raise ParameterError(
                f"unknown hyper-parameters {unknown}", f"use names from {list(cls.names())}"
            )
        types = {f.name: f.type for f in fields(HyperParams)}
        values: dict[str, Any] = {}
        for name, value in params.items():
            try:
                if name == "hidden_units":
                    values[name] = hidden_units_from(value)
                elif types[name] in ("int", int):
                    values[name] = int(value)
                elif types[name] in ("float", float):
                    values[name] = float(value)
                else:
                    values[name] = str(value)
            except ParameterError:
                raise
            except (TypeError, ValueError) as exc:
                raise ParameterError(
                    f"hyper-parameter {name}={value!r} is not a {types[name]}",
                    f"pass a {types[name]} (default {getattr(cls(), name)!r})",
                ) from exc
        return cls(**values)

    def merged(self, overrides: dict[str, Any]) -> HyperParams:
        """A copy with a tuning result's :data:`TUNABLE` keys applied (others are ignored)."""
        chosen = {k: v for k, v in overrides.items() if k in TUNABLE}
        ignored = sorted(set(overrides) - set(chosen))
        if ignored:
            log.info("best_params: ignoring keys %s", ignored)
        return HyperParams.from_params({**self.to_dict(), **chosen})

    def to_dict(self) -> dict[str, Any]:
        """The hyper-parameters alone, JSON-serialisable (a subclass's extra fields dropped)."""
        data = asdict(self)
        return {name: data[name] for name in HyperParams.names()}
